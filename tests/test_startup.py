"""Every command starts light: help, reading a run, printing the config and refusing a bad value load none of
torch, transformers, datasets or matplotlib, each in a fresh `python -m bertcli` with 80 columns."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bertcli.core.config import parse_toml
from cli_process import run_bertcli
from examples import EXAMPLE_RUNS, REPO

COMMITTED_CHECKPOINT = EXAMPLE_RUNS[0] / "checkpoint-375"  # results/minilm-imdb-3ep
RUN = "{run}"  # in a case's args: the run folder its fixture built


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    exit_code: int
    stdout: tuple[str, ...] = ()  # each of these is printed on stdout
    help: bool = False  # with examples, whole at 80 columns, no command in a list cut short
    error: str | None = None  # nothing on stdout, one line on stderr that starts with this
    config: dict | None = None  # stdout is a TOML config holding these values, stderr is empty
    run: str | None = None  # the fixture that builds the run folder RUN stands for

    @property
    def id(self) -> str:
        return " ".join(str(a).replace(str(REPO) + "/", "") for a in self.args)


def helps(*command: str, stdout: tuple[str, ...] = ()) -> Case:
    return Case((*command, "--help"), 0, ("Examples:", *stdout), help=True)


CASES = [
    helps(stdout=("Usage",)),
    helps("train", stdout=("Usage",)),
    helps("evaluate"),
    helps("predict", stdout=("bertcli predict",)),
    helps("inspect-checkpoint"),
    helps("sweep", stdout=("--seeds",)),
    helps("debug"),
    helps("debug", "run"),
    helps("debug", "data"),
    helps("debug", "model"),
    helps("debug", "labels", stdout=("--folds",)),
    helps("export", stdout=("--check-only",)),
    helps("serve", stdout=("curl",)),
    Case(("serve", "--host", "0.0.0.0"), 2, error="error: --host 0.0.0.0 "),
    Case(("inspect-checkpoint", str(COMMITTED_CHECKPOINT)), 0, ("lowest loss",)),
    Case(("inspect-checkpoint", RUN), 0, ("lowest loss",), run="reference_run"),
    Case(("debug", "run", RUN), 0, run="run_folder"),
    Case(("train", "--print-config", "--epochs", "2", "--class-weights", "1,3"), 0, config={"epochs": 2.0, "class-weights": [1.0, 3.0]}),
    Case(("train", "--lr", "nan"), 2, error="error: --lr "),
    Case(("train", "--scheduler", "bogus"), 2, error="error: --scheduler "),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_command_loads_no_heavy_library(case, request, tmp_path):
    run = request.getfixturevalue(case.run) if case.run else None
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = run_bertcli(*(run if arg == RUN else arg for arg in case.args), cwd=cwd, env={"COLUMNS": "80"})
    assert done.exit_code == case.exit_code, (done.exit_code, done.stdout, done.stderr)
    assert done.heavy == [], (done.heavy, done.stderr)
    for needle in case.stdout:
        assert needle in done.stdout, (needle, done.stdout)
    if case.help:
        listed = done.stdout.split("Commands:")[1].split("\n\n")[0] if "Commands:" in done.stdout else ""
        assert not any(line.rstrip().endswith(("...", "…")) for line in listed.splitlines()), done.stdout  # none cut short
        assert max(len(line) for line in done.stdout.splitlines()) <= 80, done.stdout
    if case.error is not None:
        assert done.stdout.strip() == "", done.stdout
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(case.error), done.stderr
    if case.config is not None:
        assert done.stderr.strip() == "", done.stderr
        printed = parse_toml(done.stdout)
        assert {key: printed[key] for key in case.config} == case.config
    assert not (cwd / "results").exists()  # nothing written where it ran


def test_every_command_has_a_case():
    """A new command joins the cases above: its --help at least."""
    from bertcli.cli.app import app
    import typer.main

    group = typer.main.get_command(app)
    commands = {(name,) for name in group.commands} | {
        (name, sub) for name, command in group.commands.items() for sub in getattr(command, "commands", {})
    }
    covered = {case.args[:-1] for case in CASES if case.help}
    assert commands <= covered, commands - covered
