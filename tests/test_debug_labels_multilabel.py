"""`bertcli debug labels` on multi-label data: a few label sets planted wrong on a separable toy set, found by
the out-of-sample model, the training dynamics and cross-fitting; the decisions file round trip with label
sets; the refusals (one line each, exit code not 0)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
from factory import MULTI_LABELS, NEGATIVE_WORDS, POSITIVE_WORDS
from refusals import error_line

PLANTED = (0, 1, 2, 3)


def label_sets(n: int, seed: int) -> list[tuple[str, list[int]]]:
    """Short texts carrying any of good / bad / music (every combination in turn, none included): two praising
    words for good, two complaints for bad, "music" twice for music, and one neutral word — separable enough
    for a tiny model to learn in seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = [k for k in range(3) if (i >> k) & 1]
        words = [rng.choice(["plot", "cast", "story", "script", "the", "film"])]
        if 0 in labels:
            words += rng.sample(POSITIVE_WORDS, 2)
        if 1 in labels:
            words += rng.sample(NEGATIVE_WORDS, 2)
        if 2 in labels:
            words += ["music", "music"]
        rng.shuffle(words)
        rows.append((" ".join(words), labels))
    return rows


def planted(labels: list[int], rng: random.Random) -> list[int]:
    """Another label set: one given label swapped for one not given (added where none is given)."""
    present, absent = list(labels), [k for k in range(3) if k not in labels]
    out = set(present)
    if present:
        out.remove(rng.choice(present))
    if absent:
        out.add(rng.choice(absent))
    return sorted(out)


