"""Live progress on stderr: `Activity` for any long job, and the Trainer callback of `bertcli train`.

In a terminal each draws a live bar; when stderr goes to a file or a pipe (a log, CI) they write plain
lines instead (train: one per logging step; an Activity: about every PLAIN_INTERVAL seconds and a
last one when it ends), so a long job never looks dead there. Nothing of it goes to stdout.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from bertcli.render import fmt, human_seconds

# With stderr not a terminal, an Activity writes a plain line at most this often (and one at its end).
# A job done sooner than this prints no closing line when nothing was shown before it.
QUIET_BELOW = 2.0
PLAIN_INTERVAL = 10.0

# The first estimate of the run's length comes after this many steps or seconds, whichever is later.
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

    def _eta(self, state) -> tuple[float, float | None]:
        """Seconds since training began, and the remaining seconds at this run's pace so far."""
        elapsed = time.monotonic() - (self._started or time.monotonic())
        done = state.global_step - self._first_step
        if done <= 0:
            return elapsed, None
        return elapsed, elapsed / done * (state.max_steps - state.global_step)

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
        elapsed, remaining = self._eta(state)
        done = state.global_step - self._first_step
        if not self._estimated and remaining is not None and done >= ESTIMATE_AFTER_STEPS and elapsed >= ESTIMATE_AFTER_SECONDS:
            self._estimated = True
            self._say(
                f"estimated time: {human_seconds(elapsed + remaining)} for {state.max_steps - self._first_step} steps "
                f"(from the first {done}; the ETA is refined as the run goes)"
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


def _rate_text(done: float, elapsed: float, unit: str) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    return f"{rate:,.1f} {unit}/s" if rate < 10 else f"{rate:,.0f} {unit}/s"


class Activity:
    """Progress of one long job on stderr: `update(done)` or `advance(n)`, then `close()` (or use `with`).

    `total` may be unknown (a streamed file): then a count and a rate are shown. `detail` is a short
    text shown after the numbers ("loss 0.12"). Disabled (quiet, or not the main process) it does nothing.
    """

    def __init__(self, console: Console, label: str, total: int | None = None, *, unit: str = "texts",
                 enabled: bool = True, transient: bool = False) -> None:
        from bertcli.render import is_main_process

        self.console = console
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled and is_main_process()
        self.done = 0
        self.detail = ""
        self.started = time.monotonic()
        self._printed_at = self.started
        self._printed_done: int | None = None
        self.progress: Progress | None = None
        self.task = None
        self.closed = False
        if self.enabled and console.is_terminal:
            stdout_tty = False
            try:
                stdout_tty = sys.stdout.isatty()
            except (AttributeError, ValueError):
                pass
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                TextColumn("{task.fields[extra]}"),
                console=console,
                transient=transient,
                redirect_stdout=stdout_tty,  # stdout in a file or a pipe stays untouched
            )
            self.progress.start()
            self.task = self.progress.add_task(label, total=total, count=self._count(), extra="")

    def __enter__(self) -> "Activity":
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(failed=kind is not None)

    def _count(self) -> str:
        return f"{self.done:,}/{self.total:,} {self.unit}" if self.total is not None else f"{self.done:,} {self.unit}"

    def _numbers(self) -> tuple[str, str]:
        """The rate, and the ETA when the total is known."""
        elapsed = time.monotonic() - self.started
        rate = _rate_text(self.done, elapsed, self.unit)
        eta = ""
        if self.total is not None and self.done > 0:
            eta = human_seconds(elapsed / self.done * max(self.total - self.done, 0))
        return rate, eta

    def line(self) -> str:
        """`evaluate: 1,024/2,000 texts, 41 texts/s, elapsed 25.0 s, eta 24.0 s, loss 0.12`."""
        elapsed = f"elapsed {human_seconds(time.monotonic() - self.started)}"
        if self.total is None and not self.done:  # a step without counts: only how long it took
            return f"{self.label}, {elapsed}"
        rate, eta = self._numbers()
        parts = [f"{self.label}: {self._count()}", rate, elapsed]
        if eta:
            parts.append(f"eta {eta}")
        if self.detail:
            parts.append(self.detail)
        return ", ".join(parts)

    def update(self, done: int, *, total: int | None = None, detail: str | None = None) -> None:
        if not self.enabled or self.closed:
            return
        self.done = done
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        if self.progress is not None:
            rate, eta = self._numbers()
            extra = "  ".join(x for x in (rate, f"eta {eta}" if eta else "", self.detail) if x)
            self.progress.update(self.task, completed=done, total=self.total, count=self._count(), extra=extra)
            return
        now = time.monotonic()
        if now - self._printed_at >= PLAIN_INTERVAL:
            self._print_line(now)

    def advance(self, n: int = 1, *, detail: str | None = None) -> None:
        self.update(self.done + n, detail=detail)

    def _print_line(self, now: float) -> None:
        self._printed_at = now
        self._printed_done = self.done
        self.console.print(self.line(), highlight=False, markup=False, soft_wrap=True)

    def close(self, failed: bool = False) -> None:
        """Stop the bar; off a terminal, a last line with the final count — unless the job failed (its one
        error line says what happened) or ended before anything was shown and too soon to be worth a line."""
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            return
        now = time.monotonic()
        shown = self._printed_done is not None
        if failed or self._printed_done == self.done or (not shown and now - self.started < min(PLAIN_INTERVAL, QUIET_BELOW)):
            return
        self._print_line(now)


class Phases:
    """The callback a quiet core takes, `(phase, done, total, detail)`, shown as one Activity per phase.

    `label` prefixes each phase ("debug data: tokenizing train"); a new phase closes the previous one.
    """

    def __init__(self, console: Console, label: str, *, enabled: bool = True, unit: str = "texts") -> None:
        self.console = console
        self.label = label
        self.enabled = enabled
        self.unit = unit
        self.phase: str | None = None
        self.activity: Activity | None = None

    def __call__(self, phase: str, done: int = 0, total: int | None = None, detail: str = "", unit: str | None = None) -> None:
        if not self.enabled:
            return
        if phase != self.phase or self.activity is None:
            self.close()
            self.phase = phase
            self.activity = Activity(self.console, f"{self.label}: {phase}", total, unit=unit or self.unit, transient=True)
        self.activity.update(done, total=total, detail=detail)

    def __enter__(self) -> "Phases":
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(failed=kind is not None)

    def close(self, failed: bool = False) -> None:
        if self.activity is not None:
            self.activity.close(failed=failed)
            self.activity = None
