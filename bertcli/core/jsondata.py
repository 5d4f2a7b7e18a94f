"""The one JSON encoding of bertcli's results: dataclasses as objects, paths as strings, arrays as lists,
non-finite floats as null (JSON has no NaN)."""

from __future__ import annotations

import json
import math
import os
from dataclasses import fields, is_dataclass
from typing import Any, Collection


def plain(value: Any, drop: Collection[str] = ()) -> Any:
    """`value` as JSON-ready data; dataclass fields named in `drop` are left out at every depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name), drop) for f in fields(value) if f.name not in drop}
    if isinstance(value, dict):
        return {str(k): plain(v, drop) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, drop) for v in value]
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays
        return plain(value.tolist(), drop)
    return str(value)


def dumps(value: Any, indent: int | None = 2) -> str:
    return json.dumps(plain(value), indent=indent, allow_nan=False)
