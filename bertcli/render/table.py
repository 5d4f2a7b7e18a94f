"""bertcli's tables: a narrow terminal wraps words, never cuts a number or a name with '…'."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table as RichTable


class Table(RichTable):
    """A rich Table whose cells fold instead of ending in an ellipsis.

    Right-aligned columns hold numbers: they do not wrap, so squeezing takes width from the text columns.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("box", box.HEAVY_HEAD)
        super().__init__(*args, **kwargs)

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        if kwargs.get("justify") == "right":
            kwargs.setdefault("no_wrap", True)
        super().add_column(header, *args, **kwargs)


def short_names(labels: list[str]) -> list[str]:
    """Each label by its shortest distinguishing part: path components that all labels share are dropped
    from the front and the back (results/a/checkpoint-375 and results/b/checkpoint-375 read a and b)."""
    if len(labels) < 2:
        return [label.rstrip("/").split("/")[-1] or label for label in labels]
    parts = [label.rstrip("/").split("/") for label in labels]
    while all(len(p) > 1 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    while all(len(p) > 1 for p in parts) and len({p[-1] for p in parts}) == 1:
        parts = [p[:-1] for p in parts]
    names = ["/".join(p) for p in parts]
    return names if len(set(names)) == len(names) else labels
