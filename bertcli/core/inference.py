"""Find a trained model, load it for inference, and classify texts fast and in order.

Speed comes from the same ideas as training: texts are tokenized once without padding, sorted by
length within a window, padded per batch only to that batch's longest text, and run under
`torch.inference_mode` with SDPA attention; results come back in input order. `bf16` (the default
where the GPU or CPU runs bf16 natively) keeps the linear layers' weights in bf16 and runs under
autocast, so embeddings, LayerNorm and the residual stream stay fp32; `int8` quantizes the linear
layers where it pays (bertcli.core.int8). A BERT classifier's last layer runs for [CLS] alone, the
only row the head reads (bertcli.core.cls_only). Inputs stream through a window at a time, so
memory stays flat on any input size.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from bertcli.core.checkpoints import (
    STATE_FILE,
    WEIGHT_FILES,
    checkpoint_is_complete,
    newest_complete_checkpoint,
)
from bertcli.core.errors import ModelError, UsageError
from bertcli.core.textio import TextItem, as_item

DEFAULT_RESULTS = Path("results")
PRECISIONS = ("auto", "fp32", "bf16")
QUANTIZATIONS = ("none", "int8")
DEVICES = ("auto", "cpu", "cuda")
# Sorting by length happens within this many batches: enough to group lengths, bounded in memory.
WINDOW_BATCHES = 16
# On CPU a batch beyond a few thousand tokens only spills activations out of cache: 32 reviews of 512
# tokens run 20% slower per review than 8 (bench/predict_speed.py). GPUs take the whole --batch-size.
CPU_BATCH_TOKENS = 4096


@dataclass
class ResolvedModel:
    """Which model to load and how it was chosen ('given', 'final', 'best checkpoint', 'newest checkpoint')."""

    path: str
    chosen_as: str = "given"
    run_dir: Path | None = None

    @property
    def automatic(self) -> bool:
        return self.chosen_as != "given"

    def describe(self) -> str:
        if not self.automatic:
            return self.path
        return f"{self.path} ({self.chosen_as} of {self.run_dir})"


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


def _best_checkpoint(run_dir: Path, newest: Path) -> Path | None:
    """The best checkpoint trainer_state.json names, looked up by name inside this run folder."""
    try:
        best = json.loads((newest / STATE_FILE).read_text()).get("best_model_checkpoint")
    except (OSError, ValueError):
        return None
    if not best:
        return None
    candidate = run_dir / Path(best).name
    return candidate if candidate.is_dir() and checkpoint_is_complete(candidate) else None


def trained_model_in_run(run_dir: str | Path) -> ResolvedModel | None:
    """A run folder's model: final/, else the best checkpoint, else the newest complete checkpoint."""
    run = Path(run_dir)
    if _has_weights(run / "final"):
        return ResolvedModel(str(run / "final"), "final", run)
    newest = newest_complete_checkpoint(run)
    if newest is None:
        return None
    best = _best_checkpoint(run, newest.path)
    if best is not None:
        return ResolvedModel(str(best), "best checkpoint", run)
    return ResolvedModel(str(newest.path), "newest checkpoint", run)


def _weights_mtime(folder: Path) -> float:
    times = [(folder / name).stat().st_mtime for name in WEIGHT_FILES if (folder / name).is_file()]
    return max(times, default=0.0)


def find_trained_model(results_dir: str | Path = DEFAULT_RESULTS) -> ResolvedModel:
    """The newest trained model in `results_dir` or in a run folder directly inside it."""
    root = Path(results_dir)
    runs = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
    found = [m for m in (trained_model_in_run(r) for r in runs) if m is not None]
    if not found:
        raise ModelError(
            f"no trained model under {root}/ (no final/ folder or complete checkpoint) — train one with "
            f"`bertcli train --epochs 3` (or `bertcli train --model PATH --dataset PATH`), or pass --model PATH or a hub name"
        )
    return max(found, key=lambda m: _weights_mtime(Path(m.path)))


def resolve_model(model: str | None, results_dir: str | Path = DEFAULT_RESULTS) -> ResolvedModel:
    """--model as given (a model folder or hub name), a run folder's model, or the newest under results/."""
    if not model:
        return find_trained_model(results_dir)
    path = Path(model).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        inside = trained_model_in_run(path)
        if inside is not None:
            return inside
        if (path / "final").is_dir() or any(path.glob("checkpoint-*")):
            raise ModelError(
                f"'{model}' is a run folder without weights (only its states are left: `bertcli sweep` keeps no weights "
                "unless --keep-weights) — inspect it with bertcli inspect-checkpoint, or train it again with --keep-weights"
            )
    return ResolvedModel(model)


