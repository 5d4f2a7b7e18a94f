"""train, evaluate and debug data pick the same rows for the same dataset options, whatever the source."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bertcli.core.data import CARVED, DataSpec, load_labelled_data
from bertcli.core.data.labels import map_labels
from bertcli.core.diagnose.data import read_splits
from bertcli.core.evaluation import load_eval_data
from factory import make_reviews, write_acl, write_csv

SIZES = [(20, 8), (None, None)]  # drawn with the seed; every row


def _hub_folder(tmp_path):
    folder = tmp_path / "hubds"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(60, seed=1))
    write_csv(folder / "test.csv", make_reviews(30, seed=2))
    return folder


def _csv(tmp_path):
    return write_csv(tmp_path / "reviews.csv", make_reviews(80, seed=3))


def _jsonl(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": ["neg", "pos"][y]}) + "\n" for t, y in make_reviews(80, seed=4)))
    return path


def _parquet(tmp_path):
    import pandas as pd

    rows = make_reviews(80, seed=5)
    path = tmp_path / "reviews.parquet"
    pd.DataFrame({"text": [t for t, _ in rows], "label": [y for _, y in rows]}).to_parquet(path)
    return path


def _acl(tmp_path):
    return write_acl(tmp_path / "aclImdb", make_reviews(40, seed=6), make_reviews(20, seed=7))


# (source builder, options, the eval split train uses)
SOURCES = {
    "hub-folder-test-split": (_hub_folder, {}, "test"),
    "csv-file-carved": (_csv, {}, CARVED),
    "jsonl-file-carved": (_jsonl, {}, CARVED),
    "parquet-file-carved": (_parquet, {}, CARVED),
    "acl-imdb-folder": (_acl, {}, "test"),
    "eval-split-naming-train-carved": (_hub_folder, {"eval_split": "train"}, CARVED),
}


def _trained_rows(ds, names):
    return [(text, names[label]) for text, label in zip(ds["text"], ds["label"])]


@pytest.mark.parametrize("sizes", SIZES, ids=["drawn", "all"])
@pytest.mark.parametrize("kind", list(SOURCES))
def test_debug_data_and_evaluate_pick_the_rows_train_picks(tmp_path, kind, sizes):
    build, options, eval_split = SOURCES[kind]
    source = str(build(tmp_path))
    train_size, eval_size = sizes
    spec = DataSpec(source, train_size=train_size, eval_size=eval_size, seed=7, **options)

    trained = load_labelled_data(source, train_size=train_size, eval_size=eval_size, seed=7, **options)
    assert trained.eval_split == eval_split
    data, splits = read_splits(spec)  # what debug data diagnoses
    assert [s.name for s in splits] == ["train", eval_split] and data.label_names == trained.label_names
    for picked, split in ((trained.train, splits[0]), (trained.eval, splits[1])):
        rows, shown = _trained_rows(picked, trained.label_names), list(zip(split.texts, split.labels))
        assert Counter(rows) == Counter(shown)  # train shuffles a split it takes whole, debug data keeps its order
        if train_size is not None and split.name == "train":  # a drawn sample: the same rows in the same order
            assert rows == shown and len(rows) == train_size

    if eval_split != CARVED:  # evaluate --split test --size N scores the rows train evaluates on
        scored = load_eval_data(source, eval_split, eval_size, 7, "text", "label")
        ids, bad = map_labels(scored.labels, scored.label_names)
        assert not bad
        rows = list(zip(scored.texts, (scored.label_names[i] for i in ids)))
        expected = _trained_rows(trained.eval, trained.label_names)
        assert Counter(rows) == Counter(expected)
        if eval_size is not None:  # drawn from a larger split: the same order too
            assert rows == expected and len(rows) == eval_size


def test_debug_data_shows_the_carved_split_train_holds_out(tmp_path, cli):
    source = _csv(tmp_path)
    trained = load_labelled_data(str(source), train_size=None, eval_size=None)
    result = cli("debug", "data", "--dataset", source, "--no-lengths", "--json")
    data = json.loads(result.stdout)
    assert [(s["name"], s["rows"]) for s in data["splits"]] == [("train", len(trained.train)), (CARVED, len(trained.eval))]
    assert data["eval_split"] == CARVED and data["leakage"]["eval_rows"] == len(trained.eval)
    carved = next(f for f in data["findings"] if f["code"] == "carved_eval")
    assert carved["level"] == "info" and f"stratified {len(trained.eval)}-example eval set" in carved["summary"]
