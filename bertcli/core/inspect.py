"""What a run's trainer state says: loss, learning-rate schedule, grad-norm spikes, NaN/inf, evaluations.

Plain functions over `core.state.RunState` returning dataclasses; `bertcli inspect-checkpoint` renders
them as tables or JSON. Findings carry a stable code, a level and a sentence with the numbers.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.state import RunState, load_trainer_state

DEFAULT_SPIKE_K = 6.0
MIN_POINTS_FOR_SPIKES = 5
MAD_FLOOR = 0.1  # of the median: in a very steady run, small bumps are not spikes
LR_FIT_TOLERANCE = 0.005  # largest error of a recognised schedule, as a share of its peak
MAX_WARMUP_CANDIDATES = 120
MAX_FIT_POINTS = 400
LOWER_IS_BETTER = ("loss", "error", "perplexity", "wer", "cer")


@dataclass
class Finding:
    code: str
    level: str  # info / warning / error
    message: str


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
class LRSchedule:
    shape: str  # linear / cosine / constant / other / unknown
    first: float | None
    first_step: int | None
    last: float | None
    last_step: int | None
    peak_logged: float | None
    peak_logged_step: int | None
    peak: float | None  # the configured learning rate, inferred from the fit
    warmup_steps: int | None
    total_steps: int | None
    logged_before_step: bool | None  # transformers 5 logs the LR used by the step, 4.x the one after it
    fit_error: float | None
    points: int


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


@dataclass
class RunAnalysis:
    label: str
    state_file: str
    checkpoint: str | None
    chosen_from_run: bool
    skipped: list[str]
    summary: dict[str, Any]
    settings: dict[str, Any]
    rows: list[LogRow]
    lowest_loss: LowestLoss | None
    lr_schedule: LRSchedule
    grad_norms: GradNorms
    non_finite: list[NonFinite]
    evals: EvalSummary
    findings: list[Finding]


@dataclass
class RunComparison:
    labels: list[str]
    rows: list[dict[str, Any]]  # one per run: steps, epochs, lowest/final loss, best eval, spikes, wall time
    differing: dict[str, list[Any]]  # hyperparameter -> value per run, only those that differ


def inspect_runs(paths: Sequence[str | Path], spike_k: float = DEFAULT_SPIKE_K) -> list[RunAnalysis]:
    """Load and analyse every path (checkpoint folder, run folder or trainer_state.json)."""
    check_spike_k(spike_k)
    return [analyze_run(load_trainer_state(path), spike_k=spike_k, label=str(path)) for path in paths]


def check_spike_k(spike_k: float) -> None:
    if not math.isfinite(spike_k) or spike_k <= 0:
        raise UsageError(f"--spike-k must be a number above 0 (default {DEFAULT_SPIKE_K:g}), not {spike_k:g}")


def analyze_run(state: RunState, spike_k: float = DEFAULT_SPIKE_K, label: str | None = None) -> RunAnalysis:
    """Everything inspect-checkpoint reports about one run, findings included."""
    check_spike_k(spike_k)
    rows = merge_rows(state)
    lowest = find_lowest_loss(state)
    lr = describe_lr_schedule(
        [(log.step, log.learning_rate) for log in state.train_logs], state.max_steps or None, state.global_step
    )
    grads = find_grad_norm_spikes(state, spike_k)
    non_finite = find_non_finite(state)
    evals = summarize_evals(state)
    spike_steps = {s.step for s in grads.spikes}
    bad_steps = {n.step for n in non_finite}
    for row in rows:
        row.lowest = lowest is not None and row.step == lowest.step and row.loss == lowest.value
        row.spike = row.step in spike_steps and row.grad_norm is not None
        row.non_finite = row.step in bad_steps
    summary = run_summary(state, evals)
    settings = dict(state.settings)
    if lr.peak is not None and lr.shape not in ("other", "unknown"):
        settings["inferred_learning_rate"] = _sig(lr.peak, 4)
        settings["inferred_lr_schedule"] = lr.shape
        settings["inferred_warmup_steps"] = lr.warmup_steps
    analysis = RunAnalysis(
        label=label if label is not None else str(state.given),
        state_file=str(state.path),
        checkpoint=state.checkpoint,
        chosen_from_run=state.chosen_from_run,
        skipped=list(state.skipped),
        summary=summary,
        settings=settings,
        rows=rows,
        lowest_loss=lowest,
        lr_schedule=lr,
        grad_norms=grads,
        non_finite=non_finite,
        evals=evals,
        findings=[],
    )
    analysis.findings = run_findings(state, analysis)
    return analysis


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
    logs = [log for log in state.train_logs if _finite(log.loss)]
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
    logs = [log for log in state.train_logs if _finite(log.grad_norm)]
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
    losses = [log for log in state.train_logs if _finite(log.loss)]
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
                loss_at=log.loss if _finite(log.loss) else None,
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
        points = [(log.quality[name], log.step) for log in state.eval_logs if _finite(log.quality.get(name))]
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


def describe_lr_schedule(
    points: Iterable[tuple[int, float | None]], max_steps: int | None, global_step: int | None = None
) -> LRSchedule:
    """First/last/peak logged learning rate, and the Trainer schedule that reproduces the values.

    Tries linear, cosine and constant schedules with linear warmup (as transformers defines them),
    the LR logged before or after the step, and the total step count from the state; the peak
    (the configured learning rate) comes out of a least-squares fit.
    """
    pts = [(step, lr) for step, lr in points if _finite(lr)]
    if not pts:
        return LRSchedule("unknown", None, None, None, None, None, None, None, None, max_steps, None, None, 0)
    peak_index = max(range(len(pts)), key=lambda i: (pts[i][1], -i))
    schedule = LRSchedule(
        shape="other",
        first=pts[0][1],
        first_step=pts[0][0],
        last=pts[-1][1],
        last_step=pts[-1][0],
        peak_logged=pts[peak_index][1],
        peak_logged_step=pts[peak_index][0],
        peak=pts[peak_index][1],
        warmup_steps=None,
        total_steps=max_steps,
        logged_before_step=None,
        fit_error=None,
        points=len(pts),
    )
    if schedule.peak_logged <= 0:
        return schedule
    if max(lr for _, lr in pts) - min(lr for _, lr in pts) <= LR_FIT_TOLERANCE * schedule.peak_logged:
        schedule.shape, schedule.warmup_steps, schedule.fit_error = "constant", 0, 0.0
        return schedule
    if len(pts) < (2 if max_steps else 3):
        return schedule
    best = None
    fit_pts = _thin(pts, MAX_FIT_POINTS)
    for total in _total_candidates(pts, max_steps, global_step):
        for before in (True, False):
            offset = 1 if before else 0
            for warmup in _warmup_candidates(pts, peak_index, offset):
                for shape in ("linear", "cosine", "constant"):
                    fit = _fit(fit_pts, shape, warmup, total, offset)
                    if fit is not None and (best is None or fit[1] < best[1] - 1e-12):
                        best = (fit[0], fit[1], shape, warmup, total, before)
    if best is not None and best[1] <= LR_FIT_TOLERANCE:
        peak, error, shape, warmup, total, before = best
        schedule.shape, schedule.peak, schedule.fit_error = shape, peak, error
        schedule.warmup_steps, schedule.total_steps, schedule.logged_before_step = warmup, total, before
    return schedule


def _thin(pts: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """At most `limit` points spread evenly over the run, first and last kept."""
    if len(pts) <= limit:
        return pts
    stride = (len(pts) - 1) / (limit - 1)
    return [pts[int(round(i * stride))] for i in range(limit)]


def _total_candidates(pts: list[tuple[int, float]], max_steps: int | None, global_step: int | None) -> list[int]:
    if max_steps and max_steps > 0:
        return [max_steps]
    candidates = {pts[-1][0] + 1}
    if global_step:
        candidates.add(global_step)
    tail = pts[-min(len(pts), 4) :]
    (s0, y0), (s1, y1) = tail[0], tail[-1]
    if s1 > s0 and y1 < y0:
        crossing = s1 + y1 * (s1 - s0) / (y0 - y1)
        if math.isfinite(crossing) and crossing < 10**9:
            candidates.update({int(round(crossing)), int(round(crossing)) - 1})
    return sorted(c for c in candidates if c > 0)


def _warmup_candidates(pts: list[tuple[int, float]], peak_index: int, offset: int) -> list[int]:
    """Warmup lengths consistent with where the logged LR peaks (the end of warmup lies around it)."""
    low = 0 if peak_index == 0 else max(0, pts[peak_index - 1][0] - offset)
    high = pts[min(peak_index + 1, len(pts) - 1)][0] - offset if peak_index > 0 else max(0, pts[0][0] - offset)
    if high < low:
        return [0]
    span = high - low + 1
    stride = max(1, math.ceil(span / MAX_WARMUP_CANDIDATES))
    candidates = list(range(low, high + 1, stride))
    return [0] + candidates if peak_index == 0 and 0 not in candidates else candidates


def _schedule_factor(shape: str, step: int, warmup: int, total: int) -> float:
    """The multiplier transformers' schedules apply to the peak LR after `step` scheduler steps."""
    if step < warmup:
        return step / max(1, warmup)
    if shape == "constant":
        return 1.0
    if shape == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def _fit(pts: list[tuple[int, float]], shape: str, warmup: int, total: int, offset: int) -> tuple[float, float] | None:
    factors = [_schedule_factor(shape, step - offset, warmup, total) for step, _ in pts]
    denominator = sum(f * f for f in factors)
    if denominator <= 0:
        return None
    peak = sum(f * lr for f, (_, lr) in zip(factors, pts)) / denominator
    if not math.isfinite(peak) or peak <= 0:
        return None
    error = max(abs(lr - peak * f) for f, (_, lr) in zip(factors, pts)) / peak
    return peak, error


