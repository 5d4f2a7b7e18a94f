"""What `bertcli debug run` reports: the inspect analysis of a run, extended with what went wrong and the fixes.

The measurements of `debug run` (train/eval gap, overfitting, fluctuation, loss trend, underfitting, disk)
sit beside the analysis they build on; `debug_run.diagnose_run` makes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bertcli.core.findings import Finding
from bertcli.core.jsondata import plain
from bertcli.core.runs.analysis import RunAnalysis
from bertcli.core.runs.disk import DiskUsage, PrunePlan
from bertcli.core.runs.log import GradNorms, LowestLoss, NonFinite
from bertcli.core.runs.lr_schedule import LRSchedule
from bertcli.core.runs.manifest import TrainingRecord
from bertcli.core.runs.state import RunState
from bertcli.core.runs.trends import EpochGap, Fluctuation, LossTrend, Overfitting
from bertcli.core.runs.underfitting import Underfitting


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

    @property
    def label(self) -> str:
        return self.analysis.label

    @property
    def state_file(self) -> str:
        return self.analysis.state_file

    @property
    def summary(self) -> dict[str, Any]:
        return self.analysis.summary

    @property
    def settings(self) -> dict[str, Any]:
        return self.analysis.settings

    @property
    def lowest_loss(self) -> LowestLoss | None:
        return self.analysis.lowest_loss

    @property
    def lr_schedule(self) -> LRSchedule:
        return self.analysis.lr_schedule

    @property
    def grad_norms(self) -> GradNorms:
        return self.analysis.grad_norms

    @property
    def non_finite(self) -> list[NonFinite]:
        return self.analysis.non_finite

    @property
    def recorded(self) -> TrainingRecord:
        """The run's recipe as its bertcli.json recorded it (every value None without one)."""
        return self.state.recorded


def run_diagnosis_to_dict(d: RunDiagnosis) -> dict[str, Any]:
    """The diagnosis as JSON-ready data: the analysis's run-level measurements, then debug run's own."""
    return plain(
        {
            "label": d.label,
            "state_file": d.state_file,
            "run_dir": d.run_dir,
            "summary": d.summary,
            "settings": d.settings,
            "lowest_loss": d.lowest_loss,
            "lr_schedule": d.lr_schedule,
            "grad_norms": d.grad_norms,
            "non_finite": d.non_finite,
            "epochs": d.epochs,
            "overfitting": d.overfitting,
            "fluctuation": d.fluctuation,
            "loss_trend": d.loss_trend,
            "disk": d.disk,
            "findings": d.findings,
            "prune": d.prune,
            "underfitting": d.underfitting,
        }
    )
