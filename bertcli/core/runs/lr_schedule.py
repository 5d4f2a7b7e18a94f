"""The learning-rate schedule a run followed, recovered from the rates it logged.

Tries linear, cosine and constant schedules with linear warmup (as transformers defines them), the LR
logged before or after the step, and the total step count from the state; the peak (the configured
learning rate) comes out of a least-squares fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from bertcli.core.runs.numbers import is_finite

LR_FIT_TOLERANCE = 0.005  # largest error of a recognised schedule, as a share of its peak
MAX_WARMUP_CANDIDATES = 120
MAX_FIT_POINTS = 400


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


def describe_lr_schedule(
    points: Iterable[tuple[int, float | None]], max_steps: int | None, global_step: int | None = None
) -> LRSchedule:
    """First/last/peak logged learning rate, and the Trainer schedule that reproduces the values."""
    pts = [(step, lr) for step, lr in points if is_finite(lr)]
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
