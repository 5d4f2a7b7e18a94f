"""`bertcli debug run`: what went wrong in a training run, from its trainer state and checkpoint folders.

Builds on `core.inspect.analyze_run` (grad-norm spikes, NaN/inf, LR schedule, evaluations, lowest loss)
and adds the diagnoses: underfitting (a run that ends near chance: a training loss near ln k or an eval
accuracy near the majority-class rate), overfitting with the train/eval gap per epoch, late fluctuation of
the loss and whether grad-norm spikes line up with it, a loss that does not fall, sits at chance (ln k) or
diverges, LR schedule anomalies, and the disk the checkpoints take (with a safe prune plan). JSON only, no torch.
"""

from __future__ import annotations

import math
import re
import shlex
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bertcli.core.checkpoints import (
    STATE_FILE,
    WEIGHT_FILES,
    Checkpoint,
    checkpoints_to_remove,
    folder_bytes,
    list_checkpoints,
    remove_checkpoints,
)
from bertcli.core.commands import bertcli_command, data_flags
from bertcli.core.diagnose import (
    ChanceCheck,
    ChanceRate,
    Diagnosis,
    check_chance,
    json_safe,
    percentile,
    positive_share_from_metrics,
    rank_correlation,
    size_text,
    sort_findings,
)
from bertcli.core.errors import CheckpointError, UsageError
from bertcli.core.inspect import (
    DEFAULT_SPIKE_K,
    GradNorms,
    LowestLoss,
    LRSchedule,
    NonFinite,
    RunAnalysis,
    analyze_run,
)
from bertcli.core.model_card import METRICS_FILE
from bertcli.core.state import (
    EVAL_SPEED_KEYS,
    RunState,
    _read_side_json,
    _state_is_readable,
    load_trainer_state,
    read_settings_beside,
)

MIN_LOGS_FOR_TREND = 8
# Fluctuation: late rolling CV at least this high, and this many times the early one.
FLUCTUATION_CV = 0.15
FLUCTUATION_RATIO = 1.5
# Eval loss must rise this much (absolute, or relative to its minimum) to count as rising.
EVAL_RISE_ABS = 0.01
EVAL_RISE_REL = 0.05
CHANCE_BAND = 0.05
LARGE_LR = 5e-5
VERY_LARGE_LR = 1e-4
EXPLOSION_FACTOR = 10.0
METRIC_PREFERENCE = ("accuracy", "f1")
RECOVERY_LOGS = 3
# Underfitting: a training loss within this share of ln k (0.069 for two labels, 0.110 for three) has
# barely moved from what a model that learned nothing scores; below FITTED_SHARE × ln k it fit the training data.
LOSS_NEAR_CHANCE_SHARE = 0.1
FITTED_SHARE = 0.5
# Fine-tuning a pretrained encoder's new head usually takes a few hundred optimizer steps.
STEPS_TO_LEARN = 300
MAX_SUGGESTED_EPOCHS = 20
# (largest hidden size, lowest and highest usual fine-tuning learning rate, the models meant)
LR_RANGES = (
    (512, 5e-5, 1e-4, "small models like MiniLM"),
    (768, 2e-5, 5e-5, "bert-base-sized models"),
    (None, 1e-5, 3e-5, "bert-large-sized models"),
)


@dataclass
class EpochGap:
    """One evaluation: the mean training loss since the previous one, the eval loss and their gap."""

    epoch: float | None
    step: int
    train_loss: float | None
    eval_loss: float | None
    gap: float | None  # eval loss - train loss
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Overfitting:
    evaluations: int
    lowest_eval_loss: float | None
    lowest_eval_loss_step: int | None
    lowest_eval_loss_epoch: float | None
    last_eval_loss: float | None
    eval_loss_rise: float | None  # last - lowest
    train_loss_fall: float | None  # train loss at the lowest eval loss - at the last eval
    headline_metric: str | None  # accuracy, else f1, else loss
    headline_value: float | None
    headline_step: int | None
    headline_epoch: float | None
    last_headline_value: float | None
    last_epoch: float | None
    overfitting: bool
    recommended_epochs: int | None  # None: keep the epoch count


@dataclass
class Fluctuation:
    """Rolling coefficient of variation (spread around each window's trend line / mean) of the training loss."""

    points: int
    window: int | None
    early_cv: float | None
    late_cv: float | None
    ratio: float | None
    late_min: float | None
    late_max: float | None
    late_from_step: int | None
    fluctuating: bool
    spike_steps: list[int]
    aligned_spike_steps: list[int]  # spikes whose log or the next one has a loss jump in the top quarter
    jump_threshold: float | None
    spike_correlation: float | None  # rank correlation of grad norm with |change in loss|
    correlation_points: int
    correlation_from_step: int | None = None


@dataclass
class LossTrend:
    points: int
    head_median: float | None  # first quarter of the logs
    tail_median: float | None  # last quarter
    lowest: float | None
    num_labels: int
    labels_known: bool
    chance_loss: float  # ln(num_labels): a classifier that learned nothing
    verdict: str  # decreasing / flat / rising / learned_then_diverged / stuck_at_chance / too_few


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


@dataclass
class CheckpointSize:
    name: str
    path: str
    step: int
    complete: bool  # a readable trainer_state.json and weights: a checkpoint to resume from
    has_weights: bool
    has_state: bool  # a readable trainer_state.json (Trainer writes it last; without it, a save was cut off)
    bytes: int
    best: bool
    newest: bool


@dataclass
class DiskUsage:
    run_dir: str
    checkpoints: list[CheckpointSize]
    total_bytes: int
    final_bytes: int | None
    freed_by_keeping: dict[int, int]  # newest N kept (plus the best) -> bytes freed
    save_steps: int | None
    unbounded_saves: int | None  # checkpoints a run without a limit writes
    unbounded_bytes: int | None


@dataclass
class PrunePlan:
    run_dir: str
    keep_newest: int
    best: str | None
    remove: list[CheckpointSize]
    keep: list[CheckpointSize]
    bytes_to_free: int
    applied: bool = False
    freed_bytes: int = 0


@dataclass
class RunDiagnosis:
    label: str
    state_file: str
    run_dir: str | None
    summary: dict[str, Any]
    settings: dict[str, Any]
    lowest_loss: LowestLoss | None
    lr_schedule: LRSchedule
    grad_norms: GradNorms
    non_finite: list[NonFinite]
    epochs: list[EpochGap]
    overfitting: Overfitting | None
    fluctuation: Fluctuation
    loss_trend: LossTrend
    disk: DiskUsage | None
    findings: list[Diagnosis]
    analysis: RunAnalysis = field(repr=False)
    prune: PrunePlan | None = None
    underfitting: Underfitting | None = None


def diagnose_run(path: str | Path, spike_k: float = DEFAULT_SPIKE_K) -> RunDiagnosis:
    """Read the trainer state at `path` (run folder, checkpoint or trainer_state.json) and diagnose it."""
    state = load_trainer_state(path)
    analysis = analyze_run(state, spike_k=spike_k, label=str(path))
    run_dir = run_folder_of(state)
    epochs = epoch_gaps(state)
    overfitting = find_overfitting(epochs) if state.eval_logs else None
    fluctuation = measure_fluctuation(state, analysis.grad_norms)
    trend = describe_loss_trend(state)
    disk = measure_disk(run_dir, state) if run_dir is not None else None
    underfitting = measure_underfitting(state, trend, analysis.summary.get("finished"))
    diagnosis = RunDiagnosis(
        label=str(path),
        state_file=str(state.path),
        run_dir=str(run_dir) if run_dir is not None else None,
        summary=analysis.summary,
        settings=analysis.settings,
        lowest_loss=analysis.lowest_loss,
        lr_schedule=analysis.lr_schedule,
        grad_norms=analysis.grad_norms,
        non_finite=analysis.non_finite,
        epochs=epochs,
        overfitting=overfitting,
        fluctuation=fluctuation,
        loss_trend=trend,
        disk=disk,
        findings=[],
        analysis=analysis,
        underfitting=underfitting,
    )
    diagnosis.findings = sort_findings(run_diagnoses(state, diagnosis))
    return diagnosis


