"""`bertcli inspect-checkpoint`: a run's trainer state measured, turned into findings, compared with others.

Plain functions over `RunState` returning dataclasses, rendered as tables or JSON by the command. The
measurements live in `log` and `lr_schedule`, the findings in `inspect_findings`; `debug run` extends
the same analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bertcli.core.jsondata import plain
from bertcli.core.runs.analysis import RunAnalysis, RunComparison
from bertcli.core.runs.inspect_findings import run_findings
from bertcli.core.runs.log import (
    DEFAULT_SPIKE_K,
    check_spike_k,
    find_grad_norm_spikes,
    find_lowest_loss,
    find_non_finite,
    merge_rows,
    run_summary,
    summarize_evals,
)
from bertcli.core.runs.lr_schedule import describe_lr_schedule
from bertcli.core.runs.state import RunState, load_trainer_state


def inspect_runs(paths: Sequence[str | Path], spike_k: float = DEFAULT_SPIKE_K) -> list[RunAnalysis]:
    """Load and analyse every path (checkpoint folder, run folder or trainer_state.json)."""
    spike_k = check_spike_k(spike_k)
    return [analyze_run(load_trainer_state(path), spike_k=spike_k, label=str(path)) for path in paths]


def analyze_run(state: RunState, spike_k: float = DEFAULT_SPIKE_K, label: str | None = None) -> RunAnalysis:
    """Everything inspect-checkpoint reports about one run, findings included (`spike_k` as inspect_runs and
    diagnose_run checked it)."""
    rows = merge_rows(state)
    lowest = find_lowest_loss(state)
    lr = describe_lr_schedule(
        [(log.step, log.learning_rate) for log in state.train_logs], state.max_steps or None, state.global_step
    )
    grads = find_grad_norm_spikes(state, spike_k)
    non_finite = find_non_finite(state)
    evals = summarize_evals(state)
    spike_steps = {s.step for s in grads.spikes}
    bad_steps = {n.step for n in non_finite}
    for row in rows:
        row.lowest = lowest is not None and row.step == lowest.step and row.loss == lowest.value
        row.spike = row.step in spike_steps and row.grad_norm is not None
        row.non_finite = row.step in bad_steps
    summary = run_summary(state, evals)
    settings = dict(state.settings)
    if lr.peak is not None and lr.shape not in ("other", "unknown"):
        settings["inferred_learning_rate"] = _sig(lr.peak, 4)
        settings["inferred_lr_schedule"] = lr.shape
        settings["inferred_warmup_steps"] = lr.warmup_steps
    analysis = RunAnalysis(
        label=label if label is not None else str(state.given),
        state_file=str(state.path),
        checkpoint=state.checkpoint,
        chosen_from_run=state.chosen_from_run,
        skipped=list(state.skipped),
        summary=summary,
        settings=settings,
        rows=rows,
        lowest_loss=lowest,
        lr_schedule=lr,
        grad_norms=grads,
        non_finite=non_finite,
        evals=evals,
        findings=[],
    )
    analysis.findings = run_findings(state, analysis)
    return analysis


def best_eval(run: RunAnalysis) -> tuple[str, float, int] | None:
    """The headline eval metric of a run: accuracy, else F1, else eval loss, else the first one logged."""
    best = run.evals.best
    for name in ("accuracy", "f1", "loss", *run.evals.metrics):
        if name in best:
            return name, best[name]["value"], int(best[name]["step"])
    return None


def compare_runs(runs: Sequence[RunAnalysis]) -> RunComparison:
    """Side by side: progress, losses, best eval, spikes, time, and the hyperparameters that differ."""
    rows = []
    for run in runs:
        low = run.lowest_loss
        headline = best_eval(run)
        rows.append(
            {
                "run": run.label,
                "checkpoint": run.checkpoint,
                "global_step": run.summary["global_step"],
                "epoch": run.summary["epoch"],
                "lowest_loss": low.value if low else None,
                "lowest_loss_step": low.step if low else None,
                "final_loss": low.final if low else None,
                "final_loss_step": low.final_step if low else None,
                "best_eval": dict(zip(("metric", "value", "step"), headline)) if headline else None,
                "spikes": len(run.grad_norms.spikes),
                "non_finite": len(run.non_finite),
                "train_runtime": run.summary["train_runtime"],
            }
        )
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.settings if key not in keys]
    differing = {}
    for key in keys:
        # a key one run never recorded is unknown, not different: it is left out. A run whose bertcli.json has its
        # training block recorded every setting, its nulls ("off") left out of the flat settings: those count.
        if not all(_recorded(run.settings, key) for run in runs):
            continue
        values = [run.settings.get(key) for run in runs]
        if len({repr(v) for v in values}) > 1:
            differing[key] = values
    return RunComparison([run.label for run in runs], rows, differing)


def analysis_to_dict(run: RunAnalysis) -> dict[str, Any]:
    """The analysis as JSON-ready data (non-finite numbers become null; `non_finite` lists them); each finding
    in the one shape of every command (core/findings.py)."""
    return plain(run)


def comparison_to_dict(runs: Sequence[RunAnalysis], comparison: RunComparison) -> dict[str, Any]:
    return {"runs": [analysis_to_dict(run) for run in runs], "comparison": plain(comparison)}


def _sig(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def _recorded(settings: dict[str, Any], key: str) -> bool:
    """Whether a run's settings speak of `key`: it is there, or it is a training setting of a run that recorded them."""
    block = key.partition(".")[0] + "."
    return key in settings or (block == "training." and any(k.startswith(block) for k in settings))
