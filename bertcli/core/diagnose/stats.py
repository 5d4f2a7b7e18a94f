"""Order statistics the diagnoses read: a nearest-rank percentile and Spearman's rank correlation."""

from __future__ import annotations

import math
import statistics
from typing import Sequence


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The value below which `share` of the values lie; nearest-rank, no interpolation (numpy's inverted_cdf)."""
    if not len(sorted_values):
        raise ValueError("percentile of no values")
    import numpy as np

    return np.quantile(np.asarray(sorted_values), share, method="inverted_cdf").item()


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None with fewer than 3 pairs or no spread.

    Not scipy.stats.spearmanr: it differs in the last digit, which `debug run --json` prints, and importing
    scipy.stats would more than double the time `debug run` takes, for a few dozen points.
    """
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        for i in range(start, end + 1):
            ranks[order[i]] = mean_rank
        start = end + 1
    return ranks