def run_folder_of(state: RunState) -> Path | None:
    """The folder holding the run's checkpoint-N folders, or None for a state file on its own."""
    folder = state.path.parent
    if state.checkpoint is not None:
        return folder.parent
    return folder if list_checkpoints(folder) else None


# --- the measurements ----------------------------------------------------------------------------------------


def epoch_gaps(state: RunState) -> list[EpochGap]:
    """One row per evaluation with an eval loss (normally one per epoch), with the train/eval gap."""
    from bertcli.core.training import epoch_rows

    gaps = []
    for row in epoch_rows(state.log_history):
        train_loss = row.get("train_loss")
        eval_loss = row.get("loss")
        train_loss = train_loss if _finite(train_loss) else None
        eval_loss = eval_loss if _finite(eval_loss) else None
        metrics = {
            key: value
            for key, value in row.items()
            if key not in ("epoch", "step", "train_loss", "loss") and key not in EVAL_SPEED_KEYS and _finite(value)
        }
        gap = eval_loss - train_loss if eval_loss is not None and train_loss is not None else None
        gaps.append(EpochGap(row.get("epoch"), int(row.get("step") or 0), train_loss, eval_loss, gap, metrics))
    return gaps


def find_overfitting(epochs: Sequence[EpochGap]) -> Overfitting:
    """Eval loss rising after its minimum while the training loss keeps falling; the epoch to stop at."""
    scored = [e for e in epochs if e.eval_loss is not None]
    result = Overfitting(len(epochs), None, None, None, None, None, None, None, None, None, None, None, None, False, None)
    if not scored:
        return result
    lowest = min(scored, key=lambda e: (e.eval_loss, e.step))
    last = scored[-1]
    result.lowest_eval_loss, result.lowest_eval_loss_step = lowest.eval_loss, lowest.step
    result.lowest_eval_loss_epoch, result.last_eval_loss = lowest.epoch, last.eval_loss
    result.eval_loss_rise = last.eval_loss - lowest.eval_loss
    if lowest.train_loss is not None and last.train_loss is not None:
        result.train_loss_fall = lowest.train_loss - last.train_loss
    name = next((m for m in METRIC_PREFERENCE if any(m in e.metrics for e in scored)), None)
    if name is None:
        best = lowest
        result.headline_metric, result.headline_value = "loss", lowest.eval_loss
    else:
        with_metric = [e for e in scored if name in e.metrics]
        best = min(with_metric, key=lambda e: (-e.metrics[name], e.step))
        result.headline_metric, result.headline_value = name, best.metrics[name]
    result.headline_step, result.headline_epoch = best.step, best.epoch
    result.last_epoch = last.epoch
    result.last_headline_value = last.eval_loss if name is None else last.metrics.get(name)
    rising = last is not lowest and result.eval_loss_rise > max(EVAL_RISE_ABS, EVAL_RISE_REL * lowest.eval_loss)
    result.overfitting = bool(rising and result.train_loss_fall is not None and result.train_loss_fall > 0)
    if result.overfitting and best is not last and best.epoch is not None:
        result.recommended_epochs = max(1, math.ceil(best.epoch - 1e-6))
    return result


