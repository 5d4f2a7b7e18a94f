"""TrainConfig: what a run was asked to do, and the check every number and choice passes before it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bertcli.core.device import TRAINING_PRECISIONS as PRECISIONS
from bertcli.core.errors import UsageError
from bertcli.core.limits import BEST_METRICS

CONFIG_HEADER = "The settings of this run: `bertcli train --config <this file> -o <new folder>` trains it again."
# Settings that may be None ("all", "the default"): None passes validation as it is.
OPTIONAL = ("eval_batch_size", "train_size", "eval_size", "max_steps", "attention_dropout", "eval_steps", "early_stopping", "stride")


@dataclass
class TrainConfig:
    model: str | None = None  # None: bert-base-uncased, or its offline stand-in (core/defaults.py)
    dataset: str | None = None  # None: imdb, or the bundled sample offline
    output_dir: Path = Path("results")
    epochs: float = 3.0
    batch_size: int = 16
    eval_batch_size: int | None = None
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    train_size: int | None = 2000
    eval_size: int | None = 500
    max_length: int = 512
    truncation: str = "head+tail"
    stride: int | None = None  # sliding truncation: tokens consecutive windows share (None: a quarter of a window)
    save_steps: int = 10
    logging_steps: int = 10
    keep_checkpoints: int = 2
    best_metric: str = "accuracy"
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    train_split: str = "train"
    eval_split: str | None = None
    labels: list[str] | None = None
    group_by_length: bool = True
    precision: str = "auto"
    compile: bool = False
    resume: bool = False
    overwrite: bool = False
    final_from: str = "best"
    max_steps: int | None = None
    tensorboard: bool = True
    attention_dropout: float | None = None  # None: the model's own on GPU, 0 on CPU (see resolve_attention_dropout)
    eval_steps: int | None = None  # None: evaluate after each epoch
    early_stopping: int | None = None  # stop after this many evaluations without improving --best-metric
    min_delta: float = 0.0  # the change of --best-metric that counts as an improvement
    class_weights: str | list[float] | None = None  # "auto" (inverse label frequency) or one weight per label
    label_smoothing: float = 0.0
    grad_accum: int = 1  # batches accumulated per optimizer step


def metric_key(best_metric: str) -> str:
    """The log-history key --best-metric reads: eval_accuracy, eval_f1 or eval_loss."""
    return "eval_loss" if best_metric == "loss" else f"eval_{best_metric}"


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Every number inside its range (NaN and inf never) and every choice known: the CLI checks the same
    while parsing (bertcli.core.limits); this is the check for callers from Python."""
    from bertcli.core import limits
    from bertcli.core.encoding import check_truncation

    cfg.truncation = check_truncation(cfg.truncation)
    numbers = [
        ("epochs", "--epochs", limits.EPOCHS),
        ("batch_size", "--batch-size", limits.BATCH_SIZE),
        ("eval_batch_size", "eval_batch_size", limits.BATCH_SIZE),
        ("lr", "--lr", limits.LR),
        ("weight_decay", "--weight-decay", limits.WEIGHT_DECAY),
        ("warmup_ratio", "--warmup-ratio", limits.WARMUP_RATIO),
        ("train_size", "--train-size", limits.EXAMPLES),
        ("eval_size", "--eval-size", limits.EXAMPLES),
        ("max_length", "--max-length", limits.MAX_LENGTH),
        ("stride", "--stride", limits.STRIDE),
        ("save_steps", "--save-steps", limits.STEPS),
        ("logging_steps", "--logging-steps", limits.STEPS),
        ("keep_checkpoints", "--keep-checkpoints", limits.KEEP_CHECKPOINTS),
        ("seed", "--seed", limits.SEED),
        ("max_steps", "--max-steps", limits.STEPS),
        ("attention_dropout", "--attention-dropout", limits.ATTENTION_DROPOUT),
        ("eval_steps", "--eval-steps", limits.STEPS),
        ("early_stopping", "--early-stopping", limits.PATIENCE),
        ("min_delta", "--min-delta", limits.MIN_DELTA),
        ("label_smoothing", "--label-smoothing", limits.LABEL_SMOOTHING),
        ("grad_accum", "--grad-accum", limits.GRAD_ACCUM),
    ]
    for name, flag, within in numbers:
        value = getattr(cfg, name)
        if value is None and name in OPTIONAL:
            continue
        setattr(cfg, name, within.check(flag, value))
    cfg.scheduler = limits.check_choice("--scheduler", cfg.scheduler, limits.SCHEDULERS)
    cfg.precision = limits.check_choice("--precision", cfg.precision, PRECISIONS)
    cfg.best_metric = limits.check_choice("--best-metric", cfg.best_metric, BEST_METRICS)
    cfg.final_from = limits.check_choice("--final", cfg.final_from, limits.FINAL_FROM)
    if cfg.class_weights is not None:
        from bertcli.core.config import parse_class_weights

        cfg.class_weights = parse_class_weights(cfg.class_weights)
    if cfg.stride is not None:
        if cfg.truncation != "sliding":
            raise UsageError(f"--stride applies to --truncation sliding, not {cfg.truncation} — add --truncation sliding")
        from bertcli.core.encoding import check_stride

        cfg.stride = check_stride(cfg.stride, cfg.max_length)
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: pick one")
    return cfg


def format_class_weights(weights: object) -> str | None:
    """--class-weights as text ('auto', '1,3'), as bertcli.toml and bertcli.json write it."""
    from bertcli.core.config import format_class_weights as as_text

    return as_text(weights)
