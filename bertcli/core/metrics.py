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


# --- multi-label: a 0/1 matrix of examples x labels, each label decided by its own threshold ---------------------

DEFAULT_THRESHOLD = 0.5


def sigmoid(logits: Any) -> np.ndarray:
    """Each label's probability from its logit (multi-label heads score labels independently)."""
    import numpy as np

    return 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))


def apply_thresholds(probs: Any, thresholds: Sequence[float]) -> np.ndarray:
    """0/1 decisions: a label is on where its probability reaches its threshold."""
    import numpy as np

    return (np.asarray(probs, dtype=float) >= np.asarray(thresholds, dtype=float)[None, :]).astype(np.int64)


def best_f1_threshold(is_positive: Any, probs: Any) -> float:
    """The threshold that maximises one label's F1 on these examples: halfway between the lowest probability
    kept and the next one below (ties cut together); DEFAULT_THRESHOLD for a label with no positive example."""
    import numpy as np

    y = np.asarray(is_positive, dtype=bool)
    p = np.asarray(probs, dtype=float)
    positives = int(y.sum())
    if positives == 0 or p.size == 0:
        return DEFAULT_THRESHOLD
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)
    predicted = np.arange(1, p.size + 1)
    f1 = 2 * tp / (positives + predicted)
    cut_ok = np.append(p_sorted[1:] < p_sorted[:-1], True)  # a cut never splits equal probabilities
    f1 = np.where(cut_ok, f1, -1.0)
    best = int(np.argmax(f1))
    below = p_sorted[best + 1] if best + 1 < p.size else 0.0
    return float((p_sorted[best] + below) / 2)


def tune_thresholds(y_true: Any, probs: Any) -> list[float]:
    """One threshold per label, each maximising that label's F1 on (y_true, probs)."""
    import numpy as np

    y, p = np.asarray(y_true), np.asarray(probs, dtype=float)
    return [best_f1_threshold(y[:, k] >= 0.5, p[:, k]) for k in range(p.shape[1])]


def multilabel_scores(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Multi-label scores of 0/1 matrices (examples x labels): micro and macro P/R/F1 (sklearn, zero_division=0),
    per-label P/R/F1 and support, subset accuracy (every label right), Hamming loss (labels wrong), and the
    mean number of labels per example, true and predicted."""
    import numpy as np
    from sklearn.metrics import precision_recall_fscore_support

    y = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    if y.shape[0] == 0:
        nan = float("nan")
        return {"micro": {"precision": nan, "recall": nan, "f1": nan}, "macro": {"precision": nan, "recall": nan, "f1": nan},
                "per_label": {"precision": [], "recall": [], "f1": [], "support": []}, "subset_accuracy": nan,
                "hamming_loss": nan, "cardinality_true": nan, "cardinality_pred": nan}
    out: dict[str, Any] = {}
    for average in ("micro", "macro"):
        precision, recall, f1, _ = precision_recall_fscore_support(y, pred, average=average, zero_division=0)
        out[average] = {"precision": float(precision), "recall": float(recall), "f1": float(f1)}
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, average=None, zero_division=0)
    out["per_label"] = {"precision": [float(x) for x in precision], "recall": [float(x) for x in recall],
                        "f1": [float(x) for x in f1], "support": [int(x) for x in support]}
    out["subset_accuracy"] = float((y == pred).all(axis=1).mean())
    out["hamming_loss"] = float((y != pred).mean())
    out["cardinality_true"] = float(y.sum(axis=1).mean())
    out["cardinality_pred"] = float(pred.sum(axis=1).mean())
    return out


def majority_per_label(y_true: Any) -> np.ndarray:
    """The chance baseline of multi-label data: every example gets each label's majority value (on where more
    than half the examples carry it) — usually no label at all."""
    import numpy as np

    y = np.asarray(y_true, dtype=np.int64)
    on = (y.mean(axis=0) > 0.5).astype(np.int64) if y.shape[0] else np.zeros(y.shape[1], dtype=np.int64)
    return np.tile(on, (y.shape[0], 1))


def multilabel_eval_metrics(labels: Any, logits: Any) -> tuple[dict[str, float], list[float]]:
    """What a multi-label evaluation logs, and the per-label thresholds behind it: the thresholds are tuned on
    these examples (as final/ keeps them), so `f1` is the macro F1 the tuned model scores; `f1_at_0.5` is
    the same with every threshold at 0.5. `accuracy` is subset accuracy."""
    import numpy as np

    y = np.asarray(labels) >= 0.5
    probs = sigmoid(logits)
    thresholds = tune_thresholds(y, probs)
    tuned = multilabel_scores(y, apply_thresholds(probs, thresholds))
    half = multilabel_scores(y, apply_thresholds(probs, [DEFAULT_THRESHOLD] * probs.shape[1]))
    metrics = {
        "accuracy": tuned["subset_accuracy"],
        "f1": tuned["macro"]["f1"],
        "precision": tuned["macro"]["precision"],
        "recall": tuned["macro"]["recall"],
        "micro_f1": tuned["micro"]["f1"],
        "hamming_loss": tuned["hamming_loss"],
        "f1_at_0.5": half["macro"]["f1"],
    }
    return metrics, thresholds


class MultiLabelMetrics:
    """Trainer's compute_metrics for a multi-label run; remembers the thresholds of each evaluation by the
    step it ran at (`trainer` is set once the Trainer exists), so the final model's need no second pass."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.thresholds_at: dict[int, list[float]] = {}

    def __call__(self, eval_pred) -> dict[str, float]:
        logits, labels = eval_pred[0], eval_pred[1]
        if isinstance(logits, tuple):
            logits = logits[0]
        metrics, thresholds = multilabel_eval_metrics(labels, logits)
        if self.trainer is not None:
            self.thresholds_at[int(self.trainer.state.global_step)] = thresholds
        return metrics
