"""bertcli debug data|model: each diagnosis on a dataset or model built to show it, and no false alarms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

LN2 = math.log(2)


def codes(diagnosis, split: str | None = None) -> dict[str, str]:
    """Finding code -> level; with `split`, only the findings about that split (by its quoted name)."""
    return {f.code: f.level for f in diagnosis.findings if split is None or f"'{split}'" in f.summary}


def by_code(diagnosis, code: str):
    return next(f for f in diagnosis.findings if f.code == code)


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
    write_csv(folder / "train.csv", train)
    write_csv(folder / "test.csv", test)
    return folder


def test_data_finds_every_planted_problem(planted_data, tiny_model, cli):
    from bertcli.core.diagnose_data import diagnose_data
    from bertcli.core.model import load_tokenizer

    d = diagnose_data(str(planted_data), load_tokenizer(str(tiny_model)), tokenizer_name="tiny", max_length=32, model_limit=128)
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
    from bertcli.core.diagnose_data import diagnose_data

    d = diagnose_data(str(path), None)
    assert d.eval_split is None and d.leakage is None
    assert codes(d)["no_eval_split"] == "info"
    assert d.splits[0].labels == {"meh": 1, "neg": 1, "pos": 1}


@pytest.mark.slow
def test_markup_in_most_imdb_reviews_and_lengths_of_the_real_corpus(imdb, minilm, cli):
    from bertcli.core.diagnose_data import diagnose_data
    from bertcli.core.model import load_tokenizer

    d = diagnose_data(str(imdb), load_tokenizer(str(minilm)), max_length=128, train_size=1000, eval_size=200)
    train = d.splits[0]
    assert train.rows == 1000 and "<br />" in train.markup
    assert train.markup_rows > 400
    assert d.lengths.truncated_share > 0.7 and d.lengths.suggested_max_length == 512
    assert by_code(d, "truncation").fix.startswith("bertcli train --dataset ") and " --max-length 512" in by_code(d, "truncation").fix


# --- debug model ---------------------------------------------------------------------------------------------------


def test_model_tiny_bert_learns_one_batch(tiny_model, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    result = cli("debug", "model", "--model", tiny_model, "--max-length", "64", "--overfit-lr", "1e-2", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["tokenizer_vocab"] == data["embedding_rows"]
    assert data["max_position_embeddings"] == 128
    assert data["head_is_new"] is True
    overfit = data["overfit"]
    assert overfit["reached_at"] is not None and overfit["final_loss"] < 0.05
    assert overfit["first_loss"] == pytest.approx(LN2, abs=0.05)
    assert overfit["accuracy"] == 1.0
    assert data["gradients"]["no_gradient"] == [] and data["gradients"]["frozen"] == []
    levels = {f["code"]: f["level"] for f in data["findings"]}
    assert levels["generic_labels"] == "info" and levels["vocab"] == "info"
    assert levels["overfit_one_batch"] == "info" and levels["max_length"] == "info"


def test_model_max_length_beyond_positions_is_an_error(tiny_model, cli):
    result = cli("debug", "model", "--model", tiny_model, "--max-length", "512", "--no-overfit", "--json")
    assert result.exit_code == 1
    found = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert "--max-length 512 is longer than the model's 128 position embeddings" in found["max_length"]["summary"]
    assert found["max_length"]["fix"].startswith(f"bertcli train --model {tiny_model} --max-length 128  # ")


def test_model_that_cannot_learn_fails(tiny_model, cli):
    result = cli(
        "debug", "model", "--model", tiny_model, "--max-length", "64", "--overfit-lr", "1e-6", "--overfit-steps", "3", "--json"
    )
    assert result.exit_code == 1
    found = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert found["overfit_one_batch"]["level"] == "error"
    assert "cannot overfit one batch" in found["overfit_one_batch"]["summary"]


@pytest.fixture(scope="module")
def trained_head_models(tiny_model, tmp_path_factory):
    """The tiny BERT saved as a classifier with placeholder labels, and one with label maps that disagree."""
    from transformers import BertForSequenceClassification, BertTokenizer

    root = tmp_path_factory.mktemp("heads")
    tokenizer = BertTokenizer.from_pretrained(str(tiny_model))
    generic = root / "generic"
    BertForSequenceClassification.from_pretrained(str(tiny_model)).save_pretrained(generic)
    tokenizer.save_pretrained(generic)
    broken = root / "broken"
    model = BertForSequenceClassification.from_pretrained(str(tiny_model), id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    model.save_pretrained(broken)
    tokenizer.save_pretrained(broken)
    config = json.loads((broken / "config.json").read_text())
    config["label2id"] = {"neg": 1, "pos": 0}
    (broken / "config.json").write_text(json.dumps(config))
    return generic, broken


def test_model_label0_problem_and_broken_label_maps(trained_head_models, cli):
    generic, broken = trained_head_models
    result = cli("debug", "model", "--model", generic, "--max-length", "64", "--no-overfit", "--json")
    found = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert found["generic_labels"]["level"] == "warning"
    # no names guessed: ones the data does not use would leave no labelled example; train takes the data's
    assert found["generic_labels"]["fix"].startswith(f"bertcli train --model {generic} --max-length 64  # ")
    assert "takes the label names from the data" in found["generic_labels"]["fix"]
    assert result.exit_code == 0
    result = cli("debug", "model", "--model", broken, "--max-length", "64", "--no-overfit", "--json")
    found = {f["code"]: f for f in json.loads(result.stdout)["findings"]}
    assert found["label_maps"]["level"] == "error" and "not the inverse" in found["label_maps"]["summary"]
    assert result.exit_code == 1


def test_gradient_check_finds_frozen_head_and_unused_parameters(tiny_model):
    import torch

    from bertcli.core.diagnose_model import SANITY_TEXTS, _gradient_findings, check_gradient_flow
    from bertcli.core.model import load_classifier, load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model))
    model = load_classifier(str(tiny_model), ["negative", "positive"])
    model.bert.register_parameter("unused", torch.nn.Parameter(torch.ones(3)))
    check = check_gradient_flow(model, tokenizer, SANITY_TEXTS, 64, seed=0)
    assert check.no_gradient == ["bert.unused"]
    assert check.head == ["classifier.weight", "classifier.bias"]
    model.classifier.requires_grad_(False)
    check = check_gradient_flow(model, tokenizer, SANITY_TEXTS, 64, seed=0)
    assert check.frozen == ["classifier.weight", "classifier.bias"]
    levels = {f.code: f.level for f in _gradient_findings(check)}
    assert levels["head_no_gradient"] == "error" and levels["no_gradient"] == "warning"


def test_model_batch_from_a_dataset(tiny_model, reviews_csv, cli):
    result = cli(
        "debug", "model", "--model", tiny_model, "--dataset", reviews_csv, "--max-length", "64", "--overfit-lr", "1e-2", "--json"
    )
    data = json.loads(result.stdout)
    assert data["overfit"]["source"].endswith("train split") and data["overfit"]["examples"] == 8
    assert data["id2label"] == {"0": "negative", "1": "positive"}


def test_debug_help_has_examples(cli):
    for sub in ("run", "data", "model"):
        result = cli("debug", sub, "--help")
        assert result.exit_code == 0
        assert "Examples:" in result.stdout and f"bertcli debug {sub}" in result.stdout
