"""Load a trained classifier for inference: device, precision, int8, [CLS]-only last layer, saved input settings.

`bf16` (the default where the GPU or CPU runs bf16 natively) keeps the linear layers' weights in bf16
and runs under autocast, so embeddings, LayerNorm and the residual stream stay fp32; `int8` quantizes
the linear layers where it pays (bertcli.core.inference.int8). A BERT classifier's last layer runs for
[CLS] alone, the only row the head reads (bertcli.core.inference.cls_only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertcli.core.device import choose_inference_precision, pick_inference_device
from bertcli.core.errors import ModelError, UsageError

QUANTIZATIONS = ("none", "int8")


@dataclass
class Classifier:
    """A model ready for inference, with everything needed to encode texts the way it was trained."""

    model: Any
    tokenizer: Any
    name: str
    label_names: list[str]
    max_length: int
    truncation: str
    device: str
    precision: str
    quantized: bool
    load_seconds: float
    notes: list[str] = field(default_factory=list)  # what the user should know about how it runs here
    multi_label: bool = False  # sigmoid outputs: every label over its threshold is predicted
    thresholds: list[float] | None = None  # per label (multi-label): saved with the model, else 0.5
    label_values: list[str] | None = None  # the training data's value of each label id, where it is not the name
    runtime: str = "torch"  # or "onnxruntime" for an export folder (bertcli.core.inference.onnxrt)
    stride: int | None = None  # sliding truncation: tokens consecutive windows share
    pooling: str = "mean"  # sliding truncation: how the windows' logits become one

    @property
    def reading(self) -> str:
        """How a long text is read: 'head+tail', or 'sliding (stride 127, mean)'."""
        if self.truncation != "sliding":
            return self.truncation
        return f"sliding (stride {self.stride}, {self.pooling})"

    @property
    def mode(self) -> str:
        """fp32, bf16, int8 (int8 layers, the rest fp32) or int8+bf16; onnx-fp32 or onnx-int8 for an export."""
        if self.runtime == "onnxruntime":
            return f"onnx-{'int8' if self.quantized else 'fp32'}"
        if not self.quantized:
            return self.precision
        return "int8" if self.precision == "fp32" else f"int8+{self.precision}"


def _linear_weights_to_bf16(model: Any) -> None:
    """bf16 weights for the linear layers only: autocast then skips re-casting them on every batch."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)


def _made_fast(model: Any, precision: str, int8: bool, device: str) -> Any:
    """The model in eval mode, its last layer for [CLS] alone, bf16 linear weights and int8 layers as asked, on `device`."""
    from bertcli.core.inference.cls_only import run_last_layer_for_cls_only

    model.eval()
    run_last_layer_for_cls_only(model)
    if precision == "bf16":
        _linear_weights_to_bf16(model)
    if int8:
        import torch

        from bertcli.core.inference.int8 import quantize_int8

        model = quantize_int8(model, torch.bfloat16 if precision == "bf16" else torch.float32)
    model.to(device)
    return model


def load_for_inference(
    name_or_path: str,
    *,
    precision: str = "auto",
    quantize: str = "none",
    device: str = "auto",
    max_length: int | None = None,
    truncation: str | None = None,
    stride: int | None = None,
    pooling: str | None = None,
    allow_untrained_head: bool = False,
) -> Classifier:
    """Load a classifier (safetensors only, or an ONNX export folder) with the max length and truncation (and
    stride) saved beside it; `max_length`, `truncation`, `stride` and `pooling` override them.

    A model without a trained classification head (a base encoder) is refused unless
    `allow_untrained_head`: its random head gives labels that mean nothing.
    """
    from bertcli.core.model import (
        check_max_length,
        check_tokenizer_fits,
        load_classifier,
        load_input_settings,
        load_label_values,
        load_tokenizer,
        model_label_names,
    )

    quantize = (quantize or "none").lower()
    if quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize takes one of {', '.join(QUANTIZATIONS)}, not '{quantize}'")
    from bertcli.core.inference.onnxrt import is_export

    if is_export(name_or_path):
        return _load_export(name_or_path, precision=precision, quantize=quantize, max_length=max_length, truncation=truncation,
                            stride=stride, pooling=pooling)
    started = time.perf_counter()
    chosen_device = pick_inference_device(device, quantize)
    chosen_precision = choose_inference_precision(precision, chosen_device)
    if quantize == "int8":
        from bertcli.core.inference.int8 import check_int8_kernels

        check_int8_kernels()
    tokenizer = load_tokenizer(name_or_path)
    model = load_classifier(name_or_path, require_trained_head=not allow_untrained_head)
    check_tokenizer_fits(tokenizer, name_or_path, model.get_input_embeddings().num_embeddings)
    if not getattr(model.config, "id2label", None) or model.config.num_labels < 2:
        raise ModelError(f"'{name_or_path}' has no classification labels — fine-tune it first with `bertcli train --model {name_or_path}`")
    settings = load_input_settings(Path(name_or_path).expanduser(), tokenizer)
    multi_label, thresholds = _decision_thresholds(model, Path(name_or_path).expanduser())
    length = max_length or settings.max_length
    limit = getattr(model.config, "max_position_embeddings", None)
    if max_length is None and limit is not None:
        length = min(length, limit)
    check_max_length(model, length)
    reading = _reading(settings, length, truncation, stride, pooling)
    model = _made_fast(model, chosen_precision, quantize == "int8", chosen_device)
    label_names = model_label_names(model)
    return Classifier(
        model=model,
        tokenizer=tokenizer,
        name=str(name_or_path),
        label_names=label_names,
        label_values=load_label_values(Path(name_or_path).expanduser(), label_names),
        max_length=length,
        truncation=reading["truncation"],
        device=chosen_device,
        precision=chosen_precision,
        quantized=quantize == "int8",
        load_seconds=time.perf_counter() - started,
        notes=_speed_notes(quantize),
        multi_label=multi_label,
        thresholds=thresholds,
        stride=reading["stride"],
        pooling=reading["pooling"],
    )


