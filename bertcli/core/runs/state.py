"""Read a Trainer's trainer_state.json — and the JSON beside it — without torch, transformers or pickles.

Accepts a checkpoint folder, a run folder (its newest checkpoint with a readable state) or the file
itself. Everything is validated: a bad input raises CheckpointError with a message naming the
problem and what to try; never another exception. `training_args.bin` is a pickle and is never read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertcli.core.errors import CheckpointError
from bertcli.core.runs.checkpoints import CHECKPOINT_RE, STATE_FILE, list_checkpoints
from bertcli.core.runs.manifest import RunManifest, TrainingRecord
from bertcli.core.runs.settings import read_settings_beside

# The end-of-training record Trainer appends after the last step (never in a checkpoint's own state).
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")
# Eval keys that measure speed, not the model.
EVAL_SPEED_KEYS = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")
NUMERIC_LOG_KEYS = ("loss", "learning_rate", "grad_norm", "epoch", "num_input_tokens_seen") + SUMMARY_KEYS
# The state's own hyperparameters, shown with those of the JSON files beside it.
STATE_SETTINGS = ("train_batch_size", "num_train_epochs", "max_steps", "logging_steps", "save_steps")
STATE_NUMBERS = (
    "epoch",
    "max_steps",
    "num_train_epochs",
    "train_batch_size",
    "logging_steps",
    "save_steps",
    "eval_steps",
    "best_metric",
    "best_global_step",
    "total_flos",
    "num_input_tokens_seen",
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".safetensors")
MAX_STEP = 10**12


@dataclass(frozen=True)
class TrainLog:
    """One training log record: loss is the mean over the logging window, grad_norm the window's last step."""

    step: int
    epoch: float | None
    loss: float | None
    learning_rate: float | None
    grad_norm: float | None


@dataclass(frozen=True)
class EvalLog:
    """One evaluation record; metric names without the `eval_` prefix (loss, accuracy, f1, runtime, ...)."""

    step: int
    epoch: float | None
    metrics: dict[str, float]

    @property
    def quality(self) -> dict[str, float]:
        """The metrics about the model, without runtime and throughput."""
        return {k: v for k, v in self.metrics.items() if k not in EVAL_SPEED_KEYS}


@dataclass
class RunState:
    """A validated trainer_state.json plus the hyperparameters found in JSON files beside it."""

    path: Path
    given: Path
    checkpoint: str | None
    chosen_from_run: bool
    skipped: list[str]
    global_step: int
    epoch: float | None
    max_steps: int | None
    num_train_epochs: float | None
    train_batch_size: int | None
    logging_steps: int | None
    save_steps: int | None
    eval_steps: int | None
    best_metric: float | None
    best_global_step: int | None
    best_model_checkpoint: str | None
    total_flos: float | None
    num_input_tokens_seen: float | None
    should_training_stop: bool | None
    train_logs: list[TrainLog]
    eval_logs: list[EvalLog]
    summary: dict[str, float]
    log_history: list[dict[str, Any]]
    settings: dict[str, Any] = field(default_factory=dict)  # flat, for tables and comparisons
    settings_files: list[str] = field(default_factory=list)
    manifest: RunManifest | None = None  # the bertcli.json beside the state

    @property
    def written_by_bertcli(self) -> bool:
        return self.manifest is not None

    @property
    def recorded(self) -> TrainingRecord:
        """The run's recipe as its bertcli.json recorded it; every value None without one."""
        return self.manifest.recorded if self.manifest is not None else TrainingRecord()


def load_trainer_state(path: str | Path) -> RunState:
    """Find, read and validate the trainer state at `path` (a checkpoint, a run folder or the JSON file)."""
    given = Path(path)
    state_file, chosen_from_run, skipped = find_trainer_state(given)
    try:
        state = parse_trainer_state(_read_text(state_file), state_file)
    except CheckpointError as err:
        nearest = _nearest_checkpoint(state_file.parent)
        if nearest is None:
            raise
        raise CheckpointError(f"{err}; try {nearest}") from None
    state.given = given
    state.chosen_from_run = chosen_from_run
    state.skipped = skipped
    side = read_settings_beside(state_file.parent, {key: getattr(state, key) for key in STATE_SETTINGS})
    state.settings, state.settings_files, state.manifest = side.values, side.files, side.manifest
    return state


