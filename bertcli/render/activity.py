"""Progress of long jobs other than training, on stderr: a bar in a terminal, plain lines in a file.

Light on purpose (rich only): evaluate, predict and debug import it without pulling in transformers.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bertcli.render import human_seconds

# With stderr not a terminal, an Activity writes a plain line at most this often (and one at its end).
PLAIN_INTERVAL = 10.0
# A job done sooner than this prints no closing line when nothing was shown before it.
QUIET_BELOW = 2.0


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

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
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

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.close(failed=kind is not None)

    def close(self, failed: bool = False) -> None:
        if self.activity is not None:
            self.activity.close(failed=failed)
            self.activity = None
