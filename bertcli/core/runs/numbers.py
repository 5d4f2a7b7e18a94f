"""The number checks and the one number format the run modules share (the rest is core.formatting)."""

from __future__ import annotations

import math
from typing import Any


def is_finite(value: Any) -> bool:
    """A real number, neither NaN nor infinite (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def general(value: float | None) -> str:
    """3.0 -> '3', 0.05 -> '0.05' (Python's :g); '-' for None."""
    return "-" if value is None else f"{value:g}"


def positive_int(value: Any) -> int | None:
    """`value` when it is a whole number above 0 (a count of examples or steps), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
