"""`bertcli export`: a trained model as an ONNX folder that onnxruntime runs, proven to answer as the model does.

The graph comes from `torch.onnx.export` (the TorchScript exporter: no extra packages, exact on BERT-family
encoders, dynamic batch and sequence axes), int8 from onnxruntime's `quantize_dynamic` (int8 weights of the
MatMuls, activations quantized per batch). The folder is built under a temporary name beside the output
and renamed into place only once the parity check passed, so `-o DIR` never holds half an export.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bertcli.core.deploy.parity import DEFAULT_CHECK_SIZE, CheckData, ParityReport, check_parity, default_check_data
from bertcli.core.errors import BertCliError, UsageError
from bertcli.core.inference.onnxrt import EXPORT_KEY, ONNX_FILE, export_record, is_export

OPSET = 17
EXPORT_QUANTIZATIONS = ("none", "int8")
CARD_FILE = "README.md"
COPIED_FILES = ("metrics.json",)  # the card's numbers, for `serve`'s /info


class ParityError(BertCliError):
    """The export does not give the trained model's answers (and --force was not given)."""


@dataclass
class ExportOptions:
    model: str
    output: Path
    quantize: str = "none"
    check_dataset: str | None = None
    check_split: str | None = None
    check_size: int | None = DEFAULT_CHECK_SIZE
    seed: int = 42
    batch_size: int = 32
    force: bool = False
    allow_untrained_head: bool = False


@dataclass
class ExportReport:
    model: str
    output: str
    quantize: str
    onnx_bytes: int
    export_seconds: float
    parity: ParityReport | None
    written: bool  # False: refused by the parity gate, nothing left at `output`
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "output": self.output, "quantize": self.quantize, "onnx_bytes": self.onnx_bytes,
                "export_seconds": round(self.export_seconds, 2), "written": self.written, "notes": self.notes,
                "parity": self.parity.as_dict() if self.parity else None}


def _check_output(model_dir: Path, output: Path) -> None:
    """The output is a new folder, neither the model's folder nor inside it, nor a folder it lives in."""
    from bertcli.core.outputs import refuse_input_overwrite

    refuse_input_overwrite(output, "-o", [("MODEL", model_dir)], folder=True)
    out = output.expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"-o {output} already exists and is not empty — remove it or pick another folder")


class _ForExport:
    """The classifier with `logits` as its one output (what the ONNX graph returns)."""

    @staticmethod
    def wrap(model: Any) -> Any:
        import torch

        class LogitsOnly(torch.nn.Module):
            def __init__(self, inner: Any):
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

        return LogitsOnly(model).eval()


