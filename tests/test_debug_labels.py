"""`bertcli debug labels`: a model that did not train on a split ranks its wrong labels first; the decisions file
round trip; the refusals (one line each, exit code not 0)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from factory import make_reviews, write_csv
from trained import MISLABELLED, held_out_csv


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    return held_out_csv(tmp_path_factory)


@pytest.fixture(scope="module")
def final(dynamics_run) -> Path:
    return dynamics_run / "final"


def test_out_of_sample_queue_puts_the_planted_flips_first(cli, final, held_out):
    result = cli("debug", "labels", "--model", final, "--dataset", held_out, "--split", "train", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evidence"] == "out-of-sample model" and report["ranked_by"] == "self_confidence"
    assert report["examples"] == 60
    # a tiny model: what it queues are planted flips, and it finds three of the four at least
    queued = [issue["row"] for issue in report["issues"]]
    assert set(queued[: len(MISLABELLED)]) <= set(MISLABELLED) and len(set(queued) & set(MISLABELLED)) >= 3
    first = report["issues"][0]
    assert first["given"] != first["suggested"] and first["self_confidence"] < 0.5
    assert {f["code"] for f in report["findings"]} >= {"label_issues"}


def test_cleanlab_ranking_puts_flips_first_for_k_classes():
    """Through the real ranking: a classifier right on every example (three classes), 10 labels flipped."""
    import numpy as np

    from bertcli.core.diagnose.label_queue import Scored, rank_scored

    rng = np.random.default_rng(0)
    truth = np.arange(300) % 3
    logits = rng.normal(size=(300, 3)) + 4 * np.eye(3)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = truth.copy()
    flipped = rng.choice(300, size=10, replace=False)
    given[flipped] = (given[flipped] + 1) % 3
    scored = Scored(rows=list(range(1000, 1300)), texts=[f"text {i}" for i in range(300)], labels=given, probabilities=probs)
    for ranked_by in ("self_confidence", "normalized_margin"):
        issues, quality = rank_scored(scored, ["a", "b", "c"], ranked_by, "synthetic")
        assert {i.row for i in issues[:10]} == {1000 + int(f) for f in flipped}
        assert all(i.suggested == "abc"[truth[i.row - 1000]] for i in issues[:10])
        assert len(quality) == 300


def test_table_fits_80_columns_and_warns_about_test_splits(cli, final, tmp_path, monkeypatch):
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    data = tmp_path / "data"
    data.mkdir()
    rows = make_reviews(40, seed=11)
    write_csv(data / "train.csv", rows)
    write_csv(data / "test.csv", [(t, 1 - y) if i < 3 else (t, y) for i, (t, y) in enumerate(rows)])
    result = cli("debug", "labels", "--model", final, "--dataset", data, "--split", "test")
    assert result.exit_code == 0, result.stderr
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    assert "do not relabel or drop its examples to raise a score" in " ".join(result.stdout.split())
    assert "Label issues in 'test'" in result.stdout


def test_refuses_the_split_the_model_trained_on(cli, final, dynamics_run):
    result = cli("debug", "labels", "--model", final, "--dataset", dynamics_run.parent / "data", "--split", "train")
    assert result.exit_code != 0
    assert "trained on split 'train'" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_refuses_a_dataset_without_labels(cli, final, tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text\nthe film was great\nthe film was bad\n")
    result = cli("debug", "labels", "--model", final, "--dataset", path, "--split", "train")
    assert result.exit_code != 0 and "no column 'label'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_refuses_a_model_whose_labels_differ_from_the_data(cli, final, tmp_path):
    path = tmp_path / "topics.csv"
    path.write_text("text,label\nthe film was great,sports\nthe film was bad,world\nthe plot was dull,business\n")
    result = cli("debug", "labels", "--model", final, "--dataset", path, "--split", "train")
    assert result.exit_code != 0 and "differ from" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_decisions_file_round_trip_changes_exactly_the_rows_it_names(cli, final, held_out, tmp_path):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.data.decisions import read_decisions

    out = tmp_path / "labels.csv"
    result = cli("debug", "labels", "--model", final, "--dataset", held_out, "--split", "train", "--decisions", out)
    assert result.exit_code == 0, result.stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["action"] == "keep" for r in rows)
    # the user decides: relabel the first queued row, drop the second, keep the rest
    relabelled, dropped = int(rows[0]["row"]), int(rows[1]["row"])
    rows[0]["action"] = f"relabel:{rows[0]['suggested']}"
    rows[1]["action"] = "drop"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def select(decisions):
        spec = DataSpec(str(held_out), train_size=None, eval_split=None, row_ids=True, decisions=decisions, carve_fraction=0.1)
        data = select_examples(spec)
        both = {}
        for ds in (data.train, data.eval):
            both.update({r: (t, y) for r, t, y in zip(ds["row"], ds["text"], ds["label"])})
        return both, data.notes

    before, _ = select(None)
    after, notes = select(read_decisions(out, relabel=True, drop=True))
    assert set(before) - set(after) == {dropped}
    changed = {r for r in after if after[r] != before[r]}
    assert changed == {relabelled}
    assert any("relabelled 1 row(s), excluded 1 row(s)" in n for n in notes)


def test_decisions_refuse_rows_that_do_not_exist(tmp_path, held_out):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.data.decisions import read_decisions
    from bertcli.core.errors import DataError

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"row": 999, "split": "train", "given": "negative", "action": "drop"}) + "\n")
    spec = DataSpec(str(held_out), train_size=None, decisions=read_decisions(path, drop=True))
    with pytest.raises(DataError, match="row 999 is not in split 'train'"):
        select_examples(spec)


FLIPPED = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def dynamics_run(tmp_path_factory, tiny_model) -> Path:
    """A tiny model trained with --record-dynamics on separable reviews whose rows 0-3 carry the wrong label."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    root = tmp_path_factory.mktemp("labels")
    data = root / "data"
    data.mkdir()
    rows = make_reviews(80, seed=3)
    write_csv(data / "train.csv", [(t, 1 - y) if i in FLIPPED else (t, y) for i, (t, y) in enumerate(rows)])
    write_csv(data / "validation.csv", make_reviews(20, seed=4))
    run = root / "run"
    result = CliRunner().invoke(app, [
        "train", "--model", str(tiny_model), "--dataset", str(data), "--train-size", "all", "--eval-size", "all",
        "--epochs", "6", "--lr", "5e-3", "--batch-size", "8", "--max-length", "64", "--save-steps", "1000",
        "--no-tensorboard", "--record-dynamics", "--precision", "fp32", "-o", str(run), "-q",
    ])  # fp32: the same training on CPUs where auto picks bf16
    assert result.exit_code == 0, result.stderr
    return run


