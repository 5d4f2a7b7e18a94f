"""bertcli debug data: each problem planted in a dataset is found, and the rows are the ones train picks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bertcli.core.data import DataSpec
from bertcli.core.diagnose.data import diagnose_data
from states import by_code, codes


# --- debug data ----------------------------------------------------------------------------------------------------

LONG = " ".join(["the story was really quite moving and the acting superb"] * 6)


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory) -> Path:
    """A train/test pair with every problem planted a known number of times."""
    from factory import write_csv

    folder = tmp_path_factory.mktemp("planted")
    train = [
        ("a wonderful film with brilliant acting", 1),
        ("a wonderful film with brilliant acting", 1),  # exact duplicate (1 extra)
        ("A Wonderful film, with brilliant acting!", 1),  # normalised duplicate of the two above (1 extra)
        ("the plot was dull and the ending painful", 0),
        ("the plot was dull and the ending painful", 1),  # exact duplicate with a conflicting label
        ("   ", 0),  # empty
        ("", 1),  # empty
        ("great cast<br /><br />superb music", 1),  # markup
        ("boring &amp; clumsy script", 0),  # markup (entity)
        ("i thought the movie was charming", 1),
        ("this movie was dreadful", 0),
        (LONG, 1),  # long: cut at --max-length 32
        ("a terrible film with awful acting", 0),
        ("quite boring direction", 0),
    ]
    test = [
        ("i thought the movie was charming", 1),  # leak, exact
        ("THIS movie was dreadful.", 1),  # leak after normalising, with the other label
        ("quite a moving story", 1),
        ("really bad direction", 0),
        ("the ending was delightful", 1),
    ]
    write_csv(folder / "train.csv", train, names=["negative", "positive"])
    write_csv(folder / "test.csv", test, names=["negative", "positive"])
    return folder


def test_data_finds_every_planted_problem(planted_data, tiny_model, cli):
    from bertcli.core.model import load_tokenizer

    d = diagnose_data(DataSpec(str(planted_data)), load_tokenizer(str(tiny_model)), tokenizer_name="tiny", max_length=32, model_limit=128)
    train, test = d.splits
    assert (train.name, train.rows, test.name, test.rows) == ("train", 14, "test", 5)
    assert d.label_names == ["negative", "positive"]
    assert train.labels == {"negative": 6, "positive": 8}
    assert test.labels == {"negative": 1, "positive": 4}
    assert (train.empty, train.empty_rows) == (2, [5, 6])
    assert (train.exact_duplicate_groups, train.exact_duplicate_rows) == (2, 2)
    assert (train.normalised_duplicate_groups, train.normalised_duplicate_rows) == (1, 1)
    assert (train.conflict_groups, train.conflict_rows) == (1, 2)
    assert train.conflict_examples[0].labels == ["negative", "positive"]
    assert train.markup_rows == 2 and train.markup == {"<br />": 2, "&amp;": 1}
    assert (test.exact_duplicate_rows, test.conflict_groups, test.empty, test.markup_rows) == (0, 0, 0, 0)
    leak = d.leakage
    assert (leak.eval_rows, leak.exact_rows, leak.normalised_rows, leak.conflicting_rows) == (5, 1, 2, 1)
    lengths = d.lengths
    assert lengths.texts == 12  # the two empty texts are not tokenized
    assert lengths.truncated == 1 and lengths.longest > 32
    assert sum(h["count"] for h in lengths.histogram) == 12
    assert lengths.markup_tokens > 0
    levels = codes(d, "train")
    assert levels["empty_texts"] == "error"
    assert levels["conflicting_labels"] == "error"
    assert levels["leakage"] == "error"
    assert levels["duplicates"] == "warning"
    assert levels["markup"] == "warning"
    assert codes(d, "test")["imbalance"] == "warning"  # 4 positive to 1 negative
    fix = by_code(d, "duplicates").fix
    assert fix.startswith(f"bertcli debug data --dataset {planted_data} ") and f" --clean-to {planted_data.name}-clean" in fix
    assert fix.endswith(f"bertcli train --model tiny --dataset {planted_data.name}-clean")  # the user's model comes along

    result = cli("debug", "data", "--dataset", planted_data, "--model", tiny_model, "--max-length", "32", "--json")
    assert result.exit_code == 1  # error-level findings
    data = json.loads(result.stdout)
    assert data["leakage"]["normalised_rows"] == 2
    assert data["splits"][0]["exact_duplicate_rows"] == 2


def test_data_clean_copy_trains_clean(planted_data, tiny_model, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    clean = tmp_path / "clean"
    result = cli("debug", "data", "--dataset", planted_data, "--model", tiny_model, "--max-length", "64", "--clean-to", clean)
    assert result.exit_code == 1
    assert "Clean copy in" in result.stdout
    rows = [json.loads(line) for line in (clean / "train.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows]
    assert "great cast superb music" in texts and "boring & clumsy script" in texts
    assert not any(t == "the plot was dull and the ending painful" for t in texts)
    assert texts.count("a wonderful film with brilliant acting") == 1 and len(rows) == 14 - 2 - 2 - 2
    again = cli("debug", "data", "--dataset", clean, "--model", tiny_model, "--max-length", "64", "--json")
    assert again.exit_code == 0, again.stdout
    data = json.loads(again.stdout)
    train, test = data["splits"]
    assert train["exact_duplicate_rows"] == train["normalised_duplicate_rows"] == train["conflict_rows"] == 0
    assert train["empty"] == train["markup_rows"] == 0
    assert data["leakage"]["normalised_rows"] == 0 and test["rows"] == 3


def test_data_sizes_draw_like_train(planted_data, cli):
    data = json.loads(cli("debug", "data", "--dataset", planted_data, "--no-lengths", "--train-size", "6", "--json").stdout)
    assert data["splits"][0]["rows"] == 6 and data["splits"][1]["rows"] == 5
    assert data["lengths"] is None


def test_data_single_file_and_unknown_labels(tmp_path, cli):
    path = tmp_path / "one.csv"
    path.write_text("text,label\ngood film,pos\nbad film,neg\nfine film,meh\n")

    d = diagnose_data(DataSpec(str(path)), None)
    assert d.eval_split is None and d.leakage is None
    assert codes(d)["no_eval_split"] == "info"
    assert d.splits[0].labels == {"meh": 1, "neg": 1, "pos": 1}


@pytest.mark.slow
def test_markup_in_most_imdb_reviews_and_lengths_of_the_real_corpus(imdb, minilm, cli):
    from bertcli.core.model import load_tokenizer

    d = diagnose_data(DataSpec(str(imdb), train_size=1000, eval_size=200), load_tokenizer(str(minilm)), max_length=128)
    train = d.splits[0]
    assert train.rows == 1000 and "<br />" in train.markup
    assert train.markup_rows > 400
    assert d.lengths.truncated_share > 0.7 and d.lengths.suggested_max_length == 512
    assert by_code(d, "truncation").fix.startswith("bertcli train --dataset ") and " --max-length 512" in by_code(d, "truncation").fix


def test_clean_to_a_file_or_a_place_that_cannot_be_written_is_one_line_before_reading(planted_data, tmp_path, cli):
    from refusals import assert_refused

    taken = tmp_path / "taken.jsonl"
    taken.write_text("{}\n")
    assert_refused(cli("debug", "data", "--dataset", planted_data, "--clean-to", taken), 2,
                   f"--clean-to {taken} is a file, not a folder")
    assert_refused(cli("debug", "data", "--dataset", planted_data, "--clean-to", taken / "clean"), 2,
                   f"--clean-to {taken / 'clean'} cannot be created: {taken} is a file")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("")
    assert_refused(cli("debug", "data", "--dataset", planted_data, "--clean-to", full), 2, "already has files in it")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert_refused(cli("debug", "data", "--dataset", planted_data, "--clean-to", locked / "clean"), 1, "is not writable")
