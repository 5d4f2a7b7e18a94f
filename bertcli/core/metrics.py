"""Classification metrics from scikit-learn, over a fixed label set and with bertcli's edge cases: all zeros
for a class never predicted or never present, None for a ROC-AUC that one class alone leaves undefined, NaN
for no examples — where sklearn would warn, return NaN or raise.

numpy and scikit-learn are imported inside the functions: the CLI imports this module's callers at start-up.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np


def confusion_matrix(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> np.ndarray:
    """Rows are true labels, columns predicted labels (all zeros for no examples)."""
    import numpy as np
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        return np.zeros((n_labels, n_labels), dtype=np.int64)
    return sk_confusion_matrix(labels, np.asarray(preds, dtype=np.int64), labels=np.arange(n_labels))


def _per_class(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of each label id 0..n_labels-1; 0 where a class is never predicted
    or never present (sklearn's zero_division=0, so no warning and no NaN)."""
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        zeros = np.zeros(n_labels)
        return {"precision": zeros, "recall": zeros, "f1": zeros, "support": np.zeros(n_labels, dtype=np.int64)}
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, np.asarray(preds, dtype=np.int64), labels=np.arange(n_labels), average=None, zero_division=0
    )
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


# The F1 scores --best-metric can pick besides "f1" (the positive class's for two labels, macro for more).
EXTRA_F1 = ("f1_macro", "f1_weighted")


def training_scores_of(label_names: Sequence[str]) -> str:
    """Which class the training metrics' precision, recall and F1 are of (classification_scores): the second
    label's for two labels (evaluate shows the macro average beside it), the macro average otherwise."""
    if len(label_names) == 2:
        return f"class 1, {label_names[1]}; not macro"
    return "macro"


def classification_scores(
    labels: Sequence[int], preds: Sequence[int], n_labels: int, extra: Sequence[str] = ()
) -> dict[str, float]:
    """accuracy plus precision/recall/F1: of the positive class (id 1) for two labels, macro over the classes
    present otherwise; and `extra`'s F1 scores (f1_macro, f1_weighted) where asked."""
    import numpy as np

    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.size == 0:
        nan = float("nan")
        return {"accuracy": nan, "precision": nan, "recall": nan, "f1": nan, **{k: nan for k in extra}}
    from sklearn.metrics import accuracy_score

    scores = _per_class(labels, preds, n_labels)
    present = scores["support"] > 0
    names = ("precision", "recall", "f1")
    if n_labels == 2:
        pick = {k: float(scores[k][1]) for k in names}
    else:
        pick = {k: float(np.mean(scores[k][present])) for k in names}
    if "f1_macro" in extra:
        pick["f1_macro"] = float(np.mean(scores["f1"][present]))
    if "f1_weighted" in extra:
        pick["f1_weighted"] = float(np.average(scores["f1"], weights=scores["support"]))
    return {"accuracy": float(accuracy_score(labels, preds)), **pick}


def compute_eval_metrics(eval_pred, extra: Sequence[str] = ()) -> dict[str, float]:
    """Trainer's compute_metrics: logits and labels in, accuracy/precision/recall/F1 (and `extra`) out."""
    import numpy as np

    logits, labels = eval_pred[0], eval_pred[1]
    if isinstance(logits, tuple):
        logits = logits[0]
    logits = np.asarray(logits)
    preds = logits.argmax(axis=-1)
    return classification_scores(labels, preds, logits.shape[-1], extra)


def precision_recall_f1(labels: Sequence[int], preds: Sequence[int], n_labels: int) -> dict[str, Any]:
    """Per-class precision, recall and F1 (sklearn's average=None, zero_division=0); their macro average over
    the classes with an example in `labels` (a class absent from the sample has no recall to average), the
    ids of the absent ones, and the support-weighted F1.

    Macro F1 is the mean of the per-class F1 scores, not the F1 of macro precision and recall.
    """
    import numpy as np

    scores = _per_class(labels, preds, n_labels)
    per_class = {k: [float(x) for x in v] if k != "support" else [int(x) for x in v] for k, v in scores.items()}
    present = scores["support"] > 0
    if not present.any():
        present = np.ones(n_labels, dtype=bool)
    macro = {k: float(np.mean(scores[k][present])) for k in ("precision", "recall", "f1")}
    weighted = float(np.average(scores["f1"], weights=scores["support"])) if scores["support"].sum() else float("nan")
    absent = [int(i) for i in np.flatnonzero(scores["support"] == 0)]
    return {"per_class": per_class, "macro": macro, "absent": absent, "f1_weighted": weighted}


def _binary_roc_auc(is_positive: np.ndarray, scores: np.ndarray) -> float | None:
    """sklearn's ROC-AUC (ties counted half); None without both classes, where sklearn warns and gives NaN."""
    from sklearn.metrics import roc_auc_score

    if is_positive.all() or not is_positive.any():
        return None
    return float(roc_auc_score(is_positive, scores))


def roc_auc(labels: Sequence[int], probs: np.ndarray) -> float | None:
    """ROC-AUC from class probabilities: of class 1 for two labels, one-vs-rest macro otherwise.

    sklearn's roc_auc_score (multi_class="ovr", average="macro", taken class by class so that probabilities
    need not sum to exactly 1); None when a class the average needs is missing from `labels`.
    """
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    if labels.size == 0:
        return None
    classes = [1] if probs.shape[1] == 2 else range(probs.shape[1])
    aucs = [_binary_roc_auc(labels == k, probs[:, k]) for k in classes]
    if any(a is None for a in aucs):
        return None
    return float(np.mean(aucs))


def log_loss(labels: Sequence[int], probs: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class, probabilities clipped to [eps, 1 - eps]; NaN for none."""
    import numpy as np
    from sklearn.metrics import log_loss as sk_log_loss

    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    if labels.size == 0:
        return float("nan")
    with warnings.catch_warnings():
        # A float32 softmax misses a sum of 1 by more than sklearn's float64 tolerance; sklearn (1.5 on) warns
        # but leaves the probabilities as they are, so the value is the same.
        warnings.filterwarnings("ignore", message=r"The y_\w+ values do not sum to one", category=UserWarning)
        return float(sk_log_loss(labels, probs, labels=np.arange(probs.shape[1])))


@dataclass
class ReliabilityBin:
    """Predictions whose confidence falls in (lower, upper]: how sure the model was and how often right."""

    lower: float
    upper: float
    count: int
    accuracy: float | None
    confidence: float | None


def reliability_bins(labels: Sequence[int], probs: np.ndarray, n_bins: int = 10) -> list[ReliabilityBin]:
    """Top-label confidence in `n_bins` equal-width bins, edges assigned as sklearn's calibration_curve does.

    Counted here because calibration_curve leaves out empty bins and returns no counts, and the report shows
    every bin with its count.
    """
    import numpy as np

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
