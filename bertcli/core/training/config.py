"""TrainConfig: what a run was asked to do, and the check every number and choice passes before it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertcli.core import limits
from bertcli.core.data.files import suffixes_text
from bertcli.core.device import TRAINING_PRECISIONS as PRECISIONS
from bertcli.core.encoding import TRUNCATIONS, check_stride
from bertcli.core.errors import UsageError
from bertcli.core.limits import BEST_METRICS
from bertcli.core.options import Option, check_options, declared_options, format_class_weights, option  # noqa: F401

CONFIG_HEADER = "The settings of this run: `bertcli train --config <this file> -o <new folder>` trains it again."


@dataclass
class TrainConfig:
    """What a run was asked to do. Each field made by `option()` is a `bertcli train` option, declared once:
    its flag, help and range or choices give the CLI option, the TOML key, --print-config, validation and
    (with `sweep=`) the sweep's flag. Fields list in the order `bertcli train --help` shows them."""

    model: str | None = option(
        None, "--model", "-m", sweep="set", unset="bert-base-uncased, or its offline stand-in",
        help="Hub name (bert-base-uncased, distilbert-base-uncased) or a local model folder. Offline with nothing "
        "cached, the default stands in the packaged all-MiniLM-L6-v2.", show_default="bert-base-uncased",
    )  # None: bert-base-uncased, or its offline stand-in (core/defaults.py)
    dataset: str | None = option(
        None, "--dataset", "-d", sweep="set", unset="imdb, or imdb-sample offline",
        help="Hub name (imdb), imdb-sample (2,500 IMDb reviews bundled with bertcli), a local folder in the hub's "
        f"layout (or of train/test tables), a {suffixes_text()} file, or an aclImdb/ folder. Offline with nothing "
        "cached, the default stands in imdb-sample.", show_default="imdb",
    )
    epochs: float = option(3.0, "--epochs", "-e", within=limits.EPOCHS, sweep="vary", help="Passes over the training set.")
    batch_size: int = option(16, "--batch-size", "-b", within=limits.BATCH_SIZE, sweep="vary",
                             help="Examples per step (per device).")
    eval_batch_size: int | None = None  # None: twice --batch-size (no flag)
    grad_accum: int = option(1, "--grad-accum", within=limits.GRAD_ACCUM,
                             help="Batches accumulated per optimizer step (effective batch = batch size x N).")
    lr: float = option(2e-5, "--lr", within=limits.LR, sweep="vary", help="Peak learning rate.")
    weight_decay: float = option(0.01, "--weight-decay", within=limits.WEIGHT_DECAY, sweep="vary", help="AdamW weight decay.")
    warmup_ratio: float = option(0.0, "--warmup-ratio", within=limits.WARMUP_RATIO, sweep="vary",
                                 help="Share of steps spent warming up the LR.")
    scheduler: str = option("linear", "--scheduler", choices=limits.SCHEDULERS, sweep="vary", help="LR schedule.")
    label_smoothing: float = option(0.0, "--label-smoothing", within=limits.LABEL_SMOOTHING,
                                    help="Label smoothing of the training loss.")
    class_weights: str | list[float] | None = option(
        None, "--class-weights", kind="class_weights", unset="off: every label weighs 1",
        help="Weighted cross-entropy: 'auto' (inverse label frequency of the training set) or one weight per label "
        "in id order, e.g. 1,3; normalised to mean 1. Multi-label: each label's positive weight ('auto': negatives "
        "/ positives), used as given.",
    )  # "auto" (inverse label frequency) or one weight per label
    train_size: int | None = option(2000, "--train-size", kind="examples", within=limits.EXAMPLES, sweep="set",
                                    help="Training examples drawn with --seed, or 'all'.")
    eval_size: int | None = option(500, "--eval-size", kind="examples", within=limits.EXAMPLES, sweep="set",
                                   help="Evaluation examples drawn with --seed, or 'all'.")
    max_length: int = option(512, "--max-length", within=limits.MAX_LENGTH, sweep="vary",
                             help="Longest input in tokens, specials included.")
    truncation: str = option(
        "head+tail", "--truncation", choices=TRUNCATIONS, sweep="vary",
        help="What to keep of a long text: head, tail, head+tail (first 128 and last 382 tokens at 512), or sliding "
        "(all of it, in overlapping windows of --max-length; training: one row per window with its text's label).",
    )
    stride: int | None = option(
        None, "--stride", within=limits.STRIDE, unset="a quarter of --max-length",
        help="With --truncation sliding: tokens consecutive windows share (default: a quarter of --max-length).",
    )  # saved in bertcli.json, so predict and evaluate cut the same windows
    save_steps: int = option(10, "--save-steps", within=limits.STEPS, sweep="set", help="Checkpoint every N steps.")
    logging_steps: int = option(10, "--logging-steps", within=limits.STEPS, sweep="set",
                                help="Log loss, LR and grad norm every N steps.")
    keep_checkpoints: int = option(2, "--keep-checkpoints", within=limits.KEEP_CHECKPOINTS, sweep="set",
                                   help="Newest checkpoints kept (plus the best by eval metric).")
    best_metric: str = option("accuracy", "--best-metric", choices=BEST_METRICS, sweep="set",
                              help="Picks the best checkpoint (and what early stopping watches); f1 is the positive "
                              "label's F1 for two labels, macro F1 for more; f1_macro and f1_weighted for any number.")
    eval_steps: int | None = option(None, "--eval-steps", within=limits.STEPS, unset="evaluate after each epoch",
                                    help="Evaluate (and checkpoint) every N steps instead of each epoch.")
    early_stopping: int | None = option(None, "--early-stopping", within=limits.PATIENCE, unset="off",
                                        help="Stop after N evaluations without --best-metric improving.")
    min_delta: float = option(0.0, "--min-delta", within=limits.MIN_DELTA,
                              help="The change of --best-metric that counts as an improvement.")
    seed: int = option(42, "--seed", within=limits.SEED, help="Seed for sampling, shuffling and initialisation.")
    output_dir: Path = option(Path("results"), "--output-dir", "-o", kind="path",
                              help="Where checkpoints and the final model go.")
    text_column: str = option(
        "text", "--text-column", sweep="set",
        help="Column holding the text: a name or a position (1 = the first column); several are joined into one "
        "text (title,description or 2,3). Where the data has no 'text' column: the one saved with the model, else "
        "the only column of long texts.",
    )
    label_column: str = option(
        "label", "--label-column", sweep="set",
        help="Column holding the label (ints or names): a name or a position (1 = the first column). Where the data "
        "has no 'label' column: the only column with few distinct values.",
    )
    # how a table (.csv, .tsv) is split into fields and whether its first row names the columns (None: found)
    delimiter: str | None = option(
        None, "--delimiter", sweep="set", unset="found from the first rows of a table",
        help="What separates a table's fields: tab, comma, semicolon, pipe or one character. Default: found from its "
        "first rows.", show_default=False,
    )
    header: bool | None = option(
        None, "--header", kind="bool", negatable=True, sweep="set", unset="found from the first rows of a table",
        help="Whether a table's first row names its columns (without one, columns are numbered from 1: "
        "--text-column 1). Default: found from its first rows.", show_default=False,
    )
    train_split: str = option("train", "--train-split", sweep="set", help="Split to train on.")
    eval_split: str | None = option(
        None, "--eval-split", sweep="set", unset="validation, else test, else carved from train",
        help="Split to evaluate on (default: validation, else test, else carved from train; naming the train split "
        "carves too).",
    )
    labels: list[str] | None = option(None, "--labels", kind="labels", sweep="set", unset="from the data",
                                      help="Comma-separated label names in id order, e.g. negative,positive.")
    multi_label: bool = option(
        False, "--multi-label", sweep="set",
        help="Each text may carry several labels (or none): sigmoid outputs and binary cross-entropy. Recognised "
        "without the flag when the label column holds lists (0,5 or [\"joy\",\"fear\"]) or --label-column names "
        "several 0/1 columns.",
    )
    group_by_length: bool = option(True, "--group-by-length", negatable=True,
                                   help="Batch texts of similar length together.")
    precision: str = option("auto", "--precision", choices=PRECISIONS, sweep="set",
                            help="auto: bf16 where the hardware has it, fp16 on older GPUs, else fp32.")
    compile: bool = option(False, "--compile", help="torch.compile the model (GPU).")
    resume: bool = option(False, "--resume", in_file=False, help="Continue from the newest complete checkpoint.")
    overwrite: bool = option(False, "--overwrite", in_file=False, help="Delete an earlier run in --output-dir first.")
    final_from: str = option("best", "--final", choices=limits.FINAL_FROM, sweep="set",
                             help="What goes to OUTPUT_DIR/final: the best checkpoint or the last step.")
    max_steps: int | None = option(None, "--max-steps", within=limits.STEPS, sweep="set", unset="--epochs decides",
                                   help="Stop after N steps (overrides --epochs).")
    tensorboard: bool = option(True, "--tensorboard", negatable=True, help="Write TensorBoard events.")
    attention_dropout: float | None = option(
        None, "--attention-dropout", within=limits.ATTENTION_DROPOUT, unset="the model's own on GPU, 0 on CPU",
        help="Attention dropout; default: the model's on GPU, 0 on CPU (3-5x faster steps).",
    )  # None: see resolve_attention_dropout
    relabel: Path | None = option(
        None, "--relabel", kind="path", unset="no decisions file", show_default=False,
        help="Apply the relabel:LABEL rows (multi-label: relabel:LABEL,LABEL) of a decisions file (bertcli debug labels --decisions) to the train split.",
    )
    exclude: Path | None = option(None, "--exclude", kind="path", unset="no decisions file", show_default=False,
                                  help="Leave the drop rows of a decisions file out of the train split.")
    record_dynamics: bool = option(
        False, "--record-dynamics",
        help="Keep each training example's probabilities every epoch (dynamics.npz, for bertcli debug labels RUN).",
    )


