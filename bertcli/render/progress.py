"""A TrainerCallback that owns the live display: progress with ETA, loss, LR, grad norm, epoch rows."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from bertcli.render import fmt


class RichProgressCallback(TrainerCallback):
    """Reads (never mutates) the Trainer's logs; draws only on the main process."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.fields = {"loss": "-", "lr": "-", "grad": "-"}
        self._window: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
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
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, epoch=fmt(state.epoch or 0.0, 2))

    def on_log(self, args, state, control, logs: dict[str, Any] | None = None, **kwargs):
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.fields["loss"] = fmt(logs["loss"])
            self._window.append(logs["loss"])
        if "learning_rate" in logs:
            self.fields["lr"] = fmt(logs["learning_rate"])
        if "grad_norm" in logs:
            self.fields["grad"] = fmt(logs["grad_norm"], 2)
        self.progress.update(self.task, **self.fields)

    def on_evaluate(self, args, state, control, metrics: dict[str, Any] | None = None, **kwargs):
        if self.progress is None or not metrics:
            return
        train_loss = sum(self._window) / len(self._window) if self._window else None
        self._window = []
        self.progress.console.print(
            f"epoch {fmt(state.epoch or 0.0, 2)}  step {state.global_step}  train loss {fmt(train_loss)}  "
            f"eval loss {fmt(metrics.get('eval_loss'))}  accuracy {fmt(metrics.get('eval_accuracy'))}  "
            f"F1 {fmt(metrics.get('eval_f1'))}",
            highlight=False,
        )

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