def _decision_thresholds(model: Any, folder: Path) -> tuple[bool, list[float] | None]:
    """Whether the model is multi-label (its config says so), and its per-label thresholds from bertcli.json
    (0.5 each where none were saved, or where they do not match its labels)."""
    from bertcli.core.metrics import DEFAULT_THRESHOLD
    from bertcli.core.model import MULTI_LABEL
    from bertcli.core.runs.manifest import RunManifest

    if getattr(model.config, "problem_type", None) != MULTI_LABEL:
        return False, None
    manifest = RunManifest.read(folder) if folder.is_dir() else None
    saved = manifest.thresholds if manifest is not None else None
    if saved is None or len(saved) != model.config.num_labels:
        return True, [DEFAULT_THRESHOLD] * model.config.num_labels
    return True, [float(t) for t in saved]


def _reading(settings: Any, length: int, truncation: str | None, stride: int | None, pooling: str | None) -> dict[str, Any]:
    """How long texts are read: the truncation, stride and pooling asked for, else those saved with the model."""
    from bertcli.core.encoding import DEFAULT_POOLING, check_pooling, check_stride, check_truncation

    chosen = check_truncation(truncation or settings.truncation)
    if stride is not None and chosen != "sliding":
        raise UsageError(f"--stride applies to --truncation sliding, and this model reads texts with {chosen} — add --truncation sliding")
    # a stride saved for another --max-length is not reused: the default for this length is
    saved = settings.stride if settings.max_length == length else None
    return {
        "truncation": chosen,
        "stride": check_stride(stride if stride is not None else saved, length) if chosen == "sliding" else None,
        "pooling": check_pooling(pooling or DEFAULT_POOLING),
    }


def _load_export(folder: str, *, precision: str, quantize: str, max_length: int | None, truncation: str | None,
                 stride: int | None = None, pooling: str | None = None) -> Classifier:
    """An export folder (`bertcli export`) on onnxruntime, with the tokenizer and input settings saved in it."""
    from bertcli.core.inference.onnxrt import check_export_options, open_export_model
    from bertcli.core.model import load_input_settings, load_label_values, load_tokenizer, model_label_names

    kind = check_export_options(folder, precision, quantize)
    started = time.perf_counter()
    tokenizer = load_tokenizer(folder)
    model = open_export_model(folder)
    settings = load_input_settings(Path(folder).expanduser(), tokenizer)
    length = max_length or settings.max_length
    reading = _reading(settings, length, truncation, stride, pooling)
    names = model_label_names(model)
    multi_label, thresholds = _decision_thresholds(model, Path(folder).expanduser())
    return Classifier(
        model=model, tokenizer=tokenizer, name=str(folder), label_names=names,
        label_values=load_label_values(Path(folder).expanduser(), names),
        max_length=length, truncation=reading["truncation"],
        device="cpu", precision="fp32", quantized=kind == "int8", load_seconds=time.perf_counter() - started,
        runtime="onnxruntime", stride=reading["stride"], pooling=reading["pooling"], multi_label=multi_label,
        thresholds=thresholds,
    )


def _speed_notes(quantize: str) -> list[str]:
    from bertcli.core.inference.int8 import speed_note

    note = speed_note() if quantize == "int8" else None
    return [note] if note else []
