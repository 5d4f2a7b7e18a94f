"""bertcli.core.device: where training and inference run, and in which precision, on whatever this machine is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bertcli.core import device
from bertcli.core.errors import UsageError


@pytest.fixture
def no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    return monkeypatch


@pytest.fixture
def a_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return monkeypatch


@pytest.fixture(params=[True, False], ids=["bf16-cpu", "fp32-cpu"])
def cpu_bf16(request, monkeypatch):
    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: request.param)
    return request.param


def test_importing_it_loads_no_torch():
    code = "import sys, bertcli.core.device; print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stderr


def test_training_device_prefers_cuda_then_mps_then_cpu(no_gpu):
    import torch

    assert device.training_device() == "cpu"
    no_gpu.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.training_device() == "mps"
    no_gpu.setattr(torch.cuda, "is_available", lambda: True)
    assert device.training_device() == "cuda"


def test_training_precision_auto_on_mps_is_fp32(cpu_bf16):
    assert device.choose_precision("auto", "mps") == "fp32"
    assert device.choose_precision("auto", "cpu") == ("bf16" if cpu_bf16 else "fp32")
    assert device.choose_precision("fp16", "cpu") == "fp16"  # as asked: training refuses it on CPU itself


@pytest.mark.parametrize("requested", ["cpu", "cuda", "auto"])
def test_inference_device_int8_runs_on_cpu_and_refuses_cuda(a_gpu, requested):
    if requested == "cuda":
        with pytest.raises(UsageError, match=r"--quantize int8 runs on CPU — drop --device cuda"):
            device.pick_inference_device(requested, "int8")
    else:
        assert device.pick_inference_device(requested, "int8") == "cpu"


def test_inference_device_auto_takes_a_visible_gpu(a_gpu):
    assert device.pick_inference_device("auto", "none") == "cuda"
    assert device.pick_inference_device("cuda", "none") == "cuda"
    assert device.pick_inference_device("cpu", "none") == "cpu"


def test_inference_device_without_a_gpu(no_gpu):
    assert device.pick_inference_device("auto", "none") == "cpu"
    with pytest.raises(UsageError, match=r"^--device cuda but no GPU is visible — use --device cpu$"):
        device.pick_inference_device("cuda", "none")


def test_inference_device_unknown_is_refused_before_anything_else():
    with pytest.raises(UsageError, match=r"^--device takes one of auto, cpu, cuda, not 'tpu'$"):
        device.pick_inference_device("tpu", "int8")


def test_inference_precision_auto_follows_the_cpu(cpu_bf16):
    expected = "bf16" if cpu_bf16 else "fp32"
    assert device.choose_inference_precision("auto", "cpu") == expected
    assert device.choose_inference_precision("fp32", "cpu") == "fp32"


@pytest.mark.parametrize("bf16_ok, expected", [(True, "bf16"), (False, "fp32")])
def test_inference_precision_auto_on_gpu_never_picks_fp16(monkeypatch, bf16_ok, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_ok)
    assert device.choose_inference_precision("auto", "cuda") == expected
    assert device.choose_inference_precision("bf16", "cuda") == "bf16"  # a GPU is not checked for bf16 instructions


def test_inference_precision_bf16_on_a_cpu_without_it_names_the_cpu(monkeypatch):
    from bertcli.core import cpu

    monkeypatch.setattr(device, "cpu_supports_bf16", lambda: False)
    monkeypatch.setattr(cpu, "describe_cpu", lambda: "AVX2, no VNNI, no bf16, no AMX")
    with pytest.raises(UsageError, match=r"needs a CPU with bf16 instructions .*this one is AVX2, no VNNI, no bf16, no AMX — use --precision fp32"):
        device.choose_inference_precision("bf16", "cpu")


@pytest.mark.parametrize("requested", ["fp16", "int8", "AUTO"])
def test_inference_precision_unknown_is_refused(requested):
    with pytest.raises(UsageError, match=rf"^--precision takes one of auto, fp32, bf16, not '{requested}'$"):
        device.choose_inference_precision(requested, "cpu")


def test_choices():
    from bertcli.core.training import PRECISIONS

    assert device.INFERENCE_PRECISIONS == ("auto", "fp32", "bf16") and device.INFERENCE_DEVICES == ("auto", "cpu", "cuda")
    assert device.TRAINING_PRECISIONS == PRECISIONS == ("auto", "fp32", "bf16", "fp16")


def test_hardware_description_names_the_cpu_and_its_threads(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    described = device.describe_hardware("cpu")
    assert described.startswith("CPU (") and described.endswith(", 3 threads)")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "NVIDIA H100 80GB HBM3")
    assert device.describe_hardware("cuda") == "2 x NVIDIA H100 80GB HBM3"
    assert device.gpu_name() == "NVIDIA H100 80GB HBM3"
