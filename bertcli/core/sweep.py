"""`sweep`: variants of one training configuration, each over several seeds, and which differences are real.

A grid (from comma-separated flags or a `[sweep]` table in a TOML file) expands into one normal run folder
per variant and seed: `<output_dir>/epochs=2,weight_decay=0.05/seed-1`. After each run its final model is
scored on the run's eval split with bertcli's inference path and the per-review correctness is stored in
`sweep_run.json`, so the comparison never needs the weights again: by default the weights and optimizer
states are then deleted (the newest checkpoint keeps trainer_state.json, bertcli.json, config.json and
bertcli.toml for `inspect-checkpoint` and `debug run`; final/ keeps its metrics and model card). A rerun skips finished runs
and resumes a killed one. Each variant is compared with the first by exact McNemar on the pooled
(review, seed) pairs: within a seed both runs saw the same eval reviews.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core import limits
from bertcli.core.errors import BertCliError, UsageError
from bertcli.core.runs.checkpoints import (
    DELETING_PREFIX,
    STATE_FILE,
    WEIGHT_FILES,
    leftover_deletions,
    list_checkpoints,
    remove_folder,
)
from bertcli.core.training import TrainConfig, train, validate_config

DEFAULT_OUTPUT = Path("results-sweep")
DEFAULT_SEEDS = (1, 2, 3)
RUN_FILE = "sweep_run.json"  # in each run folder: the configuration asked for, then the scores
SUMMARY_FILE = "sweep.json"  # in the sweep folder: the table's data
# What a checkpoint keeps once its run is scored: enough for inspect-checkpoint and debug run.
KEEP_IN_CHECKPOINT = ("trainer_state.json", "bertcli.json", "config.json", "bertcli.toml")
FINAL_WEIGHT_PREFIXES = ("model.safetensors", "model-", "pytorch_model")

# Keys a [sweep] table (and the command line) can vary, in the order folder names list them.
AXES = ("epochs", "weight_decay", "batch_size", "lr", "warmup_ratio", "scheduler", "max_length", "truncation")
# Set by the sweep itself, never by the user.
RESERVED = {"output_dir": "--output-dir (one for the whole sweep)", "resume": "nothing: a rerun resumes by itself",
            "overwrite": "nothing: a rerun skips finished runs", "seed": "seeds = [1, 2, 3]"}
FLAG_NAMES = {"final_from": "final"}  # train's flag where it is not the field's name


def flag_of(name: str) -> str:
    return "--" + FLAG_NAMES.get(name, name.replace("_", "-"))


def _config_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def _key(raw: str) -> str:
    """A key as written in a file or a flag (weight-decay, weight_decay, final) as the TrainConfig field."""
    name = raw.strip().lower().replace("-", "_")
    return {v: k for k, v in FLAG_NAMES.items()}.get(name, name)


def value_text(value: Any) -> str:
    """A value as a folder name shows it: 2.0 → 2, 5e-05 → 5e-05, a name as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(value_text(v) for v in value)
    text = str(value)
    return "".join(c if c.isalnum() or c in "._+-" else "_" for c in text)


def parse_value(name: str, value: Any, where: str) -> Any:
    """One command-line value (text) for TrainConfig field `name`, checked as train checks that flag
    (bertcli.core.config's table of settings); `where` names it in a refusal."""
    from bertcli.core.config import parse_class_weights, settings

    setting = next((s for s in settings() if s.field == name), None)
    kind = setting.kind if setting is not None else None
    text = value.strip() if isinstance(value, str) else value
    if kind in ("int", "float"):
        return setting.within.check(where, value)
    if kind == "examples":
        return None if isinstance(text, str) and text.lower() == "all" else int(setting.within.check(where, value))
    if kind == "choice":
        return limits.check_choice(where, value, setting.choices)
    if kind == "class_weights":
        return parse_class_weights(value, where)
    if kind == "labels":
        names = [n.strip() for n in (value if isinstance(value, list) else str(value).split(",")) if n.strip()]
        if len(names) < 2:
            raise UsageError(f"{where} takes two or more label names in id order, e.g. negative,positive — not '{value}'")
        return names
    if kind in ("str", "path") and (not isinstance(text, str) or not text):
        raise UsageError(f"{where} is empty — give a value or leave the option out")
    return text