def write_tsv(path: Path, rows: list[tuple[str, list[int]]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["text", "labels"])
        writer.writerows((text, ",".join(str(k) for k in labels)) for text, labels in rows)
    return path


def with_planted(rows: list[tuple[str, list[int]]], seed: int) -> list[tuple[str, list[int]]]:
    rng = random.Random(seed)
    return [(t, planted(ls, rng) if i in PLANTED else ls) for i, (t, ls) in enumerate(rows)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models here train in this process: one torch thread makes their floating point, and so the
    rankings, the same whatever the machine's core count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ml_data(tmp_path_factory) -> Path:
    """train.tsv (192 rows, rows 0-3 with a wrong label set), validation.tsv (clean), names.txt."""
    data = tmp_path_factory.mktemp("ml-labels") / "data"
    data.mkdir()
    write_tsv(data / "train.tsv", with_planted(label_sets(192, seed=1), seed=0))
    write_tsv(data / "validation.tsv", label_sets(24, seed=2))
    (data.parent / "names.txt").write_text("\n".join(MULTI_LABELS) + "\n")
    return data


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory, tiny_model, ml_data) -> Path:
    """A tiny multi-label model trained with --record-dynamics on the planted training set."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    run = ml_data.parent / "run"
    result = CliRunner().invoke(app, [str(a) for a in (
        "train", "--model", tiny_model, "--dataset", ml_data, "--label-column", "labels",
        "--label-names", ml_data.parent / "names.txt", "--train-size", "all", "--eval-size", "all", "--epochs", "40",
        "--lr", "5e-3", "--warmup-ratio", "0.1", "--seed", "2", "--batch-size", "8", "--max-length", "32",
        "--save-steps", "1000", "--no-tensorboard", "--precision", "fp32",  # the same on CPUs where auto picks bf16
        "--record-dynamics", "-o", run, "-q",
    )])
    assert result.exit_code == 0, result.stderr
    return run


def test_dynamics_of_a_multi_label_run_keep_each_labels_sigmoid(ml_run):
    from bertcli.core.training.dynamics import DYNAMICS_FILE, read_dynamics

    d = read_dynamics(ml_run / DYNAMICS_FILE)
    assert d["probabilities"].shape == (40, 192, 3)
    assert d["labels"].shape == (192, 3) and set(np.unique(d["labels"])) <= {0, 1}
    assert not np.isnan(d["probabilities"]).any()
    # a sigmoid per label: an example's probabilities need not sum to 1
    assert not np.allclose(d["probabilities"].sum(axis=2), 1, atol=1e-2)
    # the rows recorded carry the label sets the data gives them (planted ones included)
    given = [labels for _, labels in with_planted(label_sets(192, seed=1), seed=0)]
    for row, labels in zip(d["rows"], d["labels"]):
        assert np.flatnonzero(labels).tolist() == given[row]


def test_dynamics_rank_the_planted_label_sets_first(cli, ml_run, tmp_path):
    plot = tmp_path / "map.png"
    result = cli("debug", "labels", ml_run, "--json", "--plot", plot)
    assert result.exit_code == 0, result.stderr
    assert plot.stat().st_size > 1000
    report = json.loads(result.stdout)
    assert report["multi_label"] is True and report["evidence"].startswith("training dynamics (40 epochs")
    assert sorted(i["row"] for i in report["issues"][: len(PLANTED)]) == list(PLANTED)
    truth = label_sets(192, seed=1)
    for issue in report["issues"][: len(PLANTED)]:
        right = ", ".join(MULTI_LABELS[k] for k in truth[issue["row"]][1]) or "(no label)"
        assert issue["given"] != right and issue["suggested"] != issue["given"]  # in-sample: not always the truth


def test_the_multi_label_queue_fits_80_columns(cli, ml_run, monkeypatch):
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    result = cli("debug", "labels", ml_run)
    assert result.exit_code == 0, result.stderr
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    said = " ".join(result.stdout.split())
    assert "self-conf." in said and "cleanlab's multi-label self-confidence" in said


def test_out_of_sample_queue_shows_given_and_suggested_label_sets(cli, ml_run, tmp_path):
    held = write_tsv(tmp_path / "held.tsv", with_planted(label_sets(64, seed=7), seed=3))
    result = cli("debug", "labels", "--model", ml_run / "final", "--dataset", held, "--label-column", "labels",
                 "--split", "train", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evidence"] == "out-of-sample model" and report["multi_label"] is True and report["examples"] == 64
    queued = [i["row"] for i in report["issues"]]
    # a tiny model (its floating point differs with the CPU and thread count): three of the four planted sets
    # lead the queue, and all four are in its first eight
    assert len(set(queued[: len(PLANTED)]) & set(PLANTED)) >= 3 and set(PLANTED) <= set(queued[:8]), queued
    truth = label_sets(64, seed=7)
    for issue in [i for i in report["issues"] if i["row"] in PLANTED]:
        assert issue["suggested"] == (", ".join(MULTI_LABELS[k] for k in truth[issue["row"]][1]) or "(no label)")
        assert 0.0 <= issue["self_confidence"] < 0.5


def test_a_multi_label_model_reads_one_label_a_row_as_label_sets_of_one(cli, ml_run, tmp_path):
    rows = [(t, ls[:1]) for t, ls in label_sets(40, seed=9)]  # at most one label each: looks single-label
    path = write_tsv(tmp_path / "single.tsv", rows)
    result = cli("debug", "labels", "--model", ml_run / "final", "--dataset", path, "--label-column", "labels",
                 "--split", "train", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["multi_label"] is True and report["examples"] == 40
    names = {", ".join(MULTI_LABELS[k] for k in ls) or "(no label)" for _, ls in rows}
    assert {i["given"] for i in report["issues"]} <= names


def test_multi_label_ranking_is_cleanlabs(tmp_path):
    """Through the real ranking: a model right on every label of 300 examples, 10 label sets planted wrong; the
    confidence column is cleanlab's multi-label self-confidence of the given set."""
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    from bertcli.core.diagnose.label_queue import Scored, rank_scored

    rng = np.random.default_rng(0)
    truth = (rng.random((300, 4)) < 0.4).astype(np.int64)
    logits = rng.normal(size=(300, 4)) + 6 * (2 * truth - 1)
    probs = 1 / (1 + np.exp(-logits))
    given = truth.copy()
    flipped = rng.choice(300, size=10, replace=False)
    for i in flipped:
        given[i, rng.integers(4)] ^= 1
    names = ["a", "b", "c", "d"]
    scored = Scored(rows=list(range(300)), texts=[f"t{i}" for i in range(300)], labels=given, probabilities=probs)
    issues, quality = rank_scored(scored, names, "self_confidence", "synthetic")
    # confident learning queues planted sets only (most of them); the score ranks all ten lowest
    assert {i.row for i in issues} <= set(flipped.tolist()) and len(issues) >= 8
    assert set(np.argsort(quality)[:10].tolist()) == set(flipped.tolist())
    expected = get_label_quality_scores([np.flatnonzero(r).tolist() for r in given], probs)
    assert np.allclose(quality, expected)
    for issue in issues:
        assert issue.self_confidence == pytest.approx(expected[issue.row])
        assert issue.suggested == (", ".join(n for n, on in zip(names, truth[issue.row]) if on) or "(no label)")


def test_decisions_round_trip_relabels_label_sets_and_drops_exactly_the_named_rows(cli, ml_run, ml_data, tmp_path):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.data.decisions import read_decisions

    out = tmp_path / "labels.csv"
    result = cli("debug", "labels", ml_run, "--decisions", out)
    assert result.exit_code == 0, result.stderr
    assert "relabel:LABEL,LABEL" in " ".join(result.stderr.split())
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 2 and all(r["action"] == "keep" for r in rows)
    relabelled, dropped = int(rows[0]["row"]), int(rows[1]["row"])
    rows[0]["action"] = "relabel:" + rows[0]["suggested"].replace(" ", "")  # e.g. relabel:good,music
    rows[1]["action"] = "drop"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    def select(decisions):
        spec = DataSpec(str(ml_data), label_column="labels", train_size=None, eval_size=None, row_ids=True,
                        decisions=decisions, label_names=MULTI_LABELS)
        data = select_examples(spec, for_training=True)
        return {r: (t, tuple(y)) for r, t, y in zip(data.train["row"], data.train["text"], data.train["label"])}, data.notes

    before, _ = select(None)
    after, notes = select(read_decisions(out, relabel=True, drop=True))
    assert set(before) - set(after) == {dropped}
    assert {r for r in after if after[r] != before[r]} == {relabelled}
    wanted = [n.strip() for n in rows[0]["suggested"].split(",")] if rows[0]["suggested"] != "(no label)" else []
    assert [n for n, on in zip(MULTI_LABELS, after[relabelled][1]) if on] == wanted
    assert any("relabelled 1 row(s), excluded 1 row(s)" in n for n in notes)


def test_train_relabel_applies_a_label_set_and_refuses_an_unknown_label(cli, tiny_model, ml_data, tmp_path):
    decisions = tmp_path / "d.jsonl"
    decisions.write_text(json.dumps({"row": 5, "split": "train", "given": "good, music", "action": "relabel:bad,music"}) + "\n"
                         + json.dumps({"row": 6, "split": "train", "given": "bad, music", "action": "relabel:(no label)"}) + "\n")
    common = ("train", "--model", tiny_model, "--dataset", ml_data, "--label-column", "labels", "--label-names",
              ml_data.parent / "names.txt", "--max-steps", "1", "--batch-size", "8", "--max-length", "32", "--no-tensorboard")
    result = cli(*common, "--relabel", decisions, "-o", tmp_path / "run")
    assert result.exit_code == 0, result.stderr
    assert "relabelled 2 row(s) of split 'train'" in " ".join((result.stderr + result.stdout).split())
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"row": 5, "split": "train", "given": "good, music", "action": "relabel:joy"}) + "\n")
    refused = cli(*common, "--relabel", wrong, "-o", tmp_path / "run2")
    assert refused.exit_code != 0
    line = error_line(refused)
    assert "row 5 names joy" in line
    stale = tmp_path / "stale.jsonl"
    stale.write_text(json.dumps({"row": 5, "split": "train", "given": "bad", "action": "drop"}) + "\n")
    refused = cli(*common, "--exclude", stale, "-o", tmp_path / "run3")
    assert refused.exit_code != 0
    line = error_line(refused)
    assert "labelled 'good, music' in the data, the file says 'bad'" in line


