"""final/ explains itself: a hub-format model card whose model-index holds the final weights' metrics."""

from __future__ import annotations

import json

from bertcli.core.model_card import FinalModelFacts, write_model_card


def _facts(model: str, **over) -> FinalModelFacts:
    facts = dict(
        training={"model": model, "dataset": "imdb-sample", "train_size": 2000, "eval_size": 500, "seed": 42,
                  "num_train_epochs": 3, "train_batch_size": 16, "learning_rate": 2e-5, "lr_scheduler_type": "linear",
                  "warmup_ratio": 0.0, "weight_decay": 0.01, "precision": "fp32"},
        max_length=512, truncation="head+tail", label_names=["negative", "positive"],
        metrics={"accuracy": 0.884, "f1": 0.8849, "loss": 0.3129}, eval_split="test", final_from="checkpoint-250",
        global_step=375, train_seconds=1900.0, hardware="CPU",
    )
    facts.update(over)
    return FinalModelFacts(**facts)


def test_card_metadata_reads_back_with_the_hub_client(tmp_path, minilm):
    from huggingface_hub import ModelCard

    write_model_card(tmp_path, _facts(str(minilm)), "minilm-imdb")
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.datasets == ["imdb-sample"] and card.data.language == ["en"]
    found = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert found == {"accuracy": 0.884, "f1": 0.8849, "loss": 0.3129}
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}
    assert "checkpoint-250" in card.text and "512 tokens, truncation head+tail" in card.text
    assert str(minilm) not in (tmp_path / "README.md").read_text()  # no machine paths
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["metrics"] == found and metrics["final_from"] == "checkpoint-250"


def test_hub_names_stay_and_local_folders_go_by_their_name(tmp_path):
    from huggingface_hub import ModelCard

    write_model_card(tmp_path, _facts("bert-base-uncased"), "run")
    assert ModelCard.load(tmp_path / "README.md").data.base_model == "bert-base-uncased"
    local = tmp_path / "models" / "my-bert"
    local.mkdir(parents=True)
    write_model_card(tmp_path, _facts(str(local)), "run")
    assert ModelCard.load(tmp_path / "README.md").data.base_model == "my-bert"


def test_a_trained_run_explains_itself(cli, tiny_model, reviews_csv, tmp_path):
    """final/README.md and metrics.json hold the saved weights' scores; train --json prints the same report."""
    from huggingface_hub import ModelCard

    out = tmp_path / "run"
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--epochs", "3",
                 "--batch-size", "8", "--lr", "5e-3", "--max-length", "64", "--save-steps", "4", "--logging-steps", "50",
                 "--train-size", "all", "--eval-size", "all", "--no-tensorboard", "-q", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    # --logging-steps 50 is longer than an epoch (11 steps): the plan says so and the run still logs a loss
    assert "--logging-steps 50 is longer than an epoch" in " ".join(result.stderr.split())
    assert report["lowest_loss"] is not None and len(report["epoch_rows"]) == 3
    assert all(row["train_loss"] is not None for row in report["epoch_rows"])
    # utilisation against this CPU's measured matrix-multiply peak, as on a GPU against its datasheet
    assert 0 < report["mfu"] <= 1.0

    final = out / "final"
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["metrics"]["accuracy"] == report["final_metrics"]["accuracy"]
    assert metrics["final_from"] == report["final_from"]
    card = ModelCard.load(final / "README.md")
    scores = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert scores["accuracy"] == round(report["final_metrics"]["accuracy"], 4)
    # the card reports the checkpoint kept as final, which need not be the last evaluation
    if report["final_from"] != "last":
        assert report["final_from"] in card.text
    settings = json.loads((final / "bertcli.json").read_text())["training"]
    assert sum(settings["eval_label_counts"]) == settings["eval_size"] and settings["text_column"] == "text"


def test_the_card_says_which_class_f1_is_of(tmp_path):
    """Training scores F1 of label 1 for two labels (evaluate shows macro F1 beside it): the card says which."""
    from huggingface_hub import ModelCard

    write_model_card(tmp_path, _facts("bert-base-uncased"), "run")
    card = ModelCard.load(tmp_path / "README.md")
    assert "| F1 (class 1, positive; not macro) | 0.8849 |" in card.text
    assert {r.metric_type: r.metric_name for r in card.data.eval_results}["f1"] == "F1 (class 1, positive; not macro)"
    three = tmp_path / "three"
    three.mkdir()
    write_model_card(three, _facts("bert-base-uncased", label_names=["a", "b", "c"]), "run")
    assert "| F1 (macro) | 0.8849 |" in (three / "README.md").read_text()
