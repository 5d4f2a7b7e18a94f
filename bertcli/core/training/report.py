"""What a run did, read from the Trainer's log history: the report, evaluations without improvement, early stops."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bertcli.core.errors import UsageError
from bertcli.core.training.config import TrainConfig, metric_key


@dataclass
class EarlyStop:
    """Early stopping ended the run: at `step`, after `patience` evaluations that did not beat the best."""

    step: int
    epoch: float | None
    metric: str
    min_delta: float
    patience: int
    best_value: float | None
    best_step: int | None


@dataclass
class RunReport:
    output_dir: Path
    final_dir: Path
    global_step: int
    epochs: float
    best_checkpoint: str | None
    best_metric_name: str
    best_metric: float | None
    lowest_loss: float | None
    lowest_loss_step: int | None
    final_metrics: dict[str, float]
    epoch_rows: list[dict[str, float]]
    wall_seconds: float
    train_seconds: float
    samples_per_second: float | None
    tokens_per_second: float | None
    mfu: float | None
    disk_bytes: int
    checkpoints_kept: list[str]
    checkpoints_removed: int
    final_from: str
    early_stop: EarlyStop | None = None  # where and why early stopping ended the run; None: it ran to the end
    f1_of: str = ""  # which class precision, recall and F1 are of (metrics.training_scores_of)


def evaluations_since_best(
    log_history: Sequence[dict], metric_key: str, greater_is_better: bool, min_delta: float = 0.0
) -> tuple[int, float | None, int | None]:
    """How many evaluations in a row (the newest included) did not beat the best by more than `min_delta`,
    and the best (value, step). Read from the log history, so a resumed run counts on where it was killed."""
    since, best, best_step = 0, None, None
    for entry in log_history:
        value = entry.get(metric_key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if not math.isfinite(value):
            since += 1
            continue
        improved = best is None or (value - best > min_delta if greater_is_better else best - value > min_delta)
        if improved:
            since, best, best_step = 0, float(value), entry.get("step")
        else:
            since += 1
    return since, best, best_step


def epoch_rows(log_history: Sequence[dict]) -> list[dict[str, float]]:
    """One row per evaluation: epoch, step, mean train loss since the previous one, eval metrics."""
    rows, window = [], []
    for entry in log_history:
        if "loss" in entry:
            window.append(entry["loss"])
        if "eval_loss" in entry:
            row = {"epoch": entry.get("epoch"), "step": entry.get("step")}
            row["train_loss"] = sum(window) / len(window) if window else None
            row.update({k[5:]: v for k, v in entry.items() if k.startswith("eval_") and isinstance(v, (int, float))})
            rows.append(row)
            window = []
    return rows


def lowest_loss(log_history: Sequence[dict]) -> tuple[float | None, int | None]:
    """The lowest finite training loss logged, and its step; (None, None) when none was."""
    losses = [(e["loss"], e["step"]) for e in log_history if "loss" in e and isinstance(e["loss"], (int, float))]
    losses = [(v, s) for v, s in losses if math.isfinite(v)]
    if not losses:
        return None, None
    value, step = min(losses)
    return value, step


def early_stop(cfg: TrainConfig, log_history: Sequence[dict], epoch: float | None, stopped_at: int | None) -> EarlyStop | None:
    """Where early stopping ended the run and the best it had waited to beat; None when it ran to the end."""
    if stopped_at is None or not cfg.early_stopping:
        return None
    key = metric_key(cfg.best_metric)
    history = [e for e in log_history if (e.get("step") or 0) <= stopped_at]
    _, best, best_step = evaluations_since_best(history, key, cfg.best_metric != "loss", cfg.min_delta)
    epoch = next((e.get("epoch") for e in reversed(history) if key in e), epoch)
    return EarlyStop(step=stopped_at, epoch=epoch, metric=cfg.best_metric, min_delta=cfg.min_delta,
                     patience=cfg.early_stopping, best_value=best, best_step=best_step)


def refuse_resuming_a_stopped_run(cfg: TrainConfig, checkpoint: Path) -> None:
    """--resume of a run that early stopping already ended (with this patience) would only train on to the next
    evaluation and stop again: say so instead."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        history, step, max_steps = state["log_history"], int(state["global_step"]), int(state.get("max_steps") or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return
    key = metric_key(cfg.best_metric)
    since, best, best_step = evaluations_since_best(history, key, cfg.best_metric != "loss", cfg.min_delta)
    if since >= cfg.early_stopping and step < max_steps:
        raise UsageError(
            f"--resume: early stopping already ended the run in {cfg.output_dir} at step {step} ({cfg.best_metric} "
            f"did not improve on {best:.4g} from step {best_step} for {since} evaluations) — raise --early-stopping "
            f"above {since} to train on, or start over with --overwrite"
        )
