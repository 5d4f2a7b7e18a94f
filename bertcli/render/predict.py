"""Rendering for `bertcli predict`: a table for a few texts, JSON Lines / CSV / one JSON document for many.

`PredictSink` takes the predictions one at a time from bertcli.core.inference.predict and sends them to
the outputs the options ask for, so a stream of any length is written as it goes; stdout holds the
results, stderr the model line, skipped lines, progress and the summary.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator, Sequence

from rich.markup import escape

from bertcli.core.formatting import snippet, visible
from bertcli.render import console_err, console_out, fmt, human_seconds
from bertcli.render.output import Output
from bertcli.render.table import Table

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction
    from bertcli.core.inference.load import Classifier
    from bertcli.core.inference.predict import PredictRun, PredictSummary
    from bertcli.core.inference.resolve import ResolvedModel
    from bertcli.core.outputs import Input
    from bertcli.render.activity import Activity

SNIPPET = 70
TOP_SHOWN = 3  # labels with their probability where a column for each does not fit
ERRORS_SHOWN = 10


def announce_model(resolved: ResolvedModel, clf: Classifier) -> None:
    """Which model runs, and how (stderr)."""
    chosen = f"{resolved.describe()}, the newest trained model (--model to pick another)" if resolved.automatic else resolved.path
    console_err().print(
        f"[bold]model[/] {escape(chosen)}; {escape(', '.join(clf.label_names))}; max length {clf.max_length} ({clf.reading}); "
        f"{clf.mode} on {clf.device}",
        highlight=False,
    )
    for note in clf.notes:
        console_err().print(f"note: {escape(note)}", highlight=False)
    if clf.multi_label:  # subset accuracy is no single-label accuracy: the near-chance check does not apply
        shown = ", ".join(f"{name} {t:.2f}" for name, t in zip(clf.label_names, clf.thresholds or []))
        console_err().print(f"[bold]multi-label[/]: every label over its threshold ({escape(shown)})", highlight=False)
        return
    note_near_chance(resolved.path)


def note_near_chance(model: str) -> None:
    """One warning line (stderr) when the eval accuracy the model's run recorded is near chance."""
    from bertcli.core.diagnose.run_underfitting import recorded_accuracy, run_folder_of_model

    check = recorded_accuracy(model)
    if check is None or not check.near_chance:
        return
    chance = check.chance
    always = f": always '{chance.label}'" if chance.label is not None else ""
    on = f" of {check.examples:,} examples" if check.examples else ""
    run = run_folder_of_model(model)
    see = f"; see bertcli debug run {escape(str(run))}" if run is not None else ""
    console_err().print(
        f"[bold yellow]warning:[/] this model scored {check.accuracy:.3f} accuracy on its eval set{on} "
        f"(chance {chance.rate:.3f}{escape(always)}) — its predictions are close to guesses{see}",
        highlight=False,
        soft_wrap=True,
    )


