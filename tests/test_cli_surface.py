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
