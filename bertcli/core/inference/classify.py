"""Classify one window of texts: tokenized once without padding, sorted by length, batched, put back in order.

Each batch is padded only to its longest text and runs under `torch.inference_mode` (with autocast
in bf16); results come back in input order. Items with an error (or empty text) become a Prediction
with `error` set and are never sent to the model. With `sliding` truncation a text's windows are batched
like texts (by the same token budget, so one very long text runs a few windows at a time) and their
logits pooled into one prediction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.inference.texts import TextItem, as_item

if TYPE_CHECKING:
    from bertcli.core.inference.load import Classifier

# On CPU a batch beyond a few thousand tokens only spills activations out of cache: 32 reviews of 512
# tokens run 20% slower per review than 8 (bench/predict_speed.py). GPUs take the whole --batch-size.
CPU_BATCH_TOKENS = 4096


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
    windows: int | None = None  # with sliding truncation: how many windows the text was read in
    error: str | None = None
    fields: dict[str, Any] | None = None  # the input row's other columns, kept so that an id joins back
    where: str = ""  # where it came from: "line 3", "row 2 (line 3)", "record 7"
    flagged: bool = False  # predicted as predict's --flag label with at least its --threshold
    labels: list[str] | None = None  # multi-label: every label over its threshold (none: an empty list)

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

    def count(self, results: Sequence[Prediction]) -> None:
        """Count a window's results: predicted (and cut) or skipped, with the reason."""
        for r in results:
            self.texts += 1
            if r.error is None:
                self.predicted += 1
                self.truncated += bool(r.truncated)
            else:
                self.skipped += 1
                reason = r.error.split(" (")[0].split(" —")[0]
                self.errors[reason] = self.errors.get(reason, 0) + 1


