"""Every --dataset form, labels as ints or names, carving, and every bad input refused before training."""

from __future__ import annotations

import json

import pytest

from bertcli.core.data import load_labelled_data, parse_size
from bertcli.core.errors import DataError, UsageError
from factory import make_reviews, write_acl, write_csv, write_jsonl

NAMES = ["negative", "positive"]


def test_csv_with_int_labels_carves_a_stratified_split(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(100))
    data = load_labelled_data(str(path), train_size=None, eval_size=None)
    assert data.label_names == ["0", "1"]  # 0/1 labels are not "negative"/"positive" unless the data says so
    assert data.label_values is None
    assert data.eval_split == "carved from train"
    assert len(data.train) + len(data.eval) == 100
    assert sorted(data.eval["label"]).count(1) == len(data.eval) // 2  # stratified
    assert "carved" in data.notes[0]


def test_jsonl_with_label_names_and_custom_columns(tmp_path):
    rows = make_reviews(40)
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"review": t, "sentiment": NAMES[y]}) + "\n" for t, y in rows))
    data = load_labelled_data(str(path), train_size=20, eval_size=8, text_column="review", label_column="sentiment")
    assert len(data.train) == 20 and len(data.eval) == 8
    assert data.label_names == NAMES
    by_text = {t: y for t, y in rows}
    assert all(by_text[t] == y for t, y in zip(data.train["text"], data.train["label"]))


def test_parquet_file(tmp_path):
    import pandas as pd

    rows = make_reviews(30)
    path = tmp_path / "r.parquet"
    pd.DataFrame({"text": [t for t, _ in rows], "label": [y for _, y in rows]}).to_parquet(path)
    data = load_labelled_data(str(path), train_size=None, eval_size=6)
    assert len(data.eval) == 6 and len(data.train) == 24


def test_hub_layout_folder_uses_its_test_split(tmp_path):
    folder = tmp_path / "hubds"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(30, seed=1))
    write_csv(folder / "test.csv", make_reviews(12, seed=2))
    data = load_labelled_data(str(folder), train_size=None, eval_size=None)
    assert data.eval_split == "test"
    assert (len(data.train), len(data.eval)) == (30, 12)


def test_eval_split_naming_the_train_split_carves_a_held_out_part(tmp_path):
    folder = tmp_path / "hubds"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(60, seed=1))
    write_csv(folder / "test.csv", make_reviews(12, seed=2))
    data = load_labelled_data(str(folder), train_size=None, eval_size=10, eval_split="train")
    assert data.eval_split == "carved from train"
    assert (len(data.train), len(data.eval)) == (50, 10)
    assert not set(data.eval["text"]) & set(data.train["text"])  # never scored on rows it trained on
    assert any(note.startswith("--eval-split train: carved") for note in data.notes)


def test_acl_imdb_folder(tmp_path):
    root = write_acl(tmp_path / "aclImdb", make_reviews(20, seed=3), make_reviews(10, seed=4))
    for given in (root, tmp_path):  # the folder itself or its parent
        data = load_labelled_data(str(given), train_size=None, eval_size=None)
        assert data.label_names == NAMES
        assert (len(data.train), len(data.eval)) == (20, 10)
        assert sorted(data.train["label"]) == [0] * 10 + [1] * 10


def test_sampling_is_seeded_and_sized(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(100))
    a = load_labelled_data(str(path), train_size=30, eval_size=5, seed=42)
    b = load_labelled_data(str(path), train_size=30, eval_size=5, seed=42)
    c = load_labelled_data(str(path), train_size=30, eval_size=5, seed=7)
    assert list(a.train["text"]) == list(b.train["text"]) != list(c.train["text"])


def test_the_one_text_column_is_picked_and_said(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(10), text_col="review")
    data = load_labelled_data(str(path))
    assert data.text_column == "review" and len(data.train) + len(data.eval) == 10
    assert any("text from column review" in note and "--text-column" in note for note in data.notes)


def test_a_named_column_that_is_missing_names_the_flag(tmp_path):
    path = write_csv(tmp_path / "r.csv", make_reviews(10), text_col="review")
    with pytest.raises(DataError, match=r"no column 'body'.*--text-column"):
        load_labelled_data(str(path), text_column="body")


def test_label_outside_the_label_set(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl(path, make_reviews(10), names=NAMES)
    with path.open("a") as fh:
        fh.write(json.dumps({"text": "so so", "label": "neutral"}) + "\n")
    with pytest.raises(DataError, match=r"outside the label set \['negative', 'positive'\].*'neutral'"):
        load_labelled_data(str(path), label_names=NAMES, train_size=None, eval_size=None)


def test_negative_int_label_is_refused(tmp_path):
    rows = make_reviews(10) + [("unlabelled review", -1)]
    path = write_csv(tmp_path / "r.csv", rows)
    with pytest.raises(DataError, match="outside the label set"):
        load_labelled_data(str(path), train_size=None, eval_size=None)


def test_empty_texts_are_refused(tmp_path):
    rows = make_reviews(10) + [("   ", 1)]
    path = write_csv(tmp_path / "r.csv", rows)
    with pytest.raises(DataError, match="1 empty text"):
        load_labelled_data(str(path), train_size=None, eval_size=None)


def test_missing_path_and_unknown_extension(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_labelled_data(str(tmp_path / "nope.csv"))
    odd = tmp_path / "r.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"\.csv, \.tsv"):
        load_labelled_data(str(odd))


def test_sizes():
    assert parse_size("all", "--train-size") is None
    assert parse_size("2,000", "--train-size") == 2000
    with pytest.raises(UsageError):
        parse_size("lots", "--train-size")
    with pytest.raises(UsageError):
        parse_size("0", "--eval-size")
