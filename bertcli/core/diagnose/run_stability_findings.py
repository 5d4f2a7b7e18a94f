"""`debug run`'s findings about how steadily a run trained: late fluctuation of the loss, grad-norm spikes and
explosions, NaN/inf, and the learning-rate schedule."""

from __future__ import annotations

import statistics
from typing import Sequence

from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.diagnose.run_fixes import debug_data_command, in_sequence, train_command
from bertcli.core.diagnose.run_lr_advice import LARGE_LR, VERY_LARGE_LR, lower_lr, peak_lr
from bertcli.core.diagnose.run_trends import FLUCTUATION_CV, FLUCTUATION_RATIO, MIN_LOGS_FOR_TREND, Fluctuation
from bertcli.core.findings import Finding
from bertcli.core.formatting import dec, sci
from bertcli.core.runs.inspect_findings import lr_sentence, nan_filtered
from bertcli.core.runs.log import GradNormSpike
from bertcli.core.runs.numbers import is_finite

EXPLOSION_FACTOR = 10.0
RECOVERY_LOGS = 3


def fluctuation_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """Whether the loss is noisier late in training, and whether grad-norm spikes explain it."""
    f = d.fluctuation
    if f.window is None:
        return []
    every = d.summary.get("logging_every")
    spikes = _alignment_line(f)
    cv = f"rolling CV over {f.window} logs: {dec(f.early_cv, 3)} early, {dec(f.late_cv, 3)} late ({f.ratio:.1f}×)"
    if not f.fluctuating:
        if f.ratio is not None and f.ratio >= FLUCTUATION_RATIO:
            summary = (
                f"the loss is noisier late in training ({f.ratio:.1f}×) but the noise stays small: rolling CV "
                f"{dec(f.late_cv, 3)} late vs {dec(f.early_cv, 3)} early, under the {FLUCTUATION_CV:g} that counts as fluctuating"
            )
        else:
            summary = f"the loss is no noisier late in training than early; {cv}"
        return [Finding("fluctuation", "info", summary, [spikes] if spikes else [])]
    evidence = [
        f"{cv}; CV = spread around each window's trend line / its mean loss",
        f"from step {f.late_from_step} the loss ranged {dec(f.late_min)}–{dec(f.late_max)}",
    ]
    if spikes:
        evidence.append(spikes)
    batch = d.summary.get("train_batch_size")
    window = f"the mean of {every} steps of {batch} examples" if every and batch else "a mean over a few small batches"
    late_spikes = [s for s in f.spike_steps if f.late_from_step is not None and s >= f.late_from_step]
    late_aligned = [s for s in f.aligned_spike_steps if s in late_spikes]
    if late_aligned and len(late_aligned) * 2 >= len(late_spikes):
        fix = in_sequence(
            debug_data_command(d),
            train_command(
                d,
                f"the late jumps follow gradient spikes (steps {', '.join(map(str, late_aligned))}): hard or "
                "mislabelled batches; check the data, then train with warmup and a lower rate",
                warmup_ratio="0.1",
                lr=lower_lr(d),
            ),
        )
    else:
        if f.spike_steps and not late_spikes:
            evidence.append(
                f"no spike falls in the fluctuating stretch (from step {f.late_from_step}): the spikes do not explain it"
            )
        evidence.append(
            f"each logged loss is {window}: late in training, when the loss is small, batch-to-batch noise is a larger share of it"
        )
        fix = train_command(
            d,
            "a larger batch smooths it; the noise is not overfitting by itself: judge by eval loss and accuracy",
            batch_size=min(2 * batch, 4096) if isinstance(batch, int) and batch > 0 else 32,
        )
    return [
        Finding(
            "fluctuation",
            "warning",
            f"the loss fluctuates late in training: rolling CV {dec(f.late_cv, 3)} late vs {dec(f.early_cv, 3)} early",
            evidence,
            fix,
        )
    ]


def _alignment_line(f: Fluctuation) -> str:
    corr = (
        f"rank correlation of grad norm with |change in loss| {f.spike_correlation:+.2f} over the "
        f"{f.correlation_points} logs from step {f.correlation_from_step}"
        if f.spike_correlation is not None
        else ""
    )
    if not f.spike_steps:
        return f"no grad-norm spikes; {corr}" if corr else ""
    steps = f"; steps {', '.join(str(s) for s in f.aligned_spike_steps)}" if f.aligned_spike_steps else ""
    return (
        f"{len(f.aligned_spike_steps)} of {len(f.spike_steps)} grad-norm spikes line up with a loss jump in the top quarter "
        f"(≥ {dec(f.jump_threshold)}{steps})" + (f"; {corr}" if corr else "")
    )


