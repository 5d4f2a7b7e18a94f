"""What `inspect-checkpoint` reports about a run, and what it reports about several side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bertcli.core.findings import Finding
from bertcli.core.runs.log import EvalSummary, GradNorms, LogRow, LowestLoss, NonFinite
from bertcli.core.runs.lr_schedule import LRSchedule


@dataclass
class RunAnalysis:
    """One run's trainer state measured: its log row by row, loss, LR schedule, spikes, NaN/inf, evaluations."""

    label: str
    state_file: str
    checkpoint: str | None
    chosen_from_run: bool
    skipped: list[str]
    summary: dict[str, Any]
    settings: dict[str, Any]
    rows: list[LogRow]
    lowest_loss: LowestLoss | None
    lr_schedule: LRSchedule
    grad_norms: GradNorms
    non_finite: list[NonFinite]
    evals: EvalSummary
    findings: list[Finding]


@dataclass
class RunComparison:
    """Several runs side by side, and the hyperparameters that differ between them."""

    labels: list[str]
    rows: list[dict[str, Any]]  # one per run: steps, epochs, lowest/final loss, best eval, spikes, wall time
    differing: dict[str, list[Any]]  # hyperparameter -> value per run, only those that differ
