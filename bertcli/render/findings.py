"""The one drawing of findings, for `inspect-checkpoint` and `debug`: a mark per level, the finding, then
(where it has them) its evidence indented below and the command that fixes it."""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Group
from rich.padding import Padding
from bertcli.render.table import Table
from rich.text import Text

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}
LEVEL_MARK = {"error": "✗", "warning": "!", "info": "•"}


def print_findings(out: Any, findings: Sequence[Any], title: str = "Findings") -> None:
    """Findings with `summary`, `evidence` and `fix` (debug), or a `message` alone (inspect-checkpoint).

    The finding and its evidence wrap to the screen under their mark; a fix command is printed on a line of
    its own and never broken, so that it pastes whole (the terminal, not bertcli, wraps it if it must).
    """
    out.print(Text(title, style="bold"))
    for f in findings:
        style = LEVEL_STYLE.get(f.level, "")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        parts: list[Any] = [Text(getattr(f, "summary", None) or f.message, style=style)]
        parts += [Padding(Text(line, style="dim"), (0, 0, 0, 2)) for line in getattr(f, "evidence", ()) if line]
        grid.add_row(Text(LEVEL_MARK.get(f.level, "•"), style=style), Group(*parts))
        out.print(grid)
        fix_command = getattr(f, "fix", None)
        if fix_command:
            fix = Text("    fix: ", style="bold cyan")
            fix.append(fix_command, style="cyan")
            out.print(fix, soft_wrap=True)
