"""`bertcli train` end to end on a tiny random BERT and handwritten reviews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertcli.core.runs.checkpoints import list_checkpoints

FAST = ["--epochs", "2", "--batch-size", "8", "--lr", "5e-3", "--max-length", "64", "--save-steps", "3",
        "--logging-steps", "2", "--eval-size", "all", "--train-size", "all", "--no-tensorboard", "-q"]


def test_train_end_to_end_then_pipeline_reads_labels(cli, tiny_model, reviews_csv, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, *FAST[:-2])
    assert result.exit_code == 0, result.stderr
    # the plan is on stderr before training, the summary on stdout
    assert "one checkpoint ≈" in result.stderr
    assert "Run summary" in result.stdout and "accuracy" in result.stdout

    # 96 reviews, a stratified 10% (10) carved for eval → 86 train → 11 steps/epoch → 22 steps
    ckpts = list_checkpoints(out)
    steps = [c.step for c in ckpts]
    state = json.loads((out / f"checkpoint-{steps[-1]}" / "trainer_state.json").read_text())
    assert state["global_step"] == 22 == steps[-1]
    best = Path(state["best_model_checkpoint"]).name
    # best by accuracy + the two newest, in numeric order, nothing else
    assert set(c.name for c in ckpts) == {best, "checkpoint-21", "checkpoint-22"}
    assert steps == sorted(steps)
    # the newest checkpoint holds the whole run's history: every logged step and both evaluations
    logged = [e["step"] for e in state["log_history"] if "loss" in e]
    assert logged == list(range(2, 23, 2))
    assert sum("eval_accuracy" in e for e in state["log_history"]) == 2

    final = out / "final"
    assert (final / "model.safetensors").is_file()
    saved = json.loads((final / "bertcli.json").read_text())
    assert (saved["max_length"], saved["truncation"]) == (64, "head+tail")
    assert saved["training"]["weight_decay"] == 0.01 and saved["training"]["learning_rate"] == 5e-3
    config = json.loads((final / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}

    from transformers import pipeline

    clf = pipeline("text-classification", model=str(final))
    preds = clf(["a wonderful superb brilliant film", "a terrible boring awful film"])
    assert {p["label"] for p in preds} <= {"negative", "positive"}


def test_train_learns_the_handwritten_reviews(tiny_model, reviews_csv, tmp_path):
    from bertcli.core.training import TrainConfig, train

    report = train(
        TrainConfig(
            model=str(tiny_model), dataset=str(reviews_csv), output_dir=tmp_path / "r", epochs=4, batch_size=8,
            lr=5e-3, max_length=64, train_size=None, eval_size=None, save_steps=100, logging_steps=5,
            tensorboard=False,
        )
    )
    assert report.final_metrics["accuracy"] >= 0.8
    assert report.epoch_rows[-1]["train_loss"] < report.epoch_rows[0]["train_loss"]
    assert report.lowest_loss is not None and report.lowest_loss_step is not None


def test_tensorboard_events_written(cli, tiny_model, reviews_csv, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "tb"
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--max-steps", "4",
                 "--save-steps", "2", "--logging-steps", "1", "--max-length", "32", "-q")
    assert result.exit_code == 0, result.stderr
    assert list((out / "runs").rglob("events.out.tfevents.*"))


def test_existing_run_needs_resume_or_overwrite(cli, tiny_model, reviews_csv, tmp_path):
    out = tmp_path / "twice"
    args = ["train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--max-steps", "2",
            "--save-steps", "2", "--max-length", "32", "--no-tensorboard", "-q"]
    assert cli(*args).exit_code == 0
    again = cli(*args)
    assert again.exit_code == 2
    assert "--resume" in again.stderr and "--overwrite" in again.stderr
    assert cli(*args, "--overwrite").exit_code == 0


def test_disk_short_refuses_before_training(cli, tiny_model, reviews_csv, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "full"
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--max-length", "32", "-q")
    assert result.exit_code == 1
    assert "free" in result.stderr and "--output-dir" in result.stderr
    assert not list_checkpoints(out)


def test_resume_flag_without_checkpoints_starts_fresh(cli, tiny_model, reviews_csv, tmp_path):
    out = tmp_path / "fresh"
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--max-steps", "2",
                 "--save-steps", "2", "--max-length", "32", "--no-tensorboard", "--resume", "-q")
    assert result.exit_code == 0, result.stderr
    assert "starting fresh" in result.stderr


def test_distilbert_family_model(cli, reviews_csv, tmp_path):
    from factory import build_tiny_distilbert

    model = build_tiny_distilbert(tmp_path / "tiny-distilbert")
    out = tmp_path / "distil"
    result = cli("train", "--model", model, "--dataset", reviews_csv, "-o", out, "--max-steps", "4",
                 "--save-steps", "2", "--max-length", "48", "--no-tensorboard", "-q")
    assert result.exit_code == 0, result.stderr
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["model_type"] == "distilbert" and config["attention_dropout"] == 0.0
    assert config["id2label"] == {"0": "negative", "1": "positive"}
