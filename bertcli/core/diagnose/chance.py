"""Is an accuracy more than a classifier that learned nothing would score? The chance rate of a labelled set,
and an accuracy checked against it by margin and by a one-sided binomial test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

# A classifier is "near chance" when its accuracy is at most this far above the chance rate, or when a
# one-sided binomial test cannot tell it from always answering the majority class at this level.
CHANCE_MARGIN = 0.05
CHANCE_P_VALUE = 0.05


@dataclass
class ChanceRate:
    """What a classifier that learned nothing scores: always answering the majority class.

    `source` says where the rate comes from: "counts" (the labels themselves), "derived" (worked out
    from a binary evaluation's accuracy, precision and recall) or "uniform" (1/k: class counts unknown).
    """

    rate: float
    uniform: float  # 1/k
    num_labels: int
    source: str
    label: str | None = None  # the majority class, when known
    count: int | None = None  # its examples
    examples: int | None = None

    def describe(self) -> str:
        """`always 'positive': 253 of 500 = 0.5060` / `1/2 = 0.5000 (class counts not recorded)`."""
        uniform = f"1/{self.num_labels} = {self.uniform:.4f}"
        if self.source == "uniform":
            return f"{uniform} (class counts not recorded)"
        who = f"'{self.label}'" if self.label is not None else "the majority class"
        share = f"{self.count:,} of {self.examples:,} = {self.rate:.4f}" if self.count is not None and self.examples else f"{self.rate:.4f}"
        derived = ", worked out from the logged accuracy, precision and recall" if self.source == "derived" else ""
        return f"always {who}: {share}{derived}; {uniform}"


@dataclass
class ChanceCheck:
    """An accuracy against the chance rate: how far above it, and whether that is more than luck."""

    accuracy: float
    chance: ChanceRate
    examples: int | None
    margin: float  # accuracy - chance rate
    p_value: float | None  # one-sided binomial P(at least this many correct | chance rate); None without a count
    near_chance: bool

    def reason(self) -> str:
        """How the accuracy stands against the chance rate, in words."""
        rate = f"the chance rate {self.chance.rate:.3f}"
        test = (
            f" (one-sided binomial p = {self.p_value:.2g} on {self.examples:,} examples)" if self.p_value is not None else ""
        )
        if self.margin < -CHANCE_MARGIN:
            return f"{-self.margin:.3f} below {rate}"
        if self.margin <= CHANCE_MARGIN:
            return f"within {CHANCE_MARGIN:g} of {rate}"
        if self.near_chance:
            return f"not significantly above {rate}{test}"
        return f"{self.margin:.3f} above {rate}{test}"


def chance_from_counts(counts: Sequence[int], label_names: Sequence[str] | None = None) -> ChanceRate:
    """The chance rate of labels with these per-class counts."""
    total = sum(counts)
    k = max(2, len(counts))
    top = max(range(len(counts)), key=lambda i: counts[i]) if counts else None
    if not total or top is None:
        return ChanceRate(1 / k, 1 / k, k, "uniform")
    label = str(label_names[top]) if label_names is not None and top < len(label_names) else str(top)
    return ChanceRate(counts[top] / total, 1 / k, k, "counts", label, counts[top], total)


def positive_share_from_metrics(accuracy: Any, precision: Any, recall: Any) -> float | None:
    """The share of label-1 examples in a binary evaluation, from its accuracy and label 1's precision and recall.

    With P positives of N, TP = recall·P and TP + FP = TP/precision, so
    accuracy = 1 - (P/N)·(1 + recall/precision - 2·recall). None where that cannot be solved
    (no true positive, or values out of range).
    """
    values = (accuracy, precision, recall)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None
    if not (0 < precision <= 1 and 0 < recall <= 1 and 0 <= accuracy <= 1):
        return None
    denominator = 1 + recall / precision - 2 * recall
    if denominator <= 1e-9:
        return None
    share = (1 - accuracy) / denominator
    return share if 0 < share < 1 else None


def binomial_tail(successes: int, trials: int, rate: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, rate), summed exactly in log space.

    Not scipy.stats.binom.sf: it differs in the last digits, which the JSON reports print, and importing
    scipy.stats would more than double the time `debug run` takes.
    """
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if rate <= 0:
        return 0.0
    if rate >= 1:
        return 1.0
    log_p, log_q = math.log(rate), math.log1p(-rate)
    terms = [
        math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p + (trials - k) * log_q
        for k in range(successes, trials + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def check_chance(accuracy: float, chance: ChanceRate, examples: int | None) -> ChanceCheck:
    """Is `accuracy` (on `examples` examples, when known) near the chance rate?"""
    margin = accuracy - chance.rate
    p_value = None
    if examples and examples > 0:
        p_value = binomial_tail(round(accuracy * examples), examples, chance.rate)
    near = margin <= CHANCE_MARGIN or (p_value is not None and p_value >= CHANCE_P_VALUE)
    return ChanceCheck(accuracy, chance, examples, margin, p_value, near)
