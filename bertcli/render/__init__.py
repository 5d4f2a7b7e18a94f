"""The one place that draws: rich tables on stdout, hints and progress on stderr, JSON for scripts.

Shared helpers live here; each command has its own module beside this one (render/train.py, ...).
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from bertcli.core.formatting import size_text as human_bytes  # noqa: F401  (one byte format, core and render)
from bertcli.core.training.processes import is_main_process  # noqa: F401  (only rank 0 prints under torchrun)

if TYPE_CHECKING:
    from pathlib import Path


# Output to a file or a pipe is laid out this wide (unless COLUMNS says otherwise), not at rich's 80.
FILE_WIDTH = 160


def _width(stream: TextIO) -> int | None:
    """None (rich decides: the terminal's width, or COLUMNS) unless the stream is a file or a pipe."""
    if os.environ.get("COLUMNS"):
        return None
    try:
        return None if stream.isatty() else FILE_WIDTH
    except (AttributeError, ValueError):
        return FILE_WIDTH


def console_out() -> Console:
    return Console(file=sys.stdout, width=_width(sys.stdout))


def console_err() -> Console:
    return Console(file=sys.stderr, stderr=True, width=_width(sys.stderr))


def print_json(data: Any) -> None:
    """One JSON document on stdout, through bertcli's one encoding (dataclasses, paths, arrays; NaN as null)."""
    from bertcli.core.jsondata import plain

    sys.stdout.write(json.dumps(plain(data), indent=2, allow_nan=False) + "\n")


def human_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    minutes, seconds = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def save_figure(fig: Any, path: Path, dpi: int, flag: str = "--plot") -> None:
    """Write a matplotlib figure and close it; a path that cannot be written is one error naming the flag."""
    import matplotlib.pyplot as plt

    from pathlib import Path

    from bertcli.core.errors import DataError
    from bertcli.core.outputs import written_whole

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_whole(path) as partial:  # a picture appears whole or not at all
            fig.savefig(partial, dpi=dpi, format=path.suffix.lstrip(".").lower() or None)
    except (OSError, ValueError) as err:
        detail = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
        raise DataError(f"cannot write {flag} {path}: {detail} — use a .png path in a writable folder") from None
    finally:
        plt.close(fig)
