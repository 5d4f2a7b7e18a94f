"""Offline metrics agree with scikit-learn's definitions."""

import numpy as np
import pytest

from bertcli.core.metrics import classification_scores, compute_eval_metrics, confusion_matrix

sk = pytest.importorskip("sklearn.metrics")


@pytest.mark.parametrize("n_labels, seed", [(2, 0), (2, 1), (3, 2), (5, 3)])
def test_scores_match_sklearn(n_labels, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, 200)
    preds = np.where(rng.random(200) < 0.7, labels, rng.integers(0, n_labels, 200))
    ours = classification_scores(labels, preds, n_labels)
    average = "binary" if n_labels == 2 else "macro"
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(labels, preds))
    assert ours["precision"] == pytest.approx(sk.precision_score(labels, preds, average=average, zero_division=0))
    assert ours["recall"] == pytest.approx(sk.recall_score(labels, preds, average=average, zero_division=0))
    assert ours["f1"] == pytest.approx(sk.f1_score(labels, preds, average=average, zero_division=0))
    assert (confusion_matrix(labels, preds, n_labels) == sk.confusion_matrix(labels, preds, labels=range(n_labels))).all()


def test_no_positive_predictions_gives_zero_not_nan():
    scores = classification_scores([0, 1, 1], [0, 0, 0], 2)
    assert scores["precision"] == 0.0 and scores["f1"] == 0.0 and scores["accuracy"] == pytest.approx(1 / 3)


def test_compute_eval_metrics_from_logits():
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [1.0, 0.0], [-2.0, 2.0]])
    labels = np.array([0, 1, 1, 1])
    out = compute_eval_metrics((logits, labels))
    assert out["accuracy"] == 0.75 and out["recall"] == pytest.approx(2 / 3) and out["precision"] == 1.0
