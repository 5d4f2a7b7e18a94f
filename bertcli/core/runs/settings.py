"""The hyperparameters a run leaves beside its trainer state: config.json, bertcli.json, training_args.json.

Files that are missing or unreadable are skipped: they add detail, the state is what matters. The values
come out flat (`training.learning_rate`), scalars only, for tables and for comparing runs; code that needs
one value reads the typed `RunManifest` instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bertcli.core.runs.jsonfile import read_json_object
from bertcli.core.runs.manifest import MANIFEST_FILE, RunManifest

# Hyperparameters worth showing from JSON files saved beside the state; keys as Hugging Face spells them.
CONFIG_KEYS = {
    "model_type": "model_type",
    "_name_or_path": "model",
    "num_hidden_layers": "num_hidden_layers",
    "n_layers": "num_hidden_layers",
    "hidden_size": "hidden_size",
    "dim": "hidden_size",
    "hidden_dropout_prob": "hidden_dropout_prob",
    "attention_probs_dropout_prob": "attention_dropout",
    "attention_dropout": "attention_dropout",
    "classifier_dropout": "classifier_dropout",
}
TRAINING_ARGS_KEYS = (
    "learning_rate",
    "weight_decay",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "max_grad_norm",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "optim",
    "seed",
    "bf16",
    "fp16",
    "eval_strategy",
    "evaluation_strategy",
    "label_smoothing_factor",
    "logging_nan_inf_filter",
)
CONFIG_FILE = "config.json"
TRAINING_ARGS_FILE = "training_args.json"
SIDE_FILES = (CONFIG_FILE, MANIFEST_FILE, TRAINING_ARGS_FILE)


@dataclass
class SideSettings:
    """What the JSON files beside a state say: flat scalar values, the files read, and bertcli.json typed."""

    values: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    manifest: RunManifest | None = None


def read_settings_beside(folder: Path, first: Mapping[str, Any] | None = None) -> SideSettings:
    """`first` (the state's own numbers), then config.json / bertcli.json / training_args.json in `folder`."""
    found = SideSettings(values={key: value for key, value in (first or {}).items() if value is not None})
    for name in SIDE_FILES:
        if name == MANIFEST_FILE:
            found.manifest = RunManifest.read(folder)
            data = found.manifest.to_json() if found.manifest is not None else None
        else:
            data = read_json_object(folder / name)
        if data is None:
            continue
        found.files.append(name)
        if name == CONFIG_FILE:
            found.values.update(config_settings(data))
        elif name == MANIFEST_FILE:
            found.values.update(flat_scalars(data))
        else:
            found.values.update({key: data[key] for key in TRAINING_ARGS_KEYS if is_scalar(data.get(key))})
    return found


def config_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The architecture, size, dropout and label names of a model's config.json."""
    settings: dict[str, Any] = {}
    architectures = config.get("architectures")
    if isinstance(architectures, list) and architectures and isinstance(architectures[0], str):
        settings["architecture"] = architectures[0]
    for key, name in CONFIG_KEYS.items():
        value = config.get(key)
        if is_scalar(value) and value is not None and name not in settings:
            settings[name] = value
    labels = config.get("id2label")
    if isinstance(labels, dict) and labels and all(is_scalar(v) for v in labels.values()):
        def order(key: str) -> tuple[int, str]:
            return (int(key), "") if str(key).lstrip("-").isdigit() else (0, str(key))

        settings["labels"] = ",".join(str(labels[k]) for k in sorted(labels, key=order))
    return settings


def flat_scalars(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The scalar values of a JSON object, one level of nesting spelled `block.key`; nulls left out."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and not prefix:
            out.update(flat_scalars(value, prefix=f"{key}."))
        elif is_scalar(value) and value is not None:
            out[f"{prefix}{key}"] = value
    return out


def is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))