def test_record_dynamics_keeps_every_example_every_epoch(dynamics_run):
    from bertcli.core.training.dynamics import DYNAMICS_FILE, read_dynamics

    d = read_dynamics(dynamics_run / DYNAMICS_FILE)
    assert d["probabilities"].shape == (6, 80, 2) and list(d["epochs"]) == list(range(6))
    assert sorted(d["rows"].tolist()) == list(range(80))
    import numpy as np

    assert not np.isnan(d["probabilities"]).any()
    assert np.allclose(d["probabilities"].sum(axis=2), 1, atol=1e-4)
    assert "record-dynamics = true" in (dynamics_run / "bertcli.toml").read_text()


def test_dynamics_rank_the_planted_flips_first_and_draw_the_map(cli, dynamics_run, tmp_path):
    plot = tmp_path / "map.png"
    result = cli("debug", "labels", dynamics_run, "--json", "--plot", plot)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evidence"].startswith("training dynamics (6 epochs")
    assert sorted(i["row"] for i in report["issues"][: len(FLIPPED)]) == list(FLIPPED)
    assert plot.stat().st_size > 1000


def test_folds_cross_fit_the_training_split_and_resume(cli, dynamics_run):
    result = cli("debug", "labels", dynamics_run, "--folds", "4", "--json")
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "cross-fitting 80 training examples" in said and "4 of 4 models to train" in said and "estimated about" in said
    report = json.loads(result.stdout)
    assert report["examples"] == 80 and report["evidence"] == "cross-fitting (4 folds)"
    # each fold model saw 60 examples: the planted flips lead the queue (three of four at least)
    assert len({i["row"] for i in report["issues"][: len(FLIPPED)]} & set(FLIPPED)) >= 3
    assert all((dynamics_run / "label-folds-4" / f"fold-{k}" / "scores.npz").is_file() for k in range(4))
    assert not (dynamics_run / "label-folds-4" / "fold-0" / "run").exists()
    again = cli("debug", "labels", dynamics_run, "--folds", "4", "--json")
    assert again.exit_code == 0 and "4 fold(s) already scored" in " ".join(again.stderr.split())
    assert json.loads(again.stdout)["issues"] == report["issues"]


def test_folds_refuse_more_folds_than_the_smallest_class(cli, dynamics_run):
    result = cli("debug", "labels", dynamics_run, "--folds", "50")
    assert result.exit_code != 0 and "larger than the smallest class" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_relabel_and_exclude_apply_a_decisions_file(cli, tiny_model, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    names = ["negative", "positive"]  # 0/1 labels are "0"/"1" unless the data names them
    write_csv(data / "train.csv", make_reviews(40, seed=5), names=names)
    write_csv(data / "validation.csv", make_reviews(10, seed=6), names=names)
    decisions = tmp_path / "d.csv"
    decisions.write_text("row,split,given,suggested,action\n0,train,negative,positive,relabel:positive\n"
                         "1,train,positive,negative,drop\n2,train,negative,positive,keep\n")
    out = tmp_path / "run"
    result = cli("train", "--model", tiny_model, "--dataset", data, "--train-size", "all", "--eval-size", "all",
                 "--max-steps", "1", "--batch-size", "8", "--max-length", "32", "--no-tensorboard",
                 "--relabel", decisions, "--exclude", decisions, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "relabelled 1 row(s), excluded 1 row(s) of split 'train'" in " ".join((result.stderr + result.stdout).split())
    missing = tmp_path / "missing.csv"
    missing.write_text("row,split,given,action\n400,train,negative,drop\n")
    refused = cli("train", "--model", tiny_model, "--dataset", data, "--exclude", missing, "-o", tmp_path / "r2")
    assert refused.exit_code != 0 and "row 400 is not in split 'train'" in refused.stderr


def test_same_words_under_another_label_join_the_queue_with_that_evidence():
    """debug data's conflicting copies join the queue: one the model doubts gains the evidence, the other joins it."""
    import numpy as np

    from bertcli.core.diagnose.label_queue import LabelDiagnosis, Scored, join_scored_duplicates, rank_scored

    rng = np.random.default_rng(1)
    truth = np.arange(200) % 2
    logits = rng.normal(size=(200, 2)) + 5 * np.eye(2)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    texts = [f"review number {i} says {'good' if y else 'bad'}" for i, y in enumerate(truth)]
    given = truth.copy()
    given[7] = 1 - given[7]  # a planted flip the model doubts
    texts[50] = "A <b>fine</b> film!"  # the same words twice, once under each label
    texts[51] = "a fine film"
    scored = Scored(rows=list(range(200)), texts=texts, labels=given, probabilities=probs)
    issues, quality = rank_scored(scored, ["neg", "pos"], "self_confidence", "synthetic")
    d = LabelDiagnosis(source="s", split="train", model=None, evidence="synthetic", ranked_by="self_confidence",
                       label_names=["neg", "pos"], examples=200, issues=issues)
    assert join_scored_duplicates(d, scored, ["neg", "pos"], quality) == 2
    by_row = {i.row: i for i in d.issues}
    assert d.issues[0].row == 7 and "same words" not in d.issues[0].evidence
    # whichever copy the model doubted keeps its evidence and gains the other; the other copy joins after it
    assert {50, 51} <= set(by_row)
    assert "same words as row 51" in by_row[50].evidence and "same words as row 50" in by_row[51].evidence
    assert [i.rank for i in d.issues] == list(range(1, len(d.issues) + 1))
    assert any("share their words with an example of another label" in n for n in d.notes)


def test_queue_from_the_cli_names_a_conflicting_copy(cli, final, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = make_reviews(40, seed=12)
    text, label = rows[5]
    rows.append((text.upper() + "!!", 1 - label))  # the same words under the other label
    write_csv(data / "test.csv", rows)
    result = cli("debug", "labels", "--model", final, "--dataset", data, "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    evidence = {issue["row"]: issue["evidence"] for issue in report["issues"]}
    assert "same words as row 40" in evidence[5] and "same words as row 5" in evidence[40]
    shown = cli("debug", "labels", "--model", final, "--dataset", data, "--split", "test")
    assert shown.exit_code == 0, shown.stderr
    assert "=40 " in shown.stdout and "=5 " in shown.stdout and "the same words as row N" in " ".join(shown.stdout.split())
