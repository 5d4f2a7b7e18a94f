"""Which differences are real: bootstrap confidence intervals over reviews, and exact McNemar between models.

On 500 eval reviews one review is 0.2 points of accuracy, and fine-tuning varies with the seed: a score
without its interval, or a gap without a paired test, invites reading noise as progress.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

BOOTSTRAP_SAMPLES = 1000
CONFIDENCE = 0.95
# Below this many examples a bootstrap interval says more about the resampling than the model: none is given.
MIN_EXAMPLES_FOR_INTERVAL = 30
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test of one model against a reference, on the examples where they disagree."""

    only_reference_right: int
    only_model_right: int
    p_value: float
    verdict: str  # better / worse / within noise

    def describe(self) -> str:
        return f"{self.verdict} (p = {p_text(self.p_value)})"


def p_text(p: float) -> str:
    """A p-value as a sentence shows it: < 0.001, 0.008, 0.50."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def _resample_indices(n: int, samples: int, seed: int):
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _percentile_interval(values, confidence: float) -> Interval | None:
    import numpy as np

    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high))


def _macro_f1(y_true, y_pred, idx, n_labels: int):
    import numpy as np

    scores = []
    for c in np.unique(y_true):  # the classes of the sample: macro F1 averages those present (metrics.precision_recall_f1)
        hit = ((y_true == c) & (y_pred == c))[idx].sum(axis=1)
        predicted = (y_pred == c)[idx].sum(axis=1)
        actual = (y_true == c)[idx].sum(axis=1)
        denom = predicted + actual
        # a class absent from both truth and predictions of a resample scores 0, as scikit-learn's zero_division=0
        scores.append(np.where(denom > 0, 2 * hit / np.maximum(denom, 1), 0.0))
    return np.mean(scores, axis=0)


def _binary_auc(y_true, score, idx):
    """ROC-AUC of each resample, NaN where a resample holds one class.

    A resample is the original examples with multiplicities, so each AUC is the weighted rank-sum
    (Mann-Whitney) statistic over the original examples grouped by tied scores: no per-resample sort.
    """
    import numpy as np

    samples, n = idx.shape
    counts = np.zeros((samples, n))
    np.add.at(counts, (np.arange(samples)[:, None], idx), 1.0)
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    pos = np.add.reduceat((counts * y_true)[:, order], starts, axis=1)
    neg = np.add.reduceat((counts * (1 - y_true))[:, order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg  # negatives scored strictly lower than each group
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap_intervals(
    labels: Sequence[int],
    predictions: Sequence[int],
    probabilities: Sequence[Sequence[float]] | None,
    n_labels: int,
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, Interval | None]:
    """Percentile-bootstrap intervals for accuracy, macro F1 and (two labels) ROC-AUC, resampling examples."""
    import numpy as np

    y_true = np.asarray(labels)
    y_pred = np.asarray(predictions)
    if y_true.size < MIN_EXAMPLES_FOR_INTERVAL:  # resampling a handful gives intervals like 1.0–1.0: none at all
        return {"accuracy": None, "f1": None, "roc_auc": None}
    idx = _resample_indices(y_true.size, samples, seed)
    out: dict[str, Interval | None] = {
        "accuracy": _percentile_interval((y_true == y_pred)[idx].mean(axis=1), confidence),
        "f1": _percentile_interval(_macro_f1(y_true, y_pred, idx, n_labels), confidence),
        "roc_auc": None,
    }
    if probabilities is not None and n_labels == 2:
        score = np.asarray(probabilities, dtype=float)[:, 1]
        out["roc_auc"] = _percentile_interval(_binary_auc((y_true == 1).astype(float), score, idx), confidence)
    return out


def exact_mcnemar(reference_right: Sequence[bool], model_right: Sequence[bool], alpha: float = SIGNIFICANCE) -> PairedTest:
    """Two-sided exact McNemar test: under 'no difference' each disagreement goes either way with p = 1/2."""
    if len(reference_right) != len(model_right):
        raise ValueError("the two models must be scored on the same examples")
    b = sum(1 for r, m in zip(reference_right, model_right) if r and not m)
    c = sum(1 for r, m in zip(reference_right, model_right) if m and not r)
    n = b + c
    if n == 0:
        p = 1.0
    else:
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
        p = min(1.0, 2 * tail / 2**n)
    verdict = "within noise" if p >= alpha else ("better" if c > b else "worse")
    return PairedTest(b, c, p, verdict)


def multilabel_bootstrap_intervals(
    y_true, y_pred, *, samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE, seed: int = 0
) -> dict[str, Interval | None]:
    """Percentile-bootstrap intervals for macro F1, micro F1 and subset accuracy of 0/1 label matrices
    (examples x labels), resampling examples as `bootstrap_intervals` does."""
    import numpy as np

    y, p = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    if y.shape[0] == 0:
        return {"macro_f1": None, "micro_f1": None, "subset_accuracy": None}
    idx = _resample_indices(y.shape[0], samples, seed)
    tp = np.stack([(y & p)[:, k].astype(np.int64)[idx].sum(axis=1) for k in range(y.shape[1])], axis=1)
    predicted = np.stack([p[:, k].astype(np.int64)[idx].sum(axis=1) for k in range(y.shape[1])], axis=1)
    actual = np.stack([y[:, k].astype(np.int64)[idx].sum(axis=1) for k in range(y.shape[1])], axis=1)
    denom = predicted + actual  # zero where a label is absent from truth and predictions: F1 0 (zero_division=0)
    per_label = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    micro_denom = denom.sum(axis=1)
    micro = np.where(micro_denom > 0, 2 * tp.sum(axis=1) / np.maximum(micro_denom, 1), 0.0)
    exact = (y == p).all(axis=1)[idx].mean(axis=1)
    return {
        "macro_f1": _percentile_interval(per_label.mean(axis=1), confidence),
        "micro_f1": _percentile_interval(micro, confidence),
        "subset_accuracy": _percentile_interval(exact, confidence),
    }
