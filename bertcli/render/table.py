"""bertcli's tables: a narrow terminal wraps words, never cuts a number or a name with '…'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table as RichTable

if TYPE_CHECKING:
    from rich.console import RenderableType


# Metric names as column headers: short, so that a table of them fits 80 columns; captions spell them out.
METRIC_HEADERS = {"accuracy": "acc", "precision": "prec", "recall": "rec", "f1": "f1", "loss": "loss"}


class Table(RichTable):
    """A rich Table whose cells fold instead of ending in an ellipsis or being cropped.

    Tables are laid out to fit 80 columns; if one still does not, a number wraps onto a second line
    rather than losing digits.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("box", box.HEAVY_HEAD)
        super().__init__(*args, **kwargs)

    def add_column(self, header: RenderableType = "", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
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
