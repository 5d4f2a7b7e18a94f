"""The command line itself: one-line usage errors, help that reads whole at 80 columns, shell completion."""

from __future__ import annotations

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


@pytest.mark.parametrize("args", [[], ["debug"], ["train"], ["evaluate"], ["predict"], ["inspect-checkpoint"],
                                  ["debug", "run"], ["debug", "data"], ["debug", "model"]])
def test_help_is_whole_at_80_columns(args, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    done = subprocess.run([sys.executable, "-m", "bertcli", *args, "--help"], capture_output=True, text=True,
                          env={**__import__("os").environ, "COLUMNS": "80"}, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("Commands:")[1].split("\n\n")[0] if "Commands:" in done.stdout else ""
    assert not any(line.rstrip().endswith(("...", "…")) for line in listed.splitlines()), done.stdout  # none cut short
    assert "Examples:" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


def test_shell_completion_script():
    done = subprocess.run([sys.executable, "-m", "bertcli", "--show-completion", "bash"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "complete" in done.stdout and "bertcli" in done.stdout