def grad_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """Gradients that exploded, and grad-norm spikes with whether the loss came back after each."""
    g = d.grad_norms
    if not g.points:
        return [Finding("grad_norm", "info", "no grad_norm in the log (older transformers did not log it): spikes cannot be checked")]
    findings = [f for f in (_explosion(d),) if f is not None]
    if g.threshold is None:
        findings.append(Finding("grad_norm", "info", f"grad norms ranged {dec(g.low, 2)}–{dec(g.high, 2)}; too few ({g.points}) to look for spikes"))
        return findings
    if not g.spikes:
        findings.append(
            Finding(
                "grad_norm",
                "info",
                f"no grad-norm spikes: {dec(g.low, 2)}–{dec(g.high, 2)}, all below median {dec(g.median, 2)} + {g.k:g}×MAD = {dec(g.threshold, 2)}",
            )
        )
        return findings
    total = d.lr_schedule.total_steps or d.summary.get("max_steps") or d.summary.get("global_step") or 0
    early = [s for s in g.spikes if total and s.step <= 0.1 * total]
    losses = [(log.step, log.loss) for log in d.analysis.rows if is_finite(log.loss)]
    unrecovered = [s for s in g.spikes if _recovered(s, losses) is False]
    warmup = d.lr_schedule.warmup_steps
    if early and not warmup:
        fix = train_command(d, "the spikes come early, without warmup", warmup_ratio="0.1")
    else:
        fix = train_command(d, "if they recur or the loss does not recover", lr=lower_lr(d))
    count = f"{len(g.spikes)} grad-norm spike{'s' if len(g.spikes) > 1 else ''}"
    level = "warning" if unrecovered or len(g.spikes) >= 3 else "info"
    if unrecovered:
        tail = f"; the loss did not come back after {len(unrecovered)}"
    else:
        tail = "; the loss recovered" + (" after each" if len(g.spikes) > 1 else "")
    findings.append(
        Finding(
            "grad_spikes",
            level,
            f"{count} above median {dec(g.median, 2)} + {g.k:g}×MAD = {dec(g.threshold, 2)}{tail}",
            _spike_evidence(g.spikes, losses),
            fix,
        )
    )
    return findings


