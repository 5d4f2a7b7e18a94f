"""The run-reading side (bertcli.core.runs, and debug run's diagnosis in bertcli.core.diagnose.run*) reads JSON
only: none of its modules imports torch, transformers or datasets, so inspect-checkpoint and debug run start
fast and run where those are not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "bertcli" / "core"
MODULES = sorted(
    [f"bertcli.core.runs.{p.stem}" if p.stem != "__init__" else "bertcli.core.runs" for p in (CORE / "runs").glob("*.py")]
    + [f"bertcli.core.diagnose.{p.stem}" for p in (CORE / "diagnose").glob("run*.py")]
)
HEAVY = ("torch", "transformers", "datasets")


def test_every_module_is_checked():
    assert "bertcli.core.diagnose.run" in MODULES and "bertcli.core.runs.inspect" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_no_heavy_library(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{module} imports {done.stdout.strip()}"
