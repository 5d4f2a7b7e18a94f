"""The plan of a sweep: a grid (from comma-separated flags or a `[sweep]` table in a TOML file) of variants,
each run once per seed in its own run folder: `<output_dir>/epochs=2,weight_decay=0.05/seed-1`."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

from bertcli.core import limits
from bertcli.core.errors import UsageError
from bertcli.core.options import Option
from bertcli.core.sweep.records import check_recorded
from bertcli.core.training import TrainConfig, check_output_dir, validate_config

DEFAULT_OUTPUT = Path("results-sweep")
DEFAULT_SEEDS = (1, 2, 3)
MAX_RUNS_UNASKED = 100  # a larger grid starts only with --yes: each run is a whole training

# The order folder names list the command line's axes in (as earlier sweeps named their folders, so a rerun
# finds them); an axis not listed here follows in the order given. Which options a sweep takes is declared
# on TrainConfig (option(..., sweep="vary"|"set")).
AXES = ("epochs", "weight_decay", "batch_size", "lr", "warmup_ratio", "scheduler", "max_length", "truncation")
# Set by the sweep itself, never by the user.
RESERVED = {"output_dir": "--output-dir (one for the whole sweep)", "resume": "nothing: a rerun resumes by itself",
            "overwrite": "nothing: a rerun skips finished runs", "seed": "seeds = [1, 2, 3]"}


def _declared() -> dict[str, Option]:
    from bertcli.core.training.config import train_options

    return {o.name: o for o in train_options()}


def flag_of(name: str) -> str:
    """Train's flag for TrainConfig field `name` (final_from → --final)."""
    declared = _declared().get(name)
    return declared.flag if declared is not None else "--" + name.replace("_", "-")


def _config_fields() -> set[str]:
    return {f.name for f in fields(TrainConfig)}


def _key(raw: str) -> str:
    """A key as written in a file or a flag (weight-decay, weight_decay, final) as the TrainConfig field."""
    name = raw.strip().lower().replace("-", "_")
    by_key = {o.key.replace("-", "_"): o.name for o in _declared().values()}
    return by_key.get(name, name)


