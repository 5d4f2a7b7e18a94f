"""Run an export folder (`bertcli export`: model.onnx beside bertcli.json) on onnxruntime.

The model is wrapped so that it answers like a transformers classifier (`model(input_ids=...,
attention_mask=...).logits`), so predict, evaluate and serve tokenize, truncate, sort by length and
batch exactly as they do for the PyTorch model: only the forward pass differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertcli.core.errors import ModelError, UsageError

ONNX_FILE = "model.onnx"
EXPORT_KEY = "export"  # the block of bertcli.json that says how the folder was exported and checked


def is_export(folder: str | Path) -> bool:
    """An export folder: model.onnx beside bertcli.json."""
    from bertcli.core.runs.manifest import MANIFEST_FILE

    path = Path(folder).expanduser()
    return (path / ONNX_FILE).is_file() and (path / MANIFEST_FILE).is_file()


def export_record(folder: str | Path) -> dict[str, Any]:
    """The `export` block of an export folder's bertcli.json (empty when absent)."""
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(folder)
    block = manifest.extra.get(EXPORT_KEY) if manifest is not None else None
    return block if isinstance(block, dict) else {}


class OnnxClassifierModel:
    """An onnxruntime session that answers like a transformers sequence classifier (logits as a torch tensor)."""

    def __init__(self, session: Any, config: Any):
        self.session = session
        self.config = config
        self.input_names = [i.name for i in session.get_inputs()]

    def __call__(self, input_ids: Any, attention_mask: Any, **_: Any) -> Any:
        import types

        import numpy as np
        import torch

        feed = {"input_ids": np.asarray(input_ids.cpu(), dtype=np.int64),
                "attention_mask": np.asarray(attention_mask.cpu(), dtype=np.int64)}
        if "token_type_ids" in self.input_names:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        logits = self.session.run(None, {k: v for k, v in feed.items() if k in self.input_names})[0]
        return types.SimpleNamespace(logits=torch.from_numpy(np.ascontiguousarray(logits)))


def check_export_options(folder: str | Path, precision: str, quantize: str) -> str:
    """The export's kind (none or int8) once the options fit it and it has not failed its parity check."""
    record = export_record(folder)
    kind = record.get("quantize", "none")
    if precision not in ("auto", "fp32"):
        raise UsageError(f"'{folder}' is an ONNX export, which runs in fp32 (int8 weights when exported with --quantize int8), "
                         f"not --precision {precision}")
    if (quantize or "none") != "none" and quantize != kind:
        raise UsageError(f"'{folder}' is an ONNX export of kind {kind}: --quantize does not apply to it — "
                         f"export again with `bertcli export MODEL -o DIR --quantize {quantize}`")
    parity = record.get("parity") or {}
    if parity.get("passed") is False and not parity.get("forced"):
        raise ModelError(f"'{folder}' failed its parity check ({parity.get('reason', 'labels differ from the PyTorch model')}) — "
                         "export it again with `bertcli export`")
    return kind


def open_export_model(folder: str | Path) -> OnnxClassifierModel:
    """The export's session with its config.json (labels, problem type), read without running any code from it."""
    from transformers import AutoConfig

    path = Path(folder).expanduser()
    try:
        config = AutoConfig.from_pretrained(str(path), trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read config.json in export '{folder}': {str(err).splitlines()[0]} — export it again") from err
    return OnnxClassifierModel(open_session(path / ONNX_FILE), config)


def require(module: str, extra: str, purpose: str) -> None:
    """Refuse, with the install line, when an optional dependency of export or serve is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{purpose} needs {module}, which is not installed — pip install 'bertcli[{extra}]'")


def open_session(path: Path) -> Any:
    """An onnxruntime CPU session with every graph optimization."""
    require("onnxruntime", "export", "running an ONNX export")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own types for a damaged or foreign file
        raise ModelError(f"cannot load {path}: {str(err).splitlines()[0][:200]} — export it again with `bertcli export`") from err