class TableOutput:
    """A rich table on stdout once every prediction is in: text, label, confidence, probabilities."""

    shows_all = True  # with --flag, every text with a mark, not the flagged ones alone

    def __init__(self, label_names: Sequence[str], flag: str | None = None):
        self.label_names = list(label_names)
        self.flag = flag
        self.rows: list[Prediction] = []

    def write(self, pred: Prediction) -> None:
        self.rows.append(pred)

    def flush(self) -> None:
        pass

    def close(self, summary: dict[str, Any]) -> None:
        console = console_out()
        each = self.probability_columns_fit(console.width)
        table = Table(title_justify="left", expand=not each)
        table.add_column("#", justify="right", style="dim")
        if each:
            table.add_column("text", overflow="fold", max_width=60)
            table.add_column("label")
            table.add_column("confidence", justify="right")
            for name in self.label_names:
                table.add_column(escape(f"p({visible(name)})"), justify="right")
        else:  # the text takes the width a column per label would have; the top labels share one column
            table.add_column("text", overflow="fold", ratio=3, min_width=20)
            table.add_column(f"top {TOP_SHOWN} labels (probability)", overflow="fold", ratio=2, min_width=16)
        if self.flag:
            table.add_column("flagged")
        for pred in self.rows:
            text = escape(snippet(pred.text, SNIPPET if each else SNIPPET * 3))
            if pred.error:
                cells = [str(pred.index + 1), text or "[dim](none)[/]", f"[red]skipped: {escape(pred.error)}[/]"]
                cells += ["-"] * (len(self.label_names) + 1) if each else []
            elif each:
                style = ("red", "green")[pred.label_id] if len(self.label_names) == 2 and pred.labels is None else "bold"
                cells = [str(pred.index + 1), text, f"[{style}]{self.shown_label(pred)}[/]", fmt(pred.confidence, 3)]
                cells += [fmt(p, 3) for p in pred.probabilities]
            else:
                cells = [str(pred.index + 1), text, self.top_labels(pred)]
            if self.flag:
                cells.append("[bold yellow]⚑ yes[/]" if pred.flagged else "")
            table.add_row(*cells)
        console.print(table)

    def probability_columns_fit(self, width: int) -> bool:
        """A p(label) column for each of up to 4 labels, or more while they leave the text 30 columns; else the
        top labels in one column."""
        columns = sum(max(len(f"p({name})"), 5) + 3 for name in self.label_names)
        return len(self.label_names) <= 4 or columns + 30 + 40 <= width

    @staticmethod
    def shown_label(pred: Prediction) -> str:
        """The predicted label; multi-label: every label over its threshold, comma-separated ('(none)' for none)."""
        if pred.labels is None:
            return escape(visible(pred.label))
        return escape(visible(", ".join(pred.labels))) or "[dim](none)[/]"

    def top_labels(self, pred: Prediction) -> str:
        """The predicted label and its probability in bold, then the next most probable ones, a line each
        (multi-label: the labels over their thresholds in bold, then the most probable ones)."""
        ranked = sorted(range(len(pred.probabilities)), key=lambda i: -pred.probabilities[i])[:TOP_SHOWN]
        lines = [f"{escape(visible(self.label_names[i]))} {pred.probabilities[i]:.3f}" for i in ranked]
        if pred.labels is not None:
            return "\n".join([f"[bold]{self.shown_label(pred)}[/]", *(f"[dim]{line}[/]" for line in lines)])
        return "\n".join([f"[bold]{lines[0]}[/]", *(f"[dim]{line}[/]" for line in lines[1:])])


class RecordOutput:
    """JSON Lines or CSV records to a stream (a file or stdout), flushed after each window."""

    shows_all = False

    def __init__(self, stream: IO[str], fmt_name: str, label_names: Sequence[str], close_stream: bool = False):
        from bertcli.core.inference.records import RecordWriter

        self.writer = RecordWriter(stream, fmt_name)  # CSV columns are set by the first record (see write)
        self.label_names = list(label_names)
        self.close_stream = close_stream
        self.stream = stream
        self.complete = True  # False: the run stopped early; a file stream then keeps any earlier file untouched

    def write(self, pred: Prediction) -> None:
        from bertcli.core.inference.records import OUTPUT_KEYS, prediction_record

        record = prediction_record(pred, self.label_names)
        if self.writer.format == "csv":
            probs = record.pop("probabilities", None) or {}
            record.pop("labels", None)  # multi-label: 'label' holds them, comma-separated
            record.update({f"p_{n}": probs.get(n) for n in self.label_names})
            if self.writer.columns is None:  # the input's own columns between ours, then the probabilities
                ours = {*OUTPUT_KEYS, *(f"p_{n}" for n in self.label_names)}
                inputs = [k for k in record if k not in ours]
                self.writer.columns = ["index", "line", *inputs, "text", "label", "confidence",
                                       *[f"p_{n}" for n in self.label_names], "truncated", "error"]
        self.writer.write(record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self.writer.flush()
        if self.close_stream:
            finish = getattr(self.stream, "finish", None)
            finish(self.complete) if finish is not None else self.stream.close()


class JsonOutput:
    """One JSON document on stdout, written as predictions arrive: {"model", "predictions": [...], "summary"}."""

    shows_all = False

    def __init__(self, header: dict[str, Any], label_names: Sequence[str]):
        self.label_names = list(label_names)
        self.count = 0
        head = json.dumps(header, indent=2)[:-2]  # drop the closing "\n}" to keep writing into the object
        sys.stdout.write(head + ',\n  "predictions": [')

    def write(self, pred: Prediction) -> None:
        from bertcli.core.inference.records import prediction_record

        record = prediction_record(pred, self.label_names)
        sys.stdout.write(("," if self.count else "") + "\n    " + json.dumps(record, ensure_ascii=False, allow_nan=False))
        self.count += 1

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self, summary: dict[str, Any]) -> None:
        tail = json.dumps(summary, indent=2).replace("\n", "\n  ")
        sys.stdout.write(("\n  " if self.count else "") + f'],\n  "summary": {tail}\n}}\n')
        sys.stdout.flush()


