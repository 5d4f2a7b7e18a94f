"""Multi-label classification end to end: recognised from the data, trained with BCE, thresholds tuned per
label and carried through final/ into predict and evaluate; metrics against scikit-learn."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from factory import MULTI_LABELS, make_multi_label_rows
from refusals import assert_refused, error_lines

from bertcli.core.data import load_labelled_data
from bertcli.core.errors import DataError

# --- recognising the layout -----------------------------------------------------------------------------------


def write_tsv(path: Path, rows: list[tuple[str, str]], header=("text", "labels")) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def ids_text(labels: list[int]) -> str:
    return ",".join(str(i) for i in labels)


@pytest.fixture(scope="module")
def ml_file(tmp_path_factory) -> Path:
    """160 texts labelled with comma-separated ids (`0,2`), some with none, and a names file beside them."""
    folder = tmp_path_factory.mktemp("multilabel")
    (folder / "names.txt").write_text("\n".join(MULTI_LABELS) + "\n")
    return write_tsv(folder / "train.tsv", [(t, ids_text(ls)) for t, ls in make_multi_label_rows(160)])


def _vectors(data) -> list[list[float]]:
    return [list(v) for v in data.train["label"]] + [list(v) for v in data.eval["label"]]


def test_comma_separated_ids_are_recognised_and_named_from_a_file(ml_file):
    from bertcli.core.data.labels import read_label_names

    names = read_label_names(ml_file.parent / "names.txt")
    data = load_labelled_data(str(ml_file), label_column="labels", label_names=names, train_size=None, eval_size=None)
    assert data.multi_label and data.label_names == MULTI_LABELS
    rows = make_multi_label_rows(160)
    expected = sorted(tuple(float(k in ls) for k in range(3)) for _, ls in rows)
    assert sorted(tuple(v) for v in _vectors(data)) == expected  # every row's label set, none lost or invented


def test_json_lists_of_names_are_recognised(tmp_path):
    rows = [(t, json.dumps([MULTI_LABELS[k] for k in ls])) for t, ls in make_multi_label_rows(40)]
    data = load_labelled_data(str(write_tsv(tmp_path / "d.tsv", rows)), label_column="labels", train_size=None, eval_size=None)
    assert data.multi_label and data.label_names == sorted(MULTI_LABELS)
    by_text = {t: sorted(MULTI_LABELS[k] for k in ls) for t, ls in make_multi_label_rows(40)}
    for text, vector in zip(data.train["text"], data.train["label"]):
        assert sorted(n for n, v in zip(data.label_names, vector) if v == 1.0) == by_text[text]


def test_several_01_columns_are_labels_in_the_order_named(tmp_path):
    path = tmp_path / "cols.csv"
    rows = make_multi_label_rows(40)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", *MULTI_LABELS])
        writer.writerows([t, *[int(k in ls) for k in range(3)]] for t, ls in rows)
    data = load_labelled_data(str(path), label_column="music,good,bad", train_size=None, eval_size=None)
    assert data.multi_label and data.label_names == ["music", "good", "bad"]
    by_text = {t: [float(2 in ls), float(0 in ls), float(1 in ls)] for t, ls in rows}
    assert all(list(v) == by_text[t] for t, v in zip(data.train["text"], data.train["label"]))


def test_a_single_label_file_stays_single_label(tmp_path):
    path = write_tsv(tmp_path / "one.tsv", [(t, str(i % 2)) for i, (t, _) in enumerate(make_multi_label_rows(20))])
    data = load_labelled_data(str(path), label_column="labels", train_size=None, eval_size=None)
    assert not data.multi_label


def test_a_headerless_file_is_multi_label_with_its_columns_picked_or_numbered(tmp_path):
    rows = make_multi_label_rows(40)
    path = tmp_path / "bare.tsv"
    with path.open("w", newline="") as f:
        csv.writer(f, delimiter="\t").writerows((t, ids_text(ls), f"id{i}") for i, (t, ls) in enumerate(rows))
    picked = load_labelled_data(str(path), label_names=MULTI_LABELS, train_size=None, eval_size=None)
    numbered = load_labelled_data(str(path), text_column="1", label_column="2", label_names=MULTI_LABELS,
                                  train_size=None, eval_size=None)
    by_text = {t: [float(k in ls) for k in range(3)] for t, ls in rows}
    for data in (picked, numbered):
        assert data.multi_label and data.label_names == MULTI_LABELS and data.label_column == "2"
        assert all(list(v) == by_text[t] for t, v in zip(data.train["text"], data.train["label"]))


def test_multi_label_flag_reads_single_ids_as_label_lists(tmp_path):
    path = write_tsv(tmp_path / "one.tsv", [(t, str(i % 3)) for i, (t, _) in enumerate(make_multi_label_rows(20))])
    data = load_labelled_data(str(path), label_column="labels", train_size=None, eval_size=None, multi_label=True)
    assert data.multi_label and data.label_names == ["0", "1", "2"]
    assert all(sum(v) == 1.0 for v in data.train["label"])


def test_empty_label_lists_are_examples_with_no_label(ml_file):
    data = load_labelled_data(str(ml_file), label_column="labels", train_size=None, eval_size=None)
    empty = sum(1 for v in _vectors(data) if sum(v) == 0)
    assert empty == sum(1 for _, ls in make_multi_label_rows(160) if not ls) > 0


def test_a_label_id_outside_the_names_is_refused_in_one_line(ml_file, tmp_path):
    bad = write_tsv(tmp_path / "bad.tsv", [("the film was good", "0,7")] + [(t, ids_text(ls)) for t, ls in make_multi_label_rows(20)])
    with pytest.raises(DataError) as err:
        load_labelled_data(str(bad), label_column="labels", label_names=MULTI_LABELS)
    message = str(err.value)
    assert "\n" not in message and "'7'" in message and "--label-names" in message


def test_a_broken_json_list_is_refused_in_one_line(tmp_path):
    bad = write_tsv(tmp_path / "bad.tsv", [("a", '["joy", "fear"'), ("b", '["joy"]'), ("c", "[]"), ("d", '["fear"]')])
    with pytest.raises(DataError) as err:
        load_labelled_data(str(bad), label_column="labels")
    assert "\n" not in str(err.value) and "JSON list" in str(err.value)


def test_a_column_that_is_not_01_is_refused(tmp_path):
    path = tmp_path / "cols.csv"
    path.write_text("text,joy,fear\na,1,0\nb,0,2\nc,1,1\nd,0,0\n")
    with pytest.raises(DataError) as err:
        load_labelled_data(str(path), label_column="joy,fear")
    assert "'fear'" in str(err.value) and "0 or 1" in str(err.value)


def test_names_file_refusals(tmp_path, cli):
    one = tmp_path / "one.txt"
    one.write_text("joy\n")
    result = cli("train", "--label-names", one, "--print-config")
    assert_refused(result, 2, "--label-names", "two or more")
    result = cli("train", "--label-names", tmp_path / "missing.txt", "--print-config")
    assert_refused(result, 2, "--label-names", "no file")


# --- metrics against scikit-learn -----------------------------------------------------------------------------

Y = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]])
P = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 0]])


def test_multilabel_scores_match_sklearn():
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

    from bertcli.core.metrics import multilabel_scores

    scores = multilabel_scores(Y, P)
    assert scores["micro"]["f1"] == pytest.approx(f1_score(Y, P, average="micro"))
    assert scores["macro"]["f1"] == pytest.approx(f1_score(Y, P, average="macro"))
    precision, recall, f1, support = precision_recall_fscore_support(Y, P, average=None)
    assert scores["per_label"]["precision"] == pytest.approx(list(precision))
    assert scores["per_label"]["recall"] == pytest.approx(list(recall))
    assert scores["per_label"]["f1"] == pytest.approx(list(f1))
    assert scores["per_label"]["support"] == list(support)
    assert scores["subset_accuracy"] == pytest.approx(accuracy_score(Y, P))
    assert scores["hamming_loss"] == pytest.approx(hamming_loss(Y, P))
    assert scores["cardinality_true"] == pytest.approx(Y.sum() / len(Y))
    assert scores["cardinality_pred"] == pytest.approx(P.sum() / len(P))


def test_majority_per_label_is_the_chance_baseline():
    from bertcli.core.metrics import majority_per_label, multilabel_scores

    y = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])
    baseline = majority_per_label(y)
    assert baseline.tolist() == [[1, 0]] * 4
    assert multilabel_scores(y, baseline)["subset_accuracy"] == pytest.approx(0.5)


def test_tuned_threshold_gives_the_best_f1_any_threshold_gives():
    from sklearn.metrics import f1_score

    from bertcli.core.metrics import best_f1_threshold

    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.2
    probs = np.clip(0.3 * y + rng.random(300) * 0.7, 0, 1)
    chosen = best_f1_threshold(y, probs)
    best = max(f1_score(y, probs >= t) for t in np.unique(probs))
    assert f1_score(y, probs >= chosen) == pytest.approx(best)
    assert best_f1_threshold(np.zeros(5, dtype=bool), probs[:5]) == 0.5  # no positive: nothing to tune


def test_bootstrap_intervals_hold_the_scores():
    from sklearn.metrics import f1_score

    from bertcli.core.significance import multilabel_bootstrap_intervals

    rng = np.random.default_rng(1)
    y = rng.random((200, 4)) < 0.3
    p = np.where(rng.random((200, 4)) < 0.8, y, ~y)
    ci = multilabel_bootstrap_intervals(y, p, seed=0)
    for key, value in (("macro_f1", f1_score(y, p, average="macro")), ("micro_f1", f1_score(y, p, average="micro")),
                       ("subset_accuracy", (y == p).all(axis=1).mean())):
        assert ci[key].low < value < ci[key].high


# --- train → final/ → predict and evaluate ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory, tiny_model, ml_file) -> Path:
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    out = tmp_path_factory.mktemp("mlrun") / "run"
    result = CliRunner().invoke(app, [str(a) for a in (
        "train", "--model", tiny_model, "--dataset", ml_file, "--label-column", "labels",
        "--label-names", ml_file.parent / "names.txt", "--epochs", "3", "--batch-size", "16", "--lr", "3e-3",
        "--max-length", "32", "--no-tensorboard", "-o", out, "--json",
    )], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "multi-label" in result.stderr  # the plan says which task it is
    return out


def test_the_run_saves_a_multi_label_head_and_its_thresholds(ml_run):
    config = json.loads((ml_run / "final" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert [config["id2label"][str(i)] for i in range(3)] == MULTI_LABELS
    manifest = json.loads((ml_run / "final" / "bertcli.json").read_text())
    assert manifest["multi_label"] is True and len(manifest["thresholds"]) == 3
    assert all(0.0 < t < 1.0 for t in manifest["thresholds"])
    assert manifest["training"]["best_metric"] == "f1"  # macro F1 picks the best checkpoint of a multi-label run


def test_predict_reports_exactly_the_labels_over_each_saved_threshold(cli, ml_run):
    thresholds = json.loads((ml_run / "final" / "bertcli.json").read_text())["thresholds"]
    texts = [t for t, _ in make_multi_label_rows(24, seed=5)]
    result = cli("predict", *texts, "--model", ml_run / "final", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["multi_label"] is True and list(doc["thresholds"].values()) == pytest.approx(thresholds)
    for record in doc["predictions"]:
        probs = record["probabilities"]
        expected = [name for name, t in zip(MULTI_LABELS, thresholds) if probs[name] >= t]
        assert record["labels"] == expected
        assert record["label"] == ",".join(expected)


def test_predict_threshold_and_flag_on_a_multi_label_model(cli, ml_run):
    texts = [t for t, _ in make_multi_label_rows(16, seed=6)]
    result = cli("predict", *texts, "--model", ml_run / "final", "--json", "--threshold", "0.3", "--flag", "music")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    for record in doc["predictions"]:
        assert record["labels"] == [n for n in MULTI_LABELS if record["probabilities"][n] >= 0.3]
    assert doc["summary"]["flagged"] == sum("music" in r["labels"] for r in doc["predictions"])


def test_sliding_windows_predict_every_label_over_its_threshold(cli, ml_run):
    thresholds = json.loads((ml_run / "final" / "bertcli.json").read_text())["thresholds"]
    texts = [" ".join([t] * 6) for t, _ in make_multi_label_rows(8, seed=7)]  # several windows each
    result = cli("predict", *texts, "--model", ml_run / "final", "--json", "--truncation", "sliding", "--max-length", "16")
    assert result.exit_code == 0, result.stderr
    records = json.loads(result.stdout)["predictions"]
    assert all(r["windows"] > 1 for r in records)
    for record in records:
        probs = record["probabilities"]
        assert record["labels"] == [name for name, t in zip(MULTI_LABELS, thresholds) if probs[name] >= t]
    # a sigmoid per label: the probabilities of a text need not sum to 1, as a softmax's would
    assert any(abs(sum(r["probabilities"].values()) - 1.0) > 1e-3 for r in records)


def test_evaluate_by_length_is_refused_for_a_multi_label_model(cli, ml_run, ml_file):
    result = cli("evaluate", "--model", ml_run / "final", "--dataset", ml_file, "--label-column", "labels", "--by-length")
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert "--by-length" in line and "multi-label" in line


def test_evaluate_scores_a_multi_label_model_with_its_thresholds(cli, ml_run, ml_file, tmp_path):
    from sklearn.metrics import f1_score

    rows = tmp_path / "rows.jsonl"
    result = cli("evaluate", "--model", ml_run / "final", "--dataset", ml_file, "--label-column", "labels", "--json",
                 "--predictions", rows)
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    assert model["multi_label"] is True and model["examples"] == 160
    assert model["thresholds_from"].startswith("saved with the model")
    records = [json.loads(line) for line in rows.read_text().splitlines()]
    y = np.array([[n in r["true_labels"] for n in MULTI_LABELS] for r in records])
    p = np.array([[n in r["labels"] for n in MULTI_LABELS] for r in records])
    assert model["macro"]["f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    assert model["micro"]["f1"] == pytest.approx(f1_score(y, p, average="micro", zero_division=0))
    assert model["subset_accuracy"] == pytest.approx(np.mean([r["correct"] for r in records]))
    assert model["chance"]["macro_f1"] == 0.0  # no label is on for most examples: the baseline predicts none
    assert model["intervals"]["macro_f1"]["low"] <= model["macro"]["f1"] <= model["intervals"]["macro_f1"]["high"]


def test_evaluate_draws_the_multi_label_report_on_screen(cli, ml_run, ml_file):
    result = cli("evaluate", "--model", ml_run / "final", "--dataset", ml_file, "--label-column", "labels")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "macro F1" in said and all(name in said for name in MULTI_LABELS)


def test_a_model_trained_on_01_columns_evaluates_them_without_naming_them_again(cli, tiny_model, tmp_path):
    path = tmp_path / "cols.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", *MULTI_LABELS])
        writer.writerows([t, *[int(k in ls) for k in range(3)]] for t, ls in make_multi_label_rows(48))
    out = tmp_path / "run"
    result = cli("train", "--model", tiny_model, "--dataset", path, "--label-column", "music,good,bad", "--epochs", "1",
                 "--batch-size", "16", "--max-length", "32", "--no-tensorboard", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    result = cli("evaluate", "--model", out / "final", "--dataset", path, "--json")
    assert result.exit_code == 0, result.stderr
    model = json.loads(result.stdout)["models"][0]
    assert model["multi_label"] is True and model["label_names"] == ["music", "good", "bad"] and model["examples"] == 48


def test_evaluate_threshold_refused_for_a_single_label_model(cli, final, reviews_csv):
    result = cli("evaluate", "--model", final, "--dataset", reviews_csv, "--threshold", "0.4")
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert "--threshold" in line and "single-label" in line


# --- debug data, debug run, sweep -------------------------------------------------------------------------------


def test_debug_data_counts_labels_rows_with_none_and_pairs(cli, ml_file):
    result = cli("debug", "data", "--dataset", ml_file, "--label-column", "labels", "--label-names",
                 ml_file.parent / "names.txt", "--no-lengths", "--json")
    doc = json.loads(result.stdout)
    rows = make_multi_label_rows(160)
    overviews = {o["split"]: o for o in doc["multi_label"]}
    assert sum(o["examples"] for o in overviews.values()) == 160
    for k, name in enumerate(MULTI_LABELS):
        assert sum(o["counts"][name] for o in overviews.values()) == sum(k in ls for _, ls in rows)
    assert sum(o["no_label"] for o in overviews.values()) == sum(not ls for _, ls in rows)
    train = overviews["train"]
    assert train["pairs"][0][2] == max(n for _, _, n in train["pairs"])  # the commonest pair first
    codes = {f["code"] for f in doc["findings"]}
    assert "labels" in codes and "missing_label" not in codes and "unlabelled" not in codes


def test_debug_run_leaves_out_single_label_chance_on_a_multi_label_run(cli, ml_run):
    result = cli("debug", "run", ml_run, "--json")
    doc = json.loads(result.stdout)
    codes = {f["code"] for f in doc["findings"]}
    assert "multi_label" in codes
    assert not codes & {"underfitting", "eval_at_chance", "stuck_at_chance"}


def test_sweep_refuses_multi_label_data_before_training(cli, tiny_model, ml_file, tmp_path):
    result = cli("sweep", "--model", tiny_model, "--dataset", ml_file, "--label-column", "labels", "--lr", "1e-3,2e-3",
                 "-o", tmp_path / "s")
    assert_refused(result, 2, "multi-label", "bertcli evaluate")
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").rglob("checkpoint-*"))


def test_training_loss_is_bce_with_each_labels_positive_weight():
    import torch
    from types import SimpleNamespace

    from bertcli.core.training.trainer import BertCliTrainer

    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), (torch.rand(6, 3) < 0.4).float()
    weights = torch.tensor([1.0, 4.0, 0.5])
    trainer = SimpleNamespace(loss_weights=weights)
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=weights)(logits, labels)
    assert BertCliTrainer._multi_label_loss(trainer, logits, labels, None) == pytest.approx(expected.item())
    # over an accumulated batch the Trainer counts every label of every example: 2 batches of 6 rows x 3 labels
    assert BertCliTrainer._multi_label_loss(trainer, logits, labels, 36) == pytest.approx(expected.item() / 2)
    plain = SimpleNamespace(loss_weights=None)
    assert BertCliTrainer._multi_label_loss(plain, logits, labels, None) == pytest.approx(
        torch.nn.BCEWithLogitsLoss()(logits, labels).item())


def test_auto_positive_weights_are_negatives_over_positives():
    from bertcli.core.data.multilabel import positive_weights

    assert positive_weights("auto", [10, 40], 50, ["a", "b"]) == [4.0, 0.25]
    assert positive_weights([1, 3], [10, 40], 50, ["a", "b"]) == [1.0, 3.0]
    with pytest.raises(Exception, match="has no training example"):
        positive_weights("auto", [0, 40], 50, ["a", "b"])


def test_a_multi_label_run_with_class_weights_and_accumulation_trains(cli, tiny_model, ml_file, tmp_path):
    """Positive weights per label through real training steps, with --grad-accum: the logged loss is the
    weighted binary cross-entropy (finite, above the unweighted floor of 0), never an indexing error."""
    out = tmp_path / "run"
    weights = ",".join(["2", "0.5", "3", "1"][: len(MULTI_LABELS)])
    result = cli("train", "--model", tiny_model, "--dataset", ml_file, "--label-column", "labels",
                 "--label-names", ml_file.parent / "names.txt", "--class-weights", weights, "--grad-accum", "2",
                 "--batch-size", "8", "--max-steps", "3", "--logging-steps", "1", "--max-length", "32",
                 "--no-tensorboard", "-o", out, "-q")
    assert result.exit_code == 0, result.stderr
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) == 3 and all(0 < loss < 5 for loss in losses)
