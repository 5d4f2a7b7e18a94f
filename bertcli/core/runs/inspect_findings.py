"""What `inspect-checkpoint` finds in a run: one finding per measurement, a sentence with the numbers.

`debug run` builds on these: it reports the progress and checkpoint findings as they are and quotes the
sentences about the loss, the learning rate and the evaluations in its own findings.
"""

from __future__ import annotations

from typing import Any

from bertcli.core.findings import Finding
from bertcli.core.formatting import dec_or_sci, sci
from bertcli.core.runs.analysis import RunAnalysis
from bertcli.core.runs.log import EvalSummary, GradNorms, LowestLoss, NonFinite, lower_is_better
from bertcli.core.runs.lr_schedule import LRSchedule
from bertcli.core.runs.manifest import TrainingRecord
from bertcli.core.runs.state import RunState


def run_findings(state: RunState, run: RunAnalysis) -> list[Finding]:
    findings = [
        progress_finding(state, run.summary),
        checkpoint_finding(run),
        controls_finding(state.recorded),
        loss_finding(run.lowest_loss),
        lr_finding(run.lr_schedule),
        grad_finding(run.grad_norms),
        nan_finding(state, run.non_finite),
        eval_finding(run.evals),
    ]
    return [f for f in findings if f is not None]


def progress_finding(state: RunState, summary: dict[str, Any]) -> Finding | None:
    """Where a state that is not the run's last stands, and why the run stopped there when it says."""
    if not (summary["max_steps"] and state.global_step < summary["max_steps"]):
        return None
    stopped = " — training stopped early (should_training_stop is set)" if state.should_training_stop else ""
    stopped = _early_stopping_part(state.recorded, state.global_step) or stopped
    return Finding(
        "progress",
        "info",
        f"this state is at step {state.global_step} of {summary['max_steps']}"
        f"{_epoch_part(state.epoch, state.num_train_epochs)}{stopped}",
    )


def checkpoint_finding(run: RunAnalysis) -> Finding | None:
    """Which checkpoint of a run folder was read, and the newer half-written ones skipped."""
    if not run.chosen_from_run:
        return None
    skipped = f"; skipped {', '.join(run.skipped)} (no readable trainer_state.json)" if run.skipped else ""
    return Finding(
        "checkpoint", "warning" if run.skipped else "info", f"read the newest complete checkpoint, {run.checkpoint}{skipped}"
    )


def controls_finding(recorded: TrainingRecord) -> Finding | None:
    controls = _training_controls(recorded)
    return Finding("controls", "info", f"training controls: {controls}") if controls else None


def loss_sentence(low: LowestLoss) -> str:
    """Where the loss started, its lowest point and what it did after."""
    epoch = f" (epoch {low.epoch:.2f})" if low.epoch is not None else ""
    verb = "fell" if low.value < low.first else "went"
    text = (
        f"loss {verb} from {dec_or_sci(low.first)} at step {low.first_step} to a low of {dec_or_sci(low.value)} "
        f"at step {low.step}{epoch}"
    )
    if low.after_points == 1:
        text += f", then {dec_or_sci(low.final)} at step {low.final_step}, the last log"
    elif low.after_points:
        text += (
            f", then ranged {dec_or_sci(low.after_min)}–{dec_or_sci(low.after_max)} (median "
            f"{dec_or_sci(low.after_median)}) over the {low.after_points} later log{'s' if low.after_points > 1 else ''}, "
            f"ending at {dec_or_sci(low.final)} at step {low.final_step}"
        )
    else:
        text += ", the last logged step: still falling when this state was saved"
    if low.value >= low.first:
        text += " — the loss never went below its first value"
    return text


def loss_finding(low: LowestLoss | None) -> Finding:
    if low is None:
        return Finding("loss", "warning", "no finite training loss in the log")
    return Finding("loss", "warning" if low.value >= low.first else "info", loss_sentence(low))


def lr_sentence(lr: LRSchedule) -> str:
    """The learning rates logged, and the Trainer schedule they follow when one does."""
    if lr.shape == "unknown":
        return "no learning rate in the log"
    span = f"from {sci(lr.first)} at step {lr.first_step} to {sci(lr.last)} at step {lr.last_step}"
    if lr.shape == "other":
        return (
            f"learning rate went {span}, peak {sci(lr.peak_logged)} at step {lr.peak_logged_step}; "
            f"not a linear, cosine or constant Trainer schedule"
        )
    if lr.shape == "constant" and not lr.warmup_steps:
        return f"learning rate constant at {sci(lr.peak)} over {lr.points} logs"
    warmup = f"linear warmup over {lr.warmup_steps} steps, then " if lr.warmup_steps else ""
    shape = {"linear": "linear decay", "cosine": "cosine decay", "constant": "constant"}[lr.shape]
    ends = f" (reaching 0 at step {lr.total_steps})" if lr.shape != "constant" and lr.total_steps else ""
    no_warmup = "" if lr.warmup_steps else ", no warmup"
    return f"learning rate: {warmup}{shape} {span}{ends}; peak {sci(lr.peak)} inferred{no_warmup}"


def lr_finding(lr: LRSchedule) -> Finding:
    return Finding("lr_schedule", "info", lr_sentence(lr))


