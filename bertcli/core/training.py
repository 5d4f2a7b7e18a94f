"""`train`: the reference IMDb fine-tune, fast (no padding to max length), resumable and bounded on disk."""

from __future__ import annotations

import errno
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core.checkpoints import (
    check_resume_pickles,
    checkpoints_to_remove,
    folder_bytes,
    leftover_deletions,
    list_checkpoints,
    missing_for_resume,
    newest_resumable_checkpoint,
    remove_checkpoints,
    remove_folder,
)
from bertcli.core.errors import BertCliError, CheckpointError, DiskSpaceError, UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
BEST_METRICS = ("accuracy", "f1", "loss")
# What one checkpoint holds per parameter: fp32 weights (4 bytes) + AdamW's two moments (8 bytes).
CHECKPOINT_BYTES_PER_PARAM = 12
WEIGHT_BYTES_PER_PARAM = 4
DISK_HEADROOM = 1.1


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
    optional = {"eval_batch_size", "train_size", "eval_size", "max_steps", "attention_dropout", "eval_steps", "early_stopping"}
    for name, flag, within in numbers:
        value = getattr(cfg, name)
        if value is None and name in optional:
            continue
        setattr(cfg, name, within.check(flag, value))
    cfg.scheduler = limits.check_choice("--scheduler", cfg.scheduler, limits.SCHEDULERS)
    cfg.precision = limits.check_choice("--precision", cfg.precision, PRECISIONS)
    cfg.best_metric = limits.check_choice("--best-metric", cfg.best_metric, BEST_METRICS)
    cfg.final_from = limits.check_choice("--final", cfg.final_from, limits.FINAL_FROM)
    if cfg.class_weights is not None:
        from bertcli.core.config import parse_class_weights

        cfg.class_weights = parse_class_weights(cfg.class_weights)
    if cfg.resume and cfg.overwrite:
        raise UsageError("--resume and --overwrite contradict each other: pick one")
    return cfg


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16, as oneDNN may use them (bertcli.core.cpu: ONEDNN_MAX_CPU_ISA caps them)."""
    from bertcli.core.cpu import has_bf16

    return has_bf16()


def choose_precision(requested: str, device: str) -> str:
    """bf16 where the hardware runs it natively, fp16 on older GPUs, fp32 otherwise."""
    if requested != "auto":
        return requested
    import torch

    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device == "cpu" and cpu_supports_bf16() else "fp32"


def resolve_attention_dropout(requested: float | None, device: str) -> float | None:
    """On CPU, attention dropout pushes SDPA off its fused kernel: a training step at 512 tokens
    takes 3-5x longer (bench/attention_dropout.py). Unless asked otherwise, CPU runs switch it off;
    hidden-layer dropout stays. GPUs keep the model's own value."""
    if requested is not None:
        if not 0.0 <= requested < 1.0:
            raise UsageError("--attention-dropout must be in [0, 1)")
        return requested
    return 0.0 if device == "cpu" else None


def accelerator_arguments(device: str, precision: str, compile: bool) -> dict[str, Any]:
    """TrainingArguments that depend on the hardware: mixed precision, fused AdamW, pinned memory, compile.

    The same code runs on CPU with the accelerator-only features switched off.
    """
    on_gpu = device == "cuda"
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "optim": "adamw_torch_fused" if on_gpu else "adamw_torch",
        "dataloader_pin_memory": on_gpu,
        "dataloader_num_workers": 2 if on_gpu else 0,
        "torch_compile": compile,
        "use_cpu": device == "cpu",
        "tf32": True if on_gpu else None,
    }


# Dense peak throughput (FLOP/s) for MFU, by device name fragment and precision.
PEAK_FLOPS = {
    ("h200", "bf16"): 989e12, ("h100", "bf16"): 989e12, ("a100", "bf16"): 312e12, ("l4", "bf16"): 121e12,
    ("h200", "fp16"): 989e12, ("h100", "fp16"): 989e12, ("a100", "fp16"): 312e12, ("v100", "fp16"): 125e12,
    ("t4", "fp16"): 65e12, ("l4", "fp16"): 121e12,
}


def model_flops_utilization(parameters: int, tokens: float, seconds: float, device_name: str, precision: str) -> float | None:
    """Achieved training FLOP/s (6 x parameters x tokens) over the device's dense peak; None if unknown."""
    name = device_name.lower()
    peak = next((v for (frag, prec), v in PEAK_FLOPS.items() if frag in name and prec == precision), None)
    if peak is None or seconds <= 0:
        return None
    return 6 * parameters * tokens / seconds / peak


