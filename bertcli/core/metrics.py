"""Classification metrics computed offline with numpy, with scikit-learn's definitions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def confusion_matrix(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> np.ndarray:
    """Rows are true labels, columns predicted labels."""
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)), 1)
    return matrix


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, actual)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(int)}


def classification_scores(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> dict[str, float]:
    """accuracy plus precision/recall/F1: of the positive class (id 1) for two labels, macro otherwise."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return {"accuracy": float("nan"), "precision": float("nan"), "recall": float("nan"), "f1": float("nan")}
    matrix = confusion_matrix(labels, preds, n_labels)
    scores = per_class_scores(matrix)
    accuracy = float(np.trace(matrix) / matrix.sum())
    if n_labels == 2:
        pick = {k: float(v[1]) for k, v in scores.items() if k != "support"}
    else:
        pick = {k: float(np.mean(v)) for k, v in scores.items() if k != "support"}
    return {"accuracy": accuracy, **pick}


def compute_eval_metrics(eval_pred) -> dict[str, float]:
    """Trainer's compute_metrics: logits and labels in, accuracy/precision/recall/F1 out."""
    logits, labels = eval_pred[0], eval_pred[1]
    if isinstance(logits, tuple):
        logits = logits[0]
    logits = np.asarray(logits)
    preds = logits.argmax(axis=-1)
    return classification_scores(labels, preds, logits.shape[-1])


def precision_recall_f1(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> dict[str, Any]:
    """Per-class and macro precision, recall and F1 (sklearn's average=None and average="macro", zero_division=0).

    Macro F1 is the mean of the per-class F1 scores, not the F1 of macro precision and recall.
    """
    scores = per_class_scores(confusion_matrix(labels, preds, n_labels))
    per_class = {k: [float(x) for x in v] if k != "support" else [int(x) for x in v] for k, v in scores.items()}
    macro = {k: float(np.mean(scores[k])) for k in ("precision", "recall", "f1")}
    return {"per_class": per_class, "macro": macro}


def _binary_roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve as the Mann–Whitney statistic, ties counted half (sklearn's value)."""
    n_pos = int(is_positive.sum())
    n_neg = is_positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _average_ranks(scores)
    return float((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], values.size] - 1
    mean_rank = (first + last) / 2 + 1
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = mean_rank[group]
    return ranks


def roc_auc(labels: Sequence[int], probs: np.ndarray) -> float | None:
    """ROC-AUC from class probabilities: of class 1 for two labels, one-vs-rest macro otherwise.

    Matches sklearn's roc_auc_score (multi_class="ovr", average="macro"); None when a class the
    average needs is missing from `labels` (sklearn raises there).
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    if labels.size == 0:
        return None
    if probs.shape[1] == 2:
        return _binary_roc_auc(labels == 1, probs[:, 1])
    aucs = [_binary_roc_auc(labels == k, probs[:, k]) for k in range(probs.shape[1])]
    if any(a is None for a in aucs):
        return None
    return float(np.mean(aucs))


def log_loss(labels: Sequence[int], probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class; probabilities clipped to [eps, 1 - eps] as sklearn does."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    if labels.size == 0:
        return float("nan")
    eps = np.finfo(probs.dtype).eps
    picked = np.clip(probs, eps, 1 - eps)[np.arange(labels.size), labels]
    return float(-np.mean(np.log(picked)))


@dataclass
class ReliabilityBin:
    """Predictions whose confidence falls in (lower, upper]: how sure the model was and how often right."""

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


def reliability_bins(labels: Sequence[int], probs: np.ndarray, n_bins: int = 10) -> list[ReliabilityBin]:
    """Top-label confidence in `n_bins` equal-width bins, edges assigned as sklearn's calibration_curve does."""
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    if labels.size == 0:
        return [ReliabilityBin(float(lo), float(hi), 0, None, None) for lo, hi in zip(edges[:-1], edges[1:])]
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    ids = np.searchsorted(edges[1:-1], confidence)
    counts = np.bincount(ids, minlength=n_bins)
    conf_sums = np.bincount(ids, weights=confidence, minlength=n_bins)
    right = np.bincount(ids, weights=correct, minlength=n_bins)
    bins = []
    for k in range(n_bins):
        n = int(counts[k])
        bins.append(
            ReliabilityBin(
                lower=float(edges[k]),
                upper=float(edges[k + 1]),
                count=n,
                accuracy=float(right[k] / n) if n else None,
                confidence=float(conf_sums[k] / n) if n else None,
            )
        )
    return bins


def expected_calibration_error(labels: Sequence[int], probs: np.ndarray, n_bins: int = 10) -> float:
    """Σ (bin share) × |accuracy − mean confidence| over equal-width top-label confidence bins."""
    bins = reliability_bins(labels, probs, n_bins)
    total = sum(b.count for b in bins)
    if total == 0:
        return float("nan")
    return float(sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins if b.count))
