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


# --- the edge cases where scikit-learn warns, returns NaN or raises: bertcli's values, and no warning -----------


@pytest.fixture
def no_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_a_class_never_predicted_and_one_absent_from_gold(no_warnings):
    from bertcli.core.metrics import precision_recall_f1

    out = precision_recall_f1([0, 0, 1, 1], [0, 2, 1, 1], 3)  # 2 predicted but absent from gold
    assert out["per_class"]["precision"] == [1.0, 1.0, 0.0] and out["per_class"]["recall"] == [0.5, 1.0, 0.0]
    assert out["per_class"]["support"] == [2, 2, 0]
    # macro over the classes with an example: class 2 has none, and is named as left out
    assert out["macro"]["f1"] == pytest.approx((2 / 3 + 1.0) / 2) and out["absent"] == [2]


def test_one_class_only_and_no_examples(no_warnings):
    from bertcli.core.metrics import classification_scores, confusion_matrix, log_loss, precision_recall_f1, roc_auc

    assert classification_scores([1, 1, 1], [1, 1, 1], 2) == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert roc_auc([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]])) is None  # sklearn: a warning and NaN
    assert roc_auc([0, 1, 1], np.array([[0.2, 0.3, 0.5]] * 3)) is None  # class 2 missing: sklearn raises
    assert log_loss([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]])) == pytest.approx(-np.mean(np.log([0.8, 0.6])))
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]  # sklearn raises on no examples
    assert all(np.isnan(v) for v in classification_scores([], [], 2).values())
    assert precision_recall_f1([], [], 2)["macro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert roc_auc([], np.zeros((0, 2))) is None and np.isnan(log_loss([], np.zeros((0, 2))))


def test_tied_scores_count_half(no_warnings):
    from bertcli.core.metrics import roc_auc

    assert roc_auc([0, 1, 0, 1], np.array([[0.5, 0.5]] * 4)) == 0.5
    assert roc_auc([0, 1, 1], np.array([[0.6, 0.4], [0.4, 0.6], [0.6, 0.4]])) == 0.75


def test_float32_softmax_needs_no_warning(no_warnings):
    from bertcli.core.metrics import log_loss

    logits = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    probs = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    labels = np.arange(50) % 3
    assert log_loss(labels, probs) == pytest.approx(-np.mean(np.log(probs.astype(float)[np.arange(50), labels])))