def estimate_checkpoint_bytes(parameters: int, tokenizer_bytes: int = 1_000_000) -> int:
    return parameters * CHECKPOINT_BYTES_PER_PARAM + tokenizer_bytes


@dataclass
class OutputDirPlan:
    """What the output dir holds and what the run will do with it, decided before anything is deleted."""

    path: Path
    resume_from: str | None = None
    remove: list[Path] = field(default_factory=list)  # deleted only once every check has passed
    reclaimable_bytes: int = 0  # what the run's earlier files hold: kept, overwritten or deleted, never extra
    notes: list[str] = field(default_factory=list)


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} bytes"


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(_existing_ancestor(path)).free
    except OSError:
        return 0


def check_output_path(out: Path) -> None:
    """The output dir is (or can become) a writable folder; checked before anything is loaded."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {out} is a file, not a folder — pick another --output-dir or move the file away")
    base = _existing_ancestor(out)
    if not base.is_dir():
        raise UsageError(f"--output-dir {out} cannot be created: {base} is a file — pick another --output-dir")
    if not os.access(base, os.W_OK | os.X_OK):
        raise BertCliError(
            f"--output-dir {out} is not writable ({base} is read-only or not yours) — "
            f"pick a writable --output-dir or fix the permissions of {base}"
        )


def _recorded_best(out: Path, checkpoint: Path) -> Path | None:
    """The best checkpoint the state in `checkpoint` names, looked up by name in this run folder."""
    import json

    try:
        best = json.loads((checkpoint / "trainer_state.json").read_text()).get("best_model_checkpoint")
    except (OSError, ValueError, AttributeError):
        return None
    return out / Path(best).name if best and (out / Path(best).name).is_dir() else None


def _names(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _inspect_output_dir(cfg: TrainConfig) -> OutputDirPlan:
    """Check the output dir against --resume/--overwrite and decide what to delete; deletes nothing.

    Deleting waits for `_clear_output_dir`, once the data, the model and the disk have been checked:
    a typo in --dataset with --overwrite must not cost the earlier run.
    """
    out = Path(cfg.output_dir)
    check_output_path(out)
    existing = list_checkpoints(out)
    leftovers = leftover_deletions(out)
    plan = OutputDirPlan(out)
    if cfg.resume:
        newest = next((c for c in reversed(existing) if c.resumable), None)
        if newest is not None:
            check_resume_pickles(newest.path)  # before anything unpickles it
            plan.resume_from = str(newest.path)
        stranded = [c for c in existing if c.complete and not c.resumable]
        if newest is None and stranded:  # weights and state, but not what a resume reads: never delete those
            c = stranded[-1]
            raise CheckpointError(
                f"--resume: no checkpoint in {out} holds everything a resume reads ({c.path} has no "
                f"{', '.join(missing_for_resume(c.path))}) — start over with --overwrite or pick another --output-dir"
            )
        if int(os.environ.get("RANK", "0")) != 0:  # only the main process cleans the output dir
            return plan
        best = _recorded_best(out, newest.path) if newest else None
        pruned = checkpoints_to_remove(existing, cfg.keep_checkpoints, best, resumable=True) if newest else []
        pruned = [c for c in pruned if c.resumable]
        incomplete = [c for c in existing if not c.resumable]
        if pruned:
            plan.notes.append(
                f"--resume: removing {_names([c.path for c in pruned])} first, so no more than "
                f"--keep-checkpoints {cfg.keep_checkpoints} (plus the best) are kept at any time"
            )
        for c in incomplete:
            missing = missing_for_resume(c.path)
            plan.notes.append(
                f"--resume: clearing {c.path}, an incomplete checkpoint (no {', '.join(missing[:3])}) that can never "
                f"be resumed from"
            )
        plan.remove = [c.path for c in sorted(pruned + incomplete, key=lambda c: c.step)] + leftovers
        plan.reclaimable_bytes = sum(folder_bytes(c.path) for c in existing) + sum(map(folder_bytes, leftovers))
        if (out / "final").is_dir():
            plan.reclaimable_bytes += folder_bytes(out / "final")  # overwritten at the end
        return plan
    if int(os.environ.get("RANK", "0")) != 0:
        return plan
    earlier = [c.path for c in existing] + [p for p in (out / "final", out / "runs") if p.exists()] + leftovers
    if existing or (out / "final").exists():
        if not cfg.overwrite:
            raise UsageError(
                f"{out} already holds a run ({len(existing)} checkpoint(s)) — continue it with --resume, "
                f"start over with --overwrite, or pick another --output-dir"
            )
        plan.remove = earlier
        plan.reclaimable_bytes = sum(folder_bytes(p) for p in earlier)
        plan.notes.append(
            f"--overwrite: deleting the earlier run in {out} ({len(existing)} checkpoint(s), "
            f"{_size(plan.reclaimable_bytes)})"
        )
    elif leftovers:
        plan.remove = leftovers
    return plan


def _clear_output_dir(plan: OutputDirPlan) -> None:
    """Delete what the plan lists and create the output dir: the last step before the run writes."""
    try:
        for path in plan.remove:
            if path.is_dir():
                remove_folder(path)
        plan.path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _write_failure(err, plan.path) from None


def _check_disk(out: Path, run_bytes: int, free: int, reclaimable: int) -> None:
    """Refuse a run that will not fit; what the run's earlier checkpoints hold counts as space it has."""
    if free + reclaimable >= run_bytes * DISK_HEADROOM:
        return
    held = f" (its earlier files hold {_size(reclaimable)} of that)" if reclaimable else ""
    raise DiskSpaceError(
        f"the run needs about {_size(run_bytes * DISK_HEADROOM)} in {out}{held} but only {_size(free)} is free — "
        f"free some space, use --output-dir on a bigger disk, or lower --keep-checkpoints"
    )


