"""Classification metrics computed offline with numpy, with scikit-learn's definitions."""

from __future__ import annotations

from typing import Sequence

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
