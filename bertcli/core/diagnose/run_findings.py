"""`debug run`'s findings: what went wrong in a run, the evidence, and the command that fixes it.

They extend inspect-checkpoint's: its progress and checkpoint findings are reported as they are, and its
sentences about the loss, the evaluations and the learning rate are the overview of the diagnoses here.
"""

from __future__ import annotations

import math
import shlex
from pathlib import Path

from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.diagnose.run_fixes import commented, debug_data_command, debug_model_command, in_sequence, resume_command, train_command
from bertcli.core.diagnose.run_lr_advice import LARGE_LR, lower_lr, peak_lr, suggested_lr
from bertcli.core.diagnose.run_stability_findings import fluctuation_diagnoses, grad_diagnoses, lr_diagnoses, non_finite_diagnoses
from bertcli.core.diagnose.run_trends import METRIC_PREFERENCE, EpochGap, Overfitting
from bertcli.core.diagnose.run_underfitting_findings import is_underfitting, run_epochs, underfitting_diagnoses
from bertcli.core.findings import Finding
from bertcli.core.formatting import dec, sci, size_text
from bertcli.core.runs.disk import DiskUsage
from bertcli.core.runs.inspect_findings import checkpoint_finding, eval_sentence, loss_sentence, progress_finding
from bertcli.core.runs.numbers import general, positive_int

def run_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """Every finding about the run, in the order the sections come (sorted by level afterwards)."""
    findings = underfitting_diagnoses(d)
    findings += [f for f in (progress_finding(d.state, d.summary), checkpoint_finding(d.analysis)) if f is not None]
    loss = _loss_diagnoses(d)
    if any(f.code in ("underfitting", "stuck_at_chance") for f in findings):
        loss = [f for f in loss if f.code not in ("stuck_at_chance", "loss_not_decreasing")]
    findings += loss
    findings += _eval_diagnoses(d)
    findings += fluctuation_diagnoses(d)
    findings += grad_diagnoses(d)
    findings += non_finite_diagnoses(d)
    findings += lr_diagnoses(d)
    if d.disk is not None:
        findings += _disk_diagnoses(d.disk, d)
    if d.recorded.multi_label:
        findings = [f for f in findings if f.code not in CHANCE_CODES] + [multi_label_note(d)]
    return findings


# Findings that compare a run with a single-label chance (the majority class, ln k): not for multi-label runs.
CHANCE_CODES = ("underfitting", "eval_at_chance", "stuck_at_chance")


def multi_label_note(d: RunDiagnosis) -> Finding:
    """What debug run leaves out of a multi-label run, and where its scores are."""
    final = f"{d.run_dir}/final" if d.run_dir else "OUTPUT_DIR/final"
    return Finding(
        "multi_label",
        "info",
        "multi-label run: its loss is binary cross-entropy per label and 'accuracy' is subset accuracy, so the "
        "checks against single-label chance (majority class, ln k) are left out; loss, overfitting, gradients, "
        "learning rate and disk are read as for any run",
        fix=f"bertcli evaluate --model {final}  # per-label F1 against the majority-per-label baseline",
    )


