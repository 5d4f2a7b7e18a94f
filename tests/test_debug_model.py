"""bertcli debug model: a model against its tokenizer, labels and --max-length, and whether it can learn one batch."""

from __future__ import annotations

import json
import math

import pytest

LN2 = math.log(2)


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

    from bertcli.core.diagnose.model import SANITY_TEXTS, check_gradient_flow
    from bertcli.core.diagnose.model_findings import gradient_findings
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
    levels = {f.code: f.level for f in gradient_findings(check)}
    assert levels["head_no_gradient"] == "error" and levels["no_gradient"] == "warning"


def test_model_batch_from_a_dataset(tiny_model, reviews_csv, cli):
    result = cli(
        "debug", "model", "--model", tiny_model, "--dataset", reviews_csv, "--max-length", "64", "--overfit-lr", "1e-2", "--json"
    )
    data = json.loads(result.stdout)
    assert data["overfit"]["source"].endswith("train split") and data["overfit"]["examples"] == 8
    assert data["id2label"] == {"0": "negative", "1": "positive"}



def test_one_label_gets_a_fix_that_train_runs(tiny_model, reviews_csv, cli, tmp_path):
    result = cli("debug", "model", "--model", tiny_model, "--max-length", "64", "--labels", "onlyone", "--no-overfit", "--json")
    assert result.exit_code == 1
    fix = {f["code"]: f for f in json.loads(result.stdout)["findings"]}["num_labels"]["fix"]
    command, _, comment = fix.partition("  # ")
    assert "--labels" not in command and "a classifier needs two or more" in comment
    # the proposed command (on this data, a few steps) is one train runs
    import shlex

    args = shlex.split(command)[1:] + ["--dataset", str(reviews_csv), "-o", str(tmp_path / "o"), "--max-steps", "1",
                                        "--eval-size", "8", "-q"]
    trained = cli(*args)
    assert trained.exit_code == 0, trained.stderr
