"""The GPU path, exercised on CPU: the same code with the accelerator features switched on or off."""

from __future__ import annotations

import dataclasses

import pytest

from bertcli.core.training import accelerator_arguments, choose_precision, model_flops_utilization


def test_gpu_arguments_turn_on_fused_adamw_pinned_memory_and_compile():
    from transformers import TrainingArguments

    gpu = accelerator_arguments("cuda", "bf16", compile=True)
    assert gpu["bf16"] and not gpu["fp16"] and gpu["optim"] == "adamw_torch_fused"
    assert gpu["dataloader_pin_memory"] and gpu["torch_compile"] and not gpu["use_cpu"]
    cpu = accelerator_arguments("cpu", "fp32", compile=False)
    assert not cpu["bf16"] and cpu["optim"] == "adamw_torch" and not cpu["dataloader_pin_memory"] and cpu["use_cpu"]
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
    from bertcli.core import training

    monkeypatch.setattr(training, "cpu_supports_bf16", lambda: False)
    assert choose_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(training, "cpu_supports_bf16", lambda: True)
    assert choose_precision("auto", "cpu") == "bf16"


def test_mfu():
    # 110M parameters, 1M tokens in 1 s: 6.6e14 FLOP/s of 9.89e14 on an H100 in bf16
    assert model_flops_utilization(110_000_000, 1_000_000, 1.0, "NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(0.667, abs=1e-3)
    assert model_flops_utilization(110_000_000, 1_000_000, 1.0, "Some Unknown GPU", "bf16") is None


def test_attention_dropout_default_depends_on_device():
    from bertcli.core.errors import UsageError
    from bertcli.core.training import resolve_attention_dropout

    assert resolve_attention_dropout(None, "cpu") == 0.0
    assert resolve_attention_dropout(None, "cuda") is None
    assert resolve_attention_dropout(0.1, "cpu") == 0.1
    with pytest.raises(UsageError):
        resolve_attention_dropout(1.5, "cpu")