def grad_finding(g: GradNorms) -> Finding:
    if not g.points:
        return Finding(
            "grad_norm",
            "info",
            "no grad_norm in the log (older transformers versions did not log it), so spikes cannot be checked",
        )
    spread = f"grad norms ranged {dec_or_sci(g.low, 2)}–{dec_or_sci(g.high, 2)} (median {dec_or_sci(g.median, 2)})"
    if g.threshold is None:
        return Finding("grad_norm", "info", f"{spread}; too few values ({g.points}) to look for spikes")
    rule = f"median + {g.k:g}×MAD = {dec_or_sci(g.threshold, 2)}"
    if not g.spikes:
        return Finding("grad_norm", "info", f"{spread}; no spikes above {rule}")
    shown = ", ".join(f"{dec_or_sci(s.value, 2)} at step {s.step} ({s.times_median:.1f}× median)" for s in g.spikes[:5])
    more = f" and {len(g.spikes) - 5} more" if len(g.spikes) > 5 else ""
    count = f"{len(g.spikes)} spike{'s' if len(g.spikes) > 1 else ''}"
    return Finding("grad_norm", "warning", f"{spread}; {count} above {rule}: {shown}{more}")


def nan_finding(state: RunState, found: list[NonFinite]) -> Finding:
    if found:
        first = found[0]
        where = ", ".join(f"{n.key}={n.value} at step {n.step}" for n in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return Finding(
            "non_finite",
            "error",
            f"{len(found)} non-finite value{'s' if len(found) > 1 else ''} in the log: {where}{more} — "
            f"the run diverged at step {first.step}; lower the learning rate, or train in bf16/fp32 rather than fp16",
        )
    if not nan_filtered(state):
        return Finding("non_finite", "info", "no NaN or inf in the log (losses were logged unfiltered, so none occurred)")
    return Finding(
        "nan_filter",
        "warning",
        "no NaN or inf in the log, but the history cannot show them: Trainer's default logging_nan_inf_filter=True "
        "replaces a non-finite loss with the window's average — train with logging_nan_inf_filter=False to see them",
    )


def nan_filtered(state: RunState) -> bool:
    """Whether Trainer may have replaced non-finite losses in the log (bertcli runs log them unfiltered)."""
    return state.settings.get("logging_nan_inf_filter") is not False and not state.written_by_bertcli


def eval_sentence(evals: EvalSummary) -> str:
    """How many evaluations, when, and the best value of each metric."""
    parts = []
    for name in evals.metrics:
        if name in evals.best:
            b = evals.best[name]
            parts.append(f"{name} {'lowest' if lower_is_better(name) else 'best'} {dec_or_sci(b['value'])} at step {int(b['step'])}")
    steps = ", ".join(str(s) for s in evals.steps[:8]) + (" ..." if len(evals.steps) > 8 else "")
    plural = "s" if evals.count > 1 else ""
    return f"{evals.count} evaluation{plural} (steps {steps})" + (": " + "; ".join(parts) if parts else "")


def eval_finding(evals: EvalSummary) -> Finding:
    if not evals.count:
        return Finding(
            "no_eval",
            "warning",
            "no evaluation in the log: evaluation was off (eval_strategy 'no'), so there is no eval loss or "
            "accuracy and no best checkpoint — train with evaluation on (bertcli train evaluates every epoch)",
        )
    return Finding("eval", "info", eval_sentence(evals))


def _early_stopping_part(recorded: TrainingRecord, step: int) -> str:
    """' — early stopping ended it ...' when bertcli.json records that it stopped the run at `step`."""
    if recorded.stopped_early_at != step:
        return ""
    metric = recorded.best_metric or "the best metric"
    return (
        f" — early stopping ended it: {metric} did not improve by more than {_number(recorded.min_delta)} for "
        f"{recorded.early_stopping} evaluations"
    )


def _training_controls(recorded: TrainingRecord) -> str:
    """bertcli train's loss and step controls as its bertcli.json records them, where not the defaults."""
    parts = []
    if recorded.grad_accum is not None and recorded.grad_accum > 1:
        parts.append(f"gradient accumulation {recorded.grad_accum} (effective batch {recorded.effective_batch_size})")
    if recorded.label_smoothing:
        parts.append(f"label smoothing {_number(recorded.label_smoothing)}")
    if recorded.class_weights:
        weights, values = recorded.class_weights, recorded.class_weight_values
        parts.append(f"class weights {weights}" + (f" ({values})" if values and values != weights else ""))
    if recorded.early_stopping:
        every = f"every {recorded.eval_steps} steps" if recorded.eval_steps else "each epoch"
        parts.append(
            f"early stopping after {recorded.early_stopping} evaluations ({every}, min delta {_number(recorded.min_delta)})"
        )
    elif recorded.eval_steps:
        parts.append(f"evaluation every {recorded.eval_steps} steps")
    return "; ".join(parts)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value or 0)


def _epoch_part(epoch: float | None, total: float | None) -> str:
    if epoch is None:
        return ""
    return f" (epoch {epoch:.2f} of {total:g})" if total else f" (epoch {epoch:.2f})"