def _write_failure(err: OSError, out: Path, trainer: Any = None) -> BertCliError | OSError:
    """A failed write as one line naming the step, the path, the space left and how to go on; other errors as they are.

    A checkpoint half-written when the disk filled is removed (it can never be resumed from) and the
    newest complete checkpoint named, so `--resume` continues once space is freed.
    """
    if err.errno not in DISK_FULL_ERRNOS + NOT_WRITABLE_ERRNOS:
        return err
    saving = getattr(trainer, "saving", None)
    state = getattr(trainer, "state", None)
    step = getattr(state, "global_step", 0) or 0
    if saving is not None and int(os.environ.get("RANK", "0")) == 0:
        remove_folder(saving)
    newest = newest_resumable_checkpoint(out)
    then = (
        f"{newest.path} is intact: rerun with --resume once that is fixed"
        if newest
        else "no checkpoint was saved yet: run again once that is fixed"
    )
    if saving is not None:
        where = f"while saving {saving} at step {step} (the half-written folder was removed)"
    else:
        where = f"while writing {err.filename or out}" + (f" at step {step}" if step else "")
    if err.errno in DISK_FULL_ERRNOS:
        return DiskSpaceError(
            f"no space left on the device {where}: {_size(_free_bytes(out))} free in {out} — free some space; {then}"
        )
    return BertCliError(
        f"cannot write {where.removeprefix('while writing ').removeprefix('while saving ')}: "
        f"{os.strerror(err.errno).lower()} — make {out} writable or pick another --output-dir; {then}"
    )


def _trainer_class(seed: int, class_weights: Sequence[float] | None = None, label_smoothing: float = 0.0):
    """Trainer with three changes: length-grouped batches whose order depends only on (seed, epoch), a
    record of the checkpoint being saved (so a failed save can be cleaned up and named), and bertcli's
    training loss (see `compute_loss`).

    transformers' own LengthGroupedSampler draws its permutation from the global torch RNG when the epoch
    starts. A resumed run restores that RNG only after fast-forwarding through the skipped batches, so
    the permutation of the epoch it resumes in came from a fresh process's RNG: killed in epoch 2 or later,
    the resumed run trained on different batches than the uninterrupted one. Here every epoch's order is
    drawn from its own generator seeded with (seed, epoch), and the global RNG is not touched at all.
    """
    import torch
    from torch.utils.data import Sampler
    from transformers import Trainer
    from transformers.trainer_pt_utils import get_length_grouped_indices

    class EpochLengthGroupedSampler(Sampler):
        def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
            self.lengths = [int(n) for n in lengths]
            self.batch_size = batch_size
            self.seed = seed
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            self.epoch = int(epoch)

        def __len__(self) -> int:
            return len(self.lengths)

        def __iter__(self):
            rng = torch.Generator().manual_seed(self.seed + self.epoch)
            return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=rng))

    weights = torch.tensor(list(class_weights), dtype=torch.float32) if class_weights is not None else None

    class BertCliTrainer(Trainer):
        saving: Path | None = None

        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            column = self.args.length_column_name
            if self.args.train_sampling_strategy != "group_by_length" or column not in getattr(dataset, "column_names", ()):
                return super()._get_train_sampler(train_dataset)
            # grouped by the global batch: under torchrun each rank takes its share of the same length-sorted
            # run of examples, so N processes train on the batches one process would
            batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * max(self.args.world_size, 1)
            return EpochLengthGroupedSampler(list(dataset[column]), batch, seed)

        def _save_checkpoint(self, model, trial):
            self.saving = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
            super()._save_checkpoint(model, trial)
            self.saving = None

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """The training loss: cross-entropy per example, times its label's weight (--class-weights), with
            --label-smoothing, summed over the accumulated batch and divided by its number of examples.

            With weights all 1 and no smoothing this is the model's own mean loss for one batch. It also fixes
            gradient accumulation: a classifier takes **kwargs, so the Trainer counts its loss as already
            divided by `num_items_in_batch` — but the model's loss is a per-batch mean that ignores it, and
            with --grad-accum 2 the Trainer's own loss (and gradient) would be twice the mean. Evaluation
            keeps the plain, unweighted cross-entropy, so eval loss compares across runs.
            """
            labels = inputs.get("labels")
            if not model.training or labels is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            labels = labels.view(-1).to(logits.device)
            per_example = torch.nn.functional.cross_entropy(
                logits.float().view(labels.numel(), -1), labels, reduction="none", label_smoothing=label_smoothing
            )
            if weights is not None:
                per_example = per_example * weights.to(per_example.device)[labels]
            if num_items_in_batch is None:  # the Trainer divides by the accumulation steps
                loss = per_example.mean()
            else:  # normalised over the whole accumulated batch: the Trainer uses it as it is
                loss = per_example.sum() / num_items_in_batch
                if self.args.average_tokens_across_devices and self.args.world_size > 1:
                    loss = loss * self.accelerator.num_processes  # the count covered every process
            return (loss, outputs) if return_outputs else loss

    return BertCliTrainer


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


