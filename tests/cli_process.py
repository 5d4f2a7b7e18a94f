"""`python -m bertcli ARGS` in a fresh interpreter: how it exited, what it printed, which heavy libraries it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HEAVY = ("torch", "transformers", "datasets", "matplotlib")

# runpy runs bertcli/__main__.py as `python -m bertcli` does; whatever way it exits, the heavy libraries
# then in sys.modules are written to the report file, and the exit goes on as it was.
CHILD = f"""
import json, runpy, sys
report, sys.argv = sys.argv[1], ["bertcli", *sys.argv[2:]]
try:
    runpy.run_module("bertcli", run_name="__main__")
finally:
    with open(report, "w") as out:
        json.dump(sorted(m for m in {HEAVY!r} if m in sys.modules), out)
"""


@dataclass(frozen=True)
class Finished:
    exit_code: int
    stdout: str
    stderr: str
    heavy: list[str] | None  # None: the interpreter died before it could say


def run_bertcli(*args, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Finished:
    """Run the command line with `args` (and `env` over this process's environment) in a new Python."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "heavy.json"
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(report), *map(str, args)], capture_output=True, text=True, timeout=timeout,
            cwd=cwd, env={**os.environ, **(env or {})},
        )
        heavy = json.loads(report.read_text()) if report.exists() else None
    return Finished(done.returncode, done.stdout, done.stderr, heavy)