def parse_list(name: str, text: str, flag: str | None = None) -> list[Any]:
    """A comma-separated flag value (`--epochs 2,3`) as checked values, each once."""
    flag = flag or flag_of(name)
    example = {"epochs": "2,3", "batch_size": "8,16", "lr": "2e-5,3e-5", "weight_decay": "0.01,0.05"}.get(name, "A,B")
    pieces = [p.strip() for p in str(text).split(",")]
    if not any(pieces):
        raise UsageError(f"{flag} takes a comma-separated list of values, e.g. {flag} {example} — got '{text}'")
    if not all(pieces):
        raise UsageError(f"{flag} '{text}' has an empty value between commas — list values as {flag} {example}")
    return _once([parse_value(name, p, flag) for p in pieces], flag)


def _once(values: list[Any], where: str) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v in seen:
            raise UsageError(f"{where} lists {value_text(v)} twice — give each value once")
        seen.append(v)
    return seen


def parse_seeds(text: str | Sequence[Any], where: str = "--seeds") -> list[int]:
    if isinstance(text, (list, tuple)):
        if not text:
            raise UsageError(f"{where} is an empty list — give at least one seed, e.g. seeds = [1, 2, 3]")
        return _once([int(limits.SEED.check(where, v)) for v in text], where)
    pieces = [p.strip() for p in str(text).split(",")]
    if not all(pieces):
        raise UsageError(f"{where} takes a comma-separated list of seeds, e.g. {where} 1,2,3 — got '{text}'")
    return _once([int(limits.SEED.check(where, p)) for p in pieces], where)


# --- the plan: which runs, in which folders -----------------------------------------------------------------------


@dataclass
class SweepRun:
    variant: int  # 0 is the baseline
    name: str  # the variant's folder name
    seed: int
    folder: Path
    config: TrainConfig


@dataclass
class SweepPlan:
    output_dir: Path
    base: dict[str, Any]  # every TrainConfig field the variants share (as asked: None = train's default)
    axes: dict[str, list[Any]]  # the fields that vary, each with two or more values
    seeds: list[int]
    variants: list[tuple[str, dict[str, Any]]]  # (folder name, the varied values), the baseline first
    runs: list[SweepRun]
    keep_weights: bool = False
    notes: list[str] = field(default_factory=list)