@dataclass
class Classifier:
    """A model ready for inference, with everything needed to encode texts the way it was trained."""

    model: Any
    tokenizer: Any
    name: str
    label_names: list[str]
    max_length: int
    truncation: str
    device: str
    precision: str
    quantized: bool
    load_seconds: float

    @property
    def mode(self) -> str:
        """fp32, bf16, int8 (int8 layers, the rest fp32) or int8+bf16."""
        if not self.quantized:
            return self.precision
        return "int8" if self.precision == "fp32" else f"int8+{self.precision}"


def choose_inference_precision(requested: str, device: str) -> str:
    """auto: bf16 where the hardware runs bf16 natively (GPUs, CPUs with AMX/AVX512-BF16), else fp32.

    On a CPU with AMX, bf16 linear layers under autocast ran 2.3x faster than fp32 and gave the
    same label on every IMDb review measured (bench/predict_speed.py). Casting the whole model,
    embeddings and LayerNorm included, was 8% faster again but changed 3 labels in 1,000.
    --precision fp32 gives fp32's exact probabilities.
    """
    from bertcli.core.training import cpu_supports_bf16

    if requested not in PRECISIONS:
        raise UsageError(f"--precision takes one of {', '.join(PRECISIONS)}, not '{requested}'")
    if requested == "bf16" and device == "cpu" and not cpu_supports_bf16():
        from bertcli.core.cpu import describe_cpu

        raise UsageError(f"--precision bf16 needs a CPU with bf16 instructions (AMX or AVX512-BF16); this one is {describe_cpu()} — use --precision fp32")
    if requested != "auto":
        return requested
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def _pick_device(requested: str, quantize: str) -> str:
    if requested not in DEVICES:
        raise UsageError(f"--device takes one of {', '.join(DEVICES)}, not '{requested}'")
    if quantize == "int8":
        if requested == "cuda":
            raise UsageError("--quantize int8 runs on CPU — drop --device cuda, or drop --quantize on a GPU")
        return "cpu"
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but no GPU is visible — use --device cpu")
    return requested


def _linear_weights_to_bf16(model: Any) -> None:
    """bf16 weights for the linear layers only: autocast then skips re-casting them on every batch."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def load_for_inference(
    name_or_path: str,
    *,
    precision: str = "auto",
    quantize: str = "none",
    device: str = "auto",
    max_length: int | None = None,
    truncation: str | None = None,
    allow_untrained_head: bool = False,
) -> Classifier:
    """Load a classifier (safetensors only) with the max length and truncation saved beside it.

    A model without a trained classification head (a base encoder) is refused unless
    `allow_untrained_head`: its random head gives labels that mean nothing.
    """
    from bertcli.core.cls_only import run_last_layer_for_cls_only
    from bertcli.core.encoding import check_truncation
    from bertcli.core.model import (
        check_max_length,
        check_tokenizer_fits,
        load_classifier,
        load_input_settings,
        load_tokenizer,
        model_label_names,
    )

    quantize = (quantize or "none").lower()
    if quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize takes one of {', '.join(QUANTIZATIONS)}, not '{quantize}'")
    started = time.perf_counter()
    chosen_device = _pick_device(device, quantize)
    chosen_precision = choose_inference_precision(precision, chosen_device)
    if quantize == "int8":
        from bertcli.core.int8 import check_int8_kernels

        check_int8_kernels()
    tokenizer = load_tokenizer(name_or_path)
    model = load_classifier(name_or_path, require_trained_head=not allow_untrained_head)
    check_tokenizer_fits(tokenizer, name_or_path, model.get_input_embeddings().num_embeddings)
    if not getattr(model.config, "id2label", None) or model.config.num_labels < 2:
        raise ModelError(f"'{name_or_path}' has no classification labels — fine-tune it first with `bertcli train --model {name_or_path}`")
    settings = load_input_settings(Path(name_or_path).expanduser(), tokenizer)
    length = max_length or settings.max_length
    limit = getattr(model.config, "max_position_embeddings", None)
    if max_length is None and limit is not None:
        length = min(length, limit)
    check_max_length(model, length)
    model.eval()
    run_last_layer_for_cls_only(model)
    if chosen_precision == "bf16":
        _linear_weights_to_bf16(model)
    if quantize == "int8":
        import torch

        from bertcli.core.int8 import quantize_int8

        model = quantize_int8(model, torch.bfloat16 if chosen_precision == "bf16" else torch.float32)
    model.to(chosen_device)
    return Classifier(
        model=model,
        tokenizer=tokenizer,
        name=str(name_or_path),
        label_names=model_label_names(model),
        max_length=length,
        truncation=check_truncation(truncation or settings.truncation),
        device=chosen_device,
        precision=chosen_precision,
        quantized=quantize == "int8",
        load_seconds=time.perf_counter() - started,
    )


@dataclass
class Prediction:
    """One text's result, in input order: its label and probabilities, or the error that skipped it."""

    index: int
    text: str | None
    line: int | None = None
    label: str | None = None
    label_id: int | None = None
    confidence: float | None = None
    probabilities: list[float] | None = None
    n_tokens: int | None = None
    truncated: bool | None = None
    error: str | None = None
    fields: dict[str, Any] | None = None  # the input row's other columns, kept so that an id joins back
    where: str = ""  # where it came from: "line 3", "row 2 (line 3)", "record 7"

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunStats:
    """Counters a prediction stream fills in as it goes."""

    texts: int = 0
    predicted: int = 0
    skipped: int = 0
    truncated: int = 0
    tokens: int = 0
    batches: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def texts_per_second(self) -> float | None:
        return self.predicted / self.seconds if self.seconds > 0 else None

    @property
    def tokens_per_second(self) -> float | None:
        return self.tokens / self.seconds if self.seconds > 0 else None