def _as_count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


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
        "best_metric": state.best_metric if _finite(state.best_metric) else None,
        "best_model_checkpoint": state.best_model_checkpoint,
        "best_global_step": state.best_global_step,
        "train_runtime": state.summary.get("train_runtime"),
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
                accum = _as_count(state.settings.get("training.grad_accum"))
                summary["examples_per_epoch"] = summary["steps_per_epoch"] * state.train_batch_size * accum
    if evals.count:
        epochs = [log.epoch for log in state.eval_logs if log.epoch is not None]
        summary["eval_per_epoch"] = bool(epochs) and all(abs(e - round(e)) < 1e-6 for e in epochs)
    if state.max_steps:
        summary["finished"] = state.global_step >= state.max_steps
    if state.should_training_stop and not summary["finished"]:
        summary["finished"] = True
    return summary


def _early_stopping_part(settings: dict[str, Any], step: int) -> str:
    """' — early stopping ended it ...' when bertcli.json records that it stopped the run at `step`."""
    if settings.get("training.stopped_early_at") != step:
        return ""
    metric = settings.get("training.best_metric") or "the best metric"
    delta = settings.get("training.min_delta")
    return (
        f" — early stopping ended it: {metric} did not improve by more than {_number(delta)} for "
        f"{settings.get('training.early_stopping')} evaluations"
    )


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value or 0)