def read_sweep_file(path: Path) -> tuple[dict[str, Any], dict[str, list[Any]], list[int] | None]:
    """(base values, [sweep] lists, seeds) from a TOML file. Top-level keys are a train config
    (bertcli.core.config: keys named like train's flags, checked as they are); the `[sweep]` table lists
    the values to vary, each checked the same way, and `seeds`."""
    import tomllib

    from bertcli.core.config import parse_settings

    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a TOML file" if path.is_dir() else "does not exist"
        raise UsageError(f"--config {path} {what} — give the path of a .toml file with a [sweep] table")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--config {path} is not a text file (not UTF-8) — give a TOML file") from None
    except OSError as err:
        raise UsageError(f"--config {path} cannot be read: {err.strerror or err} — check its permissions") from None
    except tomllib.TOMLDecodeError as err:
        detail = (str(err).splitlines() or ["cannot be parsed"])[0]
        raise UsageError(f"--config {path} is not valid TOML: {detail} — write one 'key = value' per line") from None
    table = doc.pop("sweep", {})
    if not isinstance(table, dict):
        raise UsageError(f"'sweep' in {path} must be a table: a [sweep] line followed by lines like epochs = [2, 3]")
    seeds: list[int] | None = None
    for raw in list(doc):
        name = _key(raw)
        if name == "seeds":
            value = doc.pop(raw)
            seeds = parse_seeds(value if isinstance(value, list) else [value], f"{raw} in {path}")
        elif name in RESERVED and name != "output_dir":
            raise UsageError(f"{raw} in {path}: a sweep sets {name} itself — use {RESERVED[name]}")
        elif isinstance(doc[raw], list) and name not in ("labels", "class_weights"):
            raise UsageError(
                f"{raw} in {path} is a list: values to vary go in the [sweep] table, e.g. [sweep] {raw} = {doc[raw]}"
            )
    base = parse_settings(doc, str(path))
    axes: dict[str, list[Any]] = {}
    where = f"{path} [sweep]"
    for raw, value in table.items():
        name = _key(raw)
        if name in RESERVED:
            raise UsageError(f"{raw} in {where}: a sweep sets {name} itself — use {RESERVED[name]}")
        if not isinstance(value, list):
            raise UsageError(f"{raw} in {where} must be a list, e.g. {raw} = [{json.dumps(value)}]")
        if not value:
            raise UsageError(f"{raw} in {where} is an empty list — give at least one value, e.g. {raw} = [2, 3]")
        if name == "seeds":
            seeds = parse_seeds(value, f"{raw} in {where}")
            continue
        checked = [parse_settings({raw: v}, where) for v in value]
        field_name = next(iter(checked[0]))
        if field_name in base:
            raise UsageError(f"{raw} in {path} is both a single value and a [sweep] list — keep one of them")
        axes[field_name] = _once([c[field_name] for c in checked], f"{raw} in {where}")
    return base, axes, seeds


def plan_sweep(
    *,
    lists: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
    seeds: str | None = None,
    config: Path | None = None,
    output_dir: Path | None = None,
    keep_weights: bool = False,
) -> SweepPlan:
    """The runs of a sweep. Precedence: command-line values (`lists`: field → comma-separated text;
    `base`: field → one value), then the file's [sweep] lists and top-level values, then train's defaults."""
    file_base, file_axes, file_seeds = read_sweep_file(config) if config else ({}, {}, None)
    known = _config_fields()
    values: dict[str, list[Any]] = {k: [v] for k, v in file_base.items() if k != "output_dir"}
    values.update(file_axes)
    for name, given in (base or {}).items():
        if name not in known or name in RESERVED:
            raise UsageError(f"a sweep cannot set {flag_of(name)}")
        values[name] = [parse_value(name, given, flag_of(name))]
    for name, text in (lists or {}).items():
        if name not in known or name in RESERVED:
            raise UsageError(f"a sweep cannot vary {flag_of(name)}")
        values[name] = parse_list(name, text)
    # folder names list the file's keys in its order, then the command line's in AXES order
    flagged = list(lists or {})
    order = list(file_axes) + [n for n in (*AXES, *flagged) if n in flagged and n not in file_axes]
    order = list(dict.fromkeys(order))
    axes = {n: values[n] for n in order if len(values.get(n, [])) > 1}
    shared = {n: v[0] for n, v in values.items() if n not in axes}
    shared.setdefault("tensorboard", False)  # the sweep's --plot draws the curves; no event files per run
    chosen_seeds = parse_seeds(seeds) if seeds is not None else (file_seeds or list(DEFAULT_SEEDS))
    out = Path(output_dir or file_base.get("output_dir") or DEFAULT_OUTPUT)
    from bertcli.core.training import check_output_path

    check_output_path(out)
    variants: list[tuple[str, dict[str, Any]]] = []
    runs: list[SweepRun] = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        varied = dict(zip(axes, combo))
        name = ",".join(f"{k}={value_text(v)}" for k, v in varied.items()) or "base"
        variants.append((name, varied))
        for seed in chosen_seeds:
            folder = out / name / f"seed-{seed}"
            cfg = TrainConfig(**{**shared, **varied, "seed": seed, "output_dir": folder})
            validate_config(copy.deepcopy(cfg))  # train's own checks, before the first run starts
            runs.append(SweepRun(len(variants) - 1, name, seed, folder, cfg))
    notes = []
    if len(chosen_seeds) == 1:
        notes.append("one seed: the spread over seeds is unknown and the paired test sees one draw of each run")
    return SweepPlan(out, {k: v for k, v in shared.items()}, axes, chosen_seeds, variants, runs, keep_weights, notes)


