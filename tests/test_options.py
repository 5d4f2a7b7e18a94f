"""A train option is declared once, as a TrainConfig field made by `option()`: adding one field (here in a
fixture) gives the `bertcli train` flag, its check, the TOML key, --print-config, the sweep's flag and its help."""

from __future__ import annotations

import dataclasses

import pytest

from bertcli.core import limits
from bertcli.core.options import option


class Reached(Exception):
    """Raised where the work would begin: the command got this far with these values."""


@pytest.fixture
def boosted(monkeypatch):
    """TrainConfig with one more declared option, `--dropout-boost`, seen by every reader of the declarations."""
    import bertcli.core.sweep.plan as sweep_plan
    import bertcli.core.training as training
    import bertcli.core.training.config as training_config
    from bertcli.cli.options import declare_options
    from bertcli.cli.sweep import sweep_cmd
    from bertcli.cli.train import train_cmd

    @dataclasses.dataclass
    class Boosted(training_config.TrainConfig):
        dropout_boost: float = option(0.5, "--dropout-boost", within=limits.Range(0, 1), sweep="vary",
                                      help="A made-up knob for this test.")

    for module in (training_config, training, sweep_plan):
        monkeypatch.setattr(module, "TrainConfig", Boosted)
    for command in (train_cmd, sweep_cmd):  # Typer reads the signature on each invocation: rebuild it from Boosted
        monkeypatch.setattr(command, "__signature__", command.__signature__)
        monkeypatch.setattr(command, "__annotations__", command.__annotations__)
        declare_options(command)
    return Boosted


@pytest.fixture
def reached(monkeypatch):
    """Replace training and the sweep's runs by a recorder; returns the list of what each got."""
    calls = []

    def record(*args, **kwargs):
        calls.append(args[0])
        raise Reached

    monkeypatch.setattr("bertcli.core.training.train", record)
    monkeypatch.setattr("bertcli.core.sweep.run_sweep", record)
    return calls


def test_the_flag_is_in_the_help_and_parsed_and_checked(boosted, reached, cli):
    help_text = cli("train", "--help").stdout
    assert "--dropout-boost" in help_text and "A made-up knob for this test." in help_text
    assert "Range [0, 1]" in help_text and "--max-steps" in help_text  # the other options are still there
    result = cli("train", "--dropout-boost", "0.25", "-q")
    assert result.exit_code == 1 and "Reached" in result.stderr
    assert isinstance(reached[-1], boosted) and reached[-1].dropout_boost == 0.25
    assert cli("train", "-q").exit_code == 1 and reached[-1].dropout_boost == 0.5  # the declared default
    refused = cli("train", "--dropout-boost", "2")
    assert refused.exit_code == 2 and refused.stderr.strip() == "error: --dropout-boost must be in [0, 1], got 2"


def test_the_toml_key_and_print_config(boosted, cli, tmp_path):
    from bertcli.core.config import parse_settings
    from bertcli.core.training import validate_config

    assert parse_settings({"dropout_boost": 0.75}, "x.toml") == {"dropout_boost": 0.75}
    with pytest.raises(Exception, match="dropout-boost in x.toml must be in"):
        parse_settings({"dropout-boost": 3}, "x.toml")
    with pytest.raises(Exception, match="--dropout-boost must be in"):
        validate_config(boosted(dropout_boost=-1.0))
    assert "dropout-boost = 0.5\n" in cli("train", "--print-config").stdout
    path = tmp_path / "run.toml"
    path.write_text("dropout-boost = 0.75\nepochs = 2\n")
    printed = cli("train", "--config", path, "--print-config").stdout
    assert "dropout-boost = 0.75\n" in printed and "epochs = 2.0\n" in printed
    assert "dropout-boost = 0.1\n" in cli("train", "--config", path, "--dropout-boost", "0.1", "--print-config").stdout


def test_the_sweep_varies_it(boosted, reached, cli, tmp_path):
    from bertcli.core.sweep import plan_sweep

    help_text = cli("sweep", "--help").stdout
    assert "--dropout-boost <list>" in help_text and "train's default: 0.5" in help_text
    result = cli("sweep", "--dropout-boost", "0.1,0.2", "--seeds", "1", "-o", tmp_path / "s", "-q")
    assert result.exit_code == 1 and "Reached" in result.stderr, result.stderr
    plan = reached[-1]
    assert plan.axes == {"dropout_boost": [0.1, 0.2]}
    assert [r.folder.parent.name for r in plan.runs] == ["dropout_boost=0.1", "dropout_boost=0.2"]
    assert [r.config.dropout_boost for r in plan.runs] == [0.1, 0.2]
    refused = cli("sweep", "--dropout-boost", "0.1,7", "-o", tmp_path / "t")
    assert refused.exit_code == 2 and "--dropout-boost must be in [0, 1], got 7" in refused.stderr
    table = tmp_path / "sweep.toml"
    table.write_text("[sweep]\ndropout-boost = [0.3, 0.4]\n")
    assert plan_sweep(config=table, seeds="1", output_dir=tmp_path / "u").axes == {"dropout_boost": [0.3, 0.4]}


def test_every_declared_option_reaches_train_sweep_and_the_config_file():
    """The real declarations: each is a train parameter, each file key reads back, each sweep flag exists."""
    import inspect

    from bertcli.cli.sweep import sweep_cmd
    from bertcli.cli.train import train_cmd
    from bertcli.core.config import settings
    from bertcli.core.training.config import train_options

    declared = train_options()
    train_params = list(inspect.signature(train_cmd).parameters)
    assert train_params[1 : len(declared) + 1] == [o.name for o in declared]  # after ctx, in declared order
    assert {o.name for o in declared if o.in_file} == {s.name for s in settings()}
    assert {o.name for o in declared if o.sweep} <= set(inspect.signature(sweep_cmd).parameters)
    assert len({o.flag for o in declared}) == len(declared)