def resolve_class_weights(spec: str | Sequence[float] | None, label_counts: Sequence[int], label_names: Sequence[str]) -> list[float] | None:
    """One weight per label, normalised to mean 1 so the loss (and the step the learning rate makes) stays on
    the scale of plain cross-entropy: only the ratios count. 'auto' is inverse label frequency in the training set."""
    if spec is None:
        return None
    if spec == "auto":
        empty = [name for name, n in zip(label_names, label_counts) if n == 0]
        if empty:
            raise UsageError(
                f"--class-weights auto: label {', '.join(map(repr, empty))} has no training example, so it has no "
                f"frequency — give the weights yourself, e.g. --class-weights {','.join('1' for _ in label_names)}"
            )
        inverse = [1.0 / n for n in label_counts]
        mean = sum(inverse) / len(inverse)
        return [w / mean for w in inverse]
    weights = [float(w) for w in spec]
    if len(weights) != len(label_names):
        raise UsageError(
            f"--class-weights gives {len(weights)} weight(s) but the data has {len(label_names)} labels "
            f"({', '.join(label_names)}) — give one weight per label in id order, e.g. "
            f"--class-weights {','.join('1' for _ in label_names)}"
        )
    mean = sum(weights) / len(weights)
    return [w / mean for w in weights]


def _make_callbacks(cfg: TrainConfig, settings: Any, hyperparameters: dict[str, Any]):
    from transformers import TrainerCallback

    from bertcli.core.config import write_config
    from bertcli.core.model import save_input_settings

    class SaveAtEpochEnd(TrainerCallback):
        """Save where evaluation happens (each epoch, and every --eval-steps), so the best model by eval metric
        exists on disk."""

        def on_epoch_end(self, args, state, control, **kwargs):
            control.should_save = True
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if control.should_evaluate:
                control.should_save = True
            return control

    class KeepBestAndNewest(TrainerCallback):
        """Delete all but the best and the newest checkpoints after every save, in numeric step order."""

        removed = 0

        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            saved = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if saved.is_dir():
                save_input_settings(saved, settings, hyperparameters)
                write_config(saved, cfg, CONFIG_HEADER)
            doomed = checkpoints_to_remove(
                list_checkpoints(args.output_dir), cfg.keep_checkpoints, state.best_model_checkpoint, resumable=True
            )
            if doomed:
                remove_checkpoints(doomed)
                KeepBestAndNewest.removed += len(doomed)
            for leftover in leftover_deletions(args.output_dir):  # a deletion a kill interrupted
                remove_folder(leftover)

    return SaveAtEpochEnd(), KeepBestAndNewest


CONFIG_HEADER = "The settings of this run: `bertcli train --config <this file> -o <new folder>` trains it again."


