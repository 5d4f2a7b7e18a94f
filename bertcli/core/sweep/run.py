"""Running a sweep: each run trained (or resumed, or skipped when finished earlier), its final model scored,
then its disk bounded, with an event for each step and the sweep's ETA.

After each run its final model is scored on the run's eval split with bertcli's inference path and the
per-review correctness is stored in `sweep_run.json`: by default the weights and optimizer states are then
deleted (the newest checkpoint keeps trainer_state.json, bertcli.json, config.json and bertcli.toml for
`inspect-checkpoint` and `debug run`; final/ keeps its metrics and model card). A rerun skips finished runs
and resumes a killed one.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core.errors import UsageError
from bertcli.core.runs.checkpoints import (
    STATE_FILE,
    WEIGHT_FILES,
    leftover_deletions,
    list_checkpoints,
    newest_resumable_checkpoint,
    remove_folder,
)
from bertcli.core.runs.jsonfile import read_json_object
from bertcli.core.sweep.plan import SweepPlan, SweepRun
from bertcli.core.sweep.records import (
    RUN_FILE,
    RunResult,
    finished_result,
    requested_config,
    result_from_record,
    write_json_file,
)
from bertcli.core.sweep.report import SUMMARY_FILE, SweepReport, report_as_dict, summarize
from bertcli.core.training import TrainConfig, train

# What a checkpoint keeps once its run is scored: enough for inspect-checkpoint and debug run.
KEEP_IN_CHECKPOINT = ("trainer_state.json", "bertcli.json", "config.json", "bertcli.toml")
FINAL_WEIGHT_PREFIXES = ("model.safetensors", "model-", "pytorch_model")


@dataclass
class SweepEvent:
    """What the sweep is doing: `kind` is skip (finished earlier), start, score (trained earlier, scoring now) or done."""

    kind: str
    position: int  # 1-based
    total: int
    run: SweepRun
    eta_seconds: float | None = None
    resume_from: str | None = None
    result: RunResult | None = None


def _final_is_complete(final: Path) -> bool:
    """train writes final/metrics.json after the weights: both present means training finished."""
    return (final / "metrics.json").is_file() and any((final / n).is_file() for n in WEIGHT_FILES)


def review_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def score_final_model(cfg: TrainConfig, final: Path) -> dict[str, Any]:
    """Score `final` on the run's eval split (drawn as train drew it) with bertcli's inference path:
    accuracy, macro F1 and whether each review was right, keyed by a short hash of its text."""
    import gc

    from bertcli.core.data import load_labelled_data
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.evaluation import EvalData, evaluate_model
    from bertcli.core.inference.load import load_for_inference

    dataset = resolve_sources(cfg.model, cfg.dataset, uses_model=False).dataset
    data = load_labelled_data(
        dataset, train_size=cfg.train_size, eval_size=cfg.eval_size, seed=cfg.seed, text_column=cfg.text_column,
        label_column=cfg.label_column, train_split=cfg.train_split, eval_split=cfg.eval_split, label_names=cfg.labels,
    )
    if data.eval is None or len(data.eval) == 0:
        raise UsageError(f"{dataset} gives the run no eval split — a sweep compares runs on one: name it with --eval-split")
    texts = list(data.eval["text"])
    labels = [data.label_names[i] for i in data.eval["label"]]  # as names: the model maps them whatever values it saved
    eval_data = EvalData(texts=texts, labels=labels, label_names=data.label_names, split=data.eval_split or "eval")
    clf = load_for_inference(str(final))
    try:
        scored = evaluate_model(clf, eval_data, batch_size=cfg.eval_batch_size or 32, mistakes=0, seed=cfg.seed)
    finally:
        del clf
        gc.collect()
    right = {p.index: (p.label_id == g) for p, g in zip(scored.predictions, scored.gold) if p.error is None}
    return {
        "accuracy": scored.accuracy,
        "f1": scored.macro["f1"],
        "examples": len(texts),
        "eval_split": data.eval_split,
        "reviews": [review_key(t) for t in texts],
        "correct": "".join("-" if i not in right else "1" if right[i] else "0" for i in range(len(texts))),
    }


def strip_run(folder: Path, keep_weights: bool = False) -> int:
    """Bound a finished run's disk: keep the newest checkpoint's trainer_state.json, bertcli.json and config.json
    (what inspect-checkpoint and debug run read), delete the other checkpoints, and final/'s weights unless
    `keep_weights`. Safe to repeat; returns the bytes freed."""
    freed = 0
    checkpoints = [c for c in list_checkpoints(folder) if (c.path / STATE_FILE).is_file()]
    newest = checkpoints[-1].path if checkpoints else None
    for c in list_checkpoints(folder):
        if c.path != newest:
            freed += remove_folder(c.path)
    for leftover in leftover_deletions(folder):
        freed += remove_folder(leftover)
    if newest is not None:
        for item in newest.iterdir():
            if item.name in KEEP_IN_CHECKPOINT:
                continue
            freed += remove_folder(item) if item.is_dir() else _unlink(item)
    final = folder / "final"
    if not keep_weights and final.is_dir():
        for item in final.iterdir():
            if item.is_file() and (item.name.startswith(FINAL_WEIGHT_PREFIXES) or item.name == "training_args.bin"):
                freed += _unlink(item)
    return freed


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
        return size
    except OSError:
        return 0


def _work(cfg: TrainConfig) -> float:
    """A run's cost in examples × tokens, to spread the time of finished runs over the rest (the ETA)."""
    examples = cfg.max_steps * cfg.batch_size if cfg.max_steps else cfg.epochs * (cfg.train_size or 25_000)
    return float(examples * cfg.max_length)