def measure_fluctuation(state: RunState, grads: GradNorms) -> Fluctuation:
    """Late vs early rolling CV of the loss, and how grad-norm spikes line up with the jumps in it.

    The correlation of grad norm with the size of the loss change is taken over the late stretch
    when the run is long enough to have one, else over the whole run.
    """
    logs = [log for log in state.train_logs if _finite(log.loss)]
    n = len(logs)
    spike_steps = [s.step for s in grads.spikes]
    result = Fluctuation(n, None, None, None, None, None, None, None, False, spike_steps, [], None, None, 0)
    if n >= MIN_LOGS_FOR_TREND + 1:
        window = max(4, min(10, n // 6))
        cvs = [(end, _detrended_cv([log.loss for log in logs[end - window + 1 : end + 1]])) for end in range(window - 1, n)]
        third = max(1, n // 3)
        early = [cv for end, cv in cvs if end < max(window, third) and cv is not None]
        late = [cv for end, cv in cvs if end >= n - third and cv is not None]
        if early and late:
            late_logs = logs[max(0, n - third - window + 1) :]
            result.window = window
            result.early_cv, result.late_cv = statistics.median(early), statistics.median(late)
            result.ratio = result.late_cv / result.early_cv if result.early_cv > 0 else math.inf
            result.late_min = min(log.loss for log in late_logs)
            result.late_max = max(log.loss for log in late_logs)
            result.late_from_step = late_logs[0].step
            result.fluctuating = result.late_cv >= FLUCTUATION_CV and result.ratio >= FLUCTUATION_RATIO
    if n < 2:
        return result
    jumps = {b.step: b.loss - a.loss for a, b in zip(logs, logs[1:])}
    result.jump_threshold = percentile(sorted(abs(v) for v in jumps.values()), 0.75)
    next_step = {a.step: b.step for a, b in zip(logs, logs[1:])}
    for step in spike_steps:
        near = [jumps.get(step), jumps.get(next_step.get(step, -1))]
        if any(j is not None and abs(j) >= result.jump_threshold and abs(j) > 0 for j in near):
            result.aligned_spike_steps.append(step)
    pairs = [(log.step, log.grad_norm, abs(jumps[log.step])) for log in logs if log.step in jumps and _finite(log.grad_norm)]
    late_pairs = [p for p in pairs if result.late_from_step is not None and p[0] >= result.late_from_step]
    chosen = late_pairs if len(late_pairs) >= 5 else pairs
    result.correlation_points = len(chosen)
    result.correlation_from_step = chosen[0][0] if chosen else None
    if len(chosen) >= 5:
        result.spike_correlation = rank_correlation([p[1] for p in chosen], [p[2] for p in chosen])
    return result


def _detrended_cv(values: Sequence[float]) -> float | None:
    """Standard deviation around the least-squares line through the window, over the window's mean."""
    n = len(values)
    mean = statistics.fmean(values)
    if mean <= 0 or n < 3:
        return None
    xs = range(n)
    mx = (n - 1) / 2
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (v - mean) for x, v in zip(xs, values)) / sxx
    residuals = [v - (mean + slope * (x - mx)) for x, v in zip(xs, values)]
    return math.sqrt(sum(r * r for r in residuals) / (n - 2)) / mean


def describe_loss_trend(state: RunState) -> LossTrend:
    """Did the training loss fall, stay flat, sit at chance (ln k), rise, or fall and then diverge?"""
    values = [log.loss for log in state.train_logs if _finite(log.loss)]
    num_labels, known = labels_of(state)
    chance = math.log(num_labels)
    trend = LossTrend(len(values), None, None, min(values) if values else None, num_labels, known, chance, "too_few")
    if len(values) < MIN_LOGS_FOR_TREND:
        return trend
    quarter = max(2, len(values) // 4)
    head, tail = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
    trend.head_median, trend.tail_median = head, tail
    low_share = percentile(sorted(values), 0.1)
    if abs(tail - chance) <= CHANCE_BAND and low_share >= chance - 2 * CHANCE_BAND:
        trend.verdict = "stuck_at_chance"
    elif trend.lowest < 0.5 * head and tail > 0.8 * head and tail > 3 * trend.lowest:
        trend.verdict = "learned_then_diverged"
    elif tail > head * 1.2:
        trend.verdict = "rising"
    elif tail >= head * 0.95:
        trend.verdict = "flat"
    else:
        trend.verdict = "decreasing"
    return trend


def measure_underfitting(state: RunState, trend: LossTrend, finished: bool | None = None) -> Underfitting:
    """The training loss against ln k and each eval accuracy against the majority-class rate."""
    losses = [(log.step, log.loss) for log in state.train_logs if _finite(log.loss)]
    band = LOSS_NEAR_CHANCE_SHARE * trend.chance_loss
    first_step, first_loss = losses[0] if losses else (None, None)
    tail_loss, tail_points = None, 0
    if len(losses) >= 2:
        tail_points = max(2, len(losses) // 4)
        tail_loss = statistics.median(loss for _, loss in losses[-tail_points:])
    loss_near = tail_loss is not None and abs(tail_loss - trend.chance_loss) <= band
    if trend.verdict == "stuck_at_chance":
        loss_near = True
    accuracies = [(log.step, log.metrics["accuracy"]) for log in state.eval_logs if _finite(log.metrics.get("accuracy"))]
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
    )


def chance_of_run(state: RunState, num_labels: int) -> ChanceRate:
    """The majority-class rate of the run's eval set, from what the run recorded; 1/k when it cannot be known."""
    return chance_from_logged_metrics([log.metrics for log in state.eval_logs], num_labels, state.settings.get("labels"), eval_size_of(state))


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
    size = state.settings.get("training.eval_size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


def labels_of(state: RunState) -> tuple[int, bool]:
    """The number of labels from the config.json beside the state; 2 (binary) when it is not there."""
    labels = state.settings.get("labels")
    if isinstance(labels, str) and labels:
        return max(2, len(labels.split(","))), True
    return 2, False


def measure_disk(run_dir: Path, state: RunState) -> DiskUsage:
    """Size of every checkpoint, the total, and what keeping fewer (plus the best) would free."""
    checkpoints = list_checkpoints(run_dir)
    best = best_checkpoint_path(run_dir, state.best_model_checkpoint)
    sizes = describe_checkpoints(checkpoints, best)
    final = run_dir / "final"
    usage = DiskUsage(
        run_dir=str(run_dir),
        checkpoints=sizes,
        total_bytes=sum(c.bytes for c in sizes),
        final_bytes=folder_bytes(final) if final.is_dir() else None,
        freed_by_keeping={},
        save_steps=state.save_steps,
        unbounded_saves=None,
        unbounded_bytes=None,
    )
    by_path = {c.path: c.bytes for c in sizes}
    for keep in (1, 2, 3):
        usage.freed_by_keeping[keep] = sum(by_path[str(c.path)] for c in checkpoints_to_remove(checkpoints, keep, best))
    weighted = [c.bytes for c in sizes if c.complete and c.has_weights]
    if state.save_steps and state.save_steps > 0 and weighted:
        total_steps = max(state.global_step, state.max_steps or 0)
        usage.unbounded_saves = total_steps // state.save_steps
        usage.unbounded_bytes = int(statistics.median(weighted) * usage.unbounded_saves)
    return usage


def describe_checkpoints(checkpoints: Sequence[Checkpoint], best: Path | None) -> list[CheckpointSize]:
    """Size and state of every checkpoint; `newest` marks the newest complete one (else the newest with a state)."""
    states = {c.path: _state_is_readable(c.path / STATE_FILE) for c in checkpoints}
    complete = [c for c in checkpoints if c.complete] or [c for c in checkpoints if states[c.path]]
    newest = complete[-1].path if complete else None
    best_resolved = best.resolve() if best is not None else None
    return [
        CheckpointSize(
            name=c.name,
            path=str(c.path),
            step=c.step,
            complete=c.complete,
            has_weights=any((c.path / name).is_file() for name in WEIGHT_FILES),
            has_state=states[c.path],
            bytes=folder_bytes(c.path),
            best=best_resolved is not None and c.path.resolve() == best_resolved,
            newest=c.path == newest,
        )
        for c in checkpoints
    ]


def best_checkpoint_path(run_dir: Path, recorded: str | None) -> Path | None:
    """The best checkpoint Trainer recorded, found in `run_dir` by name (runs move between machines)."""
    if not recorded:
        return None
    candidate = run_dir / Path(recorded).name
    return candidate if candidate.is_dir() else None


def plan_prune(run_dir: str | Path, best: str | None = None, keep_newest: int = 1) -> PrunePlan:
    """Which checkpoints go so that only the best and the newest `keep_newest` complete ones stay.

    Numeric step order; half-written folders older than the newest complete checkpoint go too; the
    newest complete checkpoint is never removed, and nothing is removed when none is complete.
    """
    if keep_newest < 1:
        raise UsageError(f"--keep takes 1 or more (the newest complete checkpoint always stays), not {keep_newest}")
    run = Path(run_dir)
    checkpoints = list_checkpoints(run)
    best_path = best_checkpoint_path(run, best)
    sizes = describe_checkpoints(checkpoints, best_path)
    doomed = {str(c.path) for c in checkpoints_to_remove(checkpoints, keep_newest, best_path)}
    remove = [c for c in sizes if c.path in doomed]
    return PrunePlan(
        run_dir=str(run),
        keep_newest=keep_newest,
        best=str(best_path) if best_path else None,
        remove=remove,
        keep=[c for c in sizes if c.path not in doomed],
        bytes_to_free=sum(c.bytes for c in remove),
    )


def apply_prune(plan: PrunePlan) -> PrunePlan:
    """Delete the folders the plan lists (checked again against the folder as it is now)."""
    fresh = plan_prune(plan.run_dir, plan.best, plan.keep_newest)
    allowed = {c.path for c in fresh.remove}
    doomed = [Checkpoint(Path(c.path), c.step, c.complete) for c in plan.remove if c.path in allowed]
    plan.freed_bytes = remove_checkpoints(doomed)
    plan.applied = True
    return plan


# --- the findings ----------------------------------------------------------------------------------------------


def run_diagnoses(state: RunState, d: RunDiagnosis) -> list[Diagnosis]:
    a = d.analysis
    messages = {f.code: f for f in a.findings}
    findings = _underfitting_diagnoses(d)
    for code in ("progress", "checkpoint"):
        if code in messages:
            findings.append(Diagnosis(code, messages[code].level, messages[code].message))
    loss = _loss_diagnoses(d, messages)
    if any(f.code in ("underfitting", "stuck_at_chance") for f in findings):
        loss = [f for f in loss if f.code not in ("stuck_at_chance", "loss_not_decreasing")]
    findings += loss
    findings += _eval_diagnoses(state, d, messages)
    findings += _fluctuation_diagnoses(state, d)
    findings += _grad_diagnoses(d)
    findings += _non_finite_diagnoses(state, d, messages)
    findings += _lr_diagnoses(d, messages)
    if d.disk is not None:
        findings += _disk_diagnoses(d.disk, d)
    return findings


def _peak_lr(d: RunDiagnosis) -> float | None:
    lr = d.lr_schedule
    value = lr.peak if lr.peak is not None else lr.peak_logged
    return value if _finite(value) and value > 0 else None


def _lower_lr(d: RunDiagnosis) -> str:
    """Half the run's peak learning rate (1e-5 when it is not known), as --lr takes it."""
    peak = _peak_lr(d)
    return _lr(peak / 2) if peak else "1e-5"


# --- the commands the findings print ---------------------------------------------------------------------------
# A fix is a command to paste: the run's own recipe as its bertcli.json recorded it (train's defaults left
# out, nothing recorded: the defaults apply), the change that fixes the finding, and an output folder of
# its own; the explanation follows as a shell comment.


def _recorded(d: RunDiagnosis, key: str) -> Any:
    """A value of the `training` block of the run's bertcli.json; None when it is not recorded."""
    return d.settings.get(f"training.{key}")


def _recorded_text(d: RunDiagnosis, key: str) -> str | None:
    value = _recorded(d, key)
    return value if isinstance(value, str) and value.strip() else None


def _recorded_model(d: RunDiagnosis) -> str | None:
    """The model the run trained: bertcli.json's, else config.json's name when it is a hub name or a folder here."""
    model = _recorded_text(d, "model")
    if model is not None:
        return model
    named = d.settings.get("model")  # config.json's _name_or_path: often a folder of the machine that trained
    if isinstance(named, str) and named.strip():
        hub_name = not named.startswith(("/", ".", "~")) and "\\" not in named and named.count("/") <= 1
        if hub_name or Path(named).is_dir():
            return named
    return None


def _data_flags(d: RunDiagnosis) -> dict[str, Any]:
    """The run's dataset options and model, as `debug data` takes them."""
    return data_flags(
        _recorded_text(d, "dataset"),
        model=_recorded_model(d),
        text_column=_recorded_text(d, "text_column") or "text",
        label_column=_recorded_text(d, "label_column") or "label",
        train_split=_recorded_text(d, "train_split") or "train",
        eval_split=_recorded_text(d, "eval_split"),
    )


def _input_flags(d: RunDiagnosis) -> dict[str, Any]:
    """--max-length and --truncation as the run's bertcli.json recorded them, when not train's defaults."""
    from bertcli.core import limits
    from bertcli.core.encoding import TRUNCATIONS
    from bertcli.core.training import TrainConfig

    default = TrainConfig()
    flags: dict[str, Any] = {}
    length = d.settings.get("max_length")
    if isinstance(length, int) and not isinstance(length, bool) and limits.MAX_LENGTH.contains(length):
        if length != default.max_length:
            flags["--max-length"] = length
    truncation = d.settings.get("truncation")
    if truncation in TRUNCATIONS and truncation != default.truncation:
        flags["--truncation"] = truncation
    return flags


def _train_flags(d: RunDiagnosis) -> dict[str, Any]:
    """The run's recipe as `bertcli train` flags: what its bertcli.json recorded, train's defaults left out.

    train_batch_size is the batch of all processes together: one process on one device reads it back as is.
    Precision and attention dropout are left to the hardware the command runs on.
    """
    from bertcli.core import limits
    from bertcli.core.training import TrainConfig

    default = TrainConfig()
    data = _data_flags(d)
    flags: dict[str, Any] = {"--model": data.pop("--model"), "--dataset": data.pop("--dataset"), **data}
    numbers = (  # flag, recorded key, train's default, its range, how it is written
        ("--train-size", "train_size", default.train_size, limits.EXAMPLES, str),
        ("--eval-size", "eval_size", default.eval_size, limits.EXAMPLES, str),
        ("--batch-size", "train_batch_size", default.batch_size, limits.BATCH_SIZE, str),
        ("--lr", "learning_rate", default.lr, limits.LR, _lr),
        ("--weight-decay", "weight_decay", default.weight_decay, limits.WEIGHT_DECAY, _g),
        ("--warmup-ratio", "warmup_ratio", default.warmup_ratio, limits.WARMUP_RATIO, _g),
        ("--epochs", "num_train_epochs", default.epochs, limits.EPOCHS, _g),
        ("--seed", "seed", default.seed, limits.SEED, str),
    )
    for flag, key, default_value, within, shown in numbers:
        value = _recorded(d, key)
        if _finite(value) and within.contains(value) and value != default_value:
            flags[flag] = shown(int(value) if within.integer else value)
    flags.update(_input_flags(d))
    scheduler = _recorded(d, "lr_scheduler_type")
    if scheduler in limits.SCHEDULERS and scheduler != default.scheduler:
        flags["--scheduler"] = scheduler
    if _recorded(d, "group_by_length") is False:
        flags["--no-group-by-length"] = True
    for flag, key, default_value in (("--grad-accum", "grad_accum", 1), ("--label-smoothing", "label_smoothing", 0),
                                     ("--class-weights", "class_weights", None)):
        value = _recorded(d, key)
        if value is not None and value != default_value and not isinstance(value, bool):
            flags[flag] = _g(value) if isinstance(value, float) else str(value)
    return flags


def _train_command(d: RunDiagnosis, comment: str = "", **changes: Any) -> str:
    """`bertcli train` with the run's recipe, `changes` on top (spelled as Python names), into a new folder."""
    flags = _train_flags(d)
    for name, value in changes.items():  # the changes last, where they are easy to see
        flag = "--" + name.replace("_", "-")
        flags.pop(flag, None)
        flags[flag] = value
    flags["-o"] = _new_output_dir(d)
    return _commented(bertcli_command("train", flags), comment)


def _resume_command(d: RunDiagnosis, run_dir: str, comment: str = "") -> str:
    """`bertcli train --resume` with the run's recipe, into the run's own folder."""
    flags = _train_flags(d)
    flags["-o"] = run_dir
    flags["--resume"] = True
    return _commented(bertcli_command("train", flags), comment)


def _debug_data_command(d: RunDiagnosis) -> str:
    """`bertcli debug data` on the run's dataset, with its model's tokenizer and its max length."""
    flags = _data_flags(d)
    length = _input_flags(d).get("--max-length")
    flags["--max-length"] = length
    return bertcli_command("debug data", flags)


def _debug_model_command(d: RunDiagnosis) -> str:
    """`bertcli debug model` on the run's model, its max length, and a batch of its training data."""
    flags: dict[str, Any] = {"--model": _recorded_model(d), "--max-length": _input_flags(d).get("--max-length")}
    data = _data_flags(d)
    if data.get("--dataset") and data.get("--train-split") is None:  # debug model reads the 'train' split
        flags.update({key: data.get(key) for key in ("--dataset", "--text-column", "--label-column")})
    return bertcli_command("debug model", flags)


def _new_output_dir(d: RunDiagnosis) -> str:
    """A folder beside the run for training again: its name + "-2" (-3, ... when that exists too).

    Never the run's own folder: train refuses an earlier run there without --resume or --overwrite.
    """
    base = Path(d.run_dir) if d.run_dir is not None else Path(d.state_file).parent
    if not base.name or base.name == "..":
        base = base / "results"
    numbered = re.fullmatch(r"(.+)-(\d{1,2})", base.name)
    stem, number = (numbered.group(1), int(numbered.group(2)) + 1) if numbered else (base.name, 2)
    while base.with_name(f"{stem}-{number}").exists():
        number += 1
    return str(base.with_name(f"{stem}-{number}"))


def _commented(command: str, comment: str) -> str:
    return f"{command}  # {comment}" if comment else command


def _in_sequence(*commands: str) -> str:
    """Commands to run one after the other; the chain stops at a check that finds an error (exit 1)."""
    return " && ".join(commands)


# --- underfitting --------------------------------------------------------------------------------------------


def is_underfitting(d: RunDiagnosis) -> bool:
    """A finished run (or one whose length is unknown) that ended near chance."""
    u = d.underfitting
    return u is not None and u.verdict in ("underfitting", "eval_at_chance") and u.finished is not False


def _underfitting_diagnoses(d: RunDiagnosis) -> list[Diagnosis]:
    u = d.underfitting
    if u is None or u.verdict not in ("underfitting", "eval_at_chance"):
        return []
    evidence = _underfitting_evidence(d, u)
    stuck = d.loss_trend.verdict == "stuck_at_chance"
    if u.verdict == "eval_at_chance":
        return [
            Diagnosis(
                "eval_at_chance",
                "error" if u.at_chance_at_end else "warning",
                f"the training loss fell to {_f(u.tail_loss)} but eval accuracy stayed near chance (best {_f(u.best.accuracy)}, "
                f"chance {_f(u.chance.rate)}): what the model learned does not carry over to the eval set",
                evidence,
                _commented(
                    _debug_data_command(d),
                    "check the data: eval labels that do not mean what the training labels mean (another label order "
                    "or mapping), or training texts that give the label away, look exactly like this",
                ),
            )
        ]
    if u.finished is False and not stuck:
        return [
            Diagnosis(
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
            f"underfitting: the run ended at chance — eval accuracy {_f(u.last.accuracy)} against a chance rate of "
            f"{_f(u.chance.rate)}, and a training loss of {_f(u.tail_loss)} against {chance_loss}"
        )
    elif u.loss_near_chance:
        summary = (
            f"underfitting: the training loss stayed near chance — {_f(u.tail_loss)} at the end against {chance_loss}, "
            f"down {_f((u.first_loss or 0) - (u.tail_loss or 0))} from its first log: the model has barely learned"
        )
    else:
        summary = (
            f"underfitting: eval accuracy never rose clearly above chance — best {_f(u.best.accuracy)} at step "
            f"{u.best_step}, chance {_f(u.chance.rate)}"
        )
    if not stuck:
        evidence.append(f"if it still ends near chance, check the data: {_debug_data_command(d)}")
    return [Diagnosis("stuck_at_chance" if stuck else "underfitting", level, summary, evidence, _underfitting_fix(d, stuck))]


def _underfitting_evidence(d: RunDiagnosis, u: Underfitting) -> list[str]:
    evidence = []
    if u.tail_loss is not None:
        assumed = "" if u.labels_known else f" ({u.num_labels} labels assumed: no config.json beside the state)"
        evidence.append(
            f"training loss {_f(u.first_loss)} at step {u.first_step} → {_f(u.tail_loss)} (median of the last "
            f"{u.tail_points} logs); ln {u.num_labels} = {u.chance_loss:.4f} is what a model that learned nothing "
            f"scores{assumed}; within {u.loss_band:.3f} of it counts as near chance"
        )
    if u.accuracies and u.chance is not None:
        evidence.append(
            "eval accuracy "
            + " / ".join(_f(a) for _, a in u.accuracies)
            + f" at step{'s' if len(u.accuracies) > 1 else ''} "
            + " / ".join(str(s) for s, _ in u.accuracies)
        )
        evidence.append(f"chance rate: {u.chance.describe()}")
        if u.last is not None:
            where = "near chance: " + u.last.reason() if u.last.near_chance else u.last.reason() + ": the model has started to learn, slowly"
            evidence.append(f"the last accuracy, {_f(u.last.accuracy)}, is {where}")
    elif u.chance is None:
        evidence.append("no eval accuracy in the log: judged by the training loss alone")
    if u.verdict == "eval_at_chance":  # steps and learning rate are not what is wrong
        return evidence
    steps = _steps_line(d)
    if steps:
        evidence.append(steps)
    evidence.append(_lr_range_line(d))
    return evidence


def _steps_line(d: RunDiagnosis) -> str | None:
    total = d.summary.get("max_steps") or d.summary.get("global_step")
    if not total:
        return None
    per_epoch = d.summary.get("steps_per_epoch")
    epochs = _run_epochs(d)
    size = d.settings.get("training.train_size")
    detail = ""
    if per_epoch and epochs:
        detail = f" ({per_epoch} per epoch × {_g(epochs)} epoch{'s' if epochs != 1 else ''}"
        detail += f" of {size:,} examples)" if isinstance(size, int) and size > 0 else ")"
    few = "; fine-tuning usually takes a few hundred" if total < STEPS_TO_LEARN else ""
    more = "; more training examples (--train-size) help too" if isinstance(size, int) and size > 0 else ""
    return f"{total:,} optimizer steps in all{detail}{few}{more}"


def _run_epochs(d: RunDiagnosis) -> float | None:
    epochs = d.settings.get("training.num_train_epochs") or d.settings.get("num_train_epochs")
    return float(epochs) if _finite(epochs) and epochs > 0 else None


def _lr_range(d: RunDiagnosis) -> tuple[float, float, str]:
    """The usual fine-tuning learning rates for the run's model, by its hidden size (bert-base's when unknown)."""
    hidden = d.settings.get("hidden_size")
    if not (isinstance(hidden, int) and hidden > 0):
        name = str(d.settings.get("training.model") or d.settings.get("model") or "").lower()
        hidden = 384 if "minilm" in name else 1024 if "large" in name else None
    if hidden is None:
        return LR_RANGES[1][1], LR_RANGES[1][2], "bert-base-sized models (this run's model size is not recorded)"
    for limit, low, high, who in LR_RANGES:
        if limit is None or hidden <= limit:
            return low, high, f"{who} (hidden size {hidden})"
    raise AssertionError("LR_RANGES ends with an open range")


def _run_lr(d: RunDiagnosis) -> float | None:
    peak = _peak_lr(d)
    if peak is None:
        recorded = d.settings.get("training.learning_rate") or d.settings.get("learning_rate")
        peak = recorded if _finite(recorded) and recorded > 0 else None
    return peak


def _suggested_lr(d: RunDiagnosis) -> float | None:
    """A learning rate within the usual range for the model: higher than the run's where it was below the
    top, the lowest where it was above the range (a rate that high can collapse a run to one class);
    None where the run's sits at the top of the range."""
    low, high, _ = _lr_range(d)
    peak = _run_lr(d)
    if peak is None or peak < low * 0.999:
        return low
    if peak < high * 0.999:
        return high
    if peak > high * 1.001:
        return low
    return None


def _lr_range_line(d: RunDiagnosis) -> str:
    low, high, who = _lr_range(d)
    peak = _run_lr(d)
    usual = f"{who} are usually fine-tuned at {_lr(low)} to {_lr(high)}"
    if peak is None:
        return f"no learning rate recorded; {usual}"
    if peak > high * 1.001:
        return f"peak learning rate {_lr(peak)}, above the usual range: {usual}; a rate that high can collapse a run to one class"
    if _suggested_lr(d) is None:
        return f"peak learning rate {_lr(peak)}, already at the top of the usual range: {usual}; train longer rather than faster"
    return f"peak learning rate {_lr(peak)}; {usual}"


def _suggested_epochs(d: RunDiagnosis) -> float | None:
    """Enough epochs for a few hundred steps, and at least twice the run's."""
    epochs = _run_epochs(d)
    total = d.summary.get("max_steps") or d.summary.get("global_step")
    if epochs is None or not total:
        return None
    factor = max(2.0, STEPS_TO_LEARN / total)
    return float(min(math.ceil(epochs * factor), max(MAX_SUGGESTED_EPOCHS, math.ceil(2 * epochs))))


def _underfitting_fix(d: RunDiagnosis, stuck: bool) -> str:
    """The run's own recipe with a learning rate in the usual range and more steps; a run stuck at chance
    checks its data and model first (each check stops the chain when it finds an error)."""
    lr, peak = _suggested_lr(d), _run_lr(d)
    lower = lr is not None and peak is not None and lr < peak
    what, changes = [], {}
    if lr is not None:
        changes["lr"] = _lr(lr)
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
        changes["epochs"] = _g(epochs)
    if stuck:
        train = _train_command(d, f"{' and '.join(what)}, once the data and the model check out", **changes)
        return _in_sequence(_debug_data_command(d), _debug_model_command(d), train)
    return _train_command(d, " and ".join(what), **changes)


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
    scored = [log for log in state.eval_logs if _finite(log.metrics.get("accuracy"))]
    if not scored:
        return None
    chosen = next((log for log in scored if log.step == best_step), scored[-1])
    return check_chance(chosen.metrics["accuracy"], chance_of_run(state, labels_of(state)[0]), eval_size_of(state))


def _saved_final_metrics(folder: Path) -> ChanceCheck | None:
    """The accuracy in a final/ folder's metrics.json, against the chance rate of the same evaluation."""
    if not folder.is_dir():
        return None
    data = _read_side_json(folder / METRICS_FILE)
    metrics = data.get("metrics") if data is not None else None
    if not isinstance(metrics, dict) or not _finite(metrics.get("accuracy")):
        return None
    settings, _ = read_settings_beside(folder)
    labels = settings.get("labels")
    num_labels = max(2, len(labels.split(","))) if isinstance(labels, str) and labels else 2
    examples = data.get("eval_examples")
    if not (isinstance(examples, int) and not isinstance(examples, bool) and examples > 0):
        examples = settings.get("training.eval_size")
        examples = examples if isinstance(examples, int) and not isinstance(examples, bool) and examples > 0 else None
    chance = chance_from_logged_metrics([metrics], num_labels, labels, examples)
    return check_chance(metrics["accuracy"], chance, examples)


def run_folder_of_model(model: str | Path) -> Path | None:
    """The run folder a trained model folder belongs to (for `bertcli debug run`), or None."""
    path = Path(model)
    parent = path.parent
    if (path / STATE_FILE).is_file() or (path.is_dir() and list_checkpoints(parent)):
        return parent
    return None


def _loss_diagnoses(d: RunDiagnosis, messages: dict[str, Any]) -> list[Diagnosis]:
    t = d.loss_trend
    low = d.lowest_loss
    if low is None:
        steps = d.summary.get("max_steps") or d.summary.get("global_step")
        every = max(1, min(10, steps // 2)) if isinstance(steps, int) and steps > 0 else 10
        fix = _train_command(d, "log the training loss every few steps", logging_steps=every)
        return [Diagnosis("loss", "error", "no finite training loss in the log", fix=fix)]
    overview = messages["loss"].message if "loss" in messages else ""
    chance = f"ln {t.num_labels} = {t.chance_loss:.4f}" + ("" if t.labels_known else " (2 labels assumed: no config.json beside the state)")
    spans = [
        f"median loss {_f(t.head_median)} over the first quarter of the logs, {_f(t.tail_median)} over the last",
        overview,
    ]
    if t.verdict == "too_few":
        return [Diagnosis("loss", "info", f"{overview} (only {t.points} training logs: too few to judge the trend)")]
    if t.verdict == "stuck_at_chance":
        return [
            Diagnosis(
                "stuck_at_chance",
                "error",
                f"the loss sits at chance level, {chance}: the model gives every class the same probability — it is not learning",
                [spans[0], f"lowest loss {_f(t.lowest)}", overview],
                _in_sequence(
                    _debug_data_command(d),
                    _debug_model_command(d),
                    _train_command(d, "once the labels and the pipeline check out", lr=_lower_lr(d), warmup_ratio="0.1"),
                ),
            )
        ]
    if t.verdict == "rising":
        return [
            Diagnosis(
                "diverged",
                "error",
                f"the training loss rose over the run, from a median {_f(t.head_median)} to {_f(t.tail_median)}: training diverged",
                spans,
                _train_command(d, lr=_lower_lr(d), warmup_ratio="0.1"),
            )
        ]
    if t.verdict == "learned_then_diverged":
        return [
            Diagnosis(
                "diverged",
                "error",
                f"the loss fell to {_f(t.lowest)} and then climbed back to a median {_f(t.tail_median)}: training diverged after learning",
                spans,
                _train_command(d, "and use the best checkpoint, not the last", lr=_lower_lr(d), warmup_ratio="0.1"),
            )
        ]
    if t.verdict == "flat":
        return [
            Diagnosis(
                "loss_not_decreasing",
                "error",
                f"the training loss did not decrease: median {_f(t.head_median)} in the first quarter, {_f(t.tail_median)} in the last",
                spans[1:] + [f"chance level is {chance}"],
                _in_sequence(
                    _debug_data_command(d),
                    _debug_model_command(d),
                    _train_command(
                        d,
                        f"once the labels and the pipeline check out: a learning rate of {_lr(_peak_lr(d))} may be too "
                        f"{'high' if (_peak_lr(d) or 0) >= LARGE_LR else 'low'}",
                        lr=_lr(_suggested_lr(d) or 2e-5),  # within the usual range for the model's size
                    ),
                ),
            )
        ]
    return [Diagnosis("loss", "info", overview)]


def _eval_diagnoses(state: RunState, d: RunDiagnosis, messages: dict[str, Any]) -> list[Diagnosis]:
    if not state.eval_logs:
        return [
            Diagnosis(
                "no_eval",
                "warning",
                "no evaluation in the log: this run cannot tell overfitting from noise in the training loss",
                ["eval_strategy was 'no': no eval loss, no accuracy, no best checkpoint"],
                _train_command(
                    d,
                    "bertcli train evaluates on --eval-size examples after every epoch (with Trainer yourself: "
                    "eval_strategy='epoch'); bertcli evaluate scores a finished model",
                ),
            )
        ]
    findings = []
    o = d.overfitting
    rows = [_epoch_line(e) for e in d.epochs]
    if o is None or o.lowest_eval_loss is None:
        findings.append(Diagnosis("eval", "info", messages["eval"].message if "eval" in messages else "evaluations logged"))
        if not d.epochs:
            findings[-1].evidence.append("no eval loss logged, so the train/eval gap cannot be computed")
        return findings
    if o.evaluations < 2:
        findings.append(
            Diagnosis(
                "overfitting_unknown",
                "info",
                "one evaluation only: a trend in the eval loss (overfitting) needs two or more",
                rows,
                _train_command(
                    d,
                    "bertcli train evaluates after every epoch: two epochs or more show a trend",
                    epochs=_g(max(2.0, math.ceil(_run_epochs(d) or 1))),
                ),
            )
        )
        return findings
    headline = f"{o.headline_metric} {_f(o.headline_value)} at step {o.headline_step}{_epoch(o.headline_epoch)}"
    where = (
        f"eval loss lowest {_f(o.lowest_eval_loss)} at step {o.lowest_eval_loss_step}{_epoch(o.lowest_eval_loss_epoch)}, "
        f"last {_f(o.last_eval_loss)}"
    )
    if o.overfitting:
        epochs_run = state.num_train_epochs
        if o.recommended_epochs is not None:
            best_ckpt = d.summary.get("best_model_checkpoint")
            keep_best = f"this run's best checkpoint is {Path(best_ckpt).name}; " if best_ckpt else ""
            findings.append(
                Diagnosis(
                    "overfitting",
                    "warning",
                    f"overfitting: eval loss rose by {_f(o.eval_loss_rise)} after its minimum while the training loss "
                    f"fell by {_f(o.train_loss_fall)}; best {headline}",
                    [where, *rows, f"this run trained {_g(epochs_run)} epochs; {o.recommended_epochs} are enough"],
                    _train_command(
                        d,
                        f"{keep_best}or keep the epochs and regularise: --weight-decay 0.05",
                        epochs=o.recommended_epochs,
                    ),
                )
            )
        else:
            findings.append(
                Diagnosis(
                    "overconfident",
                    "info",
                    f"eval loss rose by {_f(o.eval_loss_rise)} after its minimum while the training loss fell, "
                    f"but the best {headline} is the last evaluation: growing over-confidence, not yet lower {o.headline_metric}",
                    [where, *rows],
                    "keep the epoch count: bertcli keeps the best checkpoint by eval metric as the run's final/ model",
                )
            )
        return findings
    if is_underfitting(d):
        # A run that never learned has nothing to overfit: say so, and do not advise fewer epochs.
        findings.append(
            Diagnosis(
                "no_overfitting",
                "info",
                f"eval loss did not rise after its minimum ({where}) — not a sign of health here: the run is "
                "underfitting (above), so there was nothing to overfit yet",
                rows,
            )
        )
        return findings
    findings.append(
        Diagnosis(
            "no_overfitting",
            "info",
            f"no overfitting: eval loss did not rise after its minimum ({where}); best {headline}",
            rows,
        )
    )
    if (
        o.headline_metric in METRIC_PREFERENCE
        and o.headline_epoch is not None
        and o.last_headline_value is not None
        and o.headline_step != d.epochs[-1].step
        and _recorded(d, "stopped_early_at") is None  # early stopping already ended the run after its best
    ):
        epochs = max(1, math.ceil(o.headline_epoch - 1e-6))
        drop = o.headline_value - o.last_headline_value
        evidence = [f"{o.headline_metric} {_f(o.headline_value)} at epoch {_g(o.headline_epoch)}, {_f(o.last_headline_value)} at the last evaluation"]
        size = d.settings.get("training.eval_size")
        if isinstance(size, int) and size > 0 and o.headline_metric == "accuracy":
            evidence.append(f"a difference of {round(drop * size)} of {size} eval examples: within noise at this size")
        findings.append(
            Diagnosis(
                "extra_epochs",
                "info",
                f"the epochs after epoch {_g(o.headline_epoch)} did not improve {o.headline_metric}: "
                f"{epochs} epoch{'s' if epochs > 1 else ''} would have done as well in less time",
                evidence,
                _train_command(d, epochs=epochs),
            )
        )
    return findings


def _epoch_line(e: EpochGap) -> str:
    metrics = ", ".join(f"{k} {_f(v)}" for k, v in e.metrics.items() if k in METRIC_PREFERENCE)
    gap = f" (gap {e.gap:+.4f})" if e.gap is not None else ""
    return (
        f"epoch {_g(e.epoch)} (step {e.step}): train loss {_f(e.train_loss)}, eval loss {_f(e.eval_loss)}{gap}"
        + (f", {metrics}" if metrics else "")
    )


def _fluctuation_diagnoses(state: RunState, d: RunDiagnosis) -> list[Diagnosis]:
    f = d.fluctuation
    if f.window is None:
        return []
    every = d.summary.get("logging_every")
    spikes = _alignment_line(f)
    cv = f"rolling CV over {f.window} logs: {_f(f.early_cv, 3)} early, {_f(f.late_cv, 3)} late ({f.ratio:.1f}×)"
    if not f.fluctuating:
        if f.ratio is not None and f.ratio >= FLUCTUATION_RATIO:
            summary = (
                f"the loss is noisier late in training ({f.ratio:.1f}×) but the noise stays small: rolling CV "
                f"{_f(f.late_cv, 3)} late vs {_f(f.early_cv, 3)} early, under the {FLUCTUATION_CV:g} that counts as fluctuating"
            )
        else:
            summary = f"the loss is no noisier late in training than early; {cv}"
        return [Diagnosis("fluctuation", "info", summary, [spikes] if spikes else [])]
    evidence = [
        f"{cv}; CV = spread around each window's trend line / its mean loss",
        f"from step {f.late_from_step} the loss ranged {_f(f.late_min)}–{_f(f.late_max)}",
    ]
    if spikes:
        evidence.append(spikes)
    batch = d.summary.get("train_batch_size")
    window = f"the mean of {every} steps of {batch} examples" if every and batch else "a mean over a few small batches"
    late_spikes = [s for s in f.spike_steps if f.late_from_step is not None and s >= f.late_from_step]
    late_aligned = [s for s in f.aligned_spike_steps if s in late_spikes]
    if late_aligned and len(late_aligned) * 2 >= len(late_spikes):
        fix = _in_sequence(
            _debug_data_command(d),
            _train_command(
                d,
                f"the late jumps follow gradient spikes (steps {', '.join(map(str, late_aligned))}): hard or "
                "mislabelled batches; check the data, then train with warmup and a lower rate",
                warmup_ratio="0.1",
                lr=_lower_lr(d),
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
        fix = _train_command(
            d,
            "a larger batch smooths it; the noise is not overfitting by itself: judge by eval loss and accuracy",
            batch_size=min(2 * batch, 4096) if isinstance(batch, int) and batch > 0 else 32,
        )
    return [
        Diagnosis(
            "fluctuation",
            "warning",
            f"the loss fluctuates late in training: rolling CV {_f(f.late_cv, 3)} late vs {_f(f.early_cv, 3)} early",
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
        f"(≥ {_f(f.jump_threshold)}{steps})" + (f"; {corr}" if corr else "")
    )


def _grad_diagnoses(d: RunDiagnosis) -> list[Diagnosis]:
    g = d.grad_norms
    findings = []
    if not g.points:
        return [Diagnosis("grad_norm", "info", "no grad_norm in the log (older transformers did not log it): spikes cannot be checked")]
    values = [log.grad_norm for log in d.analysis.rows if _finite(log.grad_norm)]
    if len(values) >= MIN_LOGS_FOR_TREND:
        quarter = max(2, len(values) // 4)
        head, tail = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
        if head > 0 and tail >= EXPLOSION_FACTOR * head:
            findings.append(
                Diagnosis(
                    "grad_explosion",
                    "error",
                    f"gradients exploded: median grad norm {_f(head, 2)} in the first quarter of the run, {_f(tail, 2)} in the last",
                    [f"largest grad norm {_f(g.high, 2)}"],
                    _train_command(d, lr=_lower_lr(d), warmup_ratio="0.1"),
                )
            )
    if g.threshold is None:
        findings.append(Diagnosis("grad_norm", "info", f"grad norms ranged {_f(g.low, 2)}–{_f(g.high, 2)}; too few ({g.points}) to look for spikes"))
        return findings
    if not g.spikes:
        findings.append(
            Diagnosis(
                "grad_norm",
                "info",
                f"no grad-norm spikes: {_f(g.low, 2)}–{_f(g.high, 2)}, all below median {_f(g.median, 2)} + {g.k:g}×MAD = {_f(g.threshold, 2)}",
            )
        )
        return findings
    total = d.lr_schedule.total_steps or d.summary.get("max_steps") or d.summary.get("global_step") or 0
    early = [s for s in g.spikes if total and s.step <= 0.1 * total]
    losses = [(log.step, log.loss) for log in d.analysis.rows if _finite(log.loss)]
    unrecovered = [s for s in g.spikes if _recovered(s, losses) is False]
    evidence = []
    for s in g.spikes[:8]:
        moved = f"loss {_f(s.loss_before)} → {_f(s.loss_at)} → {_f(s.loss_after)}"
        recovered = _recovered(s, losses)
        if recovered is None:
            back = "the last log"
        elif recovered is False:
            back = f"not back within {RECOVERY_LOGS} logs"
        else:
            back = f"back to {_f(recovered[1])} by step {recovered[0]}"
        evidence.append(f"{_f(s.value, 2)} at step {s.step} ({s.times_median:.1f}× median): {moved} ({back})")
    if len(g.spikes) > 8:
        evidence.append(f"and {len(g.spikes) - 8} more")
    evidence.append(
        "Trainer clips the gradient to max_grad_norm (1.0 by default) before each update: a spike does not make a "
        "bigger step, it marks a batch the model found surprising"
    )
    warmup = d.lr_schedule.warmup_steps
    if early and not warmup:
        fix = _train_command(d, "the spikes come early, without warmup", warmup_ratio="0.1")
    else:
        fix = _train_command(d, "if they recur or the loss does not recover", lr=_lower_lr(d))
    count = f"{len(g.spikes)} grad-norm spike{'s' if len(g.spikes) > 1 else ''}"
    level = "warning" if unrecovered or len(g.spikes) >= 3 else "info"
    if unrecovered:
        tail = f"; the loss did not come back after {len(unrecovered)}"
    else:
        tail = "; the loss recovered" + (" after each" if len(g.spikes) > 1 else "")
    findings.append(
        Diagnosis(
            "grad_spikes",
            level,
            f"{count} above median {_f(g.median, 2)} + {g.k:g}×MAD = {_f(g.threshold, 2)}{tail}",
            evidence,
            fix,
        )
    )
    return findings


def _recovered(spike: Any, losses: Sequence[tuple[int, float]]) -> tuple[int, float] | bool | None:
    """The first log within a few after the spike where the loss is back to its level before it.

    False when it is not back within RECOVERY_LOGS logs; None when nothing was logged after the spike.
    """
    if spike.loss_before is None:
        return None
    after = [(step, loss) for step, loss in losses if step > spike.step][:RECOVERY_LOGS]
    if not after:
        return None
    return next(((step, loss) for step, loss in after if loss <= spike.loss_before * 1.02), False)


def _non_finite_diagnoses(state: RunState, d: RunDiagnosis, messages: dict[str, Any]) -> list[Diagnosis]:
    found = d.non_finite
    filtered = state.settings.get("logging_nan_inf_filter") is not False and not state.written_by_bertcli
    if found:
        by_step = {log.step: log for log in state.train_logs}
        evidence = [f"{n.key} = {n.value} at step {n.step}" for n in found[:6]]
        if len(found) > 6:
            evidence.append(f"and {len(found) - 6} more")
        hidden = [
            n for n in found if n.key == "grad_norm" and n.step in by_step and _finite(by_step[n.step].loss)
        ]
        if hidden and filtered:
            h = hidden[0]
            evidence.append(
                f"at step {h.step} the grad norm is {h.value} but the loss reads {_f(by_step[h.step].loss)}: "
                "Trainer's logging_nan_inf_filter replaced the non-finite loss with an average, hiding it"
            )
        return [
            Diagnosis(
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
        Diagnosis(
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
    precision = _recorded(d, "precision")
    if precision in ("bf16", "fp32"):
        return _train_command(d, lr=_lower_lr(d), warmup_ratio="0.1")
    return _train_command(
        d, "fp16 overflows: fp32 is safest, bf16 keeps its range where the hardware has it",
        lr=_lower_lr(d), warmup_ratio="0.1", precision="fp32",
    )


def _lr_diagnoses(d: RunDiagnosis, messages: dict[str, Any]) -> list[Diagnosis]:
    lr = d.lr_schedule
    if lr.shape == "unknown":
        return [Diagnosis("lr_schedule", "info", "no learning rate in the log")]
    described = messages["lr_schedule"].message if "lr_schedule" in messages else ""
    if lr.peak_logged is not None and lr.peak_logged <= 0:
        return [
            Diagnosis(
                "lr_zero",
                "error",
                "the learning rate is 0 at every logged step: nothing was trained",
                [described],
                _train_command(d, "a warmup longer than the run keeps the LR at 0", lr="2e-5", warmup_ratio="0.1"),
            )
        ]
    findings = [Diagnosis("lr_schedule", "info", described)]
    peak = _peak_lr(d)
    steps = d.summary.get("max_steps") or d.summary.get("global_step")
    if lr.shape == "constant" and (lr.points >= 3):
        findings.append(
            Diagnosis(
                "lr_no_decay",
                "warning",
                f"the learning rate never decays: constant {_lr(peak)} for the whole run",
                [described],
                _train_command(d, "the fine-tuning default: decay to 0 by the last step", scheduler="linear"),
            )
        )
    if lr.shape in ("linear", "cosine", "constant") and not lr.warmup_steps and peak and peak >= LARGE_LR:
        findings.append(
            Diagnosis(
                "lr_no_warmup",
                "warning",
                f"no warmup with a large learning rate ({_lr(peak)}): the first updates hit a randomly initialised head at full speed",
                [described, "fine-tuning BERT usually works at 2e-5 to 5e-5"],
                _train_command(d, warmup_ratio="0.1"),
            )
        )
    if peak and peak >= VERY_LARGE_LR:
        findings.append(
            Diagnosis(
                "lr_too_high",
                "warning",
                f"a learning rate of {_lr(peak)} is high for fine-tuning a pretrained encoder (2e-5 to 5e-5 is usual)",
                [described],
                _train_command(d, lr="2e-5"),
            )
        )
    if lr.warmup_steps and steps and lr.warmup_steps > 0.5 * steps:
        findings.append(
            Diagnosis(
                "lr_long_warmup",
                "warning",
                f"warmup takes {lr.warmup_steps} of {steps} steps: most of the run trains below the peak rate",
                [described],
                _train_command(d, warmup_ratio="0.1"),
            )
        )
    return findings


def _disk_diagnoses(u: DiskUsage, d: RunDiagnosis) -> list[Diagnosis]:
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
            Diagnosis(
                "disk",
                "warning",
                summary + f"; {len(prunable)} are neither the best nor the newest",
                evidence,
                _commented(
                    f"bertcli debug run {shlex.quote(u.run_dir)} --prune --yes",
                    "keeps the best and the newest; next time train with --keep-checkpoints 2",
                ),
            )
        )
    else:
        findings.append(Diagnosis("disk", "info", summary, evidence))
    newest_step = max((c.step for c in u.checkpoints if c.has_state), default=None)
    stale = [c for c in u.checkpoints if not c.has_state and (newest_step is None or c.step > newest_step)]
    if stale:
        findings.append(
            Diagnosis(
                "half_written",
                "warning",
                f"{', '.join(c.name for c in stale)} {'is' if len(stale) == 1 else 'are'} half-written "
                "(no readable trainer_state.json: Trainer writes it last) — a save was cut off",
                [f"{c.name}: {size_text(c.bytes)}" for c in stale],
                _resume_command(d, u.run_dir, "skips it and continues from the newest complete checkpoint"),
            )
        )
    return findings


# --- JSON ------------------------------------------------------------------------------------------------------


def run_diagnosis_to_dict(d: RunDiagnosis) -> dict[str, Any]:
    data = {key: value for key, value in asdict(d).items() if key != "analysis"}
    return json_safe(data)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _f(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}f}"


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _epoch(epoch: float | None) -> str:
    return f" (epoch {epoch:g})" if epoch is not None else ""


def _lr(value: float | None) -> str:
    if value is None:
        return "-"
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"
