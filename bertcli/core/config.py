"""Train settings as TOML: read a `--config` file, checked as the flags are checked, and write a run's settings.

A config file holds `bertcli train` options as keys named like the flags (`batch-size` or `batch_size`).
Every run writes its resolved settings as `bertcli.toml` (run folder, each checkpoint, final/) so that
`bertcli train --config <run>/bertcli.toml` trains it again. `parse_toml` and `read_toml` are the one TOML
reader (tomllib, tomli before Python 3.11); writing is done here by hand: the values are plain scalars and lists.
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
from pathlib import Path
from typing import Any

from bertcli.core import limits
from bertcli.core.errors import UsageError
from bertcli.core.options import KINDS, Option, parse_class_weights, toml_type

CONFIG_FILE = "bertcli.toml"


def settings() -> tuple[Option, ...]:
    """Every key a config file may hold, in the order a written file lists them: train's declared options
    (TrainConfig's fields) less those that say what to do with one invocation (--resume, --overwrite)."""
    from bertcli.core.training.config import train_options

    return tuple(o for o in train_options() if o.in_file)


def command_line_only() -> tuple[str, ...]:
    """Flags that say what to do with this invocation, not how the run trains: never read from or written to a file."""
    from bertcli.core.training.config import train_options

    return (*COMMAND_LINE_ONLY, *(o.key for o in train_options() if not o.in_file))


# train's own flags beside its declared options (cli/train.py)
COMMAND_LINE_ONLY = ("config", "print-config", "quiet", "json", "label-names")


def _check(setting: Option, value: Any, where: str) -> Any:
    """`value` from a file as the field takes it, checked as the flag is; a UsageError names the key."""
    label = f"{setting.key} in {where}"
    wrong = UsageError(f"{label} takes {KINDS[setting.kind]}, not {toml_type(value)} ({_show(value)})")
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


def closest_key(key: str, known: list[str]) -> str | None:
    """The valid key `key` most likely meant: TrainingArguments' name for it, else a close spelling; None when
    no key is close (a guess then would send the user the wrong way)."""
    if key in ALIASES:
        return ALIASES[key]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _key_name(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def parse_settings(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The TrainConfig fields a config file's table sets, each checked; a UsageError names a bad key or value."""
    known = {s.key: s for s in settings()}
    found: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw, value in data.items():
        key = _key_name(raw)
        if key in command_line_only():
            raise UsageError(
                f"{raw} in {where} is not a run setting: pass --{key} on the command line instead and remove it from the file"
            )
        setting = known.get(key)
        if setting is None:
            close = closest_key(key, list(known))
            guess = f"did you mean '{close}'? " if close else ""
            raise UsageError(f"unknown key '{raw}' in {where} — {guess}(the keys are the options of bertcli train --help)")
        if key in spelled:
            raise UsageError(f"{where} sets {key} twice (as '{spelled[key]}' and '{raw}') — keep one")
        spelled[key] = raw
        found[setting.field] = _check(setting, value, where)
    return found


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document as a dict: tomllib, or tomli before Python 3.11 (TOMLDecodeError for text that is not TOML)."""
    return _tomllib().loads(text)


MAX_CONFIG_BYTES = 1_000_000  # a config file is a few dozen lines; anything larger is not one


def _tomllib() -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib


def read_toml(path: Path, fix: str) -> dict[str, Any]:
    """The TOML document in the regular file `path` (given as --config), read with a bound: a UsageError (ending in
    `fix`) for a missing file, a folder, a device, a FIFO, a file over MAX_CONFIG_BYTES, text that is not UTF-8,
    invalid TOML or values nested too deeply to parse."""
    import os
    import stat

    if not path.exists():
        raise UsageError(f"--config {path}: no such file — {fix}")
    if path.is_dir():
        hint = f"; try --config {path / CONFIG_FILE}" if (path / CONFIG_FILE).is_file() else ""
        raise UsageError(f"--config {path} is a folder, not a TOML file{hint}")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; the mode is checked before anything is read
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
                raise UsageError(f"--config {path} is {kind}, not a file — give a TOML file")
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise UsageError(f"--config {path} cannot be read: {err.strerror or err} — check its permissions") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"--config {path} is over {MAX_CONFIG_BYTES // 1_000_000} MB, too large for a config file — give a TOML file")
    try:
        return parse_toml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"--config {path} is not a text file (not UTF-8) — {fix}") from None
    except RecursionError:
        raise UsageError(f"--config {path} nests tables or lists too deeply to read — {fix}") from None
    except _tomllib().TOMLDecodeError as err:
        detail = str(err).splitlines()[0] if str(err) else "cannot be parsed"
        raise UsageError(
            f"--config {path} is not valid TOML: {detail[:1].lower() + detail[1:]} — write one 'key = value' per line, "
            f"strings in quotes"
        ) from None


def read_config(path: str | Path) -> dict[str, Any]:
    """The TrainConfig fields set by the TOML file at `path`; a UsageError for a missing, invalid or wrong file."""
    path = Path(path)
    data = read_toml(path, f"check the path (a run writes its own as <run>/{CONFIG_FILE})")
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


def format_config(cfg: Any, header: str = "") -> str:
    """The run's settings as a TOML document `bertcli train --config` reads back; unset keys as comments."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    unset = {s.key: s.unset for s in settings()}
    for key, value in config_values(cfg).items():
        if value is None:
            lines.append(f"# {key} = (not set: {unset.get(key) or 'the default'})")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_config(folder: str | Path, cfg: Any, header: str = "") -> Path:
    from bertcli.core.outputs import write_text_whole

    return write_text_whole(Path(folder) / CONFIG_FILE, format_config(cfg, header))


def config_fields() -> set[str]:
    """The TrainConfig fields a config file may set."""
    return {s.field for s in settings()}

