"""What a run will do and cost, known before its first step: steps, evaluations, checkpoints on disk, the loss."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.training.config import TrainConfig, format_class_weights

# What one checkpoint holds per parameter: fp32 weights (4 bytes) + AdamW's two moments (8 bytes).
CHECKPOINT_BYTES_PER_PARAM = 12
WEIGHT_BYTES_PER_PARAM = 4


@dataclass
class RunPlan:
    """What the run will do and cost, known before the first step."""

    model: str
    dataset: str
    train_examples: int
    eval_examples: int
    eval_split: str | None
    label_names: list[str]
    parameters: int
    steps: int
    steps_per_epoch: int
    checkpoint_bytes: int
    run_bytes: int
    unbounded_bytes: int
    free_bytes: int
    device: str
    precision: str
    resume_from: str | None
    truncated_share: float
    notes: list[str] = field(default_factory=list)
    batch_size: int = 0  # per step and device
    grad_accum: int = 1
    effective_batch: int = 0  # examples per optimizer step, every process together
    controls: list[str] = field(default_factory=list)  # evaluation cadence, early stopping, the loss
    task: str = "single-label"  # or "multi-label": a text may carry several labels
    label_values: list[str] | None = None  # the data's value of each label id, where it is not the name


@dataclass
class Schedule:
    """The run's step counts, as the Trainer will count them: the plan and TrainingArguments share them."""

    world: int  # processes training together
    steps_per_epoch: int  # optimizer steps
    total_steps: int
    eval_steps: int | None  # None: evaluate after each epoch (or never, without an eval set)
    logging_steps: int
    saves: int  # checkpoints the run writes, before retention deletes any


def plan_steps(cfg: TrainConfig, train_examples: int, has_eval: bool, world: int) -> Schedule:
    """Optimizer steps as the Trainer counts them: the batches of an epoch, --grad-accum of them per step."""
    batches_per_epoch = math.ceil(train_examples / (cfg.batch_size * world))
    steps_per_epoch = max(math.ceil(batches_per_epoch / cfg.grad_accum), 1)
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    eval_steps = min(cfg.eval_steps, total_steps) if cfg.eval_steps and has_eval else None
    # a loss at least once an epoch (and once a run): a --logging-steps longer than that would log nothing
    logging_steps = min(cfg.logging_steps, steps_per_epoch, total_steps)
    saves = total_steps // cfg.save_steps + math.ceil(cfg.epochs) + (total_steps // eval_steps if eval_steps else 0)
    return Schedule(world, steps_per_epoch, total_steps, eval_steps, logging_steps, saves)


def estimate_checkpoint_bytes(parameters: int, tokenizer_bytes: int = 1_000_000) -> int:
    return parameters * CHECKPOINT_BYTES_PER_PARAM + tokenizer_bytes


def estimate_run_bytes(parameters: int, saves: int, keep_checkpoints: int) -> tuple[int, int]:
    """What the run writes at most: with retention (--keep-checkpoints, the best and one being saved), and
    were every checkpoint kept. Both count final/'s weights."""
    checkpoint = estimate_checkpoint_bytes(parameters)
    final = parameters * WEIGHT_BYTES_PER_PARAM
    return min(saves, keep_checkpoints + 2) * checkpoint + final, saves * checkpoint + final


def plan_notes(
    cfg: TrainConfig,
    schedule: Schedule,
    *,
    earlier: Sequence[str],
    resume_from: str | None,
    attention_dropout: float | None,
    device: str = "cpu",
) -> list[str]:
    """The plan's notes: `earlier` (where the model and data came from, the output dir), then where the run
    differs from what was asked."""
    notes = list(earlier)
    if schedule.logging_steps < cfg.logging_steps:
        span = "an epoch" if schedule.logging_steps == schedule.steps_per_epoch else "the run"
        notes.append(
            f"logging every {schedule.logging_steps} step(s): --logging-steps {cfg.logging_steps} is longer than "
            f"{span} ({schedule.logging_steps} steps), which would log no loss"
        )
    if cfg.resume and not resume_from:
        notes.append("--resume: no complete checkpoint yet, starting fresh")
    if cfg.attention_dropout is None and attention_dropout == 0.0:
        notes.append("attention dropout off on CPU (3-5x faster steps; --attention-dropout 0.1 turns it back on)")
    if cfg.compile and device == "cpu":
        notes.append(
            "--compile on CPU: the first step compiles for minutes (131 s for MiniLM on 2 cores) and the steps after "
            "it ran no faster than without (bench/README.md)"
        )
    if schedule.eval_steps is not None and schedule.eval_steps < cfg.eval_steps:
        notes.append(f"evaluating every {schedule.eval_steps} step(s): --eval-steps {cfg.eval_steps} is longer than the run")
    return notes


