"""`debug run`'s findings about a run that ended near chance (underfitting), with the recipe that fixes it."""

from __future__ import annotations

import math

from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.diagnose.run_fixes import commented, debug_data_command, debug_model_command, in_sequence, train_command
from bertcli.core.diagnose.run_lr_advice import LARGE_LR, lr_range_line, run_lr, suggested_lr
from bertcli.core.diagnose.run_underfitting import Underfitting
from bertcli.core.findings import Finding
from bertcli.core.formatting import dec, sci
from bertcli.core.runs.numbers import general, is_finite, positive_int

# Fine-tuning a pretrained encoder's new head usually takes a few hundred optimizer steps.
STEPS_TO_LEARN = 300
MAX_SUGGESTED_EPOCHS = 20


def is_underfitting(d: RunDiagnosis) -> bool:
    """A finished run (or one whose length is unknown) that ended near chance."""
    u = d.underfitting
    return u is not None and u.verdict in ("underfitting", "eval_at_chance") and u.finished is not False


def underfitting_diagnoses(d: RunDiagnosis) -> list[Finding]:
    """A run that ended near chance: stuck at ln k, underfitting, or learning what does not carry over to eval."""
    u = d.underfitting
    if u is None or u.verdict not in ("underfitting", "eval_at_chance"):
        return []
    evidence = _underfitting_evidence(d, u)
    stuck = d.loss_trend.verdict == "stuck_at_chance"
    if u.verdict == "eval_at_chance":
        return [
            Finding(
                "eval_at_chance",
                "error" if u.at_chance_at_end else "warning",
                f"the training loss fell to {dec(u.tail_loss)} but eval accuracy stayed near chance (best {dec(u.best.accuracy)}, "
                f"chance {dec(u.chance.rate)}): what the model learned does not carry over to the eval set",
                evidence,
                commented(
                    debug_data_command(d),
                    "check the data: eval labels that do not mean what the training labels mean (another label order "
                    "or mapping), or training texts that give the label away, look exactly like this",
                ),
            )
        ]
    if u.finished is False and not stuck:
        return [
            Finding(
                "underfitting",
                "info",
                f"near chance so far, at step {d.summary.get('global_step')} of {d.summary.get('max_steps')}: "
                f"too early to call the run underfitting — debug the run folder once it has finished",
                evidence,
            )
        ]
    level = "error" if stuck or u.at_chance_at_end or d.loss_trend.verdict == "flat" else "warning"
    chance_loss = f"ln {u.num_labels} = {u.chance_loss:.4f}"
    if stuck:
        summary = (
            f"underfitting: the loss sits at chance level, {chance_loss}: the model gives every class the same "
            "probability — it is not learning"
        )
    elif u.loss_near_chance and u.last is not None and u.at_chance_at_end:
        summary = (
            f"underfitting: the run ended at chance — eval accuracy {dec(u.last.accuracy)} against a chance rate of "
            f"{dec(u.chance.rate)}, and a training loss of {dec(u.tail_loss)} against {chance_loss}"
        )
    elif u.loss_near_chance:
        summary = (
            f"underfitting: the training loss stayed near chance — {dec(u.tail_loss)} at the end against {chance_loss}, "
            f"down {dec((u.first_loss or 0) - (u.tail_loss or 0))} from its first log: the model has barely learned"
        )
    else:
        summary = (
            f"underfitting: eval accuracy never rose clearly above chance — best {dec(u.best.accuracy)} at step "
            f"{u.best_step}, chance {dec(u.chance.rate)}"
        )
    if not stuck:
        evidence.append(f"if it still ends near chance, check the data: {debug_data_command(d)}")
    return [Finding("stuck_at_chance" if stuck else "underfitting", level, summary, evidence, _underfitting_fix(d, stuck))]