def find_trainer_state(path: Path) -> tuple[Path, bool, list[str]]:
    """The trainer_state.json to read, whether it was chosen from a run folder, and newer checkpoints skipped."""
    if not path.exists():
        hint = _nearest_hint(path) or " — give a checkpoint folder (results/checkpoint-375), a run folder or a trainer_state.json"
        raise CheckpointError(f"{path} does not exist{hint}")
    if path.is_file():
        if path.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{path} is a binary file — bertcli reads trainer_state.json only and never loads pickles such as "
                f"training_args.bin; try {path.parent}"
            )
        return path, False, []
    if not path.is_dir():
        raise CheckpointError(f"{path} is neither a file nor a folder — give a checkpoint folder or a trainer_state.json")
    if (path / STATE_FILE).is_file():
        return path / STATE_FILE, False, []
    if CHECKPOINT_RE.match(path.name):
        raise CheckpointError(
            f"no {STATE_FILE} in {path} — the checkpoint is half-written (Trainer writes it last){_nearest_hint(path)}"
        )
    checkpoints = list_checkpoints(path)
    if checkpoints:
        skipped = []
        for ckpt in reversed(checkpoints):
            if state_file_is_readable(ckpt.path / STATE_FILE):
                return ckpt.path / STATE_FILE, True, skipped
            skipped.append(ckpt.name)
        raise CheckpointError(
            f"none of the {len(checkpoints)} checkpoint folders in {path} has a readable {STATE_FILE} — "
            f"all half-written? point at a {STATE_FILE} copied from the run instead"
        )
    nested = sorted(
        child
        for child in _children(path)
        if child.is_dir() and ((child / STATE_FILE).is_file() or _has_checkpoints(child))
    )
    if nested:
        raise CheckpointError(f"no {STATE_FILE} or checkpoint-N folders in {path} — did you mean {nested[0]}?")
    raise CheckpointError(
        f"no {STATE_FILE} or checkpoint-N folders in {path} — give a checkpoint folder (results/checkpoint-375), "
        f"a run folder (results/) or a {STATE_FILE}"
    )


def parse_trainer_state(text: str, path: Path) -> RunState:
    """Validate the JSON text of a trainer state; raises CheckpointError for anything unusable."""
    if not text.strip():
        raise CheckpointError(f"{path} is empty — the checkpoint was probably cut off while saving")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip()):
            raise CheckpointError(
                f"{path} is truncated (the JSON stops at line {err.lineno}) — the checkpoint was cut off while saving"
            ) from None
        raise CheckpointError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}) — is it a trainer_state.json?"
        ) from None
    except (RecursionError, ValueError) as err:
        raise CheckpointError(f"{path} cannot be parsed as JSON ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path} holds a JSON {_json_type(data)}, not a trainer state (an object with log_history)"
        )
    if "log_history" not in data:
        raise CheckpointError(f"{path} has no log_history — is it a trainer_state.json from Hugging Face Trainer?")
    history = data["log_history"]
    if not isinstance(history, list):
        raise CheckpointError(f"{path}: log_history is a JSON {_json_type(history)}, not a list")
    if not history:
        raise CheckpointError(
            f"{path} has an empty log_history — nothing was logged before this checkpoint "
            f"(logging_steps {data.get('logging_steps', '?')}, global_step {data.get('global_step', '?')}); "
            f"inspect a later checkpoint or train with --logging-steps 10"
        )
    numbers = {key: _top_number(data, key, path) for key in STATE_NUMBERS}
    records = [_check_entry(entry, index, path) for index, entry in enumerate(history)]
    train_logs, eval_logs, summary = _split_records(records)
    global_step = data.get("global_step")
    if global_step is None:
        global_step = max(record["step"] for record in records)
    else:
        global_step = _step(global_step, "global_step", path)
    best_checkpoint = data.get("best_model_checkpoint")
    if best_checkpoint is not None and not isinstance(best_checkpoint, str):
        raise CheckpointError(f"{path}: best_model_checkpoint is a JSON {_json_type(best_checkpoint)}, not a path")
    return RunState(
        path=path,
        given=path,
        checkpoint=path.parent.name if CHECKPOINT_RE.match(path.parent.name) else None,
        chosen_from_run=False,
        skipped=[],
        global_step=global_step,
        epoch=numbers["epoch"],
        max_steps=_as_int(numbers["max_steps"]),
        num_train_epochs=numbers["num_train_epochs"],
        train_batch_size=_as_int(numbers["train_batch_size"]),
        logging_steps=_as_int(numbers["logging_steps"]),
        save_steps=_as_int(numbers["save_steps"]),
        eval_steps=_as_int(numbers["eval_steps"]),
        best_metric=numbers["best_metric"],
        best_global_step=_as_int(numbers["best_global_step"]),
        best_model_checkpoint=best_checkpoint,
        total_flos=numbers["total_flos"],
        num_input_tokens_seen=numbers["num_input_tokens_seen"],
        should_training_stop=_should_training_stop(data),
        train_logs=train_logs,
        eval_logs=eval_logs,
        summary=summary,
        log_history=records,
    )


