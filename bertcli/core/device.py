"""Which device and precision a run uses, for training and for inference: the one place that decides.

Light to import (torch only inside the functions that ask the hardware): the CLI reads the choices below
while it parses options.
"""

from __future__ import annotations

import platform
from typing import Any, Sequence

from bertcli.core.errors import UsageError

TRAINING_PRECISIONS = ("auto", "fp32", "bf16", "fp16")
INFERENCE_PRECISIONS = ("auto", "fp32", "bf16")
INFERENCE_DEVICES = ("auto", "cpu", "cuda")

# Dense peak throughput (FLOP/s) for MFU, by device name fragment and precision.
PEAK_FLOPS = {
    ("h200", "bf16"): 989e12, ("h100", "bf16"): 989e12, ("a100", "bf16"): 312e12, ("l4", "bf16"): 121e12,
    ("h200", "fp16"): 989e12, ("h100", "fp16"): 989e12, ("a100", "fp16"): 312e12, ("v100", "fp16"): 125e12,
    ("t4", "fp16"): 65e12, ("l4", "fp16"): 121e12,
}


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16, as oneDNN may use them (bertcli.core.cpu: ONEDNN_MAX_CPU_ISA caps them)."""
    from bertcli.core.cpu import has_bf16

    return has_bf16()


def training_device() -> str:
    """Where training runs: a CUDA GPU, else Apple's MPS, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def choose_precision(requested: str, device: str) -> str:
    """Training: bf16 where the hardware runs it natively, fp16 on older GPUs, fp32 otherwise."""
    if requested != "auto":
        return requested
    import torch

    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device == "cpu" and cpu_supports_bf16() else "fp32"


def pick_inference_device(requested: str, quantize: str) -> str:
    """Inference: --device as asked (auto: the GPU if one is visible); int8 runs on the CPU only."""
    if requested not in INFERENCE_DEVICES:
        raise UsageError(f"--device takes one of {', '.join(INFERENCE_DEVICES)}, not '{requested}'")
    if quantize == "int8":
        if requested == "cuda":
            raise UsageError("--quantize int8 runs on CPU — drop --device cuda, or drop --quantize on a GPU")
        return "cpu"
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but no GPU is visible — use --device cpu")
    return requested


def choose_inference_precision(requested: str, device: str) -> str:
    """Inference: auto is bf16 where the hardware runs bf16 natively (GPUs, CPUs with AMX/AVX512-BF16), else fp32.

    On a CPU with AMX, bf16 linear layers under autocast ran 2.3x faster than fp32 and gave the
    same label on every IMDb review measured (bench/predict_speed.py). Casting the whole model,
    embeddings and LayerNorm included, was 8% faster again but changed 3 labels in 1,000.
    --precision fp32 gives fp32's exact probabilities.
    """
    if requested not in INFERENCE_PRECISIONS:
        raise UsageError(f"--precision takes one of {', '.join(INFERENCE_PRECISIONS)}, not '{requested}'")
    if requested == "bf16" and device == "cpu" and not cpu_supports_bf16():
        from bertcli.core.cpu import describe_cpu

        raise UsageError(f"--precision bf16 needs a CPU with bf16 instructions (AMX or AVX512-BF16); this one is {describe_cpu()} — use --precision fp32")
    if requested != "auto":
        return requested
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def resolve_attention_dropout(requested: float | None, device: str) -> float | None:
    """On CPU, attention dropout pushes SDPA off its fused kernel: a training step at 512 tokens
    takes 3-5x longer (bench/attention_dropout.py). Unless asked otherwise, CPU runs switch it off;
    hidden-layer dropout stays. GPUs keep the model's own value."""
    if requested is not None:
        if not 0.0 <= requested < 1.0:
            raise UsageError("--attention-dropout must be in [0, 1)")
        return requested
    return 0.0 if device == "cpu" else None


def accelerator_arguments(device: str, precision: str, compile: bool) -> dict[str, Any]:
    """TrainingArguments that depend on the hardware: mixed precision, pinned memory, compile; fused AdamW on both.

    The same code runs on CPU with the accelerator-only features switched off.
    """
    on_gpu = device == "cuda"
    return {
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "optim": "adamw_torch_fused",  # on CPU too: 6x less optimizer time than foreach (bench/README.md)
        "dataloader_pin_memory": on_gpu,
        "dataloader_num_workers": 2 if on_gpu else 0,
        "torch_compile": compile,
        "use_cpu": device == "cpu",
        "tf32": True if on_gpu else None,
    }


def training_flops(matmul_parameters: int, lengths: Sequence[int], layers: int, hidden: int, epochs: float) -> float:
    """FLOPs a run's training passes cost: 6 x the parameters that multiply (embeddings are look-ups) per
    token, plus self-attention's 12 x layers x hidden x length per token (scores and weighted sum, forward
    and backward), over every example as many times as the epochs say."""
    tokens = sum(lengths)
    squares = sum(n * n for n in lengths)
    return epochs * (6.0 * matmul_parameters * tokens + 12.0 * layers * hidden * squares)


def cpu_matmul_peak(precision: str, seconds: float = 0.4) -> float:
    """FLOP/s of a large matrix product on this CPU in `precision` (fp32 or bf16), best of the tries that
    fit in `seconds`, with the threads torch uses: the ceiling training's utilisation is measured against."""
    import time

    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, w = torch.randn(2048, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
    best = float("inf")
    with torch.inference_mode():
        torch.nn.functional.linear(a, w)  # the first call may pick kernels: never timed
        # the budget starts after the warm-up, and at least one product is timed however slow the machine
        deadline = time.perf_counter() + seconds
        while best == float("inf") or time.perf_counter() < deadline:
            started = time.perf_counter()
            torch.nn.functional.linear(a, w)
            best = min(best, max(time.perf_counter() - started, 1e-9))
    return 2.0 * 2048 * 384 * 1536 / best


def model_flops_utilization(flops: float, seconds: float, device: str, precision: str) -> float | None:
    """Achieved training FLOP/s over the device's peak: a GPU's dense peak from its datasheet, a CPU's
    matrix-multiply peak measured here; None where unknown."""
    if seconds <= 0:
        return None
    if device == "cpu":
        peak: float | None = cpu_matmul_peak(precision)
    else:
        name = gpu_name().lower()
        peak = next((v for (frag, prec), v in PEAK_FLOPS.items() if frag in name and prec == precision), None)
    return flops / seconds / peak if peak else None


def gpu_name() -> str:
    """The first CUDA device's name, as MFU's peak table looks it up."""
    import torch

    return torch.cuda.get_device_name(0)


def describe_hardware(device: str) -> str:
    """What trained the model, for the model card: the GPU's name, or the CPU and its threads."""
    import torch

    if device == "cuda":
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"
