"""Every command a finding prints works when pasted.

The fixes `debug run`, `debug model` and `debug data` print with --json are split at ' && ', stripped of
their '  # ' comment, parsed as a shell parses them and run through the CLI. `debug` commands run for
real (cheap on the tiny model); `train` runs up to where training would start: the config checked, the
sources resolved, the data loaded with its columns and sizes, the tokenizer loaded.
"""

from __future__ import annotations

import copy
import json
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from factory import make_reviews, write_csv
from states import (
    EXAMPLE_EVALS,
    EXAMPLE_LOSSES,
    HEALTHY_EVALS,
    LN2,
    RUN_FILES,
    binary_eval,
    decaying,
    fluctuating_run,
    trainer_state,
    write_checkpoint,
)

MAX_LENGTH = 64  # the tiny model has 128 positions
SPACED = "my runs"  # planted runs live in a folder whose name has a space: every path to them must be quoted
COMMANDS_IN_EVIDENCE = re.compile(r": (bertcli .*)$")  # an evidence line names a command last, after ': '
PLACEHOLDERS = re.compile(r"\b(MODEL|DATA|DATASET|PATH|DIR|FOLDER|NAME\d*|N)\b")


@dataclass
class Printed:
    source: str  # the command that printed it
    code: str
    fix: str
    training: dict | None = None  # the recorded recipe of the run it is about
    commands: list[list[str]] = field(default_factory=list)


def commands_of(fix: str) -> list[list[str]]:
    """The commands of a fix as a shell runs them: the comment dropped, split at ' && ', parsed."""
    command = fix.partition("  # ")[0]
    return [shlex.split(part) for part in command.split(" && ")]


# --- planted runs with a recorded recipe ---------------------------------------------------------------------------


def recipe(model: Path, dataset: Path, **more) -> dict:
    """The `training` block bertcli writes to bertcli.json (bertcli/core/training/hyperparameters.py)."""
    return {
        "model": str(model), "dataset": str(dataset), "train_size": 64, "eval_size": 16, "learning_rate": 3e-5,
        "weight_decay": 0.01, "train_batch_size": 8, "num_train_epochs": 2.0, "lr_scheduler_type": "linear",
        "warmup_ratio": 0.0, "seed": 7, "precision": "fp32", "attention_dropout": 0.0, "group_by_length": True, **more,
    }


def record(run: Path, training: dict) -> Path:
    """Give every checkpoint of `run` a bertcli.json with the recipe and the max length it trained with."""
    for folder in run.glob("checkpoint-*"):
        (folder / "bertcli.json").write_text(
            json.dumps({"max_length": MAX_LENGTH, "truncation": "head+tail", "training": training}, indent=2)
        )
    return run


def plant(root: Path, name: str, state: dict, training: dict, *, config: dict | None = None) -> Path:
    run = root / name
    folder = write_checkpoint(run / f"checkpoint-{state['global_step']}", state, files=RUN_FILES)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return record(run, training)


