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


def _count_evaluations(monkeypatch) -> list[int]:
    from bertcli.core.training.trainer import BertCliTrainer

    calls: list[int] = []
    original = BertCliTrainer.evaluate

    def counted(self, *args, **kwargs):
        calls.append(self.state.global_step)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BertCliTrainer, "evaluate", counted)
    return calls


def test_final_metrics_reuse_the_evaluation_of_the_final_weights(tiny_model, reviews_csv, tmp_path, monkeypatch):
    from bertcli.core.training import TrainConfig, train

    calls = _count_evaluations(monkeypatch)
    out = tmp_path / "r"
    report = train(TrainConfig(
        model=str(tiny_model), dataset=str(reviews_csv), output_dir=out, epochs=2, batch_size=8, lr=5e-3,
        max_length=64, train_size=None, eval_size=None, save_steps=100, logging_steps=5, tensorboard=False,
    ))
    assert calls == [11, 22]  # one evaluation per epoch, none repeated for final/
    state = json.loads((out / "checkpoint-22" / "trainer_state.json").read_text())
    best_step = int(Path(state["best_model_checkpoint"]).name.split("-")[1])
    logged = next(e for e in state["log_history"] if e.get("step") == best_step and "eval_accuracy" in e)
    assert report.final_metrics["accuracy"] == logged["eval_accuracy"]
    assert report.final_metrics["loss"] == logged["eval_loss"]
    # evaluation ran the last layer for [CLS] alone, and put the layer back before anything was saved
    from safetensors import safe_open

    for folder in (out / "final", out / "checkpoint-22"):
        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            keys = set(weights.keys())
        assert any(".layer.1.attention." in k for k in keys) and not any(".layer.1.layer." in k for k in keys)


def test_evaluation_sorts_longest_first_and_scores_like_the_full_model(tiny_model, reviews_csv, tmp_path):
    import torch
    from transformers import TrainingArguments

    from bertcli.core.encoding import tokenize_dataset
    from bertcli.core.inference.cls_only import cls_only_during
    from bertcli.core.model import load_classifier, load_tokenizer
    from bertcli.core.training.trainer import BertCliTrainer, LongestFirstSampler, padding_collator

    assert list(LongestFirstSampler([3, 9, 1, 9, 5])) == [1, 3, 4, 0, 2]
    import datasets

    texts = ["a fine film " * n for n in (1, 12, 3, 7, 2, 9)]
    data = datasets.Dataset.from_dict({"text": texts, "label": [0, 1, 0, 1, 0, 1]})
    tokenizer = load_tokenizer(str(tiny_model))
    eval_ds = tokenize_dataset(data, tokenizer, 64, "head+tail")
    model = load_classifier(str(tiny_model), ["negative", "positive"])
    args = TrainingArguments(output_dir=str(tmp_path / "t"), per_device_eval_batch_size=2, use_cpu=True, report_to="none",
                             remove_unused_columns=False,  # as bertcli runs it: the length column stays
                             train_sampling_strategy="group_by_length")
    trainer = BertCliTrainer(model=model, args=args, eval_dataset=eval_ds, processing_class=tokenizer,
                             data_collator=padding_collator(tokenizer, None), sampler_seed=0)
    widths = [batch["input_ids"].shape[1] for batch in trainer.get_eval_dataloader()]
    assert widths == sorted(widths, reverse=True) and widths[0] == max(eval_ds["length"])
    fast = trainer.evaluate()
    original = type(model.bert.encoder.layer[-1])
    assert original.__name__ == "BertLayer"  # back in place after evaluation
    model.eval()
    with torch.no_grad():
        full = [model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], labels=b["labels"]).loss * len(b["labels"])
                for b in trainer.get_eval_dataloader()]
        with cls_only_during(model) as wrapped:
            assert wrapped and type(model.bert.encoder.layer[-1]) is not original
    assert fast["eval_loss"] == pytest.approx(float(sum(full)) / len(texts), rel=1e-5)
    assert type(model.bert.encoder.layer[-1]) is original


def test_final_weights_never_scored_are_evaluated(tiny_model, reviews_csv, tmp_path, monkeypatch):
    from bertcli.core.training import TrainConfig, train

    calls = _count_evaluations(monkeypatch)
    report = train(TrainConfig(
        model=str(tiny_model), dataset=str(reviews_csv), output_dir=tmp_path / "r", epochs=2, batch_size=8, lr=5e-3,
        max_length=64, train_size=None, eval_size=None, max_steps=5, save_steps=100, logging_steps=5,
        tensorboard=False, final_from="last",
    ))
    assert calls == [5]  # --max-steps 5 ends before the first epoch's evaluation: final/ is scored once
    assert 0.0 <= report.final_metrics["accuracy"] <= 1.0


def test_scored_in_this_run_skips_evaluations_from_before_a_resume():
    from bertcli.core.training.finish import scored_in_this_run

    history = [{"loss": 0.7, "step": 10}, {"eval_loss": 0.5, "eval_accuracy": 0.8, "step": 10, "epoch": 1.0}]
    assert scored_in_this_run(history, 10, None) == {"loss": 0.5, "accuracy": 0.8}
    assert scored_in_this_run(history, 20, None) is None
    assert scored_in_this_run(history, 10, "out/checkpoint-10") is None  # scored before the resume
    assert scored_in_this_run(history, 10, "out/checkpoint-5") == {"loss": 0.5, "accuracy": 0.8}