def _loss_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """The loss trend: too few logs, stuck at ln k, diverged, flat; inspect's sentence when it fell as it should."""
    t = d.loss_trend
    low = d.lowest_loss
    if low is None:
        steps = d.summary.get("max_steps") or d.summary.get("global_step")
        every = max(1, min(10, steps // 2)) if isinstance(steps, int) and steps > 0 else 10
        fix = train_command(d, "log the training loss every few steps", logging_steps=every)
        return [Finding("loss", "error", "no finite training loss in the log", fix=fix)]
    overview = loss_sentence(low)
    chance = f"ln {t.num_labels} = {t.chance_loss:.4f}" + ("" if t.labels_known else " (2 labels assumed: no config.json beside the state)")
    spans = [
        f"median loss {dec(t.head_median)} over the first quarter of the logs, {dec(t.tail_median)} over the last",
        overview,
    ]
    if t.verdict == "too_few":
        return [Finding("loss", "info", f"{overview} (only {t.points} training logs: too few to judge the trend)")]
    if t.verdict == "stuck_at_chance":
        return [
            Finding(
                "stuck_at_chance",
                "error",
                f"the loss sits at chance level, {chance}: the model gives every class the same probability — it is not learning",
                [spans[0], f"lowest loss {dec(t.lowest)}", overview],
                in_sequence(
                    debug_data_command(d),
                    debug_model_command(d),
                    train_command(d, "once the labels and the pipeline check out", lr=lower_lr(d), warmup_ratio="0.1"),
                ),
            )
        ]
    if t.verdict == "rising":
        return [
            Finding(
                "diverged",
                "error",
                f"the training loss rose over the run, from a median {dec(t.head_median)} to {dec(t.tail_median)}: training diverged",
                spans,
                train_command(d, lr=lower_lr(d), warmup_ratio="0.1"),
            )
        ]
    if t.verdict == "learned_then_diverged":
        return [
            Finding(
                "diverged",
                "error",
                f"the loss fell to {dec(t.lowest)} and then climbed back to a median {dec(t.tail_median)}: training diverged after learning",
                spans,
                train_command(d, "and use the best checkpoint, not the last", lr=lower_lr(d), warmup_ratio="0.1"),
            )
        ]
    if t.verdict == "flat":
        return [
            Finding(
                "loss_not_decreasing",
                "error",
                f"the training loss did not decrease: median {dec(t.head_median)} in the first quarter, {dec(t.tail_median)} in the last",
                spans[1:] + [f"chance level is {chance}"],
                in_sequence(
                    debug_data_command(d),
                    debug_model_command(d),
                    train_command(
                        d,
                        f"once the labels and the pipeline check out: a learning rate of {sci(peak_lr(d))} may be too "
                        f"{'high' if (peak_lr(d) or 0) >= LARGE_LR else 'low'}",
                        lr=sci(suggested_lr(d) or 2e-5),  # within the usual range for the model's size
                    ),
                ),
            )
        ]
    return [Finding("loss", "info", overview)]


def _eval_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """Overfitting or not from the train/eval gap per evaluation, and the epochs that did not help."""
    if not d.state.eval_logs:
        return [
            Finding(
                "no_eval",
                "warning",
                "no evaluation in the log: this run cannot tell overfitting from noise in the training loss",
                ["eval_strategy was 'no': no eval loss, no accuracy, no best checkpoint"],
                train_command(
                    d,
                    "bertcli train evaluates on --eval-size examples after every epoch (with Trainer yourself: "
                    "eval_strategy='epoch'); bertcli evaluate scores a finished model",
                ),
            )
        ]
    o = d.overfitting
    rows = [_epoch_line(e) for e in d.epochs]
    if rows and d.state.recorded.class_weight_values:
        rows.append(
            f"the train loss is weighted by class ({d.state.recorded.class_weight_values}), the eval loss plain "
            "cross-entropy: part of their gap is the weighting — the eval loss's own trend is what counts here"
        )
    if o is None or o.lowest_eval_loss is None:
        missing = [] if d.epochs else ["no eval loss logged, so the train/eval gap cannot be computed"]
        return [Finding("eval", "info", eval_sentence(d.analysis.evals), missing)]
    if o.evaluations < 2:
        return [
            Finding(
                "overfitting_unknown",
                "info",
                "one evaluation only: a trend in the eval loss (overfitting) needs two or more",
                rows,
                train_command(
                    d,
                    "bertcli train evaluates after every epoch: two epochs or more show a trend",
                    epochs=general(max(2.0, math.ceil(run_epochs(d) or 1))),
                ),
            )
        ]
    headline = f"{o.headline_metric} {dec(o.headline_value)} at step {o.headline_step}{_epoch(o.headline_epoch)}"
    where = (
        f"eval loss lowest {dec(o.lowest_eval_loss)} at step {o.lowest_eval_loss_step}{_epoch(o.lowest_eval_loss_epoch)}, "
        f"last {dec(o.last_eval_loss)}"
    )
    if o.overfitting:
        return [_overfitting_finding(d, o, headline, [where, *rows])]
    if is_underfitting(d):
        # A run that never learned has nothing to overfit: say so, and do not advise fewer epochs.
        summary = (
            f"eval loss did not rise after its minimum ({where}) — not a sign of health here: the run is "
            "underfitting (above), so there was nothing to overfit yet"
        )
        return [Finding("no_overfitting", "info", summary, rows)]
    summary = f"no overfitting: eval loss did not rise after its minimum ({where}); best {headline}"
    findings = [Finding("no_overfitting", "info", summary, rows)]
    return findings + [f for f in (_transient_rise_finding(d), _extra_epochs_finding(d, o)) if f is not None]


def _transient_rise_finding(d: RunDiagnosis) -> Finding | None:
    """An eval loss that rose between two evaluations before falling to its minimum later: the largest such rise,
    with the grad-norm spikes logged in between (a run that recovered, but whose middle was worse than it looked)."""
    pairs = [(a, b) for a, b in zip(d.epochs, d.epochs[1:]) if a.eval_loss is not None and b.eval_loss is not None]
    rises = [(a, b) for a, b in pairs if b.eval_loss > a.eval_loss]
    if not rises:
        return None
    a, b = max(rises, key=lambda ab: ab[1].eval_loss - ab[0].eval_loss)
    spikes = [s for s in d.fluctuation.spike_steps if a.step < s <= b.step]
    with_spikes = f", with grad-norm spikes at step(s) {', '.join(map(str, spikes))} in between" if spikes else ""
    return Finding(
        "eval_loss_rise",
        "info",
        f"eval loss rose from {dec(a.eval_loss)} to {dec(b.eval_loss)} between epoch {general(a.epoch)} and "
        f"epoch {general(b.epoch)}{with_spikes}, then fell again: the run recovered, but the model was worse in between",
        [_epoch_line(a), _epoch_line(b)],
    )


def _overfitting_finding(d: RunDiagnosis, o: Overfitting, headline: str, evidence: list[str]) -> Finding:
    """Eval loss rising while the training loss falls: fewer epochs, unless the best metric came last."""
    if o.recommended_epochs is None:
        return Finding(
            "overconfident",
            "info",
            f"eval loss rose by {dec(o.eval_loss_rise)} after its minimum while the training loss fell, "
            f"but the best {headline} is the last evaluation: growing over-confidence, not yet lower {o.headline_metric}",
            evidence,
            "keep the epoch count: bertcli keeps the best checkpoint by eval metric as the run's final/ model",
        )
    best_ckpt = d.summary.get("best_model_checkpoint")
    keep_best = f"this run's best checkpoint is {Path(best_ckpt).name}; " if best_ckpt else ""
    epochs_run = d.state.num_train_epochs
    return Finding(
        "overfitting",
        "warning",
        f"overfitting: eval loss rose by {dec(o.eval_loss_rise)} after its minimum while the training loss "
        f"fell by {dec(o.train_loss_fall)}; best {headline}",
        [*evidence, f"this run trained {general(epochs_run)} epochs; {o.recommended_epochs} are enough"],
        train_command(d, f"{keep_best}or keep the epochs and regularise: --weight-decay 0.05", epochs=o.recommended_epochs),
    )


def _extra_epochs_finding(d: RunDiagnosis, o: Overfitting) -> Finding | None:
    """The epochs after the best accuracy (or F1) that did not improve it, when early stopping did not end the run."""
    if not (
        o.headline_metric in METRIC_PREFERENCE
        and o.headline_epoch is not None
        and o.last_headline_value is not None
        and o.headline_step != d.epochs[-1].step
        and d.recorded.stopped_early_at is None  # early stopping already ended the run after its best
    ):
        return None
    epochs = max(1, math.ceil(o.headline_epoch - 1e-6))
    drop = o.headline_value - o.last_headline_value
    evidence = [
        f"{o.headline_metric} {dec(o.headline_value)} at epoch {general(o.headline_epoch)}, "
        f"{dec(o.last_headline_value)} at the last evaluation"
    ]
    size = positive_int(d.recorded.eval_size)
    if size and o.headline_metric == "accuracy":
        evidence.append(f"a difference of {round(drop * size)} of {size} eval examples: within noise at this size")
    return Finding(
        "extra_epochs",
        "info",
        f"the epochs after epoch {general(o.headline_epoch)} did not improve {o.headline_metric}: "
        f"{epochs} epoch{'s' if epochs > 1 else ''} would have done as well in less time",
        evidence,
        train_command(d, epochs=epochs),
    )


def _epoch_line(e: EpochGap) -> str:
    metrics = ", ".join(f"{k} {dec(v)}" for k, v in e.metrics.items() if k in METRIC_PREFERENCE)
    gap = f" (gap {e.gap:+.4f})" if e.gap is not None else ""
    return (
        f"epoch {general(e.epoch)} (step {e.step}): train loss {dec(e.train_loss)}, eval loss {dec(e.eval_loss)}{gap}"
        + (f", {metrics}" if metrics else "")
    )


def _disk_diagnoses(u: DiskUsage, d: RunDiagnosis) -> list[Finding]:
    if not u.checkpoints:
        return []
    findings = []
    complete = [c for c in u.checkpoints if c.complete]
    states_only = [c for c in u.checkpoints if c.has_state and not c.has_weights]
    evidence = []
    for c in u.checkpoints:
        tags = [t for t, on in (("best", c.best), ("newest", c.newest)) if on]
        if not c.has_state:
            tags.append("half-written")
        elif not c.has_weights:
            tags.append("no weights")
        evidence.append(f"{c.name}: {size_text(c.bytes)}" + (f" ({', '.join(tags)})" if tags else ""))
    if u.final_bytes is not None:
        evidence.append(f"final: {size_text(u.final_bytes)}")
    if complete:
        keeps = " / ".join(str(k) for k in u.freed_by_keeping)
        freed = " / ".join(size_text(v) for v in u.freed_by_keeping.values())
        evidence.append(f"keeping the best + the newest {keeps} would free {freed}")
    if u.unbounded_saves and u.unbounded_saves > len(complete):
        evidence.append(
            f"without a limit, saving every {u.save_steps} steps writes {u.unbounded_saves} checkpoints ≈ {size_text(u.unbounded_bytes)}"
        )
    summary = f"{len(u.checkpoints)} checkpoint folder{'s' if len(u.checkpoints) != 1 else ''} in {u.run_dir} take {size_text(u.total_bytes)}"
    if not complete and states_only:
        summary += " (trainer states only, no weights: nothing to prune or resume from)"
    removable = u.freed_by_keeping.get(2, 0)
    prunable = [c for c in complete if not c.best and not c.newest]
    if len(prunable) >= 2 and removable > 0:
        findings.append(
            Finding(
                "disk",
                "warning",
                summary + f"; {len(prunable)} are neither the best nor the newest",
                evidence,
                commented(
                    f"bertcli debug run {shlex.quote(u.run_dir)} --prune --yes",
                    "keeps the best and the newest; next time train with --keep-checkpoints 2",
                ),
            )
        )
    else:
        findings.append(Finding("disk", "info", summary, evidence))
    newest_step = max((c.step for c in u.checkpoints if c.has_state), default=None)
    stale = [c for c in u.checkpoints if not c.has_state and (newest_step is None or c.step > newest_step)]
    if stale:
        findings.append(
            Finding(
                "half_written",
                "warning",
                f"{', '.join(c.name for c in stale)} {'is' if len(stale) == 1 else 'are'} half-written "
                "(no readable trainer_state.json: Trainer writes it last) — a save was cut off",
                [f"{c.name}: {size_text(c.bytes)}" for c in stale],
                resume_command(d, u.run_dir, "skips it and continues from the newest complete checkpoint"),
            )
        )
    return findings


def _epoch(epoch: float | None) -> str:
    return f" (epoch {epoch:g})" if epoch is not None else ""