def run_one(
    run: SweepRun,
    *,
    keep_weights: bool = False,
    callbacks: Sequence[Any] = (),
    on_event: Callable[[str, str | None], None] | None = None,
) -> RunResult:
    """Train (or resume) one run, score its final model, store the scores, then strip its weights."""
    record_path = run.folder / RUN_FILE
    final = run.folder / "final"
    if _final_is_complete(final):  # trained earlier; killed while scoring
        if on_event:
            on_event("score", None)
        metrics = read_json_object(final / "metrics.json") or {}
        train_seconds, global_step = metrics.get("train_seconds"), metrics.get("global_step")
        resumed = bool((read_json_object(record_path) or {}).get("resumed"))
    else:
        train_seconds, global_step, resumed = _train_run(run, callbacks, on_event)
    scores = score_final_model(run.config, final)
    result = {"train_seconds": None if train_seconds is None else round(train_seconds, 1), "global_step": global_step,
              "resumed": resumed, **scores}
    record = {"variant": run.name, "seed": run.seed, "config": requested_config(run.config), "result": result}
    write_json_file(record_path, record)  # the run counts as finished from here on
    strip_run(run.folder, keep_weights)
    found = result_from_record(run, record)
    assert found is not None
    found.skipped = False
    return found


def _train_run(
    run: SweepRun, callbacks: Sequence[Any], on_event: Callable[[str, str | None], None] | None
) -> tuple[float | None, int | None, bool]:
    """Train one run, resuming what an earlier invocation left in its folder: (train seconds, global step, resumed)."""
    record_path = run.folder / RUN_FILE
    resumed_from: list[str | None] = [None]
    cfg = copy.deepcopy(run.config)
    cfg.resume = run.folder.is_dir() and any(run.folder.iterdir())
    write_json_file(record_path, {"variant": run.name, "seed": run.seed, "config": requested_config(run.config),
                                  "resumed": cfg.resume})
    if on_event:
        on_event("start", _newest_resumable(run.folder) if cfg.resume else None)
    report = train(cfg, callbacks=list(callbacks), on_plan=lambda plan: resumed_from.__setitem__(0, plan.resume_from))
    resumed = resumed_from[0] is not None
    write_json_file(record_path, {**(read_json_object(record_path) or {}), "resumed": resumed})
    return report.train_seconds, report.global_step, resumed


def _newest_resumable(folder: Path) -> str | None:
    newest = newest_resumable_checkpoint(folder)
    return newest.path.name if newest else None


def check_lengths_fit(runs: Sequence[SweepRun]) -> None:
    """Every run's --max-length fits its model's position embeddings, checked from the models' configs before the
    first run trains (train checks it too, but only once that run starts: after the runs before it)."""
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.diagnose.data_lengths import model_position_limit

    longest: dict[str | None, SweepRun] = {}
    for run in runs:
        if run.config.model not in longest or run.config.max_length > longest[run.config.model].config.max_length:
            longest[run.config.model] = run
    for given, run in longest.items():
        model = resolve_sources(given, run.config.dataset, uses_dataset=False).model
        limit = model_position_limit(model)
        if limit is not None and run.config.max_length > limit:
            raise UsageError(
                f"--max-length {run.config.max_length} (variant {run.name}) is longer than the model's {limit} "
                f"positions — list values of {limit} or less; nothing was trained"
            )


def run_sweep(
    plan: SweepPlan,
    *,
    on_event: Callable[[SweepEvent], None] | None = None,
    callbacks: Callable[[SweepRun], Sequence[Any]] | None = None,
) -> SweepReport:
    """Every run of the plan in order (finished ones skipped), then the summary, also written to sweep.json."""
    started = time.time()
    check_lengths_fit(plan.runs)
    total = len(plan.runs)
    results: list[RunResult] = []
    spent, done_work = 0.0, 0.0
    pending = [r for r in plan.runs if finished_result(r) is None]
    left_work = sum(_work(r.config) for r in pending)
    for position, run in enumerate(plan.runs, 1):
        previous = finished_result(run)
        if previous is not None:
            strip_run(run.folder, plan.keep_weights)  # a kill between scoring and stripping left weights behind
            results.append(previous)
            if on_event:
                on_event(SweepEvent("skip", position, total, run, result=previous))
            continue
        eta = spent / done_work * left_work if done_work else None

        def tell(kind: str, resume_from: str | None, run=run, position=position, eta=eta) -> None:
            if on_event:
                on_event(SweepEvent(kind, position, total, run, eta_seconds=eta, resume_from=resume_from))

        run_started = time.time()
        result = run_one(run, keep_weights=plan.keep_weights, callbacks=callbacks(run) if callbacks else (), on_event=tell)
        results.append(result)
        left_work -= _work(run.config)
        if not result.resumed:  # a resumed run did part of its work earlier: it would skew the pace
            spent += time.time() - run_started
            done_work += _work(run.config)
        if on_event:
            eta = spent / done_work * left_work if done_work else None
            on_event(SweepEvent("done", position, total, run, eta_seconds=eta, result=result))
    report = summarize(plan, results, wall_seconds=time.time() - started)
    write_json_file(plan.output_dir / SUMMARY_FILE, report_as_dict(report))
    return report


def newest_state(folder: Path) -> dict[str, Any] | None:
    """The newest trainer_state.json of a run folder (what --plot draws)."""
    for c in reversed(list_checkpoints(folder)):
        state = read_json_object(c.path / STATE_FILE)
        if state is not None:
            return state
    return None