def _early_stopping_callback(cfg: TrainConfig, hyperparameters: dict[str, Any]):
    """Stop after --early-stopping evaluations without improving --best-metric by more than --min-delta.

    The count is read from the log history at every evaluation, not kept in the callback: a run resumed
    after a kill restores the history from its checkpoint and goes on counting where it was (transformers'
    EarlyStoppingCallback kept the count in memory and started again from zero). The step it stopped at
    goes into the training block of bertcli.json (hyperparameters: the same dict the checkpoints write).
    """
    from transformers import TrainerCallback

    key = "eval_loss" if cfg.best_metric == "loss" else f"eval_{cfg.best_metric}"

    class StopWithoutImprovement(TrainerCallback):
        training = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.training = True

        def on_train_end(self, args, state, control, **kwargs):
            self.training = False  # the final evaluation of the chosen model counts for nothing

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not self.training:
                return control
            since, _, _ = evaluations_since_best(state.log_history, key, cfg.best_metric != "loss", cfg.min_delta)
            if since >= cfg.early_stopping:
                control.should_training_stop = True
                if state.global_step < state.max_steps:  # a stop at the last step is no early stop
                    hyperparameters["stopped_early_at"] = state.global_step
            return control

    return StopWithoutImprovement()


def _collator(tokenizer: Any, pad_to_multiple_of: int | None):
    from transformers import DataCollatorWithPadding

    pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        return pad([{"input_ids": f["input_ids"], "labels": f["label"]} for f in features])

    return collate


def _lowest_loss(log_history: Sequence[dict]) -> tuple[float | None, int | None]:
    losses = [(e["loss"], e["step"]) for e in log_history if "loss" in e and isinstance(e["loss"], (int, float))]
    losses = [(v, s) for v, s in losses if math.isfinite(v)]
    if not losses:
        return None, None
    value, step = min(losses)
    return value, step


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


