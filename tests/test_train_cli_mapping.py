"""`bertcli train` flags and --config files become the TrainConfig core.training.train receives: checked
without training, with `train` replaced by one that records its arguments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bertcli.core.training import TrainConfig


class Reached(Exception):
    """Raised where training would begin (the CLI's error boundary turns it into exit code 1)."""


@pytest.fixture
def trained_with(monkeypatch):
    """Run `bertcli train ARGS` up to the call into core; returns (the TrainConfig, the callbacks) it got."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    calls = []

    def record(cfg, *, callbacks=(), on_plan=None):
        calls.append((cfg, list(callbacks), on_plan))
        raise Reached

    monkeypatch.setattr("bertcli.core.training.train", record)

    def run(*args: str) -> tuple[TrainConfig, list]:
        before = len(calls)
        result = CliRunner().invoke(app, ["train", *map(str, args)])
        assert len(calls) == before + 1 and "Reached" in result.stderr, (result.exit_code, result.stdout, result.stderr)
        cfg, callbacks, on_plan = calls[-1]
        assert callable(on_plan)
        return cfg, callbacks

    return run


def changed(cfg: TrainConfig) -> dict:
    """The fields that differ from TrainConfig's defaults."""
    default = TrainConfig()
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(default, f.name)}


def test_no_flags_give_the_config_defaults_and_a_live_display(trained_with):
    from bertcli.render.progress import RichProgressCallback

    cfg, callbacks = trained_with()
    assert cfg == TrainConfig()
    assert [type(c) for c in callbacks] == [RichProgressCallback]
    _, quiet = trained_with("-q")
    assert quiet == []


def test_every_flag_sets_its_field(trained_with, tmp_path):
    cfg, _ = trained_with(
        "--model", "some/model", "--dataset", "some/data", "-o", tmp_path / "out", "--epochs", "1.5", "--batch-size", "4",
        "--grad-accum", "3", "--lr", "1e-4", "--weight-decay", "0", "--warmup-ratio", "0.1", "--scheduler", "cosine",
        "--label-smoothing", "0.1", "--class-weights", "1,3", "--train-size", "all", "--eval-size", "50",
        "--max-length", "128", "--truncation", "head", "--save-steps", "7", "--logging-steps", "3",
        "--keep-checkpoints", "4", "--best-metric", "loss", "--eval-steps", "20", "--early-stopping", "2",
        "--min-delta", "0.01", "--seed", "7", "--text-column", "review", "--label-column", "sentiment",
        "--train-split", "training", "--eval-split", "dev", "--labels", "neg, pos,", "--no-group-by-length",
        "--precision", "fp32", "--compile", "--final", "last", "--max-steps", "30", "--no-tensorboard",
        "--attention-dropout", "0.05", "--resume", "-q",
    )
    assert changed(cfg) == {
        "model": "some/model", "dataset": "some/data", "output_dir": tmp_path / "out", "epochs": 1.5, "batch_size": 4,
        "grad_accum": 3, "lr": 1e-4, "weight_decay": 0.0, "warmup_ratio": 0.1, "scheduler": "cosine",
        "label_smoothing": 0.1, "class_weights": "1,3",  # as given: validate_config turns it into weights
        "train_size": None, "eval_size": 50, "max_length": 128,
        "truncation": "head", "save_steps": 7, "logging_steps": 3, "keep_checkpoints": 4, "best_metric": "loss",
        "eval_steps": 20, "early_stopping": 2, "min_delta": 0.01, "seed": 7, "text_column": "review",
        "label_column": "sentiment", "train_split": "training", "eval_split": "dev", "labels": ["neg", "pos"],
        "group_by_length": False, "precision": "fp32", "compile": True, "final_from": "last", "max_steps": 30,
        "tensorboard": False, "attention_dropout": 0.05, "resume": True,
    }
    assert trained_with("--overwrite", "-q")[0].overwrite


def test_a_config_file_gives_the_options_and_flags_given_override_it(trained_with, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'model = "from/file"\noutput-dir = "file-out"\nepochs = 5\nbatch_size = 8\nlr = 1e-4\nscheduler = "cosine"\n'
        'class-weights = "auto"\ntrain-size = "all"\nlabels = ["neg", "pos"]\ngroup-by-length = false\n'
        'early-stopping = 3\nattention-dropout = 0.1\n'
    )
    cfg, _ = trained_with("--config", path, "-q")
    assert changed(cfg) == {
        "model": "from/file", "output_dir": Path("file-out"), "epochs": 5.0, "batch_size": 8, "lr": 1e-4,
        "scheduler": "cosine", "class_weights": "auto", "train_size": None, "labels": ["neg", "pos"],
        "group_by_length": False, "early_stopping": 3, "attention_dropout": 0.1,
    }
    # a flag given wins over the file, even when it repeats the flag's own default (--lr 2e-5, --group-by-length)
    cfg, _ = trained_with("--config", path, "--lr", "2e-5", "--epochs", "2", "--group-by-length", "-o", tmp_path / "o",
                          "--seed", "3", "-q")
    assert changed(cfg) == {
        "model": "from/file", "output_dir": tmp_path / "o", "epochs": 2.0, "batch_size": 8, "scheduler": "cosine",
        "class_weights": "auto", "train_size": None, "labels": ["neg", "pos"], "early_stopping": 3,
        "attention_dropout": 0.1, "seed": 3,
    }


def test_resume_and_overwrite_come_from_the_command_line_only(trained_with, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("seed = 9\n")
    cfg, _ = trained_with("--config", path, "--resume", "-q")
    assert changed(cfg) == {"seed": 9, "resume": True}


def test_print_config_trains_nothing(trained_with, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    monkeypatch.setattr("bertcli.core.training.train", lambda *a, **k: pytest.fail("--print-config trained"))
    result = CliRunner().invoke(app, ["train", "--print-config", "--epochs", "2"])
    assert result.exit_code == 0 and "epochs = 2.0" in result.stdout