def write_onnx(model: Any, path: Path, vocab_size: int) -> None:
    """The classifier as ONNX: inputs input_ids and attention_mask (batch, sequence), output logits (batch, labels)."""
    import warnings

    import torch

    ids = torch.randint(5, max(6, min(vocab_size, 1000)), (2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 9:] = 0  # a padded row, so the traced graph keeps the padding mask
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_ForExport.wrap(model), (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def quantize_onnx(source: Path, target: Path) -> None:
    """int8 weights for the MatMuls (onnxruntime's dynamic quantization), the rest fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])


def _card(model_dir: Path, name: str, quantize: str, parity: ParityReport | None) -> str:
    """The source's card with a section on the export and its parity check appended."""
    source = model_dir / CARD_FILE
    text = source.read_text(encoding="utf-8", errors="replace")[:200_000] if source.is_file() else f"# {name}\n"
    lines = [
        "", "## ONNX export", "",
        f"Exported by `bertcli export` from `{name}` ({'int8 weights, onnxruntime dynamic quantization' if quantize == 'int8' else 'fp32'}, "
        f"opset {OPSET}). Run it with `bertcli predict --model DIR`, `bertcli evaluate --model DIR` or `bertcli serve DIR`.",
    ]
    if parity is not None:
        lines += ["", f"Parity with the PyTorch model on {parity.texts:,} texts of {Path(parity.dataset).name} ({parity.split}): "
                  f"{parity.line()}. Required: {parity.required}{' — NOT met, written with --force' if not parity.passed else ''}."]
    return text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"


def _write_manifest(model_dir: Path, folder: Path, tokenizer: Any, record: dict[str, Any]) -> None:
    """bertcli.json of the model (input settings, recipe, thresholds) with the export block added."""
    from bertcli.core.model import load_input_settings
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(model_dir)
    if manifest is None or manifest.max_length is None or manifest.truncation is None:
        settings = load_input_settings(model_dir, tokenizer)
        base = manifest.to_json() if manifest is not None else {}
        manifest = RunManifest.from_json({**base, "max_length": settings.max_length, "truncation": settings.truncation})
    if EXPORT_KEY not in manifest.keys:
        manifest.keys.append(EXPORT_KEY)
    manifest.extra[EXPORT_KEY] = record
    manifest.write(folder)


def record_parity(folder: Path, parity: ParityReport | None) -> None:
    """Put the parity result into an export folder's bertcli.json (load refuses an export that failed unforced)."""
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(folder)
    if manifest is None:
        return
    record = dict(export_record(folder))
    record["parity"] = parity.as_dict() if parity is not None else None
    if EXPORT_KEY not in manifest.keys:
        manifest.keys.append(EXPORT_KEY)
    manifest.extra[EXPORT_KEY] = record
    manifest.write(folder)


def clear_parity(folder: Path) -> None:
    record_parity(folder, None)


def export_model(options: ExportOptions, *, on_step: Callable[[str], None] | None = None) -> ExportReport:
    """Export, check parity, and move the folder into place; refused (nothing written) when the gate fails unforced."""
    import time

    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.resolve import resolve_model

    from bertcli.core.inference.onnxrt import require

    for module in ("onnx", "onnxruntime"):
        require(module, "export", "bertcli export")
    step = on_step or (lambda _: None)
    quantize = (options.quantize or "none").lower()
    if quantize not in EXPORT_QUANTIZATIONS:
        raise UsageError(f"--quantize takes one of {', '.join(EXPORT_QUANTIZATIONS)}, not '{options.quantize}'")
    resolved = resolve_model(options.model)
    model_dir = Path(resolved.path).expanduser()
    if not model_dir.is_dir():
        raise UsageError(f"'{options.model}' is not a model folder — export a trained model folder, e.g. results/final")
    if is_export(model_dir):
        raise UsageError(f"'{options.model}' is already an ONNX export — export the PyTorch model it came from")
    output = options.output.expanduser()
    _check_output(model_dir, output)
    data = default_check_data(model_dir, options.check_dataset, options.check_split, options.check_size, options.seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.parent / f".{output.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    started = time.perf_counter()
    try:
        step(f"exporting {resolved.describe()} to ONNX (opset {OPSET}{', int8' if quantize == 'int8' else ''})")
        # The model predict runs (eval mode, last layer for [CLS] alone) is what the graph records, and the
        # reference of the parity check: one load, so even an untrained head is the same head in both.
        reference = load_for_inference(str(model_dir), precision="fp32", device="cpu", allow_untrained_head=options.allow_untrained_head)
        model, tokenizer = reference.model, reference.tokenizer
        fp32 = partial / (ONNX_FILE if quantize == "none" else "model-fp32.onnx")
        write_onnx(model, fp32, model.config.vocab_size)
        if quantize == "int8":
            quantize_onnx(fp32, partial / ONNX_FILE)
            fp32.unlink()
        model.config.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        for name in COPIED_FILES:
            if (model_dir / name).is_file():
                shutil.copyfile(model_dir / name, partial / name)
        record = {"format": "onnx", "opset": OPSET, "quantize": quantize, "source": str(resolved.path),
                  "exporter": "torch.onnx.export" + (" + onnxruntime.quantization.quantize_dynamic" if quantize == "int8" else "")}
        _write_manifest(model_dir, partial, tokenizer, record)
        export_seconds = time.perf_counter() - started
        step(f"checking parity on {data.dataset} ({data.split}){': ' + data.note if data.note else ''}")
        parity = check_parity(str(model_dir), partial, data, int8=quantize == "int8", batch_size=options.batch_size,
                              reference=reference)
        parity.forced = options.force and not parity.passed
        record_parity(partial, parity)
        (partial / CARD_FILE).write_text(_card(model_dir, str(resolved.path), quantize, parity), encoding="utf-8")
        size = (partial / ONNX_FILE).stat().st_size
        report = ExportReport(str(resolved.path), str(output), quantize, size, export_seconds, parity, written=False,
                              notes=[data.note] if data.note else [])
        if not parity.passed and not options.force:
            shutil.rmtree(partial, ignore_errors=True)
            return report
        if output.is_dir():
            output.rmdir()  # empty, checked above
        os.replace(partial, output)
        report.written = True
        return report
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def check_export(model: str, export_dir: Path, *, check_dataset: str | None = None, check_split: str | None = None,
                 check_size: int | None = DEFAULT_CHECK_SIZE, seed: int = 42, batch_size: int = 32,
                 allow_untrained_head: bool = False) -> ParityReport:
    """Check an existing export against the model again; the result is recorded in its bertcli.json, so a
    failed export is refused by predict, evaluate and serve until exported again."""
    from bertcli.core.inference.resolve import resolve_model

    if not is_export(export_dir):
        raise UsageError(f"'{export_dir}' is not an export folder (no model.onnx beside bertcli.json) — make one with `bertcli export`")
    resolved = resolve_model(model)
    record = export_record(export_dir)
    data = default_check_data(Path(resolved.path), check_dataset, check_split, check_size, seed)
    clear_parity(export_dir)  # an earlier failed check must not stop this one from loading the export
    parity = check_parity(resolved.path, export_dir, data, int8=record.get("quantize") == "int8", batch_size=batch_size,
                          allow_untrained_head=allow_untrained_head)
    record_parity(export_dir, parity)
    return parity


def export_summary(report: ExportReport) -> str:
    """The one line a person reads at the end."""
    from bertcli.core.formatting import size_text

    where = report.output if report.written else "nothing written"
    return f"{report.quantize if report.quantize != 'none' else 'fp32'} export, {size_text(report.onnx_bytes)} → {where}"