def _underfitting_evidence(d: RunDiagnosis, u: Underfitting) -> list[str]:
    evidence = [u.loss_left_out] if u.loss_left_out else []
    if u.tail_loss is not None:
        assumed = "" if u.labels_known else f" ({u.num_labels} labels assumed: no config.json beside the state)"
        evidence.append(
            f"training loss {dec(u.first_loss)} at step {u.first_step} → {dec(u.tail_loss)} (median of the last "
            f"{u.tail_points} logs); ln {u.num_labels} = {u.chance_loss:.4f} is what a model that learned nothing "
            f"scores{assumed}; within {u.loss_band:.3f} of it counts as near chance"
        )
    if u.accuracies and u.chance is not None:
        evidence.append(
            "eval accuracy "
            + " / ".join(dec(a) for _, a in u.accuracies)
            + f" at step{'s' if len(u.accuracies) > 1 else ''} "
            + " / ".join(str(s) for s, _ in u.accuracies)
        )
        evidence.append(f"chance rate: {u.chance.describe()}")
        if u.last is not None:
            where = "near chance: " + u.last.reason() if u.last.near_chance else u.last.reason() + ": the model has started to learn, slowly"
            evidence.append(f"the last accuracy, {dec(u.last.accuracy)}, is {where}")
    elif u.chance is None:
        evidence.append("no eval accuracy in the log: judged by the training loss alone")
    if u.verdict == "eval_at_chance":  # steps and learning rate are not what is wrong
        return evidence
    steps = _steps_line(d)
    if steps:
        evidence.append(steps)
    evidence.append(lr_range_line(d))
    return evidence


def _steps_line(d: RunDiagnosis) -> str | None:
    total = d.summary.get("max_steps") or d.summary.get("global_step")
    if not total:
        return None
    per_epoch = d.summary.get("steps_per_epoch")
    epochs = run_epochs(d)
    size = positive_int(d.recorded.train_size)
    detail = ""
    if per_epoch and epochs:
        detail = f" ({per_epoch} per epoch × {general(epochs)} epoch{'s' if epochs != 1 else ''}"
        detail += f" of {size:,} examples)" if size else ")"
    few = "; fine-tuning usually takes a few hundred" if total < STEPS_TO_LEARN else ""
    more = "; more training examples (--train-size) help too" if size else ""
    return f"{total:,} optimizer steps in all{detail}{few}{more}"


def run_epochs(d: RunDiagnosis) -> float | None:
    """The epochs the run was to train, as recorded."""
    epochs = d.recorded.num_train_epochs or d.settings.get("num_train_epochs")
    return float(epochs) if is_finite(epochs) and epochs > 0 else None


def _suggested_epochs(d: RunDiagnosis) -> float | None:
    """Enough epochs for a few hundred steps, and at least twice the run's."""
    epochs = run_epochs(d)
    total = d.summary.get("max_steps") or d.summary.get("global_step")
    if epochs is None or not total:
        return None
    factor = max(2.0, STEPS_TO_LEARN / total)
    return float(min(math.ceil(epochs * factor), max(MAX_SUGGESTED_EPOCHS, math.ceil(2 * epochs))))


def _underfitting_fix(d: RunDiagnosis, stuck: bool) -> str:
    """The run's own recipe with a learning rate in the usual range and more steps; a run stuck at chance
    checks its data and model first (each check stops the chain when it finds an error)."""
    lr, peak = suggested_lr(d), run_lr(d)
    lower = lr is not None and peak is not None and lr < peak
    what, changes = [], {}
    if lr is not None:
        changes["lr"] = sci(lr)
        if lr >= LARGE_LR:
            changes["warmup_ratio"] = "0.1"
        what.append("a lower learning rate" if lower else "a higher learning rate")
    if not lower:  # a run collapsed by too high a rate needs a lower one, not more of the same
        epochs = _suggested_epochs(d)
        if epochs is None:
            from bertcli.core.training import TrainConfig

            epochs = 2 * TrainConfig().epochs
            what.append("more steps (twice train's default epochs: the run's are not recorded)")
        else:
            what.append("more steps")
        changes["epochs"] = general(epochs)
    if stuck:
        train = train_command(d, f"{' and '.join(what)}, once the data and the model check out", **changes)
        return in_sequence(debug_data_command(d), debug_model_command(d), train)
    return train_command(d, " and ".join(what), **changes)