def _autocast(clf: Classifier):
    import contextlib

    import torch

    if clf.precision == "bf16":
        return torch.autocast(clf.device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def classify_token_ids(clf: Classifier, batch: Sequence[Sequence[int]]) -> Any:
    """Class probabilities (float64 numpy, rows sum to 1; for a multi-label model each label's own) for one
    batch of token id lists, padded to its longest."""
    return probabilities(clf, logits_of_token_ids(clf, batch))


def probabilities(clf: Classifier, logits: Any) -> Any:
    """Logits as probabilities: a softmax across labels, or for a multi-label model a sigmoid for each label."""
    if clf.multi_label:
        from bertcli.core.metrics import sigmoid

        return sigmoid(logits)
    return softmax(logits)


def softmax(logits: Any) -> Any:
    import numpy as np

    logits = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


def logits_of_token_ids(clf: Classifier, batch: Sequence[Sequence[int]]) -> Any:
    """Logits (float64 numpy) for one batch of token id lists, padded to its longest."""
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
    return logits.float().cpu().numpy().astype(np.float64)


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


def _set_probabilities(result: Prediction, probs: Any, clf: Classifier) -> None:
    best = int(probs.argmax())
    result.label_id = best
    result.label = clf.label_names[best]
    result.confidence = float(probs[best])
    result.probabilities = [float(x) for x in probs]
    if clf.multi_label:  # every label over its threshold
        result.labels = [name for name, p, t in zip(clf.label_names, probs, clf.thresholds or []) if p >= t]
        result.label = ",".join(result.labels)


class PooledLogits:
    """The logits of one text's windows as they arrive, pooled three ways (mean, max, token-weighted mean)."""

    __slots__ = ("total", "peak", "weighted", "weight", "count", "expected")

    def __init__(self, expected: int):
        self.total = self.peak = self.weighted = None
        self.weight = 0
        self.count = 0
        self.expected = expected

    def add(self, logits: Any, weight: int) -> None:
        import numpy as np

        if self.total is None:
            self.total, self.peak, self.weighted = logits.copy(), logits.copy(), logits * weight
        else:
            self.total += logits
            np.maximum(self.peak, logits, out=self.peak)
            self.weighted += logits * weight
        self.weight += weight
        self.count += 1

    @property
    def done(self) -> bool:
        return self.count == self.expected

    def pooled(self, pooling: str) -> Any:
        if pooling == "max":
            return self.peak
        if pooling == "weighted":
            return self.weighted / max(self.weight, 1)
        return self.total / self.count


def window_logits(
    clf: Classifier,
    bodies: Sequence[Sequence[int]],
    batch_size: int,
    on_text: Callable[[int, PooledLogits], None],
    on_batch: Callable[[int, int], None] | None = None,
    max_tokens: int | None = None,
) -> None:
    """Run every window of each text (ids without specials) through the model, batched by the token budget
    like texts; `on_text(position, pooled)` as soon as a text's last window is in, `on_batch(texts done,
    tokens)` after each batch. Windows are cut from the token ids one batch at a time, so a very long text
    costs its ids and a batch, not all its windows at once."""
    import numpy as np

    from bertcli.core.encoding import check_stride, special_ids, window_spans, window_weights

    cls_id, sep_id = special_ids(clf.tokenizer)
    budget = clf.max_length - 2
    stride = check_stride(clf.stride, clf.max_length)
    rows: list[tuple[int, int, int, int]] = []  # (text position, start, end, weight)
    pools = []
    for position, ids in enumerate(bodies):
        spans = window_spans(len(ids), budget, stride)
        rows += [(position, start, end, w) for (start, end), w in zip(spans, window_weights(spans))]
        pools.append(PooledLogits(len(spans)))
    limit = max_tokens or (CPU_BATCH_TOKENS if clf.device == "cpu" else None)
    done = 0
    for positions in length_sorted_batches([r[2] - r[1] + 2 for r in rows], batch_size, limit):
        batch = [[cls_id, *bodies[rows[i][0]][rows[i][1] : rows[i][2]], sep_id] for i in positions]
        logits = logits_of_token_ids(clf, batch)
        tokens = sum(len(ids) for ids in batch)
        del batch
        for row, i in enumerate(positions):
            position, _, _, weight = rows[i]
            pool = pools[position]
            pool.add(np.asarray(logits[row]), weight)
            if pool.done:
                on_text(position, pool)
                pools[position] = None  # type: ignore[call-overload]
                done += 1
        if on_batch is not None:
            on_batch(done, tokens)


def _classify_sliding(
    clf: Classifier, usable: list[Prediction], batch_size: int, stats: RunStats, on_batch: Callable[[int], None] | None,
    bodies: Sequence[Sequence[int]] | None = None, max_tokens: int | None = None,
) -> int:
    """Each text read whole, in windows whose pooled logits give its prediction; progress counts texts."""
    from bertcli.core.encoding import tokenize_bodies

    if bodies is None:
        bodies = tokenize_bodies(clf.tokenizer, [r.text for r in usable])

    def finish(position: int, pool: PooledLogits) -> None:
        result = usable[position]
        _set_probabilities(result, probabilities(clf, pool.pooled(clf.pooling)[None, :])[0], clf)
        result.n_tokens = len(bodies[position]) + 2
        result.truncated = False
        result.windows = pool.count

    def batch_done(done: int, tokens: int) -> None:
        stats.tokens += tokens
        stats.batches += 1
        if on_batch is not None:
            on_batch(stats.texts + done)

    window_logits(clf, bodies, batch_size, finish, batch_done, max_tokens)
    return len(usable)


def _classify_usable(
    clf: Classifier, usable: list[Prediction], batch_size: int, stats: RunStats, on_batch: Callable[[int], None] | None,
    encoded: dict[str, list] | None = None, max_tokens: int | None = None,
) -> int:
    """Fill in the label and probabilities of each prediction, a length-sorted batch at a time; returns how many."""
    from bertcli.core.encoding import encode_texts

    if clf.truncation == "sliding":  # encode_texts keeps a whole text then: its windows are cut here
        bodies = [ids[1:-1] for ids in encoded["input_ids"]] if encoded is not None else None
        return _classify_sliding(clf, usable, batch_size, stats, on_batch, bodies, max_tokens)
    if encoded is None:
        encoded = encode_texts(clf.tokenizer, [r.text for r in usable], clf.max_length, clf.truncation)
    ids, n_tokens = encoded["input_ids"], encoded["n_tokens"]
    budget = max_tokens or (CPU_BATCH_TOKENS if clf.device == "cpu" else None)
    classified = 0
    for positions in length_sorted_batches([len(x) for x in ids], batch_size, budget):
        probs = classify_token_ids(clf, [ids[p] for p in positions])
        for row, p in enumerate(positions):
            result = usable[p]
            _set_probabilities(result, probs[row], clf)
            result.n_tokens = n_tokens[p]
            result.truncated = n_tokens[p] > clf.max_length
            stats.tokens += len(ids[p])
        stats.batches += 1
        classified += len(positions)
        if on_batch is not None:
            on_batch(stats.texts + classified)
    return classified


def classify_encoded(clf: Classifier, usable: list[Prediction], encoded: dict[str, list], *, max_tokens: int,
                     stats: RunStats) -> None:
    """Fill in predictions whose texts are already encoded (encode_texts), in length-sorted forward passes of at
    most `max_tokens` padded tokens (the server's micro-batches)."""
    _classify_usable(clf, usable, len(usable), stats, None, encoded, max_tokens)


def classify_window(
    clf: Classifier,
    chunk: Sequence[str | TextItem],
    *,
    first_index: int,
    batch_size: int,
    stats: RunStats,
    on_batch: Callable[[int], None] | None = None,
) -> list[Prediction]:
    """The predictions of one window of texts, in input order (numbered from `first_index`), counted in `stats`.

    `on_batch(done)` is called after each batch with the texts of the stream done so far.
    """
    started = time.perf_counter()
    results = []
    for offset, value in enumerate(chunk):
        item = as_item(value)
        results.append(Prediction(index=first_index + offset, text=item.text, line=item.line, error=item.error,
                                  fields=item.fields, where=item.where()))
    usable = [r for r in results if r.error is None]
    classified = _classify_usable(clf, usable, batch_size, stats, on_batch) if usable else 0
    stats.count(results)
    stats.seconds += time.perf_counter() - started
    if on_batch is not None and classified != len(results):  # skipped items count as done too
        on_batch(stats.texts)
    return results
