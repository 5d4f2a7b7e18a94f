"""Many clients, one model: texts from concurrent requests gathered into length-sorted micro-batches.

Each text is tokenized (head+tail truncation as predict does) by the request that brings it and queued.
One worker thread runs the model: it takes what is waiting (up to a few token budgets), waits at most
`max_wait_ms` after the first text for a full batch, sorts the texts by length into forward passes of at
most `batch_tokens` padded tokens, and hands each text its prediction. The queue is bounded: a request
that would overfill it is refused at once (the server answers 503 with Retry-After).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from bertcli.core.errors import BertCliError

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction
    from bertcli.core.inference.load import Classifier

WINDOW_BUDGETS = 4  # a worker takes up to this many token budgets at once, so lengths group well under load


class Overloaded(BertCliError):
    """The queue is full: the client should retry shortly."""


@dataclass
class Served:
    """One text's prediction and the size of the micro-batch (texts classified together) that served it."""

    prediction: Prediction
    batch_texts: int


@dataclass
class _Job:
    text: str
    ids: list[int]
    n_tokens: int
    future: Future = field(default_factory=Future)


class MicroBatcher:
    def __init__(self, clf: Classifier, *, batch_tokens: int = 4096, max_wait_ms: float = 5.0, max_queue: int = 1024,
                 flag: str | None = None, threshold: float = 0.0):
        self.clf = clf
        self.batch_tokens = batch_tokens
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.flag, self.threshold = flag, threshold
        self._pending: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="bertcli-batcher", daemon=True)
        self.batches = 0
        self.texts = 0

    def start(self) -> None:
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._pending)

    def submit(self, texts: Sequence[str]) -> list[Future]:
        """Queue `texts` (tokenized here, in the caller's thread); refused whole with Overloaded when the queue is full."""
        from bertcli.core.encoding import encode_texts

        encoded = encode_texts(self.clf.tokenizer, list(texts), self.clf.max_length, self.clf.truncation) if texts else None
        jobs = [_Job(t, ids, n) for t, ids, n in zip(texts, encoded["input_ids"], encoded["n_tokens"])] if encoded else []
        with self._cond:
            if self._stopping:
                raise Overloaded("the server is shutting down")
            if len(self._pending) + len(jobs) > self.max_queue:
                raise Overloaded(f"{len(self._pending)} texts are waiting (at most {self.max_queue})")
            self._pending.extend(jobs)
            self._cond.notify()
        return [job.future for job in jobs]

    def close(self, timeout: float | None = None) -> None:
        """Stop taking texts; the worker finishes every text already queued, then ends."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[_Job] | None:
        """The next window of jobs: waits for a first one, then up to max_wait for a token budget's worth."""
        with self._cond:
            while not self._pending:
                if self._stopping:
                    return None
                self._cond.wait()
            deadline = time.monotonic() + self.max_wait
            while not self._stopping and self._padded(self._pending) < self.batch_tokens:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            taken: list[_Job] = []
            tokens = 0
            while self._pending and (not taken or tokens + len(self._pending[0].ids) <= self.batch_tokens * WINDOW_BUDGETS):
                job = self._pending.popleft()
                taken.append(job)
                tokens += len(job.ids)
            return taken

    @staticmethod
    def _padded(jobs: deque[_Job]) -> int:
        return len(jobs) * max((len(j.ids) for j in jobs), default=0)

    def _run(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            try:
                predictions = self._classify(live)
            except BaseException as err:  # every waiting request learns of it; the worker goes on
                for job in live:
                    job.future.set_exception(err)
                continue
            for job, pred in zip(live, predictions):
                job.future.set_result(Served(pred, len(live)))

    def _classify(self, jobs: list[_Job]) -> list[Prediction]:
        from bertcli.core.inference.classify import Prediction, RunStats, classify_encoded
        from bertcli.core.inference.predict import is_flagged

        predictions = [Prediction(index=i, text=job.text, error=None if job.text.strip() else "empty text")
                       for i, job in enumerate(jobs)]
        usable = [(p, job) for p, job in zip(predictions, jobs) if p.error is None]
        if usable:
            encoded = {"input_ids": [job.ids for _, job in usable], "n_tokens": [job.n_tokens for _, job in usable]}
            classify_encoded(self.clf, [p for p, _ in usable], encoded, max_tokens=self.batch_tokens, stats=RunStats())
            self.batches += 1
        self.texts += len(jobs)
        for pred in predictions:
            pred.flagged = is_flagged(pred, self.flag, self.threshold)
        return predictions
