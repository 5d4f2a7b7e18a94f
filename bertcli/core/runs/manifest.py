"""bertcli.json: how a model's texts become tokens (max length, truncation) and the recipe of the run behind it.

`bertcli train` writes one beside every checkpoint and final/ model; predict and evaluate read the input
settings back, inspect-checkpoint and debug run the recipe. The keys bertcli writes have typed fields; keys
it does not know, and values of another type than the field's, are kept as found, so that a manifest read
and written again is the same file, byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from bertcli.core.runs.jsonfile import read_json_object

MANIFEST_FILE = "bertcli.json"
# The training loss with class weights: Σ wᵢℓᵢ / Σ wᵢ, as torch's CrossEntropyLoss(weight=…) defines it.
WEIGHTED_MEAN = "weighted mean"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# What a typed field accepts, by its annotation; JSON null fits every field.
_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "int | None": _is_int,
    "float | None": _is_number,
    "str | None": lambda value: isinstance(value, str),
    "bool | None": lambda value: isinstance(value, bool),
    "list[str] | None": lambda value: isinstance(value, list) and all(isinstance(v, str) for v in value),
    "list[int] | None": lambda value: isinstance(value, list) and all(_is_int(v) for v in value),
    "list[float] | None": lambda value: isinstance(value, list) and all(_is_number(v) for v in value),
}
_BOOKKEEPING = ("extra", "keys")


class _Record:
    """A JSON object with typed fields: the unknown keys in `extra`, every key's place in `keys`."""

    extra: dict[str, Any]
    keys: list[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Any:
        kinds = {f.name: f.type for f in fields(cls) if f.name not in _BOOKKEEPING}  # type: ignore[arg-type]
        typed: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            accepts = _ACCEPTS.get(kinds.get(key, ""))
            if accepts is not None and (value is None or accepts(value)):
                typed[key] = value
            else:
                extra[key] = value
        return cls(**typed, extra=extra, keys=list(data))  # type: ignore[call-arg]

    def to_json(self) -> dict[str, Any]:
        """The object in its recorded key order; typed fields set since, and not recorded, follow."""
        data = {key: self.extra[key] if key in self.extra else self._plain(key) for key in self.keys}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name not in _BOOKKEEPING and f.name not in data and getattr(self, f.name) is not None:
                data[f.name] = self._plain(f.name)
        return data

    def _plain(self, key: str) -> Any:
        return getattr(self, key)


@dataclass
class TrainingRecord(_Record):
    """The `training` block: the run's hyperparameters as `bertcli train` recorded them (None: not recorded)."""

    model: str | None = None
    dataset: str | None = None
    train_size: int | None = None
    eval_size: int | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    train_batch_size: int | None = None  # the batch of all processes together
    num_train_epochs: float | None = None
    lr_scheduler_type: str | None = None
    warmup_ratio: float | None = None
    seed: int | None = None
    precision: str | None = None
    attention_dropout: float | None = None
    group_by_length: bool | None = None
    text_column: str | None = None
    label_column: str | None = None
    train_split: str | None = None
    eval_split: str | None = None
    label_names: list[str] | None = None
    label_values: list[str] | None = None  # the data's value of each label id, where it is not the name
    eval_label_counts: list[int] | None = None
    max_steps: int | None = None
    logging_steps: int | None = None
    save_steps: int | None = None
    best_metric: str | None = None
    grad_accum: int | None = None
    effective_batch_size: int | None = None
    label_smoothing: float | None = None
    class_weights: str | None = None  # as given: "auto" or "1,3"
    class_weight_values: str | None = None  # as used
    # "weighted mean": the training loss is Σ wᵢℓᵢ / Σ wᵢ (torch's CrossEntropyLoss(weight=…)); runs without
    # the key and with class weights logged Σ wᵢℓᵢ / n, on another scale than ln k and the eval loss
    training_loss: str | None = None
    eval_steps: int | None = None
    early_stopping: int | None = None  # evaluations without improving before the run stops
    min_delta: float | None = None
    stopped_early_at: int | None = None  # the step where early stopping ended the run
    multi_label: bool | None = None  # each text may carry several labels (sigmoid outputs, BCE)
    train_seconds: float | None = None  # training's wall time, written to the newest checkpoint and final/ at the end
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    keys: list[str] = field(default_factory=list, repr=False)


@dataclass
class RunManifest(_Record):
    """bertcli.json: the input settings of a model, and the recipe of the run that trained it."""

    max_length: int | None = None
    truncation: str | None = None
    stride: int | None = None  # written with sliding truncation only
    training: TrainingRecord | None = None
    multi_label: bool | None = None  # a multi-label model: every label over its threshold is predicted
    thresholds: list[float] | None = None  # per label, in id order: tuned on the eval split for that label's F1
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    keys: list[str] = field(default_factory=list, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunManifest:
        manifest = super().from_json({key: value for key, value in data.items() if key != "training"})
        manifest.keys = list(data)
        block = data.get("training")
        if isinstance(block, Mapping):
            manifest.training = TrainingRecord.from_json(block)
        elif "training" in data:
            manifest.extra["training"] = block
        return manifest

    @classmethod
    def of(
        cls, max_length: int, truncation: str, training: Mapping[str, Any] | None = None, stride: int | None = None
    ) -> RunManifest:
        """The manifest `bertcli train` writes: input settings, then the recipe when there is one."""
        data: dict[str, Any] = {"max_length": max_length, "truncation": truncation}
        if stride is not None:
            data["stride"] = stride
        if training:
            data["training"] = training
        return cls.from_json(data)

    @classmethod
    def read(cls, folder: str | Path) -> RunManifest | None:
        """The bertcli.json in `folder`; None when it is missing, too large, not JSON or not a JSON object."""
        data = read_json_object(Path(folder) / MANIFEST_FILE)
        return cls.from_json(data) if data is not None else None

    def write(self, folder: str | Path) -> Path:
        from bertcli.core.outputs import write_text_whole

        return write_text_whole(Path(folder) / MANIFEST_FILE, json.dumps(self.to_json(), indent=2) + "\n")

    @property
    def recorded(self) -> TrainingRecord:
        """The recipe; an empty one (every value None) when the manifest has none."""
        return self.training if self.training is not None else TrainingRecord()

    def _plain(self, key: str) -> Any:
        value = getattr(self, key)
        return value.to_json() if isinstance(value, TrainingRecord) else value


def record_thresholds(folder: str | Path, thresholds: list[float]) -> Path:
    """Mark the model in `folder` multi-label, with its per-label decision thresholds, in its bertcli.json."""
    manifest = RunManifest.read(folder) or RunManifest()
    manifest.multi_label = True
    manifest.thresholds = [round(float(t), 6) for t in thresholds]
    return manifest.write(folder)
