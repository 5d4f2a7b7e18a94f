"""Small JSON files beside a trainer state, read leniently: they add detail, a bad one is skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_SIDE_FILE_BYTES = 10_000_000


def read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when the file is missing, too large, not JSON or not an object."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_SIDE_FILE_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
