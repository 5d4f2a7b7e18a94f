"""`bertcli evaluate` end to end on a tiny trained model, and its metrics against scikit-learn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from trained import MISLABELLED, held_out_csv, held_out_rows

sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture(scope="session")
def held_out(tmp_path_factory) -> Path:
    return held_out_csv(tmp_path_factory)


def random_probs(rng, n: int, k: int, sharp: float = 3.0) -> np.ndarray:
    logits = rng.normal(size=(n, k)) * sharp
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


# --- metrics against scikit-learn -------------------------------------------------------------------


@pytest.mark.parametrize("n_labels, seed", [(2, 0), (2, 1), (3, 2), (4, 3)])
def test_per_class_and_macro_scores_match_sklearn(n_labels, seed):
    from bertcli.core.metrics import precision_recall_f1

    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_labels, 300)
    pred = np.where(rng.random(300) < 0.6, y, rng.integers(0, n_labels, 300))
    ours = precision_recall_f1(y, pred, n_labels)
    p, r, f, s = sk.precision_recall_fscore_support(y, pred, labels=range(n_labels), zero_division=0)
    assert ours["per_class"]["precision"] == pytest.approx(list(p))
    assert ours["per_class"]["recall"] == pytest.approx(list(r))
    assert ours["per_class"]["f1"] == pytest.approx(list(f))
    assert ours["per_class"]["support"] == list(s)
    for name, fn in (("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)):
        assert ours["macro"][name] == pytest.approx(fn(y, pred, average="macro", labels=range(n_labels), zero_division=0))


def test_a_class_never_predicted_scores_zero_like_sklearn():
    from bertcli.core.metrics import precision_recall_f1

    y, pred = [0, 1, 2, 2], [0, 0, 0, 2]
    ours = precision_recall_f1(y, pred, 3)
    assert ours["per_class"]["precision"][1] == 0.0
    assert ours["macro"]["f1"] == pytest.approx(sk.f1_score(y, pred, average="macro", zero_division=0))


@pytest.mark.parametrize("seed", range(4))
def test_binary_roc_auc_matches_sklearn_with_ties(seed):
    from bertcli.core.metrics import roc_auc

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    p1 = np.round(np.clip(0.5 + (y - 0.5) * rng.random(200), 0, 1), 1)  # rounding makes many ties
    probs = np.stack([1 - p1, p1], axis=1)
    assert roc_auc(y, probs) == pytest.approx(sk.roc_auc_score(y, p1))


@pytest.mark.parametrize("k, seed", [(3, 0), (5, 1)])
def test_multiclass_roc_auc_matches_sklearn_ovr_macro(k, seed):
    from bertcli.core.metrics import roc_auc

    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, 300)
    probs = random_probs(rng, 300, k)
    probs[np.arange(300), y] += 0.3
    probs /= probs.sum(axis=1, keepdims=True)
    assert roc_auc(y, probs) == pytest.approx(sk.roc_auc_score(y, probs, multi_class="ovr", average="macro"))


def test_roc_auc_is_none_when_a_class_is_missing():
    from bertcli.core.metrics import roc_auc

    assert roc_auc([1, 1, 1], np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1]])) is None


@pytest.mark.parametrize("k, seed", [(2, 0), (3, 1), (4, 2)])
def test_log_loss_matches_sklearn_including_certain_mistakes(k, seed):
    from bertcli.core.metrics import log_loss

    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, 100)
    probs = random_probs(rng, 100, k)
    probs[0] = np.eye(k)[(y[0] + 1) % k]  # probability 0 on the true class: clipped, not infinite
    probs[1] = np.eye(k)[y[1]]
    assert log_loss(y, probs) == pytest.approx(sk.log_loss(y, probs, labels=range(k)))


@pytest.mark.parametrize("n_bins, seed", [(10, 0), (5, 1), (15, 2)])
def test_reliability_bins_and_ece_match_sklearn_calibration_curve(n_bins, seed):
    from sklearn.calibration import calibration_curve

    from bertcli.core.metrics import expected_calibration_error, reliability_bins

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 400)
    probs = random_probs(rng, 400, 3, sharp=1.5)
    probs[:5] = [0.5, 0.3, 0.2]  # confidence exactly on a bin edge
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y).astype(int)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=n_bins, strategy="uniform")
    bins = [b for b in reliability_bins(y, probs, n_bins) if b.count]
    assert [b.accuracy for b in bins] == pytest.approx(list(accuracy))
    assert [b.confidence for b in bins] == pytest.approx(list(mean_confidence))
    assert sum(b.count for b in bins) == 400
    counts = np.array([b.count for b in bins])
    expected = float(np.sum(counts / 400 * np.abs(accuracy - mean_confidence)))
    assert expected_calibration_error(y, probs, n_bins) == pytest.approx(expected)


def test_perfectly_calibrated_bins_give_zero_ece():
    from bertcli.core.metrics import expected_calibration_error

    probs = np.array([[0.25, 0.75]] * 4)
    assert expected_calibration_error([1, 1, 1, 0], probs) == pytest.approx(0.0)


# --- the command ------------------------------------------------------------------------------------


def test_evaluate_report_beats_chance_and_agrees_with_sklearn(cli, final, held_out, tmp_path):
    preds_path = tmp_path / "preds.jsonl"
    result = cli("evaluate", "--model", final, "--dataset", held_out, "--json", "--predictions", preds_path,
                 "--mistakes", "4")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["examples"] == 60 and len(report["models"]) == 1
    model = report["models"][0]
    assert model["accuracy"] > 0.8  # well above chance on reviews it never saw

    rows = [json.loads(line) for line in preds_path.read_text().splitlines()]
    assert len(rows) == 60 and [r["index"] for r in rows] == list(range(60))
    names = model["label_names"]
    y = np.array([names.index(r["true_label"]) for r in rows])
    probs = np.array([[r["probabilities"][n] for n in names] for r in rows])
    pred = probs.argmax(axis=1)
    assert [r["text"] for r in rows] == [t for t, _ in held_out_rows()]  # a whole file: rows in file order
    assert model["accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert model["macro"]["f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"), abs=1e-6)
    assert model["roc_auc"] == pytest.approx(sk.roc_auc_score(y, probs[:, 1]), abs=1e-4)
    assert model["log_loss"] == pytest.approx(sk.log_loss(y, probs), abs=1e-4)
    assert model["confusion"] == sk.confusion_matrix(y, pred).tolist()
    per_class_f1 = sk.f1_score(y, pred, average=None)
    assert [c["f1"] for c in model["per_class"]] == pytest.approx(list(per_class_f1), abs=1e-6)

    # the reviews labelled wrongly on purpose are the confident mistakes, most confident first
    mistakes = model["mistakes"]
    assert 0 < len(mistakes) <= 4
    assert {m["index"] for m in mistakes} <= set(MISLABELLED) | {i for i, r in enumerate(rows) if not r["correct"]}
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    assert all(m["true_label"] != m["predicted"] for m in mistakes)

    # truncated vs not: split by n_tokens > max length
    cut = [r for r in rows if r["n_tokens"] > model["max_length"]]
    assert model["truncated"]["count"] == len(cut) > 0
    assert model["not_truncated"]["count"] == 60 - len(cut)
    assert model["truncated"]["accuracy"] == pytest.approx(np.mean([r["correct"] for r in cut]))
    assert sum(b["count"] for b in model["reliability"]) == 60
    assert model["examples_per_second"] > 0 and model["tokens_per_second"] > 0


def test_evaluate_tables(cli, final, held_out):
    result = cli("evaluate", "-m", final, "--dataset", held_out)
    assert result.exit_code == 0, result.stderr
    for part in ("accuracy", "macro F1", "ROC-AUC", "log loss", "ECE", "accuracy, truncated", "throughput",
                 "Per class", "Confusion matrix", "Reliability", "Most confident mistakes", f"{held_out}: 60 examples"):
        assert part in result.stdout.replace("\n", ""), part
    assert "[train]" not in result.stdout
    assert "is one file: evaluating on its rows" in result.stderr


def test_several_models_give_a_comparison_table(cli, run_dir, held_out):
    checkpoint = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[0]
    result = cli("evaluate", "-m", checkpoint, "-m", run_dir / "final", "--dataset", held_out)
    assert result.exit_code == 0, result.stderr
    assert checkpoint.name in result.stdout and "final" in result.stdout and "acc cut" in result.stdout
    as_json = cli("evaluate", "-m", checkpoint, "-m", run_dir / "final", "--dataset", held_out, "--json", "-q")
    models = json.loads(as_json.stdout)["models"]
    assert [Path(m["model"]).name for m in models] == [checkpoint.name, "final"]
    assert as_json.stderr == ""


def test_dataset_split_and_size(cli, final, tmp_path):
    from factory import make_reviews, write_csv

    folder = tmp_path / "data"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(20, seed=1))
    write_csv(folder / "test.csv", make_reviews(30, seed=2))
    result = cli("evaluate", "-m", final, "--dataset", folder, "--split", "test", "--size", "12", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["examples"] == 12 and json.loads(result.stdout)["split"] == "test"
    missing = cli("evaluate", "-m", final, "--dataset", folder, "--split", "validation")
    assert missing.exit_code == 1 and "no split 'validation'" in missing.stderr and "--split" in missing.stderr


def test_labels_the_model_does_not_know(cli, final, tmp_path):
    from factory import make_reviews, write_csv

    path = write_csv(tmp_path / "named.csv", make_reviews(10), names=["bad", "good"])
    result = cli("evaluate", "-m", final, "--dataset", path)
    assert result.exit_code == 1 and "not among the model's labels ['negative', 'positive']" in result.stderr
    named = write_csv(tmp_path / "ok.csv", make_reviews(10), names=["negative", "positive"])
    assert cli("evaluate", "-m", final, "--dataset", named, "-q").exit_code == 0


def test_empty_texts_are_left_out_of_the_metrics(cli, final, tmp_path):
    from factory import make_reviews, write_csv

    rows = make_reviews(12, seed=5) + [("", 0), ("   ", 1)]
    path = write_csv(tmp_path / "gaps.csv", rows)
    result = cli("evaluate", "-m", final, "--dataset", path, "--json")
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    assert model["examples"] == 12 and model["skipped"] == 2
    assert "2 empty or unreadable text(s) left out" in result.stderr


def test_plot_is_written(cli, final, held_out, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "eval.png"
    result = cli("evaluate", "-m", final, "--dataset", held_out, "--plot", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = cli("evaluate", "-m", final, "--dataset", held_out, "--plot", tmp_path / "eval.txt")
    assert wrong.exit_code == 2 and ".png" in wrong.stderr


def test_default_model_under_results(cli, run_dir, held_out, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    none = cli("evaluate", "--dataset", held_out)
    assert none.exit_code == 1 and "bertcli train" in none.stderr
    shutil.copytree(run_dir, tmp_path / "results")
    result = cli("evaluate", "--dataset", held_out)
    assert result.exit_code == 0, result.stderr
    assert "results/final (final of results), the newest trained model" in " ".join(result.stderr.split())


def test_int8_evaluation_reports_its_mode(cli, final, held_out):
    result = cli("evaluate", "-m", final, "--dataset", held_out, "--quantize", "int8", "--json", "-q")
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    assert model["mode"].startswith("int8") and model["accuracy"] > 0.8