def _training_controls(settings: dict[str, Any]) -> str:
    """bertcli train's loss and step controls as its bertcli.json records them, where not the defaults."""
    parts = []
    accum = settings.get("training.grad_accum")
    if isinstance(accum, int) and accum > 1:
        parts.append(f"gradient accumulation {accum} (effective batch {settings.get('training.effective_batch_size')})")
    if settings.get("training.label_smoothing"):
        parts.append(f"label smoothing {_number(settings['training.label_smoothing'])}")
    if settings.get("training.class_weights"):
        values = settings.get("training.class_weight_values")
        parts.append(f"class weights {settings['training.class_weights']}" + (f" ({values})" if values and values != settings["training.class_weights"] else ""))
    if settings.get("training.early_stopping"):
        every = settings.get("training.eval_steps")
        parts.append(
            f"early stopping after {settings['training.early_stopping']} evaluations "
            f"({'every ' + str(every) + ' steps' if every else 'each epoch'}, min delta {_number(settings.get('training.min_delta'))})"
        )
    elif settings.get("training.eval_steps"):
        parts.append(f"evaluation every {settings['training.eval_steps']} steps")
    return "; ".join(parts)


def run_findings(state: RunState, run: RunAnalysis) -> list[Finding]:
    findings: list[Finding] = []
    s = run.summary
    if s["max_steps"] and state.global_step < s["max_steps"]:
        stopped = " — training stopped early (should_training_stop is set)" if state.should_training_stop else ""
        stopped = _early_stopping_part(state.settings, state.global_step) or stopped
        findings.append(
            Finding(
                "progress",
                "info",
                f"this state is at step {state.global_step} of {s['max_steps']}"
                f"{_epoch_part(state.epoch, state.num_train_epochs)}{stopped}",
            )
        )
    if run.chosen_from_run:
        skipped = f"; skipped {', '.join(run.skipped)} (no readable trainer_state.json)" if run.skipped else ""
        findings.append(
            Finding("checkpoint", "warning" if run.skipped else "info", f"read the newest complete checkpoint, {run.checkpoint}{skipped}")
        )
    controls = _training_controls(state.settings)
    if controls:
        findings.append(Finding("controls", "info", f"training controls: {controls}"))
    findings.append(_loss_finding(run.lowest_loss))
    findings.append(_lr_finding(run.lr_schedule))
    findings.append(_grad_finding(run.grad_norms))
    findings.append(_nan_finding(state, run.non_finite))
    findings.append(_eval_finding(state, run.evals))
    return [f for f in findings if f is not None]


