"""Did a run end near chance? The training loss against ln k, each eval accuracy against the majority-class rate.

Also what a trained model folder scored during its run (for evaluate and predict), read from JSON only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from bertcli.core.diagnose.chance import (
    ChanceCheck,
    ChanceRate,
    chance_from_counts,
    check_chance,
    positive_share_from_metrics,
)
from bertcli.core.diagnose.run_trends import LossTrend, labels_in, labels_of
from bertcli.core.errors import CheckpointError
from bertcli.core.model_card import METRICS_FILE
from bertcli.core.runs.checkpoints import STATE_FILE, list_checkpoints
from bertcli.core.runs.jsonfile import read_json_object
from bertcli.core.runs.numbers import is_finite, positive_int
from bertcli.core.runs.settings import read_settings_beside
from bertcli.core.runs.state import RunState, load_trainer_state

# Underfitting: a training loss within this share of ln k (0.069 for two labels, 0.110 for three) has
# barely moved from what a model that learned nothing scores; below FITTED_SHARE × ln k it fit the training data.
LOSS_NEAR_CHANCE_SHARE = 0.1
FITTED_SHARE = 0.5


@dataclass
class Underfitting:
    """Did the run end near chance: a training loss near ln k, or an eval accuracy near the majority-class rate?"""

    finished: bool | None  # None: the state does not say how many steps the run was to take
    num_labels: int
    labels_known: bool
    chance_loss: float  # ln k
    loss_band: float  # |loss - ln k| within this counts as near chance
    first_loss: float | None
    first_step: int | None
    tail_loss: float | None  # median of the last quarter of the logs (at least 2)
    tail_points: int
    loss_near_chance: bool
    chance: ChanceRate | None  # the accuracy of always answering the majority class
    accuracies: list[tuple[int, float]]  # (step, eval accuracy)
    best: ChanceCheck | None  # the best eval accuracy against the chance rate
    best_step: int | None
    last: ChanceCheck | None  # the last eval accuracy against it
    last_step: int | None
    verdict: str  # underfitting / eval_at_chance / diverged / learned / unknown
    at_chance_at_end: bool  # the last evaluation is near chance
    loss_left_out: str | None = None  # why the training loss was not compared with ln k


def measure_underfitting(state: RunState, trend: LossTrend, finished: bool | None = None) -> Underfitting:
    """The training loss against ln k and each eval accuracy against the majority-class rate."""
    losses = [(log.step, log.loss) for log in state.train_logs if is_finite(log.loss)]
    left_out = shrunk_weighted_loss(state.recorded)
    if left_out:
        losses = []
    band = LOSS_NEAR_CHANCE_SHARE * trend.chance_loss
    first_step, first_loss = losses[0] if losses else (None, None)
    tail_loss, tail_points = None, 0
    if len(losses) >= 2:
        tail_points = max(2, len(losses) // 4)
        tail_loss = statistics.median(loss for _, loss in losses[-tail_points:])
    loss_near = tail_loss is not None and abs(tail_loss - trend.chance_loss) <= band
    if trend.verdict == "stuck_at_chance":
        loss_near = True
    accuracies = [(log.step, log.metrics["accuracy"]) for log in state.eval_logs if is_finite(log.metrics.get("accuracy"))]
    chance = chance_of_run(state, trend.num_labels) if accuracies else None
    examples = eval_size_of(state)
    best = last = None
    best_step = last_step = None
    if accuracies and chance is not None:
        best_step, best_value = max(accuracies, key=lambda a: (a[1], -a[0]))
        last_step, last_value = accuracies[-1]
        best, last = check_chance(best_value, chance, examples), check_chance(last_value, chance, examples)
    fitted = tail_loss is not None and tail_loss <= FITTED_SHARE * trend.chance_loss
    lowest = min((loss for _, loss in losses), default=None)
    learned_once = lowest is not None and lowest <= FITTED_SHARE * trend.chance_loss and loss_near and trend.verdict != "stuck_at_chance"
    if tail_loss is None and best is None:
        verdict = "unknown"
    elif trend.verdict in ("rising", "learned_then_diverged") or learned_once:
        verdict = "diverged"  # back near chance after learning, or worse: not underfitting (see the loss findings)
    elif loss_near or (best is not None and best.near_chance and not fitted):
        verdict = "underfitting"
    elif best is not None and best.near_chance:
        verdict = "eval_at_chance"
    else:
        verdict = "learned"
    return Underfitting(
        finished=finished,
        num_labels=trend.num_labels,
        labels_known=trend.labels_known,
        chance_loss=trend.chance_loss,
        loss_band=band,
        first_loss=first_loss,
        first_step=first_step,
        tail_loss=tail_loss,
        tail_points=tail_points,
        loss_near_chance=loss_near,
        chance=chance,
        accuracies=accuracies,
        best=best,
        best_step=best_step,
        last=last,
        last_step=last_step,
        verdict=verdict,
        at_chance_at_end=last is not None and last.near_chance,
        loss_left_out=left_out,
    )


def shrunk_weighted_loss(record: Any) -> str | None:
    """Why a run's logged training loss cannot be set against ln k: with class weights, bertcli before the
    weighted mean (bertcli.json `training_loss`) logged Σ wᵢℓᵢ / n, well below the plain loss on imbalanced data."""
    from bertcli.core.runs.manifest import WEIGHTED_MEAN

    if getattr(record, "class_weight_values", None) and getattr(record, "training_loss", None) != WEIGHTED_MEAN:
        return (
            "the training loss is left out: this run weighted it by class without dividing by the weights "
            "(Σ wᵢℓᵢ / n), so it reads below ln k and below the eval loss — judged by eval accuracy alone"
        )
    return None


def chance_of_run(state: RunState, num_labels: int) -> ChanceRate:
    """The majority-class rate of the run's eval set, from what the run recorded; 1/k when it cannot be known."""
    recorded = chance_from_record(state.recorded, num_labels)
    if recorded is not None:
        return recorded
    evaluations = [log.metrics for log in state.eval_logs]
    return chance_from_logged_metrics(evaluations, num_labels, state.settings.get("labels"), eval_size_of(state))