def _split_records(records: list[dict[str, Any]]) -> tuple[list[TrainLog], list[EvalLog], dict[str, float]]:
    """The checked log records as training logs, evaluations and the end-of-training summary."""
    train_logs, eval_logs, summary = [], [], {}
    for record in records:
        step = record["step"]
        epoch = record.get("epoch")
        if any(key in record for key in ("loss", "learning_rate", "grad_norm")):
            train_logs.append(
                TrainLog(step, epoch, record.get("loss"), record.get("learning_rate"), record.get("grad_norm"))
            )
        metrics = {key[5:]: value for key, value in record.items() if key.startswith("eval_") and value is not None}
        if metrics:
            eval_logs.append(EvalLog(step, epoch, metrics))
        if "train_runtime" in record or "train_loss" in record:
            summary.update({key: record[key] for key in SUMMARY_KEYS if record.get(key) is not None})
    return train_logs, eval_logs, summary


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read {path}: {err.strerror or err} — check its permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError(
            f"{path} is not UTF-8 text — it is not a trainer_state.json (binary files and pickles are never loaded)"
        ) from None


def state_file_is_readable(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("log_history"), list)


def _nearest_checkpoint(folder: Path) -> Path | None:
    """The sibling checkpoint nearest in step to `folder` (checkpoint-N) that has a readable state."""
    match = CHECKPOINT_RE.match(folder.name)
    if not match:
        return None
    step = int(match.group(1))
    candidates = [
        c for c in list_checkpoints(folder.parent) if c.step != step and state_file_is_readable(c.path / STATE_FILE)
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (abs(c.step - step), c.step)).path


def _nearest_hint(folder: Path) -> str:
    nearest = _nearest_checkpoint(folder)
    return f" — try {nearest}" if nearest else ""


def _has_checkpoints(folder: Path) -> bool:
    return any(CHECKPOINT_RE.match(child.name) and child.is_dir() for child in _children(folder))


def _children(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _shown(value: Any) -> str:
    text = json.dumps(value, allow_nan=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any, what: str, path: Path, finite: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointError(
            f"{path}: {what} is {_shown(value)}, not a number — the file was edited or written by another tool; "
            f"inspect another checkpoint"
        )
    try:
        number = float(value)
    except OverflowError:
        raise CheckpointError(f"{path}: {what} is too large to be a number ({_shown(value)})") from None
    if finite and not math.isfinite(number):
        raise CheckpointError(f"{path}: {what} is {number}, it must be a finite number — inspect another checkpoint")
    return number


def _step(value: Any, what: str, path: Path) -> int:
    number = _number(value, what, path, finite=True)
    if number < 0 or number != int(number) or number > MAX_STEP:
        raise CheckpointError(f"{path}: {what} is {_shown(value)}, not a step count (a whole number from 0)")
    return int(number)


def _top_number(data: dict[str, Any], key: str, path: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    return _number(value, key, path, finite=key != "best_metric")


def _as_int(value: float | None) -> int | None:
    if value is None or not math.isfinite(value) or abs(value) > MAX_STEP:
        return None
    return int(value)


def _check_entry(entry: Any, index: int, path: Path) -> dict[str, Any]:
    where = f"log_history[{index}]"
    if not isinstance(entry, dict):
        raise CheckpointError(f"{path}: {where} is a JSON {_json_type(entry)}, not an object of logged values")
    if "step" not in entry:
        raise CheckpointError(f"{path}: {where} has no step — is it a trainer_state.json from Hugging Face Trainer?")
    record: dict[str, Any] = {"step": _step(entry["step"], f"{where} step", path)}
    where = f"{where} (step {record['step']})"
    for key, value in entry.items():
        if key == "step" or value is None:
            continue
        if key == "epoch":
            record[key] = _number(value, f"{where} epoch", path, finite=True)
        elif key in NUMERIC_LOG_KEYS or key.startswith("eval_"):
            record[key] = _number(value, f"{where} {key}", path, finite=False)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                record[key] = float(value)
            except OverflowError:
                continue
    return record


def _should_training_stop(data: dict[str, Any]) -> bool | None:
    callbacks = data.get("stateful_callbacks")
    if not isinstance(callbacks, dict):
        return None
    control = callbacks.get("TrainerControl")
    if not isinstance(control, dict) or not isinstance(control.get("args"), dict):
        return None
    value = control["args"].get("should_training_stop")
    return value if isinstance(value, bool) else None
