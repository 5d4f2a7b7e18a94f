"""Train settings as TOML: read a `--config` file, checked as the flags are checked, and write a run's settings.

A config file holds `bertcli train` options as keys named like the flags (`batch-size` or `batch_size`).
Every run writes its resolved settings as `bertcli.toml` (run folder, each checkpoint, final/) so that
`bertcli train --config <run>/bertcli.toml` trains it again. Reading needs tomllib (tomli before Python 3.11);
writing is done here by hand: the values are plain scalars and lists.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertcli.core import limits
from bertcli.core.encoding import TRUNCATIONS
from bertcli.core.errors import UsageError

CONFIG_FILE = "bertcli.toml"


@dataclass(frozen=True)
class Setting:
    """One key of a config file: the flag it stands for, the TrainConfig field it sets and how it is checked."""

    key: str  # the flag without its dashes: "batch-size"
    field: str  # the TrainConfig field
    kind: str  # int, float, str, bool, choice, examples, labels, class_weights, path
    within: limits.Range | None = None
    choices: tuple[str, ...] = ()

    @property
    def param(self) -> str:
        """The name of the `bertcli train` parameter behind the flag."""
        return self.key.replace("-", "_")


def settings() -> tuple[Setting, ...]:
    """Every key a config file may hold, in the order a written file lists them."""
    from bertcli.core.device import TRAINING_PRECISIONS as PRECISIONS
    from bertcli.core.limits import BEST_METRICS

    return (
        Setting("model", "model", "str"),
        Setting("dataset", "dataset", "str"),
        Setting("output-dir", "output_dir", "path"),
        Setting("epochs", "epochs", "float", limits.EPOCHS),
        Setting("batch-size", "batch_size", "int", limits.BATCH_SIZE),
        Setting("grad-accum", "grad_accum", "int", limits.GRAD_ACCUM),
        Setting("lr", "lr", "float", limits.LR),
        Setting("weight-decay", "weight_decay", "float", limits.WEIGHT_DECAY),
        Setting("warmup-ratio", "warmup_ratio", "float", limits.WARMUP_RATIO),
        Setting("scheduler", "scheduler", "choice", choices=limits.SCHEDULERS),
        Setting("label-smoothing", "label_smoothing", "float", limits.LABEL_SMOOTHING),
        Setting("class-weights", "class_weights", "class_weights"),
        Setting("train-size", "train_size", "examples", limits.EXAMPLES),
        Setting("eval-size", "eval_size", "examples", limits.EXAMPLES),
        Setting("max-length", "max_length", "int", limits.MAX_LENGTH),
        Setting("truncation", "truncation", "choice", choices=TRUNCATIONS),
        Setting("stride", "stride", "int", limits.STRIDE),
        Setting("eval-steps", "eval_steps", "int", limits.STEPS),
        Setting("early-stopping", "early_stopping", "int", limits.PATIENCE),
        Setting("min-delta", "min_delta", "float", limits.MIN_DELTA),
        Setting("best-metric", "best_metric", "choice", choices=BEST_METRICS),
        Setting("save-steps", "save_steps", "int", limits.STEPS),
        Setting("logging-steps", "logging_steps", "int", limits.STEPS),
        Setting("keep-checkpoints", "keep_checkpoints", "int", limits.KEEP_CHECKPOINTS),
        Setting("final", "final_from", "choice", choices=limits.FINAL_FROM),
        Setting("max-steps", "max_steps", "int", limits.STEPS),
        Setting("seed", "seed", "int", limits.SEED),
        Setting("text-column", "text_column", "str"),
        Setting("label-column", "label_column", "str"),
        Setting("train-split", "train_split", "str"),
        Setting("eval-split", "eval_split", "str"),
        Setting("labels", "labels", "labels"),
        Setting("group-by-length", "group_by_length", "bool"),
        Setting("precision", "precision", "choice", choices=PRECISIONS),
        Setting("compile", "compile", "bool"),
        Setting("tensorboard", "tensorboard", "bool"),
        Setting("attention-dropout", "attention_dropout", "float", limits.ATTENTION_DROPOUT),
    )


# Flags that say what to do with this invocation, not how the run trains: never read from or written to a file.
COMMAND_LINE_ONLY = ("config", "print-config", "resume", "overwrite", "quiet", "json")

KINDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "path": "a string (a path)",
    "bool": "true or false",
    "choice": "a string",
    "examples": "a whole number or \"all\"",
    "labels": "a list of strings, e.g. [\"negative\", \"positive\"]",
    "class_weights": "\"auto\" or a list of numbers, e.g. [1, 3]",
}



def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def parse_class_weights(value: Any, where: str = "--class-weights") -> str | list[float]:
    """'auto', or one positive weight per label ("1,3" or a list of numbers), else a UsageError naming `where`."""
    fix = "give 'auto' or one positive weight per label in id order, e.g. 1,3"
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "auto":
            return "auto"
        parts = [p.strip() for p in text.split(",")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise UsageError(f"{where} takes {KINDS['class_weights']}, not {_toml_type(value)} — {fix}")
    if not parts or any(p == "" for p in parts):
        raise UsageError(f"{where} takes 'auto' or comma-separated weights, not '{value}' — {fix}")
    weights = []
    for i, part in enumerate(parts):
        label = f"{where} (the weight of label {i})"
        if isinstance(part, str):
            try:
                number = float(part)
            except ValueError:
                raise UsageError(f"{where} takes 'auto' or numbers, not '{part}' — {fix}") from None
        elif isinstance(part, numbers.Real) and not isinstance(part, bool):
            number = float(part)
        else:
            raise UsageError(f"{where} takes numbers, not {_toml_type(part)} — {fix}")
        weights.append(float(limits.CLASS_WEIGHT.check(label, number)))
    return weights


def format_class_weights(weights: str | list[float] | None) -> str | None:
    if weights is None or isinstance(weights, str):
        return weights
    return ",".join(f"{w:g}" for w in weights)


def _check(setting: Setting, value: Any, where: str) -> Any:
    """`value` from a file as the field takes it, checked as the flag is; a UsageError names the key."""
    label = f"{setting.key} in {where}"
    wrong = UsageError(f"{label} takes {KINDS[setting.kind]}, not {_toml_type(value)} ({_show(value)})")
    kind = setting.kind
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise wrong
        return setting.within.check(label, value)
    if kind in ("str", "path", "choice"):
        if not isinstance(value, str):
            raise wrong
        if kind == "choice":
            return limits.check_choice(label, value, setting.choices)
        if not value.strip():
            raise UsageError(f"{label} is empty — give a value or leave the key out")
        return Path(value) if kind == "path" else value
    if kind == "bool":
        if not isinstance(value, bool):
            raise wrong
        return value
    if kind == "examples":
        if isinstance(value, str) and value.strip().lower() == "all":
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise wrong
        return setting.within.check(label, value)
    if kind == "labels":
        names = [s.strip() for s in value.split(",")] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise wrong
        names = [n.strip() for n in names if n.strip()]
        if len(names) < 2:
            raise UsageError(f"{label} needs two label names or more, in id order, e.g. [\"negative\", \"positive\"]")
        return names
    if kind == "class_weights":
        return parse_class_weights(value, label)
    raise AssertionError(kind)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# TrainingArguments' names for what bertcli's flags call otherwise
ALIASES = {
    "learning-rate": "lr",
    "num-train-epochs": "epochs",
    "per-device-train-batch-size": "batch-size",
    "train-batch-size": "batch-size",
    "gradient-accumulation-steps": "grad-accum",
    "label-smoothing-factor": "label-smoothing",
    "lr-scheduler-type": "scheduler",
    "metric-for-best-model": "best-metric",
    "early-stopping-patience": "early-stopping",
    "early-stopping-threshold": "min-delta",
    "save-total-limit": "keep-checkpoints",
    "model-name-or-path": "model",
}


def closest_key(key: str, known: list[str]) -> str:
    """The valid key `key` most likely meant: TrainingArguments' name for it, else the nearest spelling."""
    if key in ALIASES:
        return ALIASES[key]
    return difflib.get_close_matches(key, known, n=1, cutoff=0.0)[0]


