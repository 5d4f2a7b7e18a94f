"""`bertcli predict` as a function: texts from the command line, a file or stdin, batched for that input,
classified, flagged and counted; each prediction goes to a sink as soon as its window is done.

The sink (bertcli.render.predict for the CLI) decides what the user sees: `start` once the model is
loaded, `write` for every prediction, `flush` after each window, `progress` after each batch, and `close`
with the summary, also when the run stops early (an error, a closed pipe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Protocol, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.inference.classify import Prediction, RunStats
from bertcli.core.inference.texts import STDIN, TableOptions, TextItem, check_text_source, read_texts

if TYPE_CHECKING:
    from bertcli.core.inference.load import Classifier
    from bertcli.core.inference.resolve import ResolvedModel

STDIN_BATCH = 8
FILE_BATCH = 32
# On stdin a partial batch runs once no new line has arrived for this long.
STDIN_MAX_WAIT = 0.2


@dataclass
class Batching:
    """How a source's texts go through the model: texts per batch, batches per window, and on stdin how
    long a partial batch waits for more lines."""

    batch_size: int
    window_batches: int
    max_wait: float | None = None


@dataclass
class PredictSource:
    """What to classify: texts given as arguments, a file (with the column that holds the text), or stdin."""

    texts: list[str] = field(default_factory=list)
    file: str | None = None
    text_column: str = "text"
    table: TableOptions = field(default_factory=TableOptions)  # how a --file table is read; its notes once opened

    @classmethod
    def of(cls, texts: Sequence[str] | None, file: str | None, text_column: str = "text",
           delimiter: str | None = None, header: bool | None = None) -> PredictSource:
        """The source the command line names; refused when it names none, or both texts and --file."""
        given = list(texts or [])
        if file is not None and given:
            raise UsageError("give texts on the command line or --file, not both")
        if not given and file is None:
            raise UsageError("nothing to classify: give texts, --file FILE, or - to read stdin (one text per line)")
        from bertcli.core.data.tables import parse_delimiter

        return cls(given, file, text_column, TableOptions(text_column, delimiter=parse_delimiter(delimiter), header=header))

    @property
    def kind(self) -> str:
        """'stdin' (--file - or a lone -), 'file' or 'args'."""
        if self.file == STDIN or self.texts == [STDIN]:
            return "stdin"
        return "file" if self.file is not None else "args"

    @property
    def name(self) -> str | None:
        """How messages name the source: 'stdin', the file, or None for texts given as arguments."""
        return "stdin" if self.kind == "stdin" else self.file

    @property
    def notes(self) -> list[str]:
        """What was found about a --file table once it is open: its delimiter, no header row, the column picked."""
        return self.table.notes

    def open(self, saved_column: str | None = None) -> Iterable[str | TextItem]:
        """The texts, streamed; a file is opened (and a table's header read) now, so a wrong path or column fails fast.
        `saved_column`: the text column saved with the model, read when --text-column is left at its default."""
        if self.file is not None:
            check_text_source(self.file)
        if self.kind == "stdin":
            return read_texts(STDIN)
        if self.kind == "file":
            self.table.text_column, self.table.saved_column = self.text_column, saved_column
            return read_texts(self.file, self.table)
        return self.texts

    def batching(self, batch_size: int | None) -> Batching:
        """stdin: small batches that run as soon as input pauses; a file: length-sorted windows; texts: one window."""
        from bertcli.core.inference.stream import WINDOW_BATCHES

        if self.kind == "stdin":
            return Batching(batch_size or STDIN_BATCH, 1, STDIN_MAX_WAIT)
        if self.kind == "file":
            return Batching(batch_size or FILE_BATCH, WINDOW_BATCHES)
        batch = batch_size or FILE_BATCH
        return Batching(batch, max(1, -(-len(self.texts) // batch)))


@dataclass
class PredictOptions:
    """Which model, how it runs, and which predictions to flag."""

    model: str | None = None
    batch_size: int | None = None
    precision: str = "auto"
    quantize: str = "none"
    allow_untrained_head: bool = False
    flag: str | None = None
    threshold: float | None = None
    # how long texts are read, when not as saved with the model
    truncation: str | None = None
    max_length: int | None = None
    stride: int | None = None
    pooling: str | None = None


@dataclass
class PredictRun:
    """What a sink learns once the model is loaded: the source, the model and how it was chosen, the flag."""

    source: PredictSource
    resolved: ResolvedModel
    classifier: Classifier
    flag: str | None
    threshold: float | None  # the least confidence flagged; None without a flag


@dataclass
class PredictSummary(RunStats):
    """The counts and speed of a predict run (filled in as it goes), with what was flagged.

    `complete` is False when the run stopped early; `flagged` and `threshold` are None without a flag.
    """

    model: str = ""
    mode: str = ""
    max_length: int = 0
    flag: str | None = None
    threshold: float | None = None
    flagged: int | None = None
    source: str | None = None
    complete: bool = False
    multi_label: bool = False

    def skip_reasons(self) -> str:
        """Why texts were skipped, the commonest first: '3 empty text, 1 not valid UTF-8'."""
        return ", ".join(f"{n:,} {why}" for why, n in sorted(self.errors.items(), key=lambda kv: -kv[1]))

    def nothing_classified(self) -> str:
        """The one line for a run in which not one text could be classified."""
        reasons = self.skip_reasons()
        if self.source is None:
            return f"nothing could be classified: every text given was skipped ({reasons}) — give texts with words in them"
        if self.texts == 0:
            return f"nothing could be classified: '{self.source}' held no text — give one text per line, or a table with a text column"
        return (
            f"nothing could be classified: all {self.texts:,} line(s) or row(s) of '{self.source}' were skipped ({reasons}) — "
            "give UTF-8 text, one text per line (or a table with a text column)"
        )


class PredictionSink(Protocol):
    """Where predict's results go (see the module's docstring for when each is called)."""

    def start(self, run: PredictRun) -> None: ...

    def progress(self, done: int) -> None: ...

    def write(self, prediction: Prediction) -> None: ...

    def flush(self) -> None: ...

    def close(self, summary: PredictSummary) -> None: ...


def check_flag(flag: str | None, threshold: float | None, label_names: Sequence[str]) -> tuple[str | None, float]:
    """Validate --flag/--threshold against the model's labels; returns the label name and threshold."""
    if flag is None:
        if threshold is not None:
            raise UsageError("--threshold applies to --flag: add --flag LABEL (e.g. --flag negative --threshold 0.9)")
        return None, 0.0
    lookup = {name.lower(): name for name in label_names}
    name = lookup.get(flag.strip().lower())
    if name is None:
        raise UsageError(f"--flag {flag}: the model's labels are {', '.join(label_names)}")
    value = 0.0 if threshold is None else threshold
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--threshold is a confidence between 0 and 1, not {value}")
    return name, value


