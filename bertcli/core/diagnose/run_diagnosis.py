"""What `bertcli debug run` reports: the inspect analysis of a run, extended with what went wrong and the fixes.

The measurements of `debug run` (train/eval gap, overfitting, fluctuation, loss trend, underfitting, disk)
sit beside the analysis they build on; `run.diagnose_run` makes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from bertcli.core.diagnose.run_trends import EpochGap, Fluctuation, LossTrend, Overfitting
from bertcli.core.diagnose.run_underfitting import Underfitting
from bertcli.core.findings import Finding
from bertcli.core.jsondata import plain
from bertcli.core.runs.analysis import RunAnalysis
from bertcli.core.runs.disk import DiskUsage, PrunePlan
from bertcli.core.runs.manifest import TrainingRecord
from bertcli.core.runs.state import RunState


# What debug run shows of the inspect analysis it builds on, read through the diagnosis (d.summary) and listed
# first in its JSON; the log rows, evaluations and inspect's own findings stay in d.analysis.
SHARED = ("label", "state_file", "summary", "settings", "lowest_loss", "lr_schedule", "grad_norms", "non_finite")


@dataclass
class RunDiagnosis:
    """A run diagnosed: the state and its inspect analysis, debug run's measurements, findings with fixes."""

    state: RunState = field(repr=False)
    analysis: RunAnalysis = field(repr=False)
    run_dir: str | None
    epochs: list[EpochGap]
    overfitting: Overfitting | None
    fluctuation: Fluctuation
    loss_trend: LossTrend
    underfitting: Underfitting | None
    disk: DiskUsage | None
    findings: list[Finding] = field(default_factory=list)
    prune: PrunePlan | None = None

    def __getattr__(self, name: str) -> Any:
        """The inspect analysis's run-level measurements (SHARED) read as the diagnosis's own: d.summary, d.grad_norms."""
        if name in SHARED:
            return getattr(self.analysis, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def recorded(self) -> TrainingRecord:
        """The run's recipe as its bertcli.json recorded it (every value None without one)."""
        return self.state.recorded


def run_diagnosis_to_dict(d: RunDiagnosis) -> dict[str, Any]:
    """The diagnosis as JSON-ready data: the analysis's run-level measurements, then debug run's own fields."""
    own = {f.name: getattr(d, f.name) for f in fields(d) if f.name not in ("state", "analysis")}
    return plain({**{name: getattr(d.analysis, name) for name in SHARED}, **own})