def _is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _main_process_first():
    """A context in which the main process runs first; a no-op outside torchrun/accelerate."""
    import contextlib

    if not _is_distributed():
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def _destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def train(
    cfg: TrainConfig,
    *,
    callbacks: Sequence[Any] = (),
    on_plan: Callable[[RunPlan], None] | None = None,
) -> RunReport:
    """Fine-tune `cfg.model` on `cfg.dataset` and save the final model to `<output_dir>/final`."""
    started = time.time()
    cfg = validate_config(cfg)
    from bertcli.core.defaults import resolve_sources

    sources = resolve_sources(cfg.model, cfg.dataset)
    cfg.model, cfg.dataset = sources.model, sources.dataset
    output = _inspect_output_dir(cfg)  # deletes nothing: --overwrite deletes once everything is checked
    resume_from = output.resume_from
    if resume_from and cfg.early_stopping:
        _refuse_resuming_a_stopped_run(cfg, Path(resume_from))

    from bertcli.core.data import load_labelled_data
    from bertcli.core.encoding import tokenize_dataset
    from bertcli.core.metrics import compute_eval_metrics
    from bertcli.core.model_card import FinalModelFacts, write_model_card
    from bertcli.core.model import (
        InputSettings,
        check_max_length,
        count_parameters,
        load_classifier,
        load_tokenizer,
        save_input_settings,
    )

    import torch
    from transformers import PrinterCallback, ProgressCallback, TrainingArguments, set_seed

    with _main_process_first():  # under torchrun, rank 0 fills the dataset caches before the others read them
        data = load_labelled_data(
            cfg.dataset,
            train_size=cfg.train_size,
            eval_size=cfg.eval_size,
            seed=cfg.seed,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            train_split=cfg.train_split,
            eval_split=cfg.eval_split,
            label_names=cfg.labels,
        )
        tokenizer = load_tokenizer(cfg.model)
        tokenizer.model_max_length = cfg.max_length  # so pipeline(truncation=True) cuts where training did
        train_ds = tokenize_dataset(data.train, tokenizer, cfg.max_length, cfg.truncation)
        eval_ds = tokenize_dataset(data.eval, tokenizer, cfg.max_length, cfg.truncation) if data.eval is not None else None

    class_weights = resolve_class_weights(
        cfg.class_weights, _label_counts(train_ds, len(data.label_names)), data.label_names
    )
    if cfg.early_stopping and eval_ds is None:
        raise UsageError("--early-stopping needs evaluations, and this run has no eval set — give --eval-split or drop --early-stopping")

    device = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    attention_dropout = resolve_attention_dropout(cfg.attention_dropout, device)
    set_seed(cfg.seed)
    model = load_classifier(cfg.model, data.label_names, attention_dropout=attention_dropout)
    check_max_length(model, cfg.max_length)

    precision = choose_precision(cfg.precision, device)
    if precision == "fp16" and device == "cpu":
        raise UsageError("--precision fp16 needs a GPU; on CPU use bf16 or fp32")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # optimizer steps, as the Trainer counts them: the batches of an epoch, --grad-accum of them per step
    batches_per_epoch = math.ceil(len(train_ds) / (cfg.batch_size * world))
    steps_per_epoch = max(math.ceil(batches_per_epoch / cfg.grad_accum), 1)
    total_steps = cfg.max_steps or math.ceil(steps_per_epoch * cfg.epochs)
    eval_steps = min(cfg.eval_steps, total_steps) if cfg.eval_steps and eval_ds is not None else None
    controls = _describe_controls(cfg, eval_steps, eval_ds is not None, class_weights)
    # a loss at least once an epoch (and once a run): a --logging-steps longer than that would log nothing
    logging_steps = min(cfg.logging_steps, steps_per_epoch, total_steps)
    logging_note = (
        [f"logging every {logging_steps} step(s): --logging-steps {cfg.logging_steps} is longer than "
         f"{'an epoch' if logging_steps == steps_per_epoch else 'the run'} ({logging_steps} steps), which would log no loss"]
        if logging_steps < cfg.logging_steps
        else []
    )
    parameters = count_parameters(model)
    ckpt_bytes = estimate_checkpoint_bytes(parameters)
    saves = total_steps // cfg.save_steps + math.ceil(cfg.epochs) + (total_steps // eval_steps if eval_steps else 0)
    run_bytes = (min(saves, cfg.keep_checkpoints + 2)) * ckpt_bytes + parameters * WEIGHT_BYTES_PER_PARAM
    out = output.path
    free = _free_bytes(out)
    truncated = sum(1 for n in train_ds["n_tokens"] if n > cfg.max_length) / max(len(train_ds), 1)
    plan = RunPlan(
        model=cfg.model,
        dataset=cfg.dataset,
        train_examples=len(train_ds),
        eval_examples=len(eval_ds) if eval_ds is not None else 0,
        eval_split=data.eval_split,
        label_names=data.label_names,
        parameters=parameters,
        steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        checkpoint_bytes=ckpt_bytes,
        run_bytes=run_bytes,
        unbounded_bytes=saves * ckpt_bytes + parameters * WEIGHT_BYTES_PER_PARAM,
        free_bytes=free,
        device=device,
        precision=precision,
        resume_from=resume_from,
        truncated_share=truncated,
        batch_size=cfg.batch_size,
        grad_accum=cfg.grad_accum,
        effective_batch=cfg.batch_size * world * cfg.grad_accum,
        controls=controls,
        notes=[sources.note] * bool(sources.note) + list(data.notes)
        + output.notes
        + logging_note
        + ([] if resume_from or not cfg.resume else ["--resume: no complete checkpoint yet, starting fresh"])
        + (
            ["attention dropout off on CPU (3-5x faster steps; --attention-dropout 0.1 turns it back on)"]
            if cfg.attention_dropout is None and attention_dropout == 0.0
            else []
        )
        + (
            [f"evaluating every {eval_steps} step(s): --eval-steps {cfg.eval_steps} is longer than the run"]
            if eval_steps is not None and eval_steps < cfg.eval_steps
            else []
        ),
    )
    _check_disk(out, run_bytes, free, output.reclaimable_bytes)
    if on_plan is not None:
        on_plan(plan)
    _clear_output_dir(output)  # every check has passed: now the earlier run may go
    from bertcli.core.config import write_config

    if int(os.environ.get("RANK", "0")) == 0:
        write_config(out, cfg, CONFIG_HEADER)

    metric = "eval_loss" if cfg.best_metric == "loss" else f"eval_{cfg.best_metric}"
    use_tensorboard = cfg.tensorboard
    if use_tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            use_tensorboard = False
    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size or cfg.batch_size * 2,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=int(round(cfg.warmup_ratio * total_steps)),
        eval_strategy="no" if eval_ds is None else "steps" if eval_steps else "epoch",
        eval_steps=eval_steps,
        gradient_accumulation_steps=cfg.grad_accum,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        logging_strategy="steps",
        logging_steps=logging_steps,
        logging_nan_inf_filter=False,
        metric_for_best_model=metric if eval_ds is not None else None,
        greater_is_better=cfg.best_metric != "loss",
        seed=cfg.seed,
        data_seed=cfg.seed,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        remove_unused_columns=False,
        report_to=["tensorboard"] if use_tensorboard else "none",
        disable_tqdm=True,
        save_only_model=False,
        **accelerator_arguments(device, precision, cfg.compile),
        ddp_find_unused_parameters=False if _is_distributed() else None,
        # A classifier's loss is a mean over its batch and ignores num_items_in_batch, so Trainer's token
        # averaging across processes would only multiply it (and the gradients) by the number of processes.
        average_tokens_across_devices=False,
    )
    settings = InputSettings(max_length=cfg.max_length, truncation=cfg.truncation)
    hyperparameters = {
        "model": cfg.model,
        "dataset": cfg.dataset,
        "train_size": len(train_ds),
        "eval_size": len(eval_ds) if eval_ds is not None else 0,
        "learning_rate": cfg.lr,
        "weight_decay": cfg.weight_decay,
        "train_batch_size": cfg.batch_size * world,
        "num_train_epochs": cfg.epochs,
        "lr_scheduler_type": cfg.scheduler,
        "warmup_ratio": cfg.warmup_ratio,
        "seed": cfg.seed,
        "precision": precision,
        "attention_dropout": attention_dropout,
        "group_by_length": cfg.group_by_length,
        "text_column": cfg.text_column,
        "label_column": cfg.label_column,
        "train_split": cfg.train_split,
        "eval_split": data.eval_split,
        "label_names": data.label_names,
        # how many eval examples each label has: the chance rate (always the majority label) is exact then
        "eval_label_counts": _label_counts(eval_ds, len(data.label_names)),
        "max_steps": cfg.max_steps,
        "logging_steps": logging_steps,
        "save_steps": cfg.save_steps,
        "best_metric": cfg.best_metric,
        "grad_accum": cfg.grad_accum,
        "effective_batch_size": cfg.batch_size * world * cfg.grad_accum,
        "label_smoothing": cfg.label_smoothing,
        # as given ("auto" or "1,3") and as used: text, so inspect-checkpoint lists them with the other settings
        "class_weights": _format_class_weights(cfg.class_weights),
        "class_weight_values": _format_class_weights([round(w, 4) for w in class_weights]) if class_weights else None,
        "eval_steps": eval_steps,
        "early_stopping": cfg.early_stopping,
        "min_delta": cfg.min_delta,
        "stopped_early_at": None,  # the step, once early stopping ends the run
    }
    save_at_epoch_end, keeper = _make_callbacks(cfg, settings, hyperparameters)
    from bertcli.core.guards import nonfinite_guard

    stopping = [_early_stopping_callback(cfg, hyperparameters)] if cfg.early_stopping and eval_ds is not None else []
    trainer = _trainer_class(cfg.seed, class_weights, cfg.label_smoothing)(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=_collator(tokenizer, 8 if device == "cuda" else None),  # tensor-core friendly shapes
        compute_metrics=compute_eval_metrics,
        # the guard last: it cancels saves
        callbacks=[save_at_epoch_end, *stopping, keeper(), *callbacks, nonfinite_guard()],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)

    train_started = time.time()
    try:
        result = trainer.train(resume_from_checkpoint=resume_from)
        train_seconds = time.time() - train_started
        state = trainer.state
        rows = epoch_rows(state.log_history)
        early_stop = _early_stop(cfg, state, hyperparameters)
        final_from = "last"
        if cfg.final_from == "best" and state.best_model_checkpoint and Path(state.best_model_checkpoint).is_dir():
            _load_safetensors_weights(trainer.model, Path(state.best_model_checkpoint))
            final_from = Path(state.best_model_checkpoint).name
        final_metrics: dict[str, float] = {}
        if eval_ds is not None:
            final_metrics = {k[5:]: v for k, v in trainer.evaluate().items() if k.startswith("eval_")}
        final_dir = out / "final"
        trainer.save_model(str(final_dir))  # writes on the main process only
        if trainer.is_world_process_zero():
            save_input_settings(final_dir, settings, hyperparameters)
            write_config(final_dir, cfg, CONFIG_HEADER)
            write_model_card(
                final_dir,
                FinalModelFacts(
                    training=hyperparameters, max_length=cfg.max_length, truncation=cfg.truncation,
                    label_names=data.label_names, metrics=final_metrics, eval_split=data.eval_split,
                    final_from=final_from, global_step=state.global_step, train_seconds=train_seconds,
                    hardware=_hardware(device),
                ),
                name=out.resolve().name,
            )
    except OSError as err:
        failure = _write_failure(err, out, trainer)
        if failure is err:
            raise
        raise failure from None
    finally:
        if _is_distributed():
            _destroy_process_group()

    lowest, lowest_step = _lowest_loss(state.log_history)
    metrics = result.metrics or {}
    tokens = sum(train_ds["length"]) * cfg.epochs
    return RunReport(
        output_dir=out,
        final_dir=final_dir,
        global_step=state.global_step,
        epochs=float(state.epoch or 0.0),
        best_checkpoint=state.best_model_checkpoint,
        best_metric_name=cfg.best_metric,
        best_metric=state.best_metric,
        lowest_loss=lowest,
        lowest_loss_step=lowest_step,
        final_metrics=final_metrics,
        epoch_rows=rows,
        wall_seconds=time.time() - started,
        train_seconds=train_seconds,
        samples_per_second=metrics.get("train_samples_per_second"),
        tokens_per_second=tokens / train_seconds if train_seconds > 0 and not resume_from else None,
        mfu=(
            model_flops_utilization(parameters, tokens, train_seconds, torch.cuda.get_device_name(0), precision)
            if device == "cuda" and not resume_from
            else None
        ),
        disk_bytes=folder_bytes(out),
        checkpoints_kept=[c.name for c in list_checkpoints(out) if c.complete],
        checkpoints_removed=keeper.removed,
        final_from=final_from,
        early_stop=early_stop,
    )


