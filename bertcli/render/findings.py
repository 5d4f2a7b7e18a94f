"""The one drawing of findings, for `inspect-checkpoint` and `debug`: a mark per level, the finding, then
(where it has them) its evidence indented below and the command that fixes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from rich.console import Console, Group
from rich.padding import Padding
from bertcli.render.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from bertcli.core.findings import Finding

LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "info": ""}
LEVEL_MARK = {"error": "✗", "warning": "!", "info": "•"}


def print_findings(out: Console, findings: Sequence[Finding], title: str = "Findings") -> None:
    """Each finding's summary under its level's mark, its evidence indented below, then its fix.

    The finding and its evidence wrap to the screen under their mark; a fix command is printed on a line of
    its own and never broken, so that it pastes whole (the terminal, not bertcli, wraps it if it must).
    """
    out.print(Text(title, style="bold"))
    for f in findings:
        style = LEVEL_STYLE.get(f.level, "")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        parts: list[Any] = [Text(f.summary, style=style)]
        parts += [Padding(Text(line, style="dim"), (0, 0, 0, 2)) for line in f.evidence if line]
        grid.add_row(Text(LEVEL_MARK.get(f.level, "•"), style=style), Group(*parts))
        out.print(grid)
        if f.fix:
            fix = Text("    fix: ", style="bold cyan")
            fix.append(f.fix, style="cyan")
            out.print(fix, soft_wrap=True)
