"""Numbers and texts as bertcli writes them inside sentences (findings, notes, errors).

Hand-written on purpose: core never imports rich (render does), and these formats are part of bertcli's
output — `1.95e-5` as people write learning rates, decimal byte units, one-line snippets.
"""

from __future__ import annotations

import math
from typing import Any


def dec(value: float | None, digits: int = 4) -> str:
    """Fixed decimals: 0.6931; '-' for None; 'nan'/'inf' as they are."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


def dec_or_sci(value: float | None, digits: int = 4) -> str:
    """Fixed decimals, or 3 significant digits in scientific form when the value is too small for them."""
    if value is not None and math.isfinite(value) and value != 0 and abs(value) < 10 ** -(digits - 1):
        return sci(value)
    return dec(value, digits)


def sci(value: float | None) -> str:
    """1.952e-05 -> '1.95e-5', as people write learning rates."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def size_text(n: int | float | None) -> str:
    """Bytes as people read them: 1.3 GB, 440.2 MB, 16 B (decimal units)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def visible(text: str) -> str:
    """`text` with control characters written out (ESC as \\x1b, a right-to-left override as \\u202e), so
    that a text shown on a terminal can neither clear it, retitle it, nor reorder what follows."""
    import unicodedata

    def shown(c: str) -> str:
        if unicodedata.category(c) not in ("Cc", "Cf") or c in "\t\n" or c == "\u200d":  # ZWJ: emoji sequences
            return c
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return "".join(shown(c) for c in text) if not text.isprintable() else text


def snippet(text: Any, limit: int) -> str:
    """A text on one line, whitespace collapsed, control characters made visible, cut to `limit` characters
    with an ellipsis."""
    flat = visible(" ".join(str(text or "").split()))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