def train_options() -> tuple[Option, ...]:
    """The options of `bertcli train`, in --help order: TrainConfig's declared fields."""
    return declared_options(TrainConfig)


def metric_key(best_metric: str) -> str:
    """The log-history key --best-metric reads: eval_accuracy, eval_f1 or eval_loss."""
    return "eval_loss" if best_metric == "loss" else f"eval_{best_metric}"


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Every number inside its range (NaN and inf never) and every choice known, as each option's declaration
    says: the CLI checks the same while parsing; this is the check for callers from Python."""
    if cfg.eval_batch_size is not None:
        cfg.eval_batch_size = limits.BATCH_SIZE.check("eval_batch_size", cfg.eval_batch_size)
    check_options(cfg)
    if cfg.stride is not None:
        if cfg.truncation != "sliding":
            raise UsageError(f"--stride applies to --truncation sliding, not {cfg.truncation} — add --truncation sliding")
        from bertcli.core.encoding import check_stride

        cfg.stride = check_stride(cfg.stride, cfg.max_length)
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: pick one")
    return cfg



def input_settings(cfg: TrainConfig) -> Any:
    """How the run's model reads a text (max length, truncation, sliding stride), as saved beside its weights
    for predict and evaluate to read the same way."""
    from bertcli.core.model import InputSettings

    stride = check_stride(cfg.stride, cfg.max_length) if cfg.truncation == "sliding" else None
    return InputSettings(max_length=cfg.max_length, truncation=cfg.truncation, stride=stride)