def plant_disk_run(root: Path, training: dict) -> Path:
    """Four complete checkpoints (best -10) and a half-written one newer than all of them."""
    run = root / "disk"
    for step in (5, 10, 20, 100):
        write_checkpoint(run / f"checkpoint-{step}", trainer_state(decaying(10), every=step // 5), weights=100 * step, files=RUN_FILES)
    (run / "checkpoint-110").mkdir()
    (run / "checkpoint-110" / "model.safetensors").write_bytes(b"\0" * 600)
    return record(run, training)


def evals(loss: float, accuracy: float) -> dict[str, float]:
    return {"loss": loss, "accuracy": accuracy}


def planted_runs(root: Path, tiny_model: Path, reviews_csv: Path) -> dict[str, tuple[Path, dict]]:
    spaced_csv = root / "my data" / "reviews.csv"
    spaced_csv.parent.mkdir(parents=True)
    spaced_csv.write_text(reviews_csv.read_text())
    renamed_csv = write_csv(root / "renamed.csv", make_reviews(96), text_col="review", label_col="sentiment")
    plain = recipe(tiny_model, reviews_csv)
    spaced = recipe(tiny_model, spaced_csv)
    renamed = recipe(tiny_model, renamed_csv, text_column="review", label_column="sentiment")
    runs_root = root / SPACED
    chance_losses = [LN2 + 0.003 * math.sin(i) for i in range(40)]
    chance_evals = {200: {"loss": 0.6932, "accuracy": 0.5}, 400: {"loss": 0.6931, "accuracy": 0.5}}
    overfit_evals = {100: evals(0.30, 0.88), 200: evals(0.27, 0.90), 300: evals(0.41, 0.89)}
    extra_evals = {100: evals(0.45, 0.798), 200: evals(0.313, 0.884), 300: evals(0.300, 0.880)}
    at_chance_evals = {40: binary_eval(130, 120, 250, 250, 0.72), 120: binary_eval(128, 125, 250, 250, 0.80)}
    falling = [0.69 * math.exp(-i / 3) + 0.03 for i in range(12)]
    nan_losses = decaying(30)
    nan_losses[17] = float("nan")
    spikes = fluctuating_run({250: 14.0, 280: 12.5, 340: 15.0}, follow=True)
    noise = fluctuating_run({})
    states = {  # name: (trainer state, recorded recipe)
        "underfit": (trainer_state(EXAMPLE_LOSSES, steps_per_epoch=25, evals=EXAMPLE_EVALS), plain),
        "stuck": (trainer_state(chance_losses, evals=chance_evals), spaced),
        "eval-at-chance": (trainer_state(falling, steps_per_epoch=40, evals=at_chance_evals), renamed),
        "overfit": (trainer_state(decaying(30, end=0.05), evals=overfit_evals, best="elsewhere/checkpoint-200"), spaced),
        "extra-epochs": (trainer_state(decaying(30), evals=extra_evals), plain),
        "no-eval": (trainer_state(decaying(30)), plain),
        "one-eval": (trainer_state(decaying(30), evals={300: evals(0.3, 0.88)}), plain),
        "spikes": (trainer_state(*spikes, steps_per_epoch=120, evals=HEALTHY_EVALS), spaced),
        "noise": (trainer_state(*noise, evals=HEALTHY_EVALS), plain),
        "nan": (trainer_state(nan_losses, evals=HEALTHY_EVALS), {**plain, "precision": "fp16"}),
        "no-loss": (trainer_state([float("nan")] * 3), plain),
        "lr-constant": (
            trainer_state(decaying(30), lr=lambda s: 1e-4, evals=HEALTHY_EVALS), {**plain, "lr_scheduler_type": "constant"}
        ),
        "lr-zero": (trainer_state(decaying(30), lr=lambda s: 0.0, evals=HEALTHY_EVALS), plain),
        "explode": (trainer_state(decaying(30), [1.25**i for i in range(30)], evals=HEALTHY_EVALS), plain),
        "flat": (trainer_state([0.45 + 0.01 * (-1) ** i for i in range(30)], evals=HEALTHY_EVALS), renamed),
        "rising": (trainer_state([0.6 + 0.05 * i for i in range(30)], evals=HEALTHY_EVALS), plain),
    }
    runs = {name: (plant(runs_root, name, state, training), training) for name, (state, training) in states.items()}
    runs["disk"] = (plant_disk_run(runs_root, spaced), spaced)
    return runs


def untidy_dataset(folder: Path) -> Path:
    """Train and test CSVs (columns review, sentiment) with what debug data fixes and train still takes:
    mostly positive, duplicates, markup, texts longer than 16 tokens, one test text also in train."""
    folder.mkdir(parents=True)
    rows = make_reviews(80)
    train = [row for i, row in enumerate(rows[:64]) if row[1] == 1 or i % 4 == 0]
    train += train[:3]
    train = [(text + " <br /><br />the end" if i % 3 == 0 else text, label) for i, (text, label) in enumerate(train)]
    write_csv(folder / "train.csv", train, text_col="review", label_col="sentiment")
    write_csv(folder / "test.csv", rows[64:] + [train[5]], text_col="review", label_col="sentiment")
    return folder


# --- what the commands print ---------------------------------------------------------------------------------------

_PRINTED: list[Printed] = []  # collected once for the module: both tests read the same fixes


def findings_of(result, source: str, training: dict | None = None) -> list[Printed]:
    assert result.exit_code in (0, 1), (source, result.stderr)
    printed = []
    for finding in json.loads(result.stdout)["findings"]:
        if finding.get("fix"):
            printed.append(Printed(source, finding["code"], finding["fix"], training))
        for line in finding.get("evidence") or []:
            if found := COMMANDS_IN_EVIDENCE.search(line):
                printed.append(Printed(source, finding["code"] + " (evidence)", found.group(1), training))
    return printed


@pytest.fixture
def printed(cli, tmp_path_factory, tiny_model, reviews_csv, trained_head_models) -> list[Printed]:
    if _PRINTED:
        return _PRINTED
    root = tmp_path_factory.mktemp("pasted")
    for name, (run, training) in planted_runs(root, tiny_model, reviews_csv).items():
        _PRINTED.extend(findings_of(cli("debug", "run", run, "--json"), f"debug run {name}", training))
    generic, broken = trained_head_models
    model_runs = {
        "cannot learn": [tiny_model, "--max-length", MAX_LENGTH, "--overfit-lr", "1e-6", "--overfit-steps", "3", "--batch-size", "4"],
        "too long": [tiny_model, "--max-length", "512", "--no-overfit", "--labels", "negative,positive"],
        "placeholder labels": [generic, "--max-length", MAX_LENGTH, "--no-overfit"],
        "broken label maps": [broken, "--max-length", MAX_LENGTH, "--no-overfit"],
    }
    for name, args in model_runs.items():
        _PRINTED.extend(findings_of(cli("debug", "model", "--model", *args, "--json"), f"debug model {name}"))
    dataset = untidy_dataset(root / "my data set")
    data = cli(
        "debug", "data", "--dataset", dataset, "--model", tiny_model, "--text-column", "review", "--label-column", "sentiment",
        "--max-length", "16", "--json",
    )
    _PRINTED.extend(findings_of(data, "debug data"))
    for p in _PRINTED:
        p.commands = commands_of(p.fix) if p.fix.startswith("bertcli ") else []
    return _PRINTED


# --- pasted back ---------------------------------------------------------------------------------------------------


class ReachedTraining(Exception):
    """Raised where training would begin: every check a pasted command must pass has passed."""


def stop_before_training(reached: list):
    def train(cfg, *, callbacks=(), on_plan=None):
        from bertcli.core.data import load_labelled_data
        from bertcli.core.defaults import resolve_sources
        from bertcli.core.model import load_tokenizer
        from bertcli.core.training import validate_config

        given = copy.copy(cfg)
        cfg = validate_config(cfg)
        sources = resolve_sources(cfg.model, cfg.dataset)
        load_labelled_data(
            sources.dataset, train_size=cfg.train_size, eval_size=cfg.eval_size, seed=cfg.seed,
            text_column=cfg.text_column, label_column=cfg.label_column, train_split=cfg.train_split,
            eval_split=cfg.eval_split, label_names=cfg.labels,
        )
        load_tokenizer(sources.model)
        reached.append(given)
        raise ReachedTraining(str(cfg.output_dir))

    return train


def test_printed_commands_get_past_argument_and_path_validation(printed, cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # relative folders a command writes (a clean copy) land here
    reached: list = []
    monkeypatch.setattr("bertcli.core.training.train", stop_before_training(reached))
    # the findings these planted runs and models are built to show, each with a command to paste
    codes = {p.code for p in printed if p.commands}
    assert {
        "underfitting", "underfitting (evidence)", "stuck_at_chance", "eval_at_chance", "overfitting", "extra_epochs",
        "no_eval", "overfitting_unknown", "fluctuation", "grad_spikes", "non_finite", "loss", "lr_no_decay",
        "lr_no_warmup", "lr_too_high", "lr_zero", "grad_explosion", "loss_not_decreasing", "diverged", "disk",
        "half_written", "overfit_one_batch", "max_length", "generic_labels", "label_maps", "duplicates", "leakage",
        "imbalance", "markup", "truncation",
    } <= codes, codes
    seen: dict[str, Printed] = {}
    for p in printed:
        if p.source.startswith(("debug run", "debug model")):
            # commands only: a fix that names a bertcli command is that command, with any prose after '  # '
            assert p.commands or not re.search(r"\bbertcli (train|debug|evaluate|predict|inspect-checkpoint)\b", p.fix), p
        for argv in p.commands:
            seen.setdefault(shlex.join(argv), p)
    assert len(seen) >= 10
    for command, p in seen.items():
        argv = shlex.split(command)
        assert argv[0] == "bertcli", (p.source, p.fix)
        before = len(reached)
        result = cli(*argv[1:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        if argv[1] == "train":
            assert len(reached) == before + 1 and errors == [
                f"error: unexpected ReachedTraining: {reached[-1].output_dir} (run with BERTCLI_DEBUG=1 for the traceback)"
            ], (p.source, p.code, command, result.stderr)
            cfg = reached[-1]
            if cfg.resume:  # continues the run in its own folder
                assert any(Path(cfg.output_dir).glob("checkpoint-*")), command
            else:  # a new folder: train refuses an earlier run's without --resume or --overwrite
                assert not Path(cfg.output_dir).exists(), command
            if p.training is not None:  # what the run recorded comes along
                t = p.training
                assert (cfg.model, cfg.dataset, cfg.train_size, cfg.eval_size, cfg.seed) == (
                    t["model"], t["dataset"], t["train_size"], t["eval_size"], t["seed"]
                ), command
                assert (cfg.text_column, cfg.label_column) == (t.get("text_column", "text"), t.get("label_column", "label"))
                assert cfg.max_length == MAX_LENGTH and cfg.truncation == "head+tail", command
        else:
            if argv[1] == "evaluate" and "-m" not in argv and "--model" not in argv:
                # scores the model `bertcli train` leaves in results/: pasted after training, it finds one
                errors = [e for e in errors if not e.startswith("error: no trained model under results/")]
            assert result.exit_code != 2 and not errors, (p.source, p.code, command, result.stdout[-3000:], result.stderr)
            assert "Traceback" not in result.stderr
    assert sum(1 for command in seen if command.startswith("bertcli train ")) == len(reached) >= 10


def test_no_fix_holds_a_placeholder_or_an_unquoted_path(printed):
    quoted = 0
    for p in printed:
        assert "MODEL" not in p.fix and "DATA" not in p.fix, (p.source, p.fix)
        if not p.commands:
            continue
        assert not PLACEHOLDERS.search(p.fix.partition("  # ")[0]), (p.source, p.fix)
        for argv in p.commands:
            assert argv[0] == "bertcli", (p.source, p.fix)
            # a path with a space, left unquoted, would fall apart into '.../my' and 'runs/...'
            assert not any(word == "my" or word.endswith("/my") for word in argv), (p.source, p.fix)
            # and no prose around or between commands
            assert not any(word.startswith("(") or word.endswith((")", ";", ":")) for word in argv), (p.source, p.fix)
            quoted += any(SPACED in word for word in argv)
    assert quoted >= 5  # the check above had spaced paths to look at