def _loss_finding(low: LowestLoss | None) -> Finding:
    if low is None:
        return Finding("loss", "warning", "no finite training loss in the log")
    epoch = f" (epoch {low.epoch:.2f})" if low.epoch is not None else ""
    verb = "fell" if low.value < low.first else "went"
    text = f"loss {verb} from {_dec(low.first)} at step {low.first_step} to a low of {_dec(low.value)} at step {low.step}{epoch}"
    if low.after_points == 1:
        text += f", then {_dec(low.final)} at step {low.final_step}, the last log"
    elif low.after_points:
        text += (
            f", then ranged {_dec(low.after_min)}–{_dec(low.after_max)} (median {_dec(low.after_median)}) over the "
            f"{low.after_points} later log{'s' if low.after_points > 1 else ''}, ending at {_dec(low.final)} at step {low.final_step}"
        )
    else:
        text += ", the last logged step: still falling when this state was saved"
    level = "warning" if low.value >= low.first else "info"
    if level == "warning":
        text += " — the loss never went below its first value"
    return Finding("loss", level, text)


def _lr_finding(lr: LRSchedule) -> Finding:
    if lr.shape == "unknown":
        return Finding("lr_schedule", "info", "no learning rate in the log")
    span = f"from {_sci(lr.first)} at step {lr.first_step} to {_sci(lr.last)} at step {lr.last_step}"
    if lr.shape == "other":
        return Finding(
            "lr_schedule",
            "info",
            f"learning rate went {span}, peak {_sci(lr.peak_logged)} at step {lr.peak_logged_step}; "
            f"not a linear, cosine or constant Trainer schedule",
        )
    if lr.shape == "constant" and not lr.warmup_steps:
        return Finding("lr_schedule", "info", f"learning rate constant at {_sci(lr.peak)} over {lr.points} logs")
    warmup = f"linear warmup over {lr.warmup_steps} steps, then " if lr.warmup_steps else ""
    shape = {"linear": "linear decay", "cosine": "cosine decay", "constant": "constant"}[lr.shape]
    ends = f" (reaching 0 at step {lr.total_steps})" if lr.shape != "constant" and lr.total_steps else ""
    no_warmup = "" if lr.warmup_steps else ", no warmup"
    return Finding(
        "lr_schedule",
        "info",
        f"learning rate: {warmup}{shape} {span}{ends}; peak {_sci(lr.peak)} inferred{no_warmup}",
    )


def _grad_finding(g: GradNorms) -> Finding:
    if not g.points:
        return Finding(
            "grad_norm",
            "info",
            "no grad_norm in the log (older transformers versions did not log it), so spikes cannot be checked",
        )
    spread = f"grad norms ranged {_dec(g.low, 2)}–{_dec(g.high, 2)} (median {_dec(g.median, 2)})"
    if g.threshold is None:
        return Finding("grad_norm", "info", f"{spread}; too few values ({g.points}) to look for spikes")
    rule = f"median + {g.k:g}×MAD = {_dec(g.threshold, 2)}"
    if not g.spikes:
        return Finding("grad_norm", "info", f"{spread}; no spikes above {rule}")
    shown = ", ".join(f"{_dec(s.value, 2)} at step {s.step} ({s.times_median:.1f}× median)" for s in g.spikes[:5])
    more = f" and {len(g.spikes) - 5} more" if len(g.spikes) > 5 else ""
    count = f"{len(g.spikes)} spike{'s' if len(g.spikes) > 1 else ''}"
    return Finding("grad_norm", "warning", f"{spread}; {count} above {rule}: {shown}{more}")