def _autocast(clf: Classifier):
    import contextlib

    import torch

    if clf.precision == "bf16":
        return torch.autocast(clf.device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def classify_token_ids(clf: Classifier, batch: Sequence[Sequence[int]]) -> Any:
    """Class probabilities (float64 numpy, rows sum to 1) for one batch of token id lists, padded to its longest."""
    import numpy as np
    import torch

    longest = max(len(ids) for ids in batch)
    pad_id = clf.tokenizer.pad_token_id or 0
    input_ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, ids in enumerate(batch):
        input_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = 1
    with torch.inference_mode(), _autocast(clf):
        logits = clf.model(input_ids=input_ids.to(clf.device), attention_mask=mask.to(clf.device)).logits
    logits = logits.float().cpu().numpy().astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def length_sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int | None = None) -> list[list[int]]:
    """Positions grouped into batches of similar length, longest first (memory peaks show up at once).

    A batch holds at most `batch_size` texts and, padded, at most `max_tokens` tokens (always at
    least one text): many short texts share a forward pass, long ones go a few at a time.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for position in order:
        longest = lengths[current[0]] if current else lengths[position]
        if current and (len(current) >= batch_size or (max_tokens and (len(current) + 1) * longest > max_tokens)):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_END = object()


def chunks_as_they_arrive(items: Iterable[Any], size: int, max_wait: float) -> Iterator[list[Any]]:
    """Chunks of up to `size` items, cut short when no new item arrives for `max_wait` seconds.

    For interactive streams (a terminal, `tail -f | bertcli predict -`): a line is classified
    shortly after it arrives instead of waiting for a full batch. A reader thread pulls items into a
    bounded queue, so a fast producer still cannot fill memory.
    """
    pending: queue.Queue = queue.Queue(maxsize=max(size * 4, 16))
    failure: list[BaseException] = []

    def reader() -> None:
        try:
            for item in items:
                pending.put(item)
        except BaseException as err:  # handed to the consumer, which raises it in its own thread
            failure.append(err)
        finally:
            pending.put(_END)

    threading.Thread(target=reader, daemon=True, name="bertcli-input").start()
    done = False
    while not done:
        first = pending.get()
        if first is _END:
            break
        chunk = [first]
        deadline = time.monotonic() + max_wait
        while len(chunk) < size:
            remaining = deadline - time.monotonic()
            try:
                item = pending.get(timeout=max(remaining, 0.0)) if remaining > 0 else pending.get_nowait()
            except queue.Empty:
                break
            if item is _END:
                done = True
                break
            chunk.append(item)
        yield chunk
    if failure:
        raise failure[0]


def predict_stream(
    clf: Classifier,
    texts: Iterable[str | TextItem],
    *,
    batch_size: int = 32,
    window_batches: int = WINDOW_BATCHES,
    max_wait: float | None = None,
    stats: RunStats | None = None,
    on_window: Callable[[RunStats], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[list[Prediction]]:
    """Classify a stream of texts; yields the predictions of each window, in input order.

    A window holds `batch_size * window_batches` texts; they are tokenized together, sorted by
    length into batches and put back in order. `window_batches=1` with `max_wait` gives the lowest
    latency for interactive input. Items with an error (or empty text) come back as a Prediction
    with `error` set and are never sent to the model. `on_batch(done)` is called after each batch
    with the texts of this stream done so far (for a progress bar that moves every batch).
    """
    from bertcli.core.encoding import encode_texts

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    stats = stats if stats is not None else RunStats()
    window = batch_size * max(window_batches, 1)
    chunks = chunks_as_they_arrive(texts, window, max_wait) if max_wait is not None else _chunks(texts, window)
    index = 0
    for chunk in chunks:
        started = time.perf_counter()
        items = [as_item(value) for value in chunk]
        results = []
        for item in items:
            results.append(Prediction(index=index, text=item.text, line=item.line, error=item.error,
                                      fields=item.fields, where=item.where()))
            index += 1
        usable = [r for r in results if r.error is None]
        classified = 0
        if usable:
            encoded = encode_texts(clf.tokenizer, [r.text for r in usable], clf.max_length, clf.truncation)
            ids, n_tokens = encoded["input_ids"], encoded["n_tokens"]
            budget = CPU_BATCH_TOKENS if clf.device == "cpu" else None
            for positions in length_sorted_batches([len(x) for x in ids], batch_size, budget):
                probs = classify_token_ids(clf, [ids[p] for p in positions])
                for row, p in enumerate(positions):
                    result = usable[p]
                    best = int(probs[row].argmax())
                    result.label_id = best
                    result.label = clf.label_names[best]
                    result.confidence = float(probs[row, best])
                    result.probabilities = [float(x) for x in probs[row]]
                    result.n_tokens = n_tokens[p]
                    result.truncated = n_tokens[p] > clf.max_length
                    stats.tokens += len(ids[p])
                stats.batches += 1
                classified += len(positions)
                if on_batch is not None:
                    on_batch(stats.texts + classified)
        for r in results:
            stats.texts += 1
            if r.error is None:
                stats.predicted += 1
                stats.truncated += bool(r.truncated)
            else:
                stats.skipped += 1
                reason = r.error.split(" (")[0].split(" —")[0]
                stats.errors[reason] = stats.errors.get(reason, 0) + 1
        stats.seconds += time.perf_counter() - started
        if on_batch is not None and classified != len(results):  # skipped items count as done too
            on_batch(stats.texts)
        if on_window is not None:
            on_window(stats)
        yield results


def predict_texts(clf: Classifier, texts: Sequence[str], *, batch_size: int = 32) -> list[Prediction]:
    """Every text at once (sorted over the whole list), in input order."""
    out: list[Prediction] = []
    window_batches = max(1, -(-len(texts) // batch_size))
    for chunk in predict_stream(clf, texts, batch_size=batch_size, window_batches=window_batches):
        out.extend(chunk)
    return out


# What a prediction record holds of its own: an input column of the same name is kept as input_<name>.
OUTPUT_KEYS = ("index", "line", "text", "label", "confidence", "probabilities", "n_tokens", "truncated", "error")


def prediction_record(pred: Prediction, label_names: Sequence[str], *, with_text: bool = True) -> dict[str, Any]:
    """One prediction as a flat JSON-able record (what --output, --json and --predictions write)."""
    record: dict[str, Any] = {"index": pred.index}
    if pred.line is not None:
        record["line"] = pred.line
    for name, value in (pred.fields or {}).items():  # the input's other columns; ours keep their names
        record[name if name not in OUTPUT_KEYS else f"input_{name}"] = value
    if with_text:
        record["text"] = pred.text
    if pred.error is not None:
        record.update(label=None, confidence=None, error=pred.error)
        return record
    record.update(
        label=pred.label,
        confidence=round(pred.confidence, 6),
        probabilities={name: round(p, 6) for name, p in zip(label_names, pred.probabilities or [])},
        n_tokens=pred.n_tokens,
        truncated=pred.truncated,
    )
    return record


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
    """Predicted as the flagged label with at least `threshold` confidence."""
    return flag is not None and pred.error is None and pred.label == flag and (pred.confidence or 0.0) >= threshold
