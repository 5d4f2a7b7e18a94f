"""Classify a stream of texts of any length, a window at a time, in input order and in flat memory.

A window holds `batch_size * window_batches` texts, classified together (bertcli.core.inference.classify).
Interactive input (a terminal, `tail -f | bertcli predict -`) takes one batch per window and cuts it short
when input pauses, so each line is answered soon after it arrives.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.inference.classify import Prediction, RunStats, classify_window
from bertcli.core.inference.texts import TextItem

if TYPE_CHECKING:
    from bertcli.core.inference.load import Classifier

# Sorting by length happens within this many batches: enough to group lengths, bounded in memory.
WINDOW_BATCHES = 16


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
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    stats = stats if stats is not None else RunStats()
    window = batch_size * max(window_batches, 1)
    chunks = chunks_as_they_arrive(texts, window, max_wait) if max_wait is not None else _chunks(texts, window)
    index = 0
    for chunk in chunks:
        results = classify_window(clf, chunk, first_index=index, batch_size=batch_size, stats=stats, on_batch=on_batch)
        index += len(results)
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
