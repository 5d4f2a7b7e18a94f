"""How a run's losses moved: train/eval gap per evaluation, overfitting, late fluctuation, the loss trend.

Measurements for `debug run`, over `RunState` and the inspect analysis; JSON only, no torch.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from bertcli.core.diagnose.stats import percentile, rank_correlation
from bertcli.core.runs.log import GradNorms
from bertcli.core.runs.numbers import is_finite
from bertcli.core.runs.state import EVAL_SPEED_KEYS, RunState

MIN_LOGS_FOR_TREND = 8
# Fluctuation: late rolling CV at least this high, and this many times the early one.
FLUCTUATION_CV = 0.15
FLUCTUATION_RATIO = 1.5
# Eval loss must rise this much (absolute, or relative to its minimum) to count as rising.
EVAL_RISE_ABS = 0.01
EVAL_RISE_REL = 0.05
CHANCE_BAND = 0.05
METRIC_PREFERENCE = ("accuracy", "f1")


@dataclass
class EpochGap:
    """One evaluation: the mean training loss since the previous one, the eval loss and their gap."""

    epoch: float | None
    step: int
    train_loss: float | None
    eval_loss: float | None
    gap: float | None  # eval loss - train loss
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Overfitting:
    evaluations: int
    lowest_eval_loss: float | None
    lowest_eval_loss_step: int | None
    lowest_eval_loss_epoch: float | None
    last_eval_loss: float | None
    eval_loss_rise: float | None  # last - lowest
    train_loss_fall: float | None  # train loss at the lowest eval loss - at the last eval
    headline_metric: str | None  # accuracy, else f1, else loss
    headline_value: float | None
    headline_step: int | None
    headline_epoch: float | None
    last_headline_value: float | None
    last_epoch: float | None
    overfitting: bool
    recommended_epochs: int | None  # None: keep the epoch count


@dataclass
class Fluctuation:
    """Rolling coefficient of variation (spread around each window's trend line / mean) of the training loss."""

    points: int
    window: int | None
    early_cv: float | None
    late_cv: float | None
    ratio: float | None
    late_min: float | None
    late_max: float | None
    late_from_step: int | None
    fluctuating: bool
    spike_steps: list[int]
    aligned_spike_steps: list[int]  # spikes whose log or the next one has a loss jump in the top quarter
    jump_threshold: float | None
    spike_correlation: float | None  # rank correlation of grad norm with |change in loss|
    correlation_points: int
    correlation_from_step: int | None = None


@dataclass
class LossTrend:
    points: int
    head_median: float | None  # first quarter of the logs
    tail_median: float | None  # last quarter
    lowest: float | None
    num_labels: int
    labels_known: bool
    chance_loss: float  # ln(num_labels): a classifier that learned nothing
    verdict: str  # decreasing / flat / rising / learned_then_diverged / stuck_at_chance / too_few


def epoch_gaps(state: RunState) -> list[EpochGap]:
    """One row per evaluation with an eval loss (normally one per epoch), with the train/eval gap."""
    from bertcli.core.training import epoch_rows

    gaps = []
    for row in epoch_rows(state.log_history):
        train_loss = row.get("train_loss")
        eval_loss = row.get("loss")
        train_loss = train_loss if is_finite(train_loss) else None
        eval_loss = eval_loss if is_finite(eval_loss) else None
        metrics = {
            key: value
            for key, value in row.items()
            if key not in ("epoch", "step", "train_loss", "loss") and key not in EVAL_SPEED_KEYS and is_finite(value)
        }
        gap = eval_loss - train_loss if eval_loss is not None and train_loss is not None else None
        gaps.append(EpochGap(row.get("epoch"), int(row.get("step") or 0), train_loss, eval_loss, gap, metrics))
    return gaps


def find_overfitting(epochs: Sequence[EpochGap]) -> Overfitting:
    """Eval loss rising after its minimum while the training loss keeps falling; the epoch to stop at."""
    scored = [e for e in epochs if e.eval_loss is not None]
    result = Overfitting(len(epochs), None, None, None, None, None, None, None, None, None, None, None, None, False, None)
    if not scored:
        return result
    lowest = min(scored, key=lambda e: (e.eval_loss, e.step))
    last = scored[-1]
    result.lowest_eval_loss, result.lowest_eval_loss_step = lowest.eval_loss, lowest.step
    result.lowest_eval_loss_epoch, result.last_eval_loss = lowest.epoch, last.eval_loss
    result.eval_loss_rise = last.eval_loss - lowest.eval_loss
    if lowest.train_loss is not None and last.train_loss is not None:
        result.train_loss_fall = lowest.train_loss - last.train_loss
    name = next((m for m in METRIC_PREFERENCE if any(m in e.metrics for e in scored)), None)
    if name is None:
        best = lowest
        result.headline_metric, result.headline_value = "loss", lowest.eval_loss
    else:
        with_metric = [e for e in scored if name in e.metrics]
        best = min(with_metric, key=lambda e: (-e.metrics[name], e.step))
        result.headline_metric, result.headline_value = name, best.metrics[name]
    result.headline_step, result.headline_epoch = best.step, best.epoch
    result.last_epoch = last.epoch
    result.last_headline_value = last.eval_loss if name is None else last.metrics.get(name)
    rising = last is not lowest and result.eval_loss_rise > max(EVAL_RISE_ABS, EVAL_RISE_REL * lowest.eval_loss)
    result.overfitting = bool(rising and result.train_loss_fall is not None and result.train_loss_fall > 0)
    if result.overfitting and best is not last and best.epoch is not None:
        result.recommended_epochs = max(1, math.ceil(best.epoch - 1e-6))
    return result


def measure_fluctuation(state: RunState, grads: GradNorms) -> Fluctuation:
    """Late vs early rolling CV of the loss, and how grad-norm spikes line up with the jumps in it.

    The correlation of grad norm with the size of the loss change is taken over the late stretch
    when the run is long enough to have one, else over the whole run.
    """
    logs = [log for log in state.train_logs if is_finite(log.loss)]
    n = len(logs)
    spike_steps = [s.step for s in grads.spikes]
    result = Fluctuation(n, None, None, None, None, None, None, None, False, spike_steps, [], None, None, 0)
    if n >= MIN_LOGS_FOR_TREND + 1:
        window = max(4, min(10, n // 6))
        cvs = [(end, _detrended_cv([log.loss for log in logs[end - window + 1 : end + 1]])) for end in range(window - 1, n)]
        third = max(1, n // 3)
        early = [cv for end, cv in cvs if end < max(window, third) and cv is not None]
        late = [cv for end, cv in cvs if end >= n - third and cv is not None]
        if early and late:
            late_logs = logs[max(0, n - third - window + 1) :]
            result.window = window
            result.early_cv, result.late_cv = statistics.median(early), statistics.median(late)
            result.ratio = result.late_cv / result.early_cv if result.early_cv > 0 else math.inf
            result.late_min = min(log.loss for log in late_logs)
            result.late_max = max(log.loss for log in late_logs)
            result.late_from_step = late_logs[0].step
            result.fluctuating = result.late_cv >= FLUCTUATION_CV and result.ratio >= FLUCTUATION_RATIO
    if n < 2:
        return result
    jumps = {b.step: b.loss - a.loss for a, b in zip(logs, logs[1:])}
    result.jump_threshold = percentile(sorted(abs(v) for v in jumps.values()), 0.75)
    next_step = {a.step: b.step for a, b in zip(logs, logs[1:])}
    for step in spike_steps:
        near = [jumps.get(step), jumps.get(next_step.get(step, -1))]
        if any(j is not None and abs(j) >= result.jump_threshold and abs(j) > 0 for j in near):
            result.aligned_spike_steps.append(step)
    pairs = [(log.step, log.grad_norm, abs(jumps[log.step])) for log in logs if log.step in jumps and is_finite(log.grad_norm)]
    late_pairs = [p for p in pairs if result.late_from_step is not None and p[0] >= result.late_from_step]
    chosen = late_pairs if len(late_pairs) >= 5 else pairs
    result.correlation_points = len(chosen)
    result.correlation_from_step = chosen[0][0] if chosen else None
    if len(chosen) >= 5:
        result.spike_correlation = rank_correlation([p[1] for p in chosen], [p[2] for p in chosen])
    return result


def _detrended_cv(values: Sequence[float]) -> float | None:
    """Standard deviation around the least-squares line through the window, over the window's mean."""
    n = len(values)
    mean = statistics.fmean(values)
    if mean <= 0 or n < 3:
        return None
    xs = range(n)
    mx = (n - 1) / 2
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (v - mean) for x, v in zip(xs, values)) / sxx
    residuals = [v - (mean + slope * (x - mx)) for x, v in zip(xs, values)]
    return math.sqrt(sum(r * r for r in residuals) / (n - 2)) / mean


def describe_loss_trend(state: RunState) -> LossTrend:
    """Did the training loss fall, stay flat, sit at chance (ln k), rise, or fall and then diverge?"""
    values = [log.loss for log in state.train_logs if is_finite(log.loss)]
    num_labels, known = labels_of(state)
    chance = math.log(num_labels)
    trend = LossTrend(len(values), None, None, min(values) if values else None, num_labels, known, chance, "too_few")
    if len(values) < MIN_LOGS_FOR_TREND:
        return trend
    quarter = max(2, len(values) // 4)
    head, tail = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
    trend.head_median, trend.tail_median = head, tail
    low_share = percentile(sorted(values), 0.1)
    if abs(tail - chance) <= CHANCE_BAND and low_share >= chance - 2 * CHANCE_BAND:
        trend.verdict = "stuck_at_chance"
    elif trend.lowest < 0.5 * head and tail > 0.8 * head and tail > 3 * trend.lowest:
        trend.verdict = "learned_then_diverged"
    elif tail > head * 1.2:
        trend.verdict = "rising"
    elif tail >= head * 0.95:
        trend.verdict = "flat"
    else:
        trend.verdict = "decreasing"
    return trend


def labels_of(state: RunState) -> tuple[int, bool]:
    """The number of labels from the config.json beside the state; 2 (binary) when it is not there."""
    return labels_in(state.settings)


def labels_in(settings: Mapping[str, Any]) -> tuple[int, bool]:
    """The number of labels a run's settings name (config.json's id2label), and whether they name them."""
    labels = settings.get("labels")
    if isinstance(labels, str) and labels:
        return max(2, len(labels.split(","))), True
    return 2, False