def json_header(run: PredictRun) -> dict[str, Any]:
    """The head of `predict --json`: which model, its labels and input settings, and the flag."""
    clf = run.classifier
    return {
        "model": run.resolved.path,
        "chosen_as": run.resolved.chosen_as,
        "labels": clf.label_names,
        # the training data's value of each label, where it is not the name (labels 1–4 named in classes.txt)
        **({"label_values": dict(zip(clf.label_names, clf.label_values))} if clf.label_values else {}),
        "max_length": clf.max_length,
        "truncation": clf.truncation,
        **({"stride": clf.stride, "pooling": clf.pooling} if clf.truncation == "sliding" else {}),
        "mode": clf.mode,
        "flag": run.flag,
        "threshold": run.threshold,
        "multi_label": clf.multi_label,
        "thresholds": dict(zip(clf.label_names, clf.thresholds)) if clf.multi_label and clf.thresholds else None,
    }


def summary_record(summary: PredictSummary, output: Path | None, written: int | None) -> dict[str, Any]:
    """The summary of `predict --json`: counts, speed, what was flagged and written."""
    return {
        "model": summary.model,
        "mode": summary.mode,
        "texts": summary.texts,
        "predicted": summary.predicted,
        "skipped": summary.skipped,
        "errors": summary.errors,
        "truncated": summary.truncated,
        "max_length": summary.max_length,
        "seconds": round(summary.seconds, 3),
        "texts_per_second": summary.texts_per_second,
        "tokens_per_second": summary.tokens_per_second,
        "flag": summary.flag,
        "threshold": summary.threshold,
        "flagged": summary.flagged,
        "output": str(output) if output is not None else None,
        "written": written,
    }


def file_progress(enabled: bool, to_screen: bool) -> Activity:
    """Progress of `predict --file` on stderr: texts done and the rate (a streamed file's length is unknown).

    Off when predictions scroll past on the same terminal (`to_screen`): they show the progress themselves.
    """
    from bertcli.render.activity import Activity

    return Activity(console_err(), "predict", None, unit="texts", enabled=enabled and not to_screen)


def render_line_error(pred: Prediction, shown: int) -> None:
    """A skipped line, on stderr (the first few; the rest are counted in the summary)."""
    if shown < ERRORS_SHOWN:
        where = pred.where or (f"line {pred.line}" if pred.line is not None else f"text {pred.index + 1}")
        console_err().print(f"[yellow]skipped[/] {where}: {escape(pred.error)}", highlight=False, soft_wrap=True)
    elif shown == ERRORS_SHOWN:
        console_err().print("[yellow]…[/] more skipped lines are counted below", highlight=False)