def is_flagged(pred: Prediction, flag: str | None, threshold: float) -> bool:
    """Predicted as the flagged label with at least `threshold` confidence (multi-label: among its labels)."""
    if flag is None or pred.error is not None:
        return False
    if pred.labels is not None:
        return flag in pred.labels
    return pred.label == flag and (pred.confidence or 0.0) >= threshold


def override_thresholds(clf: "Classifier", threshold: float | None) -> None:
    """--threshold on a multi-label model: one decision threshold for every label instead of the tuned ones."""
    if threshold is None:
        return
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"--threshold is a probability between 0 and 1, not {threshold}")
    clf.thresholds = [float(threshold)] * len(clf.label_names)


def saved_columns(model: str) -> tuple[str | None, str | None]:
    """The text and label columns the model was trained on, as its bertcli.json records them (None: not recorded)."""
    from pathlib import Path

    from bertcli.core.runs.manifest import RunManifest

    folder = Path(model)
    manifest = RunManifest.read(folder) if folder.is_dir() else None
    if manifest is None:
        return None, None
    return manifest.recorded.text_column, manifest.recorded.label_column


def predict(source: PredictSource, options: PredictOptions, sink: PredictionSink) -> PredictSummary:
    """Classify every text of `source` into `sink`, in input order; the summary counts what was predicted,
    skipped, cut and flagged. The input is opened before the model loads, so a wrong path or column fails fast."""
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.resolve import resolve_model
    from bertcli.core.inference.stream import predict_stream

    resolved = resolve_model(options.model)
    items = source.open(saved_columns(resolved.path)[0])
    batching = source.batching(options.batch_size)
    clf = load_for_inference(resolved.path, precision=options.precision, quantize=options.quantize,
                             allow_untrained_head=options.allow_untrained_head, max_length=options.max_length,
                             truncation=options.truncation, stride=options.stride, pooling=options.pooling)
    if clf.multi_label:  # --threshold decides every label, --flag picks texts carrying one
        override_thresholds(clf, options.threshold)
        flag, min_confidence = check_flag(options.flag, None, clf.label_names)
        threshold = options.threshold if flag else None
    else:
        flag, min_confidence = check_flag(options.flag, options.threshold, clf.label_names)
        threshold = min_confidence if flag else None
    sink.start(PredictRun(source, resolved, clf, flag, threshold))
    summary = PredictSummary(model=resolved.path, mode=clf.mode, max_length=clf.max_length, flag=flag, threshold=threshold,
                             flagged=0 if flag else None, source=source.name, multi_label=clf.multi_label)
    try:
        for chunk in predict_stream(clf, items, batch_size=batching.batch_size, window_batches=batching.window_batches,
                                    max_wait=batching.max_wait, stats=summary, on_batch=sink.progress):
            for pred in chunk:
                pred.flagged = is_flagged(pred, flag, min_confidence)
                if summary.flagged is not None:
                    summary.flagged += pred.flagged
                sink.write(pred)
            sink.flush()
        summary.complete = True
    finally:
        sink.close(summary)
    return summary