# --- one run: train, score, strip --------------------------------------------------------------------------------


@dataclass
class RunResult:
    variant: int
    name: str
    seed: int
    folder: Path
    accuracy: float
    f1: float
    examples: int
    eval_split: str | None
    train_seconds: float | None
    global_step: int | None
    resumed: bool
    reviews: list[str] = field(repr=False, default_factory=list)  # a short hash of each eval review, in order
    correct: list[bool | None] = field(repr=False, default_factory=list)  # None: the review was skipped
    skipped: bool = False  # finished before this invocation


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


def requested_config(cfg: TrainConfig) -> dict[str, Any]:
    """The configuration a run was asked for, as plain JSON (without where it goes and how it restarts)."""
    data = asdict(cfg)
    for name in ("output_dir", "resume", "overwrite"):
        data.pop(name, None)
    return json.loads(json.dumps(data, default=str))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write through a temporary file and rename it: a kill never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    except OSError as err:
        raise BertCliError(f"cannot write {path}: {err.strerror or err} — free some space or make it writable, then rerun") from None


def _check_recorded(run: SweepRun) -> None:
    """A run folder from an earlier sweep holds the configuration it was asked for: refuse a different one."""
    recorded = _read_json(run.folder / RUN_FILE)
    if recorded is None or not isinstance(recorded.get("config"), dict):
        return
    old, new = recorded["config"], requested_config(run.config)
    for key in new:
        if key in old and old[key] != new[key]:
            raise UsageError(
                f"{run.folder} was trained with {key} {old[key]!r}, this sweep asks for {new[key]!r} — "
                f"pick another --output-dir, or delete {run.folder} to train it again"
            )


def _result_from_record(run: SweepRun, record: dict[str, Any]) -> RunResult | None:
    r = record.get("result")
    if not isinstance(r, dict):
        return None
    try:
        return RunResult(
            variant=run.variant, name=run.name, seed=run.seed, folder=run.folder, accuracy=float(r["accuracy"]),
            f1=float(r["f1"]), examples=int(r["examples"]), eval_split=r.get("eval_split"),
            train_seconds=r.get("train_seconds"), global_step=r.get("global_step"), resumed=bool(r.get("resumed")),
            reviews=list(r["reviews"]), correct=[None if c == "-" else c == "1" for c in r["correct"]], skipped=True,
        )
    except (KeyError, TypeError, ValueError):
        return None


def finished_result(run: SweepRun) -> RunResult | None:
    """The stored result of a run that was trained and scored (final/ and its scores present), else None."""
    record = _read_json(run.folder / RUN_FILE)
    if record is None or not (run.folder / "final").is_dir():
        return None
    return _result_from_record(run, record)


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
    eval_data = EvalData(texts=texts, labels=list(data.eval["label"]), label_names=data.label_names, split=data.eval_split or "eval")
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
    resumed_from: list[str | None] = [None]
    train_seconds: float | None = None
    global_step: int | None = None
    if _final_is_complete(final):  # trained earlier; killed while scoring
        if on_event:
            on_event("score", None)
        metrics = _read_json(final / "metrics.json") or {}
        train_seconds, global_step = metrics.get("train_seconds"), metrics.get("global_step")
        resumed = bool((_read_json(record_path) or {}).get("resumed"))
    else:
        cfg = copy.deepcopy(run.config)
        cfg.resume = run.folder.is_dir() and any(run.folder.iterdir())
        _write_json(record_path, {"variant": run.name, "seed": run.seed, "config": requested_config(run.config),
                                  "resumed": cfg.resume})
        if on_event:
            on_event("start", _newest_resumable(run.folder) if cfg.resume else None)
        report = train(cfg, callbacks=list(callbacks), on_plan=lambda plan: resumed_from.__setitem__(0, plan.resume_from))
        train_seconds, global_step = report.train_seconds, report.global_step
        resumed = resumed_from[0] is not None
        _write_json(record_path, {**(_read_json(record_path) or {}), "resumed": resumed})
    scores = score_final_model(run.config, final)
    result = {"train_seconds": None if train_seconds is None else round(train_seconds, 1), "global_step": global_step,
              "resumed": resumed, **scores}
    record = {"variant": run.name, "seed": run.seed, "config": requested_config(run.config), "result": result}
    _write_json(record_path, record)  # the run counts as finished from here on
    strip_run(run.folder, keep_weights)
    found = _result_from_record(run, record)
    assert found is not None
    found.skipped = False
    return found