def _nan_finding(state: RunState, found: list[NonFinite]) -> Finding:
    if found:
        first = found[0]
        where = ", ".join(f"{n.key}={n.value} at step {n.step}" for n in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return Finding(
            "non_finite",
            "error",
            f"{len(found)} non-finite value{'s' if len(found) > 1 else ''} in the log: {where}{more} — "
            f"the run diverged at step {first.step}; lower the learning rate, or train in bf16/fp32 rather than fp16",
        )
    if state.settings.get("logging_nan_inf_filter") is False or state.written_by_bertcli:
        return Finding("non_finite", "info", "no NaN or inf in the log (losses were logged unfiltered, so none occurred)")
    return Finding(
        "nan_filter",
        "warning",
        "no NaN or inf in the log, but the history cannot show them: Trainer's default logging_nan_inf_filter=True "
        "replaces a non-finite loss with the window's average — train with logging_nan_inf_filter=False to see them",
    )


def _eval_finding(state: RunState, evals: EvalSummary) -> Finding:
    if not evals.count:
        return Finding(
            "no_eval",
            "warning",
            "no evaluation in the log: evaluation was off (eval_strategy 'no'), so there is no eval loss or "
            "accuracy and no best checkpoint — train with evaluation on (bertcli train evaluates every epoch)",
        )
    parts = []
    for name in evals.metrics:
        if name in evals.best:
            b = evals.best[name]
            parts.append(f"{name} {'lowest' if lower_is_better(name) else 'best'} {_dec(b['value'])} at step {int(b['step'])}")
    steps = ", ".join(str(s) for s in evals.steps[:8]) + (" ..." if len(evals.steps) > 8 else "")
    return Finding(
        "eval",
        "info",
        f"{evals.count} evaluation{'s' if evals.count > 1 else ''} (steps {steps})" + (": " + "; ".join(parts) if parts else ""),
    )


def best_eval(run: RunAnalysis) -> tuple[str, float, int] | None:
    """The headline eval metric of a run: accuracy, else F1, else eval loss, else the first one logged."""
    best = run.evals.best
    for name in ("accuracy", "f1", "loss", *run.evals.metrics):
        if name in best:
            return name, best[name]["value"], int(best[name]["step"])
    return None


def compare_runs(runs: Sequence[RunAnalysis]) -> RunComparison:
    """Side by side: progress, losses, best eval, spikes, time, and the hyperparameters that differ."""
    rows = []
    for run in runs:
        low = run.lowest_loss
        headline = best_eval(run)
        rows.append(
            {
                "run": run.label,
                "checkpoint": run.checkpoint,
                "global_step": run.summary["global_step"],
                "epoch": run.summary["epoch"],
                "lowest_loss": low.value if low else None,
                "lowest_loss_step": low.step if low else None,
                "final_loss": low.final if low else None,
                "final_loss_step": low.final_step if low else None,
                "best_eval": dict(zip(("metric", "value", "step"), headline)) if headline else None,
                "spikes": len(run.grad_norms.spikes),
                "non_finite": len(run.non_finite),
                "train_runtime": run.summary["train_runtime"],
            }
        )
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.settings if key not in keys]
    differing = {}
    for key in keys:
        values = [run.settings.get(key) for run in runs]
        if len({repr(v) for v in values}) > 1:
            differing[key] = values
    return RunComparison([run.label for run in runs], rows, differing)


def analysis_to_dict(run: RunAnalysis) -> dict[str, Any]:
    """The analysis as JSON-safe data (non-finite numbers become null; `non_finite` lists them)."""
    return _json_safe(asdict(run))


def comparison_to_dict(runs: Sequence[RunAnalysis], comparison: RunComparison) -> dict[str, Any]:
    return {"runs": [analysis_to_dict(run) for run in runs], "comparison": _json_safe(asdict(comparison))}


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


def _epoch_part(epoch: float | None, total: float | None) -> str:
    if epoch is None:
        return ""
    return f" (epoch {epoch:.2f} of {total:g})" if total else f" (epoch {epoch:.2f})"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _sig(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def _dec(value: float | None, digits: int = 4) -> str:
    """Numbers inside finding sentences: fixed decimals, or 3 significant digits when tiny."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 10 ** -(digits - 1):
        return _sci(value)
    return f"{value:.{digits}f}"


def _sci(value: float | None) -> str:
    """1.952e-05 -> '1.95e-5', as people write learning rates."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
