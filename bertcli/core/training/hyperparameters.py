"""The `training` block of bertcli.json: how the model in a checkpoint or final/ was trained."""

from __future__ import annotations

from typing import Any, Sequence

from bertcli.core.runs.manifest import WEIGHTED_MEAN
from bertcli.core.training.config import TrainConfig, format_class_weights
from bertcli.core.training.plan import RunPlan, Schedule


def run_hyperparameters(
    cfg: TrainConfig,
    plan: RunPlan,
    schedule: Schedule,
    *,
    attention_dropout: float | None,
    class_weights: Sequence[float] | None,
    eval_label_counts: list[int] | None,
) -> dict[str, Any]:
    """The settings every checkpoint and final/ record, in the order bertcli.json lists them.

    One key changes while the run goes on: early stopping sets `stopped_early_at` to the step it stopped at.
    """
    return {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "train_size": plan.train_examples,
        "eval_size": plan.eval_examples,
        "learning_rate": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "train_batch_size": cfg.batch_size * schedule.world,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": cfg.scheduler,
        "warmup_ratio": cfg.warmup_ratio,
        "seed": cfg.seed,
        "precision": plan.precision,
        "attention_dropout": attention_dropout,
        "group_by_length": cfg.group_by_length,
        "text_column": cfg.text_column,
        "label_column": cfg.label_column,
        "train_split": cfg.train_split,
        "eval_split": plan.eval_split,
        "label_names": plan.label_names,
        # the data's value of each label id where it is not the name (labels 1–4 named in classes.txt)
        "label_values": plan.label_values,
        # how many eval examples each label has: the chance rate (always the majority label) is exact then
        "eval_label_counts": eval_label_counts,
        "max_steps": cfg.max_steps,
        "logging_steps": schedule.logging_steps,
        "save_steps": cfg.save_steps,
        "best_metric": cfg.best_metric,
        "grad_accum": cfg.grad_accum,
        "effective_batch_size": plan.effective_batch,
        "label_smoothing": cfg.label_smoothing,
        # as given ("auto" or "1,3") and as used: text, so inspect-checkpoint lists them with the other settings
        "class_weights": format_class_weights(cfg.class_weights),
        "class_weight_values": format_class_weights([round(w, 4) for w in class_weights]) if class_weights else None,
        "training_loss": WEIGHTED_MEAN if class_weights else None,
        "eval_steps": schedule.eval_steps,
        "early_stopping": cfg.early_stopping,
        "min_delta": cfg.min_delta,
        "stopped_early_at": None,  # the step, once early stopping ends the run
        "train_seconds": None,  # training's wall time, once the run ends (Trainer logs its own after the last save)
    }
