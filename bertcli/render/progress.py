"""The Trainer callback of `bertcli train`: live progress on stderr (other commands: render/activity.py).

In a terminal it draws a live bar; when stderr goes to a file or a pipe (a log, CI) it writes a plain
line per logging step instead, so a long run never looks dead there. Nothing of it goes to stdout.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from bertcli.render import fmt, human_seconds


# The first steps pick kernels, grow the allocator and start the data loader: the pace is timed after them.
WARMUP_STEPS = 2
# The first estimate of the run's length comes after this many timed steps or seconds, whichever is later.
ESTIMATE_AFTER_STEPS = 3
ESTIMATE_AFTER_SECONDS = 5.0


class RichProgressCallback(TrainerCallback):
    """Reads (never mutates) the Trainer's logs; draws only on the main process."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.fields = {"loss": "-", "lr": "-", "grad": "-"}
        self._window: list[float] = []
        self.plain = not console.is_terminal
        self._started: float | None = None
        self._first_step = 0
        self._estimated = False
        self._timed_from: tuple[float, int] | None = None  # (time, step) once the warm-up steps are done

    def _eta(self, state) -> tuple[float, float | None]:
        """Seconds since training began, and the remaining seconds at the pace of the steps after the warm-up
        (None until one such step is done)."""
        now = time.monotonic()
        elapsed = now - (self._started or now)
        if self._timed_from is None:
            return elapsed, None
        since, step = self._timed_from
        timed = state.global_step - step
        if timed <= 0:
            return elapsed, None
        return elapsed, (now - since) / timed * (state.max_steps - state.global_step)

    def _say(self, text: str) -> None:
        target = self.progress.console if self.progress is not None else self.console
        target.print(text, highlight=False, soft_wrap=True)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self._started = time.monotonic()
        self._first_step = state.global_step
        if self.plain:
            self._say(f"training: {state.max_steps - state.global_step} steps to go (of {state.max_steps})")
            return
        self.progress = Progress(
            TextColumn("[bold]train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epoch {task.fields[epoch]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  grad {task.fields[grad]}"),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=state.max_steps, completed=state.global_step, epoch=fmt(state.epoch or 0.0, 2), **self.fields
        )

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is None:
            return
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, epoch=fmt(state.epoch or 0.0, 2))
        if self._timed_from is None and state.global_step - self._first_step >= WARMUP_STEPS:
            self._timed_from = (time.monotonic(), state.global_step)
        elapsed, remaining = self._eta(state)
        timed = state.global_step - self._timed_from[1] if self._timed_from else 0
        if not self._estimated and remaining is not None and timed >= ESTIMATE_AFTER_STEPS and elapsed >= ESTIMATE_AFTER_SECONDS:
            self._estimated = True
            self._say(
                f"estimated time: {human_seconds(elapsed + remaining)} for {state.max_steps - self._first_step} steps "
                f"(at the pace of steps {self._timed_from[1] + 1}-{state.global_step}, after {WARMUP_STEPS} warm-up "
                f"steps; the ETA is refined as the run goes)"
            )

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if self._started is None or not logs:
            return
        if "loss" in logs:
            self.fields["loss"] = fmt(logs["loss"])
            self._window.append(logs["loss"])
        if "learning_rate" in logs:
            self.fields["lr"] = fmt(logs["learning_rate"])
        if "grad_norm" in logs:
            self.fields["grad"] = fmt(logs["grad_norm"], 2)
        if self.progress is not None:
            self.progress.update(self.task, **self.fields)
        elif "loss" in logs:
            elapsed, remaining = self._eta(state)
            self._say(
                f"step {state.global_step}/{state.max_steps}  epoch {fmt(state.epoch or 0.0, 2)}  "
                f"loss {self.fields['loss']}  lr {self.fields['lr']}  grad {self.fields['grad']}  "
                f"elapsed {human_seconds(elapsed)}  eta {human_seconds(remaining)}"
            )

    def on_evaluate(self, args, state, control, metrics: dict[str, Any] | None = None, **kwargs):
        if self._started is None or not metrics:
            return
        train_loss = sum(self._window) / len(self._window) if self._window else None
        self._window = []
        self._say(
            f"epoch {fmt(state.epoch or 0.0, 2)}  step {state.global_step}  train loss {fmt(train_loss)}  "
            f"eval loss {fmt(metrics.get('eval_loss'))}  accuracy {fmt(metrics.get('eval_accuracy'))}  "
            f"F1 {fmt(metrics.get('eval_f1'))}"
        )

    def on_train_end(self, args, state, control, **kwargs):
        self._started = None
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