def _key_name(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def parse_settings(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The TrainConfig fields a config file's table sets, each checked; a UsageError names a bad key or value."""
    known = {s.key: s for s in settings()}
    found: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw, value in data.items():
        key = _key_name(raw)
        if key in COMMAND_LINE_ONLY:
            raise UsageError(
                f"{raw} in {where} is not a run setting: pass --{key} on the command line instead and remove it from the file"
            )
        setting = known.get(key)
        if setting is None:
            raise UsageError(f"unknown key '{raw}' in {where} — did you mean '{closest_key(key, list(known))}'? "
                             f"(the keys are the options of bertcli train --help)")
        if key in spelled:
            raise UsageError(f"{where} sets {key} twice (as '{spelled[key]}' and '{raw}') — keep one")
        spelled[key] = raw
        found[setting.field] = _check(setting, value, where)
    return found


def read_config(path: str | Path) -> dict[str, Any]:
    """The TrainConfig fields set by the TOML file at `path`; a UsageError for a missing, invalid or wrong file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"--config {path}: no such file — check the path (a run writes its own as <run>/{CONFIG_FILE})")
    if path.is_dir():
        hint = f"; try --config {path / CONFIG_FILE}" if (path / CONFIG_FILE).is_file() else ""
        raise UsageError(f"--config {path} is a folder, not a TOML file{hint}")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--config {path} is not a text file (not UTF-8) — give a TOML file") from None
    except tomllib.TOMLDecodeError as err:
        detail = str(err).splitlines()[0] if str(err) else "cannot be parsed"
        raise UsageError(
            f"--config {path} is not valid TOML: {detail[:1].lower() + detail[1:]} — write one 'key = value' per line, "
            f"strings in quotes"
        ) from None
    except OSError as err:
        raise UsageError(f"--config {path} cannot be read: {err.strerror or err} — check its permissions") from None
    return parse_settings(data, str(path))


# --- writing ---------------------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"a TOML setting cannot hold {number}")
        text = repr(number)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def config_values(cfg: Any) -> dict[str, Any]:
    """The run's settings as config keys and TOML-ready values (None: not set, the default applies)."""
    values: dict[str, Any] = {}
    for setting in settings():
        value = getattr(cfg, setting.field)
        if setting.kind == "examples" and value is None:
            value = "all"
        values[setting.key] = value
    return values


UNSET = {
    "model": "bert-base-uncased, or its offline stand-in",
    "dataset": "imdb, or imdb-sample offline",
    "eval-split": "validation, else test, else carved from train",
    "labels": "from the data",
    "max-steps": "--epochs decides",
    "attention-dropout": "the model's own on GPU, 0 on CPU",
    "eval-steps": "evaluate after each epoch",
    "early-stopping": "off",
    "class-weights": "off: every label weighs 1",
}


def format_config(cfg: Any, header: str = "") -> str:
    """The run's settings as a TOML document `bertcli train --config` reads back; unset keys as comments."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    for key, value in config_values(cfg).items():
        if value is None:
            lines.append(f"# {key} = (not set: {UNSET.get(key, 'the default')})")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(folder: str | Path, cfg: Any, header: str = "") -> Path:
    path = Path(folder) / CONFIG_FILE
    path.write_text(format_config(cfg, header), encoding="utf-8")
    return path


def config_fields() -> set[str]:
    """The TrainConfig fields a config file may set."""
    return {s.field for s in settings()}

