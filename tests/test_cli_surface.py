"""The command line itself: one-line usage errors and shell completion (help at 80 columns: test_startup.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from refusals import assert_refused


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--bogus"], "No such option: --bogus — see 'bertcli train --help'"),
        (["debug", "run", "--bogus"], "see 'bertcli debug run --help'"),
        (["predict", "--model"], "'--model' requires an argument"),
        (["bogus"], "No such command 'bogus'"),
        (["debug", "bogus"], "No such command 'bogus'"),
        (["inspect-checkpoint"], "Missing argument"),
    ],
)
def test_command_line_mistakes_are_one_line(cli, args, needle):
    assert_refused(cli(*args), 2, needle)


def test_shell_completion_script():
    # typer finds the shell from the parent processes unless told which one (its own switch for tests):
    # under a scheduler or in the background the parent need not be a shell
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([sys.executable, "-m", "bertcli", "--show-completion", "bash"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 0 and "complete" in done.stdout and "bertcli" in done.stdout


def test_every_command_has_one_output_contract():
    """Each command that prints a result takes --json (one document on stdout) and --quiet (no notes or progress
    on stderr); serve answers over HTTP instead."""
    import typer.main

    from bertcli.cli.app import app

    def leaves(group, path=()):
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                yield from leaves(sub, (*path, name))
            else:
                yield (*path, name), sub

    for path, command in leaves(typer.main.get_command(app)):
        if path == ("serve",):
            continue
        flags = {opt for param in command.params for opt in param.opts}
        assert {"--json", "--quiet", "-q"} <= flags, " ".join(path)


def test_quiet_leaves_stderr_empty(cli, reference_run, tmp_path):
    pytest.importorskip("matplotlib")
    loud = cli("inspect-checkpoint", reference_run, "--plot", tmp_path / "a.png")
    assert loud.exit_code == 0 and "wrote" in loud.stderr
    quiet = cli("inspect-checkpoint", reference_run, "--plot", tmp_path / "b.png", "-q")
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout
    assert (tmp_path / "b.png").is_file()
    pruned = cli("debug", "run", reference_run, "--prune", "--yes", "--quiet")
    assert pruned.stderr == "" and "checkpoint-370" in pruned.stdout and not (reference_run / "checkpoint-370").exists()