def _refuse_resuming_a_stopped_run(cfg: TrainConfig, checkpoint: Path) -> None:
    """--resume of a run that early stopping already ended (with this patience) would only train on to the next
    evaluation and stop again: say so instead."""
    import json

    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        history, step, max_steps = state["log_history"], int(state["global_step"]), int(state.get("max_steps") or 0)
    except (OSError, ValueError, KeyError, TypeError):
        return
    key = "eval_loss" if cfg.best_metric == "loss" else f"eval_{cfg.best_metric}"
    since, best, best_step = evaluations_since_best(history, key, cfg.best_metric != "loss", cfg.min_delta)
    if since >= cfg.early_stopping and step < max_steps:
        raise UsageError(
            f"--resume: early stopping already ended the run in {cfg.output_dir} at step {step} ({cfg.best_metric} "
            f"did not improve on {best:.4g} from step {best_step} for {since} evaluations) — raise --early-stopping "
            f"above {since} to train on, or start over with --overwrite"
        )


def _format_class_weights(weights: Any) -> str | None:
    from bertcli.core.config import format_class_weights

    return format_class_weights(weights)


def _early_stop(cfg: TrainConfig, state: Any, hyperparameters: dict[str, Any]) -> EarlyStop | None:
    """Where early stopping ended the run and the best it had waited to beat; None when it ran to the end."""
    step = hyperparameters.get("stopped_early_at")
    if step is None or not cfg.early_stopping:
        return None
    key = "eval_loss" if cfg.best_metric == "loss" else f"eval_{cfg.best_metric}"
    history = [e for e in state.log_history if (e.get("step") or 0) <= step]
    _, best, best_step = evaluations_since_best(history, key, cfg.best_metric != "loss", cfg.min_delta)
    epoch = next((e.get("epoch") for e in reversed(history) if key in e), state.epoch)
    return EarlyStop(step=step, epoch=epoch, metric=cfg.best_metric, min_delta=cfg.min_delta,
                     patience=cfg.early_stopping, best_value=best, best_step=best_step)


