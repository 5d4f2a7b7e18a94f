"""The GPU path, exercised on CPU: the same code with the accelerator features switched on or off."""

from __future__ import annotations

import dataclasses

import pytest

from bertcli.core import device
from bertcli.core.device import accelerator_arguments, choose_precision, model_flops_utilization, training_flops


def test_gpu_arguments_turn_on_fused_adamw_pinned_memory_and_compile():
    from transformers import TrainingArguments

    gpu = accelerator_arguments("cuda", "bf16", compile=True)
    assert gpu["bf16"] and not gpu["fp16"] and gpu["optim"] == "adamw_torch_fused"
    assert gpu["dataloader_pin_memory"] and gpu["torch_compile"] and not gpu["use_cpu"]
    cpu = accelerator_arguments("cpu", "fp32", compile=False)
    assert not cpu["bf16"] and cpu["optim"] == "adamw_torch_fused" and not cpu["dataloader_pin_memory"] and cpu["use_cpu"]
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert set(gpu) <= names and set(cpu) <= names
    TrainingArguments(output_dir="unused", report_to="none", **cpu)  # accepted as it is on this machine


@pytest.mark.parametrize("bf16_ok, expected", [(True, "bf16"), (False, "fp16")])
def test_auto_precision_on_gpu(monkeypatch, bf16_ok, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert choose_precision("auto", "cuda") == expected
    assert choose_precision("fp32", "cuda") == "fp32"


def test_auto_precision_on_cpu_follows_the_cpu_flags(monkeypatch):
    from bertcli.core import device

    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: False)
    assert choose_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: True)
    assert choose_precision("auto", "cpu") == "bf16"


def test_mfu(monkeypatch):
    # 110M parameters, 1M tokens in 1 s: 6.6e14 FLOP/s of 9.89e14 on an H100 in bf16
    monkeypatch.setattr(device, "gpu_name", lambda: "NVIDIA H100 80GB HBM3")
    assert model_flops_utilization(6 * 110e6 * 1e6, 1.0, "cuda", "bf16") == pytest.approx(0.667, abs=1e-3)
    monkeypatch.setattr(device, "gpu_name", lambda: "Some Unknown GPU")
    assert model_flops_utilization(6 * 110e6 * 1e6, 1.0, "cuda", "bf16") is None


def test_attention_dropout_default_depends_on_device():
    from bertcli.core.errors import UsageError
    from bertcli.core.device import resolve_attention_dropout

    assert resolve_attention_dropout(None, "cpu") == 0.0
    assert resolve_attention_dropout(None, "cuda") is None
    assert resolve_attention_dropout(0.1, "cpu") == 0.1
    with pytest.raises(UsageError):
        resolve_attention_dropout(1.5, "cpu")


# What bertcli believes the CPU can do: /proc/cpuinfo's flags, capped by oneDNN's ONEDNN_MAX_CPU_ISA.
SAPPHIRE_RAPIDS = frozenset(
    "sse4_2 avx avx2 fma f16c avx_vnni avx512f avx512bw avx512dq avx512cd avx512vl avx512_vnni avx512_bf16 "
    "avx512_fp16 avx512_vbmi amx_tile amx_int8 amx_bf16".split()
)


@pytest.fixture
def sapphire_rapids(monkeypatch):
    from bertcli.core import cpu

    monkeypatch.setattr(cpu, "_cpuinfo_flags", lambda: SAPPHIRE_RAPIDS)
    for var in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    "cap, bf16, int8_dot, described",
    [
        (None, True, True, "AVX-512 with VNNI, bf16, AMX"),
        ("AVX2", False, False, "AVX2, no VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX2)"),
        ("avx2", False, False, "AVX2, no VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX2)"),
        ("AVX2_VNNI", False, True, "AVX2 with VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX2_VNNI)"),
        ("AVX512_CORE", False, False, "AVX-512, no VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE)"),
        ("AVX512_CORE_VNNI", False, True, "AVX-512 with VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI)"),
        ("AVX512_CORE_BF16", True, True, "AVX-512 with VNNI, bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16)"),
        ("AVX512_CORE_AMX", True, True, "AVX-512 with VNNI, bf16, AMX (ONEDNN_MAX_CPU_ISA=AVX512_CORE_AMX)"),
        ("NOT_AN_ISA", True, True, "AVX-512 with VNNI, bf16, AMX"),  # oneDNN ignores a value it does not know
    ],
)
def test_cpu_features_follow_the_onednn_isa_cap(sapphire_rapids, cap, bf16, int8_dot, described):
    from bertcli.core.cpu import cpu_features, describe_cpu, has_bf16, has_int8_dot_product

    if cap:
        sapphire_rapids.setenv("ONEDNN_MAX_CPU_ISA", cap)
    assert (has_bf16(), has_int8_dot_product(), describe_cpu()) == (bf16, int8_dot, described)
    assert "sse4_2" in cpu_features()  # flags below every cap stay