def chance_from_record(record: Any, num_labels: int) -> ChanceRate | None:
    """The majority-class rate from the eval class counts bertcli.json records (`eval_label_counts`, by label
    id); None where it records none, or counts for another number of labels."""
    counts = getattr(record, "eval_label_counts", None)
    if not counts or len(counts) != num_labels or not sum(counts):
        return None
    names = record.label_names if record.label_names and len(record.label_names) == num_labels else None
    return chance_from_counts(counts, names)


def chance_from_logged_metrics(
    evaluations: Sequence[dict[str, Any]], num_labels: int, labels: Any, examples: int | None
) -> ChanceRate:
    """The majority-class rate of an eval set from its logged metrics; 1/k when they cannot give it.

    Trainer logs no class counts, but for two labels bertcli logs accuracy with label 1's precision and
    recall, which fix the share of label-1 examples (see positive_share_from_metrics).
    """
    uniform = ChanceRate(1 / num_labels, 1 / num_labels, num_labels, "uniform")
    if num_labels != 2:
        return uniform
    shares = [
        share
        for metrics in evaluations
        if (share := positive_share_from_metrics(metrics.get("accuracy"), metrics.get("precision"), metrics.get("recall")))
        is not None
    ]
    if not shares:
        return uniform
    share = statistics.median(shares)
    names = str(labels or "").split(",")
    names = names if len(names) == 2 and all(names) else ["0", "1"]
    if examples:
        positives = round(share * examples)
        count = max(positives, examples - positives)
        label = names[1] if positives * 2 >= examples else names[0]
        return ChanceRate(count / examples, 0.5, 2, "derived", label, count, examples)
    return ChanceRate(max(share, 1 - share), 0.5, 2, "derived", names[1] if share >= 0.5 else names[0])


def eval_size_of(state: RunState) -> int | None:
    """How many examples each evaluation scored, as bertcli.json records it."""
    return positive_int(state.recorded.eval_size)


def recorded_accuracy(model: str | Path) -> ChanceCheck | None:
    """The eval accuracy a trained model folder scored during its run, against the chance rate; None if unknown.

    A final/ folder's metrics.json holds the scores of the weights saved there. Otherwise: a checkpoint
    folder holds its own trainer state (its last evaluation is the one for its weights); a run's final/
    is the best checkpoint by eval metric (bertcli's default), found in the state of the run's newest
    checkpoint. Reads JSON only.
    """
    path = Path(model)
    saved = _saved_final_metrics(path)
    if saved is not None:
        return saved
    try:
        if (path / STATE_FILE).is_file():
            state = load_trainer_state(path)
            best_step = None
        elif path.is_dir() and list_checkpoints(path.parent):
            state = load_trainer_state(path.parent)
            best_step = state.best_global_step
        else:
            return None
    except (CheckpointError, OSError):
        return None
    scored = [log for log in state.eval_logs if is_finite(log.metrics.get("accuracy"))]
    if not scored:
        return None
    chosen = next((log for log in scored if log.step == best_step), scored[-1])
    return check_chance(chosen.metrics["accuracy"], chance_of_run(state, labels_of(state)[0]), eval_size_of(state))


def _saved_final_metrics(folder: Path) -> ChanceCheck | None:
    """The accuracy in a final/ folder's metrics.json, against the chance rate of the same evaluation."""
    if not folder.is_dir():
        return None
    data = read_json_object(folder / METRICS_FILE)
    metrics = data.get("metrics") if data is not None else None
    if not isinstance(metrics, dict) or not is_finite(metrics.get("accuracy")):
        return None
    side = read_settings_beside(folder)
    num_labels, _ = labels_in(side.values)
    examples = positive_int(data.get("eval_examples"))
    if examples is None and side.manifest is not None:
        examples = positive_int(side.manifest.recorded.eval_size)
    chance = chance_from_record(side.manifest.recorded, num_labels) if side.manifest is not None else None
    if chance is None:
        chance = chance_from_logged_metrics([metrics], num_labels, side.values.get("labels"), examples)
    return check_chance(metrics["accuracy"], chance, examples)


def run_folder_of_model(model: str | Path) -> Path | None:
    """The run folder a trained model folder belongs to (for `bertcli debug run`), or None."""
    path = Path(model)
    parent = path.parent
    if (path / STATE_FILE).is_file() or (path.is_dir() and list_checkpoints(parent)):
        return parent
    return None
