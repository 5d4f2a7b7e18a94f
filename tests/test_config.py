"""`bertcli train --config`: every option from a TOML file, flags on top; every run writes its own as bertcli.toml
and training from that file trains the same run again."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import pytest
from refusals import assert_refused

from bertcli.core.config import CONFIG_FILE, command_line_only, format_config, parse_settings, parse_toml, settings
from states import logged_losses


def test_every_train_option_is_a_config_key():
    from bertcli.cli.train import train_cmd
    from bertcli.core.training import TrainConfig

    params = set(inspect.signature(train_cmd).parameters) - {"ctx", "json_out", "print_config"}
    keys = {s.param for s in settings()}
    assert keys | {c.replace("-", "_") for c in command_line_only() if c not in ("json", "print-config")} == params
    assert {s.field for s in settings()} <= {f.name for f in fields(TrainConfig)}


def test_written_config_reads_back_as_the_same_settings(tmp_path):
    from bertcli.core.training import TrainConfig

    cfg = TrainConfig(
        model='C:\\models\\"quoted" bert', dataset="données.csv", output_dir=tmp_path / "out", epochs=2.5,
        batch_size=8, grad_accum=4, lr=3e-5, scheduler="cosine", label_smoothing=0.1, class_weights=[1.0, 2.5],
        train_size=None, eval_size=100, eval_steps=20, early_stopping=3, min_delta=0.001, best_metric="f1",
        labels=["neg", "pos"], group_by_length=False, compile=True, final_from="last", max_steps=None,
        attention_dropout=0.0, seed=0, eval_split="validation",
    )
    text = format_config(cfg, "a header\nof two lines")
    assert text.startswith("# a header\n# of two lines\n")
    assert "train-size = \"all\"" in text and "# max-steps = (not set" in text
    read = parse_settings(parse_toml(text), "x.toml")
    for setting in settings():
        if getattr(cfg, setting.field) is None and setting.kind != "examples":  # unset: a comment, the default applies
            assert setting.field not in read, setting.key
        else:
            assert read[setting.field] == getattr(cfg, setting.field), setting.key


def _print_config(cli, *args) -> dict:
    result = cli("train", *args, "--print-config")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return parse_toml(result.stdout)


def test_the_file_gives_the_options_and_flags_given_override_it(cli, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('epochs = 5\nbatch_size = 8\nlr = 1e-4\nscheduler = "cosine"\nclass-weights = "auto"\n'
                    'train-size = "all"\nlabels = "neg, pos"\ngroup-by-length = false\n')
    resolved = _print_config(cli, "--config", path, "--lr", "2e-5", "--grad-accum", "2")
    # from the file; a flag given overrides it even when it repeats the flag's default (--lr 2e-5)
    assert (resolved["epochs"], resolved["batch-size"], resolved["scheduler"]) == (5.0, 8, "cosine")
    assert (resolved["class-weights"], resolved["train-size"], resolved["labels"]) == ("auto", "all", ["neg", "pos"])
    assert resolved["group-by-length"] is False
    assert (resolved["lr"], resolved["grad-accum"]) == (2e-5, 2)
    assert resolved["weight-decay"] == 0.01  # neither in the file nor given: the default
    # the printed configuration is itself a config file that resolves to the same
    again = tmp_path / "again.toml"
    again.write_text(cli("train", "--config", path, "--lr", "2e-5", "--grad-accum", "2", "--print-config").stdout)
    assert _print_config(cli, "--config", again) == resolved
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing set: the defaults\n")
    assert _print_config(cli, "--config", empty) == _print_config(cli)


def test_a_run_writes_its_config_and_the_config_trains_it_again(cli, tiny_model, reviews_csv, tmp_path):
    first = tmp_path / "first"
    args = ["--model", tiny_model, "--dataset", reviews_csv, "--max-steps", "4", "--batch-size", "8", "--grad-accum", "2",
            "--lr", "5e-3", "--max-length", "32", "--train-size", "all", "--eval-size", "all", "--eval-steps", "2",
            "--save-steps", "100", "--logging-steps", "1", "--label-smoothing", "0.1", "--class-weights", "auto",
            "--seed", "7", "--no-tensorboard", "-q"]
    result = cli("train", *args, "-o", first)
    assert result.exit_code == 0, result.stderr
    written = [first / CONFIG_FILE, first / "checkpoint-2" / CONFIG_FILE, first / "checkpoint-4" / CONFIG_FILE,
               first / "final" / CONFIG_FILE]
    texts = {p.read_text() for p in written}
    assert len(texts) == 1, "the run folder, each checkpoint and final/ hold the same settings"
    original = parse_toml(texts.pop())
    assert (original["model"], original["dataset"], original["output-dir"]) == (str(tiny_model), str(reviews_csv), str(first))
    assert (original["grad-accum"], original["label-smoothing"], original["class-weights"], original["eval-steps"]) == (2, 0.1, "auto", 2)

    second = tmp_path / "second"
    result = cli("train", "--config", first / CONFIG_FILE, "-o", second, "-q")
    assert result.exit_code == 0, result.stderr
    reproduced = parse_toml((second / CONFIG_FILE).read_text())
    assert reproduced.pop("output-dir") == str(second)
    original.pop("output-dir")
    assert reproduced == original
    assert logged_losses(second / "checkpoint-4") == pytest.approx(logged_losses(first / "checkpoint-4"), abs=1e-6)
    # the same file without -o names the first run's folder, which train will not overwrite unasked
    again = cli("train", "--config", first / CONFIG_FILE, "-q")
    assert again.exit_code == 2 and "already holds a run" in again.stderr


def test_print_config_with_json_prints_the_same_options_as_json(cli, tmp_path):
    as_toml = _print_config(cli, "--lr", "3e-5", "--labels", "neg,pos")
    result = cli("train", "--lr", "3e-5", "--labels", "neg,pos", "--print-config", "--json")
    assert result.exit_code == 0, result.stderr
    as_json = json.loads(result.stdout)
    # the TOML leaves unset keys out (as comments); JSON writes them as null
    assert {k: v for k, v in as_json.items() if v is not None} == as_toml
    assert as_json["lr"] == 3e-5 and as_json["labels"] == ["neg", "pos"]


def _deep_toml(path: Path) -> Path:
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    return path


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_config_files_that_are_devices_fifos_huge_or_deep_are_one_line(cli, tmp_path, command):
    import os

    if Path("/dev/zero").exists():
        assert_refused(cli(command, "--config", "/dev/zero"), 2, "/dev/zero is a device, not a file")
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)  # nothing ever writes to it: reading it would wait for ever
    assert_refused(cli(command, "--config", fifo), 2, "pipe.toml is a FIFO, not a file")
    huge = tmp_path / "huge.toml"
    huge.write_text("# padding\n" * 200_000)
    assert_refused(cli(command, "--config", huge), 2, "huge.toml is over 1 MB")
    assert_refused(cli(command, "--config", _deep_toml(tmp_path / "deep.toml")), 2, "deep.toml nests tables or lists too deeply")