def _explosion(d: RunDiagnosis) -> Finding | None:
    """Grad norms that grew tenfold from the first quarter of the run to the last."""
    values = [log.grad_norm for log in d.analysis.rows if is_finite(log.grad_norm)]
    if len(values) < MIN_LOGS_FOR_TREND:
        return None
    quarter = max(2, len(values) // 4)
    head, tail = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
    if not (head > 0 and tail >= EXPLOSION_FACTOR * head):
        return None
    return Finding(
        "grad_explosion",
        "error",
        f"gradients exploded: median grad norm {dec(head, 2)} in the first quarter of the run, {dec(tail, 2)} in the last",
        [f"largest grad norm {dec(d.grad_norms.high, 2)}"],
        train_command(d, lr=lower_lr(d), warmup_ratio="0.1"),
    )


def _spike_evidence(spikes: Sequence[GradNormSpike], losses: Sequence[tuple[int, float]]) -> list[str]:
    """The loss before, at and after each spike, and whether it came back."""
    evidence = []
    for s in spikes[:8]:
        moved = f"loss {dec(s.loss_before)} → {dec(s.loss_at)} → {dec(s.loss_after)}"
        recovered = _recovered(s, losses)
        if recovered is None:
            back = "the last log"
        elif recovered is False:
            back = f"not back within {RECOVERY_LOGS} logs"
        else:
            back = f"back to {dec(recovered[1])} by step {recovered[0]}"
        evidence.append(f"{dec(s.value, 2)} at step {s.step} ({s.times_median:.1f}× median): {moved} ({back})")
    if len(spikes) > 8:
        evidence.append(f"and {len(spikes) - 8} more")
    evidence.append(
        "Trainer clips the gradient to max_grad_norm (1.0 by default) before each update: a spike does not make a "
        "bigger step, it marks a batch the model found surprising"
    )
    return evidence


def _recovered(spike: GradNormSpike, losses: Sequence[tuple[int, float]]) -> tuple[int, float] | bool | None:
    """The first log within a few after the spike where the loss is back to its level before it.

    False when it is not back within RECOVERY_LOGS logs; None when nothing was logged after the spike.
    """
    if spike.loss_before is None:
        return None
    after = [(step, loss) for step, loss in losses if step > spike.step][:RECOVERY_LOGS]
    if not after:
        return None
    return next(((step, loss) for step, loss in after if loss <= spike.loss_before * 1.02), False)


def non_finite_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """NaN/inf in the log; or, where Trainer's logging filter was on, that the log cannot show them."""
    found, state = d.non_finite, d.state
    filtered = nan_filtered(state)
    if found:
        by_step = {log.step: log for log in state.train_logs}
        evidence = [f"{n.key} = {n.value} at step {n.step}" for n in found[:6]]
        if len(found) > 6:
            evidence.append(f"and {len(found) - 6} more")
        hidden = [
            n for n in found if n.key == "grad_norm" and n.step in by_step and is_finite(by_step[n.step].loss)
        ]
        if hidden and filtered:
            h = hidden[0]
            evidence.append(
                f"at step {h.step} the grad norm is {h.value} but the loss reads {dec(by_step[h.step].loss)}: "
                "Trainer's logging_nan_inf_filter replaced the non-finite loss with an average, hiding it"
            )
        return [
            Finding(
                "non_finite",
                "error",
                f"{len(found)} NaN/inf value{'s' if len(found) > 1 else ''} in the log, the first at step {found[0].step}: the run diverged",
                evidence,
                _nan_fix(d),
            )
        ]
    if not filtered:
        return []
    return [
        Finding(
            "nan_filter",
            "warning",
            "no NaN or inf in the log, but the log cannot show them: Trainer's default logging_nan_inf_filter=True "
            "replaces a non-finite loss with the average of the window",
            ["a NaN at one step of a logging window shows up as the window's finite average",
             "the state records no logging_nan_inf_filter=False and no bertcli.json (bertcli logs unfiltered)"],
            "pass logging_nan_inf_filter=False to Trainer to log every loss as it is (runs of bertcli log them unfiltered)",
        )
    ]


def _nan_fix(d: RunDiagnosis) -> str:
    """A lower rate with warmup; fp32 for a run in fp16 (or one that did not record its precision): fp16 overflows."""
    precision = d.recorded.precision
    if precision in ("bf16", "fp32"):
        return train_command(d, lr=lower_lr(d), warmup_ratio="0.1")
    return train_command(
        d, "fp16 overflows: fp32 is safest, bf16 keeps its range where the hardware has it",
        lr=lower_lr(d), warmup_ratio="0.1", precision="fp32",
    )


def lr_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """The schedule inspect-checkpoint describes, and what is wrong with it: LR 0, no decay, no warmup, too high."""
    lr = d.lr_schedule
    if lr.shape == "unknown":
        return [Finding("lr_schedule", "info", "no learning rate in the log")]
    described = lr_sentence(lr)
    if lr.peak_logged is not None and lr.peak_logged <= 0:
        return [
            Finding(
                "lr_zero",
                "error",
                "the learning rate is 0 at every logged step: nothing was trained",
                [described],
                train_command(d, "a warmup longer than the run keeps the LR at 0", lr="2e-5", warmup_ratio="0.1"),
            )
        ]
    findings = [Finding("lr_schedule", "info", described)]
    peak = peak_lr(d)
    steps = d.summary.get("max_steps") or d.summary.get("global_step")
    if lr.shape == "constant" and (lr.points >= 3):
        findings.append(
            Finding(
                "lr_no_decay",
                "warning",
                f"the learning rate never decays: constant {sci(peak)} for the whole run",
                [described],
                train_command(d, "the fine-tuning default: decay to 0 by the last step", scheduler="linear"),
            )
        )
    if lr.shape in ("linear", "cosine", "constant") and not lr.warmup_steps and peak and peak >= LARGE_LR:
        findings.append(
            Finding(
                "lr_no_warmup",
                "warning",
                f"no warmup with a large learning rate ({sci(peak)}): the first updates hit a randomly initialised head at full speed",
                [described, "fine-tuning BERT usually works at 2e-5 to 5e-5"],
                train_command(d, warmup_ratio="0.1"),
            )
        )
    if peak and peak >= VERY_LARGE_LR:
        findings.append(
            Finding(
                "lr_too_high",
                "warning",
                f"a learning rate of {sci(peak)} is high for fine-tuning a pretrained encoder (2e-5 to 5e-5 is usual)",
                [described],
                train_command(d, lr="2e-5"),
            )
        )
    if lr.warmup_steps and steps and lr.warmup_steps > 0.5 * steps:
        findings.append(
            Finding(
                "lr_long_warmup",
                "warning",
                f"warmup takes {lr.warmup_steps} of {steps} steps: most of the run trains below the peak rate",
                [described],
                train_command(d, warmup_ratio="0.1"),
            )
        )
    return findings