def _newest_resumable(folder: Path) -> str | None:
    from bertcli.core.runs.checkpoints import newest_resumable_checkpoint

    newest = newest_resumable_checkpoint(folder)
    return newest.path.name if newest else None


# --- the whole sweep and its summary -----------------------------------------------------------------------------


@dataclass
class Spread:
    mean: float
    std: float | None  # sample standard deviation over seeds; None with one seed
    low: float
    high: float
    values: list[float]


@dataclass
class Comparison:
    """A variant against the baseline: exact McNemar over the (review, seed) pairs both scored."""

    verdict: str
    p_value: float
    pairs: int
    only_baseline_right: int
    only_variant_right: int
    delta_accuracy: float  # variant - baseline, on those pairs

    def describe(self) -> str:
        from bertcli.core.significance import _p_text

        p = _p_text(self.p_value)
        return f"{self.verdict} (p {p})" if p.startswith("<") else f"{self.verdict} (p = {p})"


@dataclass
class VariantSummary:
    index: int
    name: str
    values: dict[str, Any]
    runs: list[RunResult]
    accuracy: Spread | None
    f1: Spread | None
    train_seconds: Spread | None
    versus_baseline: Comparison | None


@dataclass
class SweepReport:
    output_dir: Path
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    seeds: list[int]
    variants: list[VariantSummary]
    eval_split: str | None
    eval_examples: int | None
    trained: int
    skipped: int
    resumed: int
    wall_seconds: float
    notes: list[str] = field(default_factory=list)


def spread(values: Sequence[float | None]) -> Spread | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
    return Spread(mean, std, min(vals), max(vals), vals)


def _by_review(result: RunResult) -> dict[tuple[int, str], bool]:
    return {(i, h): c for i, (h, c) in enumerate(zip(result.reviews, result.correct)) if c is not None}


def compare(baseline: Sequence[RunResult], variant: Sequence[RunResult]) -> Comparison | None:
    """Exact McNemar of `variant` against `baseline`, pooled over the seeds both have: within a seed, both runs
    were scored on the same eval reviews (the same draw), so each (review, seed) is one pair."""
    from bertcli.core.significance import exact_mcnemar

    ref_right: list[bool] = []
    new_right: list[bool] = []
    base_by_seed = {r.seed: r for r in baseline}
    for result in variant:
        ref = base_by_seed.get(result.seed)
        if ref is None:
            continue
        a, b = _by_review(ref), _by_review(result)
        for key in sorted(a.keys() & b.keys()):
            ref_right.append(a[key])
            new_right.append(b[key])
    if not ref_right:
        return None
    test = exact_mcnemar(ref_right, new_right)
    delta = (sum(new_right) - sum(ref_right)) / len(ref_right)
    return Comparison(test.verdict, test.p_value, len(ref_right), test.only_reference_right, test.only_model_right, delta)