def value_text(value: Any) -> str:
    """A value as a folder name shows it: 2.0 → 2, 5e-05 → 5e-05, a name as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:g}"  # the full digits where the short form would name two values alike
        return short if float(short) == value else repr(value)
    if isinstance(value, (list, tuple)):
        return "-".join(value_text(v) for v in value)
    text = str(value)
    return "".join(c if c.isalnum() or c in "._+-" else "_" for c in text)


def parse_value(name: str, value: Any, where: str) -> Any:
    """One command-line value (text) for TrainConfig field `name`, checked as train checks that flag
    (bertcli.core.config's table of settings); `where` names it in a refusal."""
    from bertcli.core.config import settings
    from bertcli.core.options import parse_class_weights

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
    from bertcli.core.config import parse_settings, read_toml

    path = Path(path)
    doc = read_toml(path, "give the path of a .toml file with a [sweep] table")
    table = doc.pop("sweep", {})
    if not isinstance(table, dict):
        raise UsageError(f"'sweep' in {path} must be a table: a [sweep] line followed by lines like epochs = [2, 3]")
    seeds = _top_level_seeds(doc, path)
    base = parse_settings(doc, str(path))
    axes, table_seeds = _sweep_table(table, base, path)
    return base, axes, table_seeds if table_seeds is not None else seeds


def _top_level_seeds(doc: dict[str, Any], path: Path) -> list[int] | None:
    """The file's top-level `seeds`, taken out of `doc`; refuses the keys a sweep sets itself, and lists
    (which belong in the [sweep] table)."""
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
    return seeds


def _sweep_table(
    table: dict[str, Any], base: dict[str, Any], path: Path
) -> tuple[dict[str, list[Any]], list[int] | None]:
    """The [sweep] table's lists, each value checked as train checks it, and its `seeds` (None without)."""
    from bertcli.core.config import parse_settings

    axes: dict[str, list[Any]] = {}
    seeds: list[int] | None = None
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
    return axes, seeds


def plan_sweep(
    *,
    lists: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
    seeds: str | None = None,
    config: Path | None = None,
    output_dir: Path | None = None,
    keep_weights: bool = False,
    yes: bool = False,
) -> SweepPlan:
    """The runs of a sweep. Precedence: command-line values (`lists`: field → comma-separated text;
    `base`: field → one value), then the file's [sweep] lists and top-level values, then train's defaults."""
    file_base, file_axes, file_seeds = read_sweep_file(config) if config else ({}, {}, None)
    values = _chosen_values(file_base, file_axes, base or {}, lists or {})
    # folder names list the file's keys in its order, then the command line's in AXES order
    flagged = list(lists or {})
    order = list(file_axes) + [n for n in (*AXES, *flagged) if n in flagged and n not in file_axes]
    order = list(dict.fromkeys(order))
    axes = {n: values[n] for n in order if len(values.get(n, [])) > 1}
    shared = {n: v[0] for n, v in values.items() if n not in axes}
    shared.setdefault("tensorboard", False)  # the sweep's --plot draws the curves; no event files per run
    chosen_seeds = parse_seeds(seeds) if seeds is not None else (file_seeds or list(DEFAULT_SEEDS))
    out = Path(output_dir or file_base.get("output_dir") or DEFAULT_OUTPUT)
    check_output_dir(out, [("--model", values.get("model", [None])[0]), ("--dataset", values.get("dataset", [None])[0])])
    _check_size(shared, axes, chosen_seeds, yes)
    variants, runs = _grid(out, shared, axes, chosen_seeds)
    for run in runs:  # before anything trains: a folder from another sweep is refused up front
        check_recorded(run)
    if runs:
        refuse_multi_label(runs[0].config)
    notes = []
    if len(chosen_seeds) == 1:
        notes.append("one seed: the spread over seeds is unknown and the paired test sees one draw of each run")
    return SweepPlan(out, {k: v for k, v in shared.items()}, axes, chosen_seeds, variants, runs, keep_weights, notes)


MULTI_LABEL_REFUSAL = (
    "sweep compares single-label runs (accuracy, McNemar on each example right or wrong) and {what} is multi-label — "
    "train each variant with bertcli train, then compare them with bertcli evaluate -m RUN_A/final -m RUN_B/final "
    "(macro F1 per model, McNemar on exact matches)"
)


def refuse_multi_label(cfg: TrainConfig) -> None:
    """A sweep of multi-label runs is refused before anything trains (its scoring is single-label)."""
    from bertcli.core.data.loading import load_raw
    from bertcli.core.data.splits import DataSpec
    from bertcli.core.data.selection_multilabel import is_multi_label
    from bertcli.core.defaults import resolve_sources

    if cfg.multi_label:
        raise UsageError(MULTI_LABEL_REFUSAL.format(what="--multi-label"))
    from bertcli.core.errors import BertCliError

    dataset = resolve_sources(cfg.model, cfg.dataset, uses_model=False).dataset
    spec = DataSpec(dataset, text_column=cfg.text_column, label_column=cfg.label_column, train_split=cfg.train_split,
                    delimiter=cfg.delimiter, header=cfg.header)
    try:
        raw = load_raw(dataset, spec.table_options())
    except BertCliError:  # data that cannot be read is refused by the first run, with its reason
        return
    if is_multi_label(raw, spec):
        raise UsageError(MULTI_LABEL_REFUSAL.format(what=f"the data in {dataset}"))



def _chosen_values(
    file_base: dict[str, Any], file_axes: dict[str, list[Any]], base: dict[str, Any], lists: dict[str, str]
) -> dict[str, list[Any]]:
    """Each TrainConfig field the sweep sets, with its value(s): the command line over the file."""
    known = _config_fields()
    values: dict[str, list[Any]] = {k: [v] for k, v in file_base.items() if k != "output_dir"}
    values.update(file_axes)
    for name, given in base.items():
        if name not in known or name in RESERVED:
            raise UsageError(f"a sweep cannot set {flag_of(name)}")
        values[name] = [parse_value(name, given, flag_of(name))]
    for name, text in lists.items():
        if name not in known or name in RESERVED:
            raise UsageError(f"a sweep cannot vary {flag_of(name)}")
        values[name] = parse_list(name, text)
    return values


def grid_size(axes: dict[str, list[Any]], seeds: list[int]) -> tuple[int, int]:
    """(variants, runs) of a grid."""
    variants = 1
    for values in axes.values():
        variants *= len(values)
    return variants, variants * len(seeds)


def examples_trained(configs: Sequence[dict[str, Any]]) -> int | None:
    """Training examples passed through in all by runs with these settings (train size × epochs, or max steps ×
    batch size); None where a run trains on 'all' of a dataset whose size is not known before loading it."""
    defaults = TrainConfig()
    total = 0.0
    for cfg in configs:
        get = lambda name: cfg.get(name, getattr(defaults, name))  # noqa: E731
        if get("max_steps"):
            total += get("max_steps") * get("batch_size") * (get("grad_accum") or 1)
        elif get("train_size") is None:
            return None
        else:
            total += get("train_size") * get("epochs")
    return int(total)


def _check_size(shared: dict[str, Any], axes: dict[str, list[Any]], seeds: list[int], yes: bool) -> None:
    """Refuse a grid of more than MAX_RUNS_UNASKED runs without --yes, before any folder or model is touched."""
    variants, runs = grid_size(axes, seeds)
    if runs <= MAX_RUNS_UNASKED or yes:
        return
    largest = max(axes.items(), key=lambda kv: len(kv[1]))[0] if axes else None
    # only the axes that change a run's length are expanded; every other axis repeats them
    sizing = {k: v for k, v in axes.items() if k in ("epochs", "train_size", "max_steps", "batch_size", "grad_accum")}
    combos = [{**shared, **dict(zip(sizing, c))} for c in itertools.product(*sizing.values())]
    per_seed = examples_trained(combos)
    work = f", {per_seed * (runs // len(combos)):,} training examples in all" if per_seed is not None else ""
    fewer = f"list fewer values (most: {flag_of(largest)}) or fewer seeds" if largest else "list fewer seeds"
    raise UsageError(
        f"this sweep is {runs:,} runs ({variants:,} variant(s) × {len(seeds)} seed(s)){work}, over the "
        f"{MAX_RUNS_UNASKED} a sweep starts without asking — {fewer}, or add --yes to start it anyway"
    )


def _values_text(varied: dict[str, Any]) -> str:
    return ", ".join(f"{flag_of(k)} {v!r}" for k, v in varied.items())


def _grid(
    out: Path, shared: dict[str, Any], axes: dict[str, list[Any]], seeds: list[int]
) -> tuple[list[tuple[str, dict[str, Any]]], list[SweepRun]]:
    """Every combination of the axes (a variant, named for its folder), each run once per seed; train's own
    checks run on every configuration before the first run starts."""
    variants: list[tuple[str, dict[str, Any]]] = []
    runs: list[SweepRun] = []
    for combo in itertools.product(*axes.values()) if axes else [()]:
        varied = dict(zip(axes, combo))
        name = ",".join(f"{k}={value_text(v)}" for k, v in varied.items()) or "base"
        twin = next((v for n, v in variants if n == name), None)
        if twin is not None:
            raise UsageError(
                f"two variants would share the folder {out / name}: {_values_text(twin)} and {_values_text(varied)} — "
                f"give values that differ in their written form"
            )
        variants.append((name, varied))
        for seed in seeds:
            folder = out / name / f"seed-{seed}"
            cfg = TrainConfig(**{**shared, **varied, "seed": seed, "output_dir": folder})
            validate_config(copy.deepcopy(cfg))
            runs.append(SweepRun(len(variants) - 1, name, seed, folder, cfg))
    return variants, runs