def describe_controls(cfg: TrainConfig, eval_steps: int | None, has_eval: bool, class_weights: list[float] | None) -> list[str]:
    """The plan's lines on evaluation, early stopping and the loss, where they differ from the defaults."""
    lines = []
    if has_eval and (eval_steps or cfg.early_stopping):
        when = f"every {eval_steps} steps" if eval_steps else "after each epoch"
        line = f"evaluating {when} (a checkpoint each time)"
        if cfg.early_stopping:
            line += (
                f"; early stopping after {cfg.early_stopping} evaluation(s) without {cfg.best_metric} improving "
                f"by more than {cfg.min_delta:g}"
            )
        lines.append(line)
    if class_weights or cfg.label_smoothing:
        parts = []
        if class_weights:
            source = "inverse label frequency" if cfg.class_weights == "auto" else f"--class-weights {format_class_weights(cfg.class_weights)}"
            parts.append(f"class weights {', '.join(f'{w:.3g}' for w in class_weights)} ({source}, mean 1)")
        if cfg.label_smoothing:
            parts.append(f"label smoothing {cfg.label_smoothing:g}")
        lines.append("training loss: cross-entropy with " + " and ".join(parts) + "; eval loss stays plain cross-entropy")
    return lines


# What --best-metric means on a multi-label run.
MULTI_LABEL_BEST = {"f1": "macro F1 at the tuned thresholds", "accuracy": "subset accuracy", "loss": "eval loss"}


def describe_task(multi_label: bool, positive_weights: list[float] | None, cfg: TrainConfig) -> list[str]:
    """The plan's line on a multi-label run: its loss, its positive weights, its thresholds, its best metric."""
    if not multi_label:
        return []
    weights = ""
    if positive_weights:
        source = "negatives / positives per label" if cfg.class_weights == "auto" else "as given"
        weights = f" with positive weights {', '.join(f'{w:.3g}' for w in positive_weights)} ({source}; eval loss unweighted)"
    return [
        f"multi-label: a sigmoid per label and binary cross-entropy{weights}; a threshold per label tuned on the eval "
        f"split for that label's F1 (saved in final/bertcli.json); best checkpoint by {MULTI_LABEL_BEST[cfg.best_metric]}"
    ]


def label_counts(ds: Any, n_labels: int) -> list[int] | None:
    """How many examples of each label id the dataset holds; None without a dataset."""
    if ds is None:
        return None
    counts = [0] * n_labels
    for label in ds["label"]:
        counts[int(label)] += 1
    return counts


def refuse_labels_without_examples(label_names: Sequence[str], counts: Sequence[int]) -> None:
    """--class-weights auto weighs by frequency: a label with no training example has none, so it is refused."""
    empty = [name for name, n in zip(label_names, counts) if n == 0]
    if empty:
        raise UsageError(
            f"--class-weights auto: label {', '.join(map(repr, empty))} has no training example, so it has no "
            f"frequency — give the weights yourself, e.g. --class-weights {','.join('1' for _ in label_names)}"
        )


def given_weights(spec: Sequence[float], label_names: Sequence[str], what: str) -> list[float]:
    """--class-weights as given: one number per label in id order (`what`: "weight", "positive weight")."""
    weights = [float(w) for w in spec]
    if len(weights) != len(label_names):
        raise UsageError(
            f"--class-weights gives {len(weights)} weight(s) but the data has {len(label_names)} labels "
            f"({', '.join(label_names)}) — give one {what} per label in id order, e.g. "
            f"--class-weights {','.join('1' for _ in label_names)}"
        )
    return weights


def resolve_class_weights(spec: str | Sequence[float] | None, label_counts: Sequence[int], label_names: Sequence[str]) -> list[float] | None:
    """One weight per label, normalised to mean 1 so the loss (and the step the learning rate makes) stays on
    the scale of plain cross-entropy: only the ratios count. 'auto' is inverse label frequency in the training set."""
    if spec is None:
        return None
    if spec == "auto":
        refuse_labels_without_examples(label_names, label_counts)
        inverse = [1.0 / n for n in label_counts]
        mean = sum(inverse) / len(inverse)
        return [w / mean for w in inverse]
    weights = given_weights(spec, label_names, "weight")
    mean = sum(weights) / len(weights)
    return [w / mean for w in weights]
