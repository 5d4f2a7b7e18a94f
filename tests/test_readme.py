"""The README's quick commands run as written on the committed example runs, and print what it shows."""

from __future__ import annotations

import re
import shlex

import pytest
from examples import REPO

README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str, str | None]]:
    """(kind, body, the text block right after it) for every fenced block."""
    found = [(m.group(1), m.group(2), m.end(), m.start()) for m in BLOCK.finditer(README)]
    out = []
    for i, (kind, body, end, _) in enumerate(found):
        following = None
        if i + 1 < len(found) and found[i + 1][0] == "text" and not README[end:found[i + 1][3]].strip():
            following = found[i + 1][1]
        out.append((kind, body, following))
    return out


def _quick_commands() -> list[tuple[str, str | None]]:
    """Commands that read only the committed example runs: inspect-checkpoint and debug run on results/."""
    commands = []
    for kind, body, shown in _blocks():
        if kind != "bash":
            continue
        lines = [line for line in body.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        for line in lines:
            if re.match(r"bertcli (inspect-checkpoint|debug run) results/minilm-", line):
                commands.append((line, shown if len(lines) == 1 else None))
    return commands


QUICK = _quick_commands()


def test_the_readme_has_quick_commands_with_their_output():
    assert len(QUICK) >= 3 and sum(shown is not None for _, shown in QUICK) >= 3


@pytest.mark.parametrize("command, shown", QUICK, ids=[c for c, _ in QUICK])
def test_quick_command_runs_as_written(cli, monkeypatch, command, shown):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("COLUMNS", "100")
    result = cli(*shlex.split(command)[1:])
    assert result.exit_code == 0, result.stderr
    if shown is None:
        return
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    at = 0
    for line in (line.rstrip() for line in shown.splitlines() if line.strip()):
        hits = [i for i in range(at, len(printed)) if printed[i].startswith(line) or printed[i] == line]
        assert hits, f"README line not printed (in order) by `{command}`:\n{line}\n---\n{result.stdout}"
        at = hits[0] + 1