def _describe_controls(cfg: TrainConfig, eval_steps: int | None, has_eval: bool, class_weights: list[float] | None) -> list[str]:
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
            source = "inverse label frequency" if cfg.class_weights == "auto" else f"--class-weights {_format_class_weights(cfg.class_weights)}"
            parts.append(f"class weights {', '.join(f'{w:.3g}' for w in class_weights)} ({source}, mean 1)")
        if cfg.label_smoothing:
            parts.append(f"label smoothing {cfg.label_smoothing:g}")
        lines.append("training loss: cross-entropy with " + " and ".join(parts) + "; eval loss stays plain cross-entropy")
    return lines


def _label_counts(ds: Any, n_labels: int) -> list[int] | None:
    if ds is None:
        return None
    counts = [0] * n_labels
    for label in ds["label"]:
        counts[int(label)] += 1
    return counts


def _hardware(device: str) -> str:
    """What trained the model, for the model card: the GPU's name, or the CPU and its threads."""
    import platform

    import torch

    if device == "cuda":
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def _load_safetensors_weights(model: Any, folder: Path) -> None:
    """Load a checkpoint's weights into `model` from safetensors (never a pickle)."""
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    if single.is_file():
        state = load_file(str(single))
    else:
        import json

        index = json.loads((folder / "model.safetensors.index.json").read_text())
        state = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(load_file(str(folder / shard)))
    model.load_state_dict(state, strict=False)
