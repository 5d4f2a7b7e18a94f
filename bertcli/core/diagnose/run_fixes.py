"""The commands `debug run`'s findings print as fixes.

A fix is a command to paste: the run's own recipe as its bertcli.json recorded it (train's defaults left
out; nothing recorded: the defaults apply), the change that fixes the finding, and an output folder of its
own; the explanation follows as a shell comment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bertcli.core.commands import bertcli_command, data_flags
from bertcli.core.data.splits import CARVED
from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
from bertcli.core.formatting import sci
from bertcli.core.runs.numbers import general, is_finite


def train_command(d: RunDiagnosis, comment: str = "", **changes: Any) -> str:
    """`bertcli train` with the run's recipe, `changes` on top (spelled as Python names), into a new folder."""
    flags = train_flags(d)
    for name, value in changes.items():  # the changes last, where they are easy to see
        flag = "--" + name.replace("_", "-")
        flags.pop(flag, None)
        flags[flag] = value
    flags["-o"] = new_output_dir(d)
    return commented(bertcli_command("train", flags), comment)


def resume_command(d: RunDiagnosis, run_dir: str, comment: str = "") -> str:
    """`bertcli train --resume` with the run's recipe, into the run's own folder."""
    flags = train_flags(d)
    flags["-o"] = run_dir
    flags["--resume"] = True
    return commented(bertcli_command("train", flags), comment)


def debug_data_command(d: RunDiagnosis) -> str:
    """`bertcli debug data` on the run's dataset, with its model's tokenizer and its max length."""
    flags = run_data_flags(d)
    flags["--max-length"] = input_flags(d).get("--max-length")
    return bertcli_command("debug data", flags)


def debug_model_command(d: RunDiagnosis) -> str:
    """`bertcli debug model` on the run's model, its max length, and a batch of its training data."""
    flags: dict[str, Any] = {"--model": recorded_model(d), "--max-length": input_flags(d).get("--max-length")}
    data = run_data_flags(d)
    if data.get("--dataset") and data.get("--train-split") is None:  # debug model reads the 'train' split
        flags.update({key: data.get(key) for key in ("--dataset", "--text-column", "--label-column")})
    return bertcli_command("debug model", flags)


def commented(command: str, comment: str) -> str:
    return f"{command}  # {comment}" if comment else command


def in_sequence(*commands: str) -> str:
    """Commands to run one after the other; the chain stops at a check that finds an error (exit 1)."""
    return " && ".join(commands)


def recorded_model(d: RunDiagnosis) -> str | None:
    """The model the run trained: bertcli.json's, else config.json's name when it is a hub name or a folder here."""
    model = _text(d.recorded.model)
    if model is not None:
        return model
    named = d.settings.get("model")  # config.json's _name_or_path: often a folder of the machine that trained
    if isinstance(named, str) and named.strip():
        hub_name = not named.startswith(("/", ".", "~")) and "\\" not in named and named.count("/") <= 1
        if hub_name or Path(named).is_dir():
            return named
    return None


def run_data_flags(d: RunDiagnosis) -> dict[str, Any]:
    """The run's dataset options and model, as `debug data` takes them."""
    recorded = d.recorded
    train_split = _text(recorded.train_split) or "train"
    eval_split = _text(recorded.eval_split)
    return data_flags(
        _text(recorded.dataset),
        model=recorded_model(d),
        text_column=_text(recorded.text_column) or "text",
        label_column=_text(recorded.label_column) or "label",
        train_split=train_split,
        eval_split=train_split if eval_split == CARVED else eval_split,  # naming the train split carves again
    )


def input_flags(d: RunDiagnosis) -> dict[str, Any]:
    """--max-length and --truncation as the run's bertcli.json recorded them, when not train's defaults."""
    from bertcli.core import limits
    from bertcli.core.encoding import TRUNCATIONS
    from bertcli.core.training import TrainConfig

    default = TrainConfig()
    flags: dict[str, Any] = {}
    manifest = d.state.manifest
    if manifest is None:
        return flags
    length = manifest.max_length
    if length is not None and limits.MAX_LENGTH.contains(length) and length != default.max_length:
        flags["--max-length"] = length
    if manifest.truncation in TRUNCATIONS and manifest.truncation != default.truncation:
        flags["--truncation"] = manifest.truncation
    return flags


def train_flags(d: RunDiagnosis) -> dict[str, Any]:
    """The run's recipe as `bertcli train` flags: what its bertcli.json recorded, train's defaults left out.

    train_batch_size is the batch of all processes together: one process on one device reads it back as is.
    Precision and attention dropout are left to the hardware the command runs on.
    """
    from bertcli.core import limits
    from bertcli.core.training import TrainConfig

    default = TrainConfig()
    recorded = d.recorded
    data = run_data_flags(d)
    flags: dict[str, Any] = {"--model": data.pop("--model"), "--dataset": data.pop("--dataset"), **data}
    numbers = (  # flag, recorded value, train's default, its range, how it is written
        ("--train-size", recorded.train_size, default.train_size, limits.EXAMPLES, str),
        ("--eval-size", recorded.eval_size, default.eval_size, limits.EXAMPLES, str),
        ("--batch-size", recorded.train_batch_size, default.batch_size, limits.BATCH_SIZE, str),
        ("--lr", recorded.learning_rate, default.lr, limits.LR, sci),
        ("--weight-decay", recorded.weight_decay, default.weight_decay, limits.WEIGHT_DECAY, general),
        ("--warmup-ratio", recorded.warmup_ratio, default.warmup_ratio, limits.WARMUP_RATIO, general),
        ("--epochs", recorded.num_train_epochs, default.epochs, limits.EPOCHS, general),
        ("--seed", recorded.seed, default.seed, limits.SEED, str),
    )
    for flag, value, default_value, within, shown in numbers:
        if is_finite(value) and within.contains(value) and value != default_value:
            flags[flag] = shown(int(value) if within.integer else value)
    flags.update(input_flags(d))
    if recorded.lr_scheduler_type in limits.SCHEDULERS and recorded.lr_scheduler_type != default.scheduler:
        flags["--scheduler"] = recorded.lr_scheduler_type
    if recorded.group_by_length is False:
        flags["--no-group-by-length"] = True
    controls = (("--grad-accum", recorded.grad_accum, 1), ("--label-smoothing", recorded.label_smoothing, 0),
                ("--class-weights", recorded.class_weights, None))
    for flag, value, default_value in controls:
        if value is not None and value != default_value:
            flags[flag] = general(value) if isinstance(value, float) else str(value)
    return flags


def new_output_dir(d: RunDiagnosis) -> str:
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


def _text(value: str | None) -> str | None:
    return value if value is not None and value.strip() else None
