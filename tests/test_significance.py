"""Confidence intervals and paired tests checked against scikit-learn and scipy."""

from __future__ import annotations

import numpy as np
import pytest

from bertcli.core.significance import _binary_auc, _macro_f1, bootstrap_intervals, exact_mcnemar


def _data(n=400, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p1 = np.clip(0.5 + (y - 0.5) * 0.6 + rng.normal(0, 0.3, n), 0, 1).round(2)  # rounded: many ties
    pred = (p1 > 0.5).astype(int)
    return y, pred, np.stack([1 - p1, p1], axis=1)


def test_each_resample_matches_scikit_learn():
    from sklearn.metrics import f1_score, roc_auc_score

    y, pred, probs = _data()
    idx = np.random.default_rng(3).integers(0, len(y), size=(25, len(y)))
    aucs = _binary_auc(y.astype(float), probs[:, 1], idx)
    f1s = _macro_f1(y, pred, idx, 2)
    for row, auc, f1 in zip(idx, aucs, f1s):
        assert auc == pytest.approx(roc_auc_score(y[row], probs[row, 1]), abs=1e-12)
        assert f1 == pytest.approx(f1_score(y[row], pred[row], average="macro", zero_division=0), abs=1e-12)


def test_intervals_hold_the_point_estimate_and_shrink_with_more_examples():
    y, pred, probs = _data(2000)
    wide = bootstrap_intervals(y[:200], pred[:200], probs[:200], 2, seed=0)
    narrow = bootstrap_intervals(y, pred, probs, 2, seed=0)
    accuracy = float((y == pred).mean())
    assert narrow["accuracy"].low < accuracy < narrow["accuracy"].high
    for key in ("accuracy", "f1", "roc_auc"):
        assert narrow[key].high - narrow[key].low < wide[key].high - wide[key].low
    # seeded: the same call gives the same interval
    assert bootstrap_intervals(y, pred, probs, 2, seed=0) == narrow


def test_one_class_resamples_give_no_auc_and_no_error():
    n = 30
    ci = bootstrap_intervals([1] * n, [1, 0, 1] * (n // 3), [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]] * (n // 3), 2)
    assert ci["roc_auc"] is None and ci["accuracy"] is not None


def test_a_handful_of_examples_gets_no_interval_rather_than_1_to_1(cli, final, tmp_path):
    from bertcli.core.significance import MIN_EXAMPLES_FOR_INTERVAL

    assert bootstrap_intervals([1], [1], [[0.1, 0.9]], 2) == {"accuracy": None, "f1": None, "roc_auc": None}
    few = MIN_EXAMPLES_FOR_INTERVAL - 1
    assert bootstrap_intervals([0, 1] * few, [0, 1] * few, None, 2)["accuracy"] is not None
    one = tmp_path / "one.csv"
    one.write_text("text,label\na wonderful superb brilliant film,positive\n")
    result = cli("evaluate", "-m", final, "--dataset", one)
    assert result.exit_code == 0, result.stderr
    assert f"no 95% CI: fewer than {MIN_EXAMPLES_FOR_INTERVAL} examples" in result.stdout
    assert "1.0000–1.0000" not in result.stdout


def test_exact_mcnemar_matches_the_binomial_test():
    from scipy.stats import binomtest

    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.85
    b = rng.random(500) < 0.80
    test = exact_mcnemar(a, b)
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    assert (test.only_reference_right, test.only_model_right) == (only_a, only_b)
    assert test.p_value == pytest.approx(binomtest(only_b, only_a + only_b, 0.5).pvalue, rel=1e-9)


@pytest.mark.parametrize(
    "b, c, verdict",
    [(30, 10, "worse"), (10, 30, "better"), (12, 15, "within noise"), (0, 0, "within noise")],
)
def test_verdicts(b, c, verdict):
    reference = [True] * b + [False] * c + [True] * 50
    model = [False] * b + [True] * c + [True] * 50
    test = exact_mcnemar(reference, model)
    assert test.verdict == verdict
    assert test.describe().startswith(f"{verdict} (p = ")