def render_predict_summary(summary: PredictSummary, output: Path | None, written: int | None) -> None:
    """Counts and speed after the run (stderr)."""
    err = console_err()
    speed = ""
    if summary.texts_per_second:
        speed = f" ({summary.texts_per_second:,.1f} texts/s, {summary.tokens_per_second:,.0f} tokens/s)"
    seconds = round(summary.seconds, 3)  # as the JSON summary gives it
    err.print(
        f"[bold]predicted[/] {summary.predicted:,} of {summary.texts:,} texts in {human_seconds(seconds)}{speed}; "
        f"{summary.truncated:,} cut at {summary.max_length} tokens",
        highlight=False,
    )
    if summary.flag and summary.multi_label:
        err.print(f"[bold]flagged[/] {summary.flagged:,} carrying {summary.flag}", highlight=False)
    elif summary.flag:
        err.print(
            f"[bold]flagged[/] {summary.flagged:,} predicted {summary.flag} with confidence ≥ {summary.threshold:.2f}",
            highlight=False,
        )
    if summary.skipped:
        err.print(f"[yellow]skipped[/] {summary.skipped:,}: {summary.skip_reasons()}", highlight=False)
    if output is not None:
        err.print(f"[bold]wrote[/] {written:,} record(s) to {escape(str(output))}", highlight=False)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def quiet_broken_pipe() -> None:
    """The reader went away (`| head`): stop writing to stdout without a traceback."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


@contextlib.contextmanager
def _reader_may_go() -> Iterator[None]:
    """A closed pipe quiets stdout at once (what is still written goes nowhere) and stops the run."""
    try:
        yield
    except BrokenPipeError:
        quiet_broken_pipe()
        raise


class PredictSink:
    """`bertcli predict`'s outputs: --output's file, --json's document, else a table (texts given as arguments)
    or records on stdout; skipped lines, a progress bar (--file) and the summary on stderr unless quiet.

    A bad --format or an --output that cannot be written is refused here, before anything loads.
    """

    def __init__(self, out: Output, *, output: Path | None, fmt: str | None, inputs: Sequence[Input] = ()):
        from bertcli.core.inference.records import output_format
        from bertcli.core.outputs import check_output_path

        self.fmt_name = output_format(output, fmt)
        if output is not None:  # a folder, or a parent that is a file, fails here, before the model loads
            check_output_path(output, "--output", inputs=inputs)
        self.output, self.fmt, self.json_out, self.quiet = output, fmt, out.json, out.quiet
        self.outputs: list[TableOutput | RecordOutput | JsonOutput] = []
        self.file: RecordOutput | None = None
        self.flag: str | None = None
        self.shown_errors = 0
        self.bar: Any = None

    def start(self, run: PredictRun) -> None:
        from bertcli.core.inference.records import open_output

        if not self.quiet:
            announce_model(run.resolved, run.classifier)
            for note in run.source.notes:
                console_err().print(f"note: {escape(note)}", highlight=False)
        self.flag = run.flag
        labels = run.classifier.label_names
        if self.output is not None:
            self.file = RecordOutput(open_output(self.output), self.fmt_name, labels, close_stream=True)
            self.outputs.append(self.file)
        if self.json_out:
            self.outputs.append(JsonOutput(json_header(run), labels))
        elif self.output is None:
            table = run.source.kind == "args" and self.fmt is None
            self.outputs.append(TableOutput(labels, run.flag) if table else RecordOutput(sys.stdout, self.fmt_name, labels))
        # A bar for --file only: on an interactive stream it would fight with the lines as they come.
        self.bar = file_progress(run.source.kind == "file" and not self.quiet, to_screen=self.output is None and _is_tty(sys.stdout))

    def progress(self, done: int) -> None:
        with _reader_may_go():
            self.bar.update(done)

    def write(self, prediction: Prediction) -> None:
        with _reader_may_go():
            if prediction.error and not self.quiet:
                render_line_error(prediction, self.shown_errors)
                self.shown_errors += 1
            for out in self.outputs:
                if self.flag is None or prediction.flagged or out.shows_all:
                    out.write(prediction)

    def flush(self) -> None:
        with _reader_may_go():
            for out in self.outputs:
                out.flush()

    def close(self, summary: PredictSummary) -> None:
        """Close the outputs (also after an error: what was written stands); the summary on stderr after a full run."""
        self.bar.close()
        written = self.file.writer.count if self.file is not None else None
        if self.file is not None:
            self.file.complete = summary.complete
        record = summary_record(summary, self.output, written)
        for out in self.outputs:
            try:
                out.close(record)
            except BrokenPipeError:
                quiet_broken_pipe()
        if summary.complete and summary.predicted and not self.quiet:
            render_predict_summary(summary, self.output, written)
