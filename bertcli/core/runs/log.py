"""What a run's log holds, measured: the loss and its lowest point, grad-norm spikes, NaN/inf, evaluations.

Plain functions over `RunState` returning dataclasses; the learning-rate schedule is measured in
`lr_schedule`, the findings about all of it are written in `inspect_findings`.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.runs.numbers import is_finite
from bertcli.core.runs.state import RunState

DEFAULT_SPIKE_K = 6.0
MIN_POINTS_FOR_SPIKES = 5
MAD_FLOOR = 0.1  # of the median: in a very steady run, small bumps are not spikes
LOWER_IS_BETTER = ("loss", "error", "perplexity", "wer", "cer")


@dataclass
class LogRow:
    """One logged step: training values and, where an evaluation ran at that step, its metrics."""

    step: int
    epoch: float | None
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    eval: dict[str, float] = field(default_factory=dict)
    lowest: bool = False
    spike: bool = False
    non_finite: bool = False


@dataclass
class LowestLoss:
    value: float
    step: int
    epoch: float | None
    first: float
    first_step: int
    final: float
    final_step: int
    after_min: float | None  # range of the loss over the logs after the lowest one
    after_max: float | None
    after_median: float | None
    after_points: int


@dataclass
class GradNormSpike:
    step: int
    value: float
    times_median: float
    loss_before: float | None
    loss_before_step: int | None
    loss_at: float | None
    loss_after: float | None
    loss_after_step: int | None


@dataclass
class GradNorms:
    points: int
    median: float | None
    mad: float | None
    k: float
    threshold: float | None
    low: float | None
    high: float | None
    spikes: list[GradNormSpike]


@dataclass
class NonFinite:
    step: int
    key: str
    value: str  # "nan", "inf", "-inf"


@dataclass
class EvalSummary:
    count: int
    metrics: list[str]
    steps: list[int]
    best: dict[str, dict[str, float]]  # metric -> {"value", "step"}


def check_spike_k(spike_k: float) -> float:
    """--spike-k inside its range (the CLI checks the same while parsing; this is the check for Python callers)."""
    from bertcli.core import limits

    return limits.SPIKE_K.check("--spike-k", spike_k)


def merge_rows(state: RunState) -> list[LogRow]:
    """Training and evaluation records merged per step, in step order."""
    by_step: dict[int, LogRow] = {}
    for log in state.train_logs:
        row = by_step.setdefault(log.step, LogRow(log.step, log.epoch))
        row.loss, row.learning_rate, row.grad_norm = log.loss, log.learning_rate, log.grad_norm
        row.epoch = log.epoch if log.epoch is not None else row.epoch
    for log in state.eval_logs:
        row = by_step.setdefault(log.step, LogRow(log.step, log.epoch))
        row.eval.update(log.quality)
        row.epoch = row.epoch if row.epoch is not None else log.epoch
    return [by_step[step] for step in sorted(by_step)]


def find_lowest_loss(state: RunState) -> LowestLoss | None:
    """The lowest finite training loss (earliest on ties) and the range the loss kept after it."""
    logs = [log for log in state.train_logs if is_finite(log.loss)]
    if not logs:
        return None
    best = min(logs, key=lambda log: (log.loss, log.step))
    after = [log.loss for log in logs if log.step > best.step]
    return LowestLoss(
        value=best.loss,
        step=best.step,
        epoch=best.epoch,
        first=logs[0].loss,
        first_step=logs[0].step,
        final=logs[-1].loss,
        final_step=logs[-1].step,
        after_min=min(after) if after else None,
        after_max=max(after) if after else None,
        after_median=statistics.median(after) if after else None,
        after_points=len(after),
    )


def find_grad_norm_spikes(state: RunState, k: float = DEFAULT_SPIKE_K) -> GradNorms:
    """Grad norms above median + k·MAD (median absolute deviation), with the loss around each one.

    The MAD is floored at 10% of the median, so a run whose norms barely move does not flag small bumps.
    """
    logs = [log for log in state.train_logs if is_finite(log.grad_norm)]
    values = [log.grad_norm for log in logs]
    if not values:
        return GradNorms(0, None, None, k, None, None, None, [])
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    report = GradNorms(len(values), median, mad, k, None, min(values), max(values), [])
    if len(values) < MIN_POINTS_FOR_SPIKES:
        return report
    scale = max(mad, MAD_FLOOR * abs(median), 1e-12)
    report.threshold = median + k * scale
    losses = [log for log in state.train_logs if is_finite(log.loss)]
    for log in logs:
        if log.grad_norm <= report.threshold:
            continue
        before = [x for x in losses if x.step < log.step]
        after = [x for x in losses if x.step > log.step]
        report.spikes.append(
            GradNormSpike(
                step=log.step,
                value=log.grad_norm,
                times_median=log.grad_norm / median if median > 0 else math.inf,
                loss_before=before[-1].loss if before else None,
                loss_before_step=before[-1].step if before else None,
                loss_at=log.loss if is_finite(log.loss) else None,
                loss_after=after[0].loss if after else None,
                loss_after_step=after[0].step if after else None,
            )
        )
    return report


def find_non_finite(state: RunState) -> list[NonFinite]:
    """Every NaN or ±inf value in the log, with its step and key."""
    found = []
    for record in state.log_history:
        for key, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                found.append(NonFinite(record["step"], key, "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")))
    return found


def summarize_evals(state: RunState) -> EvalSummary:
    names: list[str] = []
    for log in state.eval_logs:
        names += [name for name in log.quality if name not in names]
    names.sort(key=lambda name: name != "loss")  # eval loss first, the rest as logged
    best: dict[str, dict[str, float]] = {}
    for name in names:
        points = [(log.quality[name], log.step) for log in state.eval_logs if is_finite(log.quality.get(name))]
        if not points:
            continue
        if lower_is_better(name):
            value, step = min(points, key=lambda p: (p[0], p[1]))
        else:
            value, step = min(points, key=lambda p: (-p[0], p[1]))
        best[name] = {"value": value, "step": step}
    return EvalSummary(len(state.eval_logs), names, [log.step for log in state.eval_logs], best)


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


def _as_count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def _recorded_train_seconds(state: RunState) -> float | None:
    """The wall time bertcli records in bertcli.json when training ends (None for older or foreign runs)."""
    manifest = getattr(state, "manifest", None)
    seconds = manifest.recorded.train_seconds if manifest is not None else None
    return seconds if is_finite(seconds) and seconds > 0 else None


def run_summary(state: RunState, evals: EvalSummary) -> dict[str, Any]:
    """The run at a glance: progress, cadence, batch size, best checkpoint, time."""
    train_steps = [log.step for log in state.train_logs]
    summary: dict[str, Any] = {
        "global_step": state.global_step,
        "max_steps": state.max_steps or None,
        "epoch": state.epoch,
        "num_train_epochs": state.num_train_epochs,
        "train_batch_size": state.train_batch_size,
        "steps_per_epoch": None,
        "examples_per_epoch": None,
        "logging_every": log_cadence(train_steps) or state.logging_steps,
        "save_steps": state.save_steps,
        "eval_every": log_cadence(evals.steps) if evals.count else None,
        "eval_per_epoch": None,
        "best_metric": state.best_metric if is_finite(state.best_metric) else None,
        "best_model_checkpoint": state.best_model_checkpoint,
        "best_global_step": state.best_global_step,
        "train_runtime": state.summary.get("train_runtime") or _recorded_train_seconds(state),
        "train_runtime_by": "trainer" if state.summary.get("train_runtime") else "bertcli" if _recorded_train_seconds(state) else None,
        "train_samples_per_second": state.summary.get("train_samples_per_second"),
        "train_loss": state.summary.get("train_loss"),
        "total_flos": state.total_flos,
        "num_input_tokens_seen": state.num_input_tokens_seen or None,
        "finished": None,
    }
    if state.epoch and state.epoch > 0 and state.global_step > 0:
        per_epoch = state.global_step / state.epoch
        if abs(per_epoch - round(per_epoch)) < 0.02 * per_epoch:
            summary["steps_per_epoch"] = int(round(per_epoch))
            if state.train_batch_size:
                # an optimizer step takes --grad-accum batches (recorded by bertcli); Trainer's batch size is one batch
                accum = _as_count(state.recorded.grad_accum)
                summary["examples_per_epoch"] = summary["steps_per_epoch"] * state.train_batch_size * accum
    if evals.count:
        epochs = [log.epoch for log in state.eval_logs if log.epoch is not None]
        summary["eval_per_epoch"] = bool(epochs) and all(abs(e - round(e)) < 1e-6 for e in epochs)
    if state.max_steps:
        summary["finished"] = state.global_step >= state.max_steps
    if state.should_training_stop and not summary["finished"]:
        summary["finished"] = True
    return summary


def sample_rows(rows: Sequence[LogRow], every: int | None, max_rows: int = 60) -> tuple[list[LogRow], int | None]:
    """The rows to show: the first logged row per `every` steps, plus first, last, lowest, spikes, evals, NaN.

    Without `every`, short runs show every row and long ones pick a step that gives about 40 rows.
    Returns the rows and the step used (None when every row is shown).
    """
    if every is not None and every < 1:
        raise UsageError(f"--every takes a step count of 1 or more, not {every}")
    if not rows:
        return [], every
    if every is None:
        if len(rows) <= max_rows:
            return list(rows), None
        span = rows[-1].step - rows[0].step
        cadence = log_cadence([r.step for r in rows if r.loss is not None]) or 1
        every = max(cadence, int(math.ceil(span / 40 / cadence)) * cadence)
    trained = [index for index, row in enumerate(rows) if row.loss is not None]
    ends = {0, len(rows) - 1, *(trained[:1] + trained[-1:])}
    chosen, seen = [], set()
    for index, row in enumerate(rows):
        bucket = row.step // every
        keep = bucket not in seen or index in ends or row.lowest or row.spike or row.non_finite or row.eval
        seen.add(bucket)
        if keep:
            chosen.append(row)
    return chosen, every


def log_cadence(steps: Sequence[int]) -> int | None:
    """The most common gap between logged steps (the logging or evaluation interval)."""
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    if not gaps:
        return None
    return Counter(gaps).most_common(1)[0][0]