def summarize(plan: SweepPlan, results: Sequence[RunResult], *, wall_seconds: float = 0.0) -> SweepReport:
    variants = []
    baseline = [r for r in results if r.variant == 0]
    for index, (name, values) in enumerate(plan.variants):
        runs = sorted((r for r in results if r.variant == index), key=lambda r: plan.seeds.index(r.seed))
        variants.append(
            VariantSummary(
                index=index, name=name, values=values, runs=runs,
                accuracy=spread([r.accuracy for r in runs]), f1=spread([r.f1 for r in runs]),
                train_seconds=spread([r.train_seconds for r in runs]),
                versus_baseline=compare(baseline, runs) if index > 0 else None,
            )
        )
    examples = sorted({r.examples for r in results})
    notes = list(plan.notes)
    if len(examples) > 1:
        notes.append(f"runs were scored on {', '.join(map(str, examples))} eval reviews: their seeds drew different sizes")
    return SweepReport(
        output_dir=plan.output_dir, base=plan.base, axes=plan.axes, seeds=plan.seeds, variants=variants,
        eval_split=next((r.eval_split for r in results), None), eval_examples=examples[0] if examples else None,
        trained=sum(not r.skipped for r in results), skipped=sum(r.skipped for r in results),
        resumed=sum(r.resumed and not r.skipped for r in results), wall_seconds=wall_seconds, notes=notes,
    )


def run_sweep(
    plan: SweepPlan,
    *,
    on_event: Callable[[SweepEvent], None] | None = None,
    callbacks: Callable[[SweepRun], Sequence[Any]] | None = None,
) -> SweepReport:
    """Every run of the plan in order (finished ones skipped), then the summary, also written to sweep.json."""
    started = time.time()
    for run in plan.runs:  # before anything trains: a folder from another sweep is refused up front
        _check_recorded(run)
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
    _write_json(plan.output_dir / SUMMARY_FILE, report_as_dict(report))
    return report


def report_as_dict(report: SweepReport) -> dict[str, Any]:
    """The summary as plain JSON: folders relative to the sweep folder, no per-review data."""

    def spread_dict(s: Spread | None) -> dict[str, Any] | None:
        return None if s is None else {"mean": s.mean, "std": s.std, "min": s.low, "max": s.high, "values": s.values}

    out = report.output_dir
    return {
        "output_dir": str(out),
        "base": json.loads(json.dumps(report.base, default=str)),
        "axes": report.axes,
        "seeds": report.seeds,
        "eval_split": report.eval_split,
        "eval_examples": report.eval_examples,
        "spread": "std is the sample standard deviation over seeds",
        "test": "exact McNemar against the first variant, pooled over (review, seed) pairs; p < 0.05",
        "variants": [
            {
                "name": v.name,
                "values": v.values,
                "accuracy": spread_dict(v.accuracy),
                "f1": spread_dict(v.f1),
                "train_seconds": spread_dict(v.train_seconds),
                "versus_baseline": None if v.versus_baseline is None else {
                    **asdict(v.versus_baseline), "describe": v.versus_baseline.describe()},
                "runs": [
                    {"seed": r.seed, "folder": _relative(r.folder, out), "accuracy": r.accuracy, "f1": r.f1,
                     "examples": r.examples, "train_seconds": r.train_seconds, "global_step": r.global_step,
                     "resumed": r.resumed}
                    for r in v.runs
                ],
            }
            for v in report.variants
        ],
        "runs": {"total": sum(len(v.runs) for v in report.variants), "trained": report.trained,
                 "skipped": report.skipped, "resumed": report.resumed},
        "wall_seconds": round(report.wall_seconds, 1),
        "notes": report.notes,
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def newest_state(folder: Path) -> dict[str, Any] | None:
    """The newest trainer_state.json of a run folder (what --plot draws)."""
    for c in reversed(list_checkpoints(folder)):
        state = _read_json(c.path / STATE_FILE)
        if state is not None and not c.path.name.startswith(DELETING_PREFIX):
            return state
    return None