def test_folds_cross_fit_a_multi_label_run(cli, ml_run):
    result = cli("debug", "labels", ml_run, "--folds", "3", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evidence"] == "cross-fitting (3 folds)" and report["multi_label"] is True
    assert report["examples"] == 192
    # three tiny fold models, each on 128 examples: three of the four planted sets in the first eight of 192
    # (a random order puts 0.17 there)
    assert len({i["row"] for i in report["issues"][:8]} & set(PLANTED)) >= 3, [i["row"] for i in report["issues"][:8]]


def test_folds_refuse_more_folds_than_the_rarest_labels_examples(cli, ml_run):
    result = cli("debug", "labels", ml_run, "--folds", "100")
    assert result.exit_code != 0
    line = error_line(result)
    assert "larger than the smallest label" in line


def test_a_single_label_model_refuses_multi_label_data(cli, dynamics_final, ml_data):
    result = cli("debug", "labels", "--model", dynamics_final, "--dataset", ml_data, "--label-column", "labels",
                 "--split", "validation")
    assert result.exit_code != 0
    line = error_line(result)
    assert "multi-label" in line and "single-label model" in line


@pytest.fixture(scope="module")
def dynamics_final(tmp_path_factory, tiny_model, reviews_csv) -> Path:
    from trained import trained_run

    return trained_run(tmp_path_factory, tiny_model, reviews_csv) / "final"


@pytest.mark.parametrize("column, said", [(0, "no example of a among the 40 scored"), (1, "every one of the 40 scored examples carries b")])
def test_a_label_given_nowhere_or_everywhere_is_refused(column, said):
    """cleanlab judges each label one-vs-rest: a label no scored example carries, or every one does, is refused."""
    from bertcli.core.diagnose.label_queue import Scored, rank_scored
    from bertcli.core.errors import DataError

    rng = np.random.default_rng(3)
    given = (rng.random((40, 3)) < 0.5).astype(np.int64)
    given[:, column] = 0 if column == 0 else 1
    scored = Scored(rows=list(range(40)), texts=["t"] * 40, labels=given, probabilities=rng.random((40, 3)))
    with pytest.raises(DataError, match=said):
        rank_scored(scored, ["a", "b", "c"], "self_confidence", "synthetic")