def test_the_cap_only_lowers_and_onednn_name_wins_over_dnnl(sapphire_rapids):
    from bertcli.core import cpu

    sapphire_rapids.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    assert cpu.cpu_features() == {"sse4_2", "avx", "avx2", "fma", "f16c"}
    sapphire_rapids.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_VNNI")
    assert cpu.has_int8_dot_product() and "amx_int8" not in cpu.cpu_features() and "avx_vnni" not in cpu.cpu_features()
    sapphire_rapids.setattr(cpu, "_cpuinfo_flags", lambda: frozenset({"sse4_2", "avx", "avx2"}))
    sapphire_rapids.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_AMX")  # a cap above the CPU adds nothing
    assert cpu.cpu_features() == {"sse4_2", "avx", "avx2"} and not cpu.has_bf16()
    sapphire_rapids.setattr(cpu, "_cpuinfo_flags", frozenset)  # no /proc/cpuinfo: the safe choices
    assert not cpu.has_bf16() and not cpu.has_int8_dot_product()


def test_real_cpuinfo_is_read(monkeypatch):
    from bertcli.core.cpu import _cpuinfo_flags, cpu_features

    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo on this system")
    flags = next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split()
    assert cpu_features() == _cpuinfo_flags() == frozenset(flags)


def test_precision_choices_follow_a_capped_cpu(sapphire_rapids):
    from bertcli.core.errors import UsageError
    from bertcli.core.inference.load import choose_inference_precision

    assert choose_precision("auto", "cpu") == "bf16" and choose_inference_precision("auto", "cpu") == "bf16"
    sapphire_rapids.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert choose_precision("auto", "cpu") == "fp32" and choose_inference_precision("auto", "cpu") == "fp32"
    with pytest.raises(UsageError, match=r"bf16 instructions .*this one is AVX2, no VNNI.*use --precision fp32"):
        choose_inference_precision("bf16", "cpu")


def test_cpu_utilisation_is_against_the_measured_matrix_multiply_peak(monkeypatch):
    peak = device.cpu_matmul_peak("fp32", seconds=0.05)
    assert 1e8 < peak < 1e14  # a real measurement: between 0.1 GFLOP/s and 100 TFLOP/s
    # a budget already spent (as when a loaded machine makes the warm-up overrun it) still times one product
    assert 1e8 < device.cpu_matmul_peak("fp32", seconds=0.0) < 1e14
    monkeypatch.setattr(device, "cpu_matmul_peak", lambda precision, seconds=0.4: {"fp32": 100e9, "bf16": 400e9}[precision])
    assert model_flops_utilization(50e9, 1.0, "cpu", "fp32") == pytest.approx(0.5)
    assert model_flops_utilization(50e9, 1.0, "cpu", "bf16") == pytest.approx(0.125)
    assert model_flops_utilization(50e9, 0.0, "cpu", "fp32") is None


def test_training_flops_count_multiplying_parameters_and_attention():
    # 6 FLOPs per parameter and token; attention 12 x layers x hidden x length per token; per epoch
    assert training_flops(1000, [10, 20], layers=2, hidden=8, epochs=1) == 6 * 1000 * 30 + 12 * 2 * 8 * (100 + 400)
    assert training_flops(1000, [10, 20], layers=2, hidden=8, epochs=2.5) == 2.5 * training_flops(1000, [10, 20], 2, 8, 1)
