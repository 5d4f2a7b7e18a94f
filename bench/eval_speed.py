"""Evaluation during training: transformers' Trainer.evaluate against bertcli's, same model, same reviews.

  transformers  the Trainer's own evaluation with length grouping on (what bertcli ran before): batches
                sorted only within megabatches of len // (4 x batch) batches
  bertcli       BertCliTrainer.evaluate: the whole eval set longest first, the last layer for [CLS] alone

Both score the packaged MiniLM (fresh head, so the accuracy means nothing; the loss and accuracy must
agree) on --n IMDb test reviews, head+tail at --max-length, eval batch 32 as `bertcli train` uses with
its default batch of 16, bf16 autocast where the CPU has bf16. Each side runs --rounds times, in turns.

    python bench/eval_speed.py --n 500
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import DEFAULT_IMDB, cpu_kind, load_average, machine, packaged_minilm
from predict_speed import read_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    parser.add_argument("--imdb", type=type(DEFAULT_IMDB), default=DEFAULT_IMDB)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load_before = load_average()

    import datasets
    from transformers import Trainer, TrainingArguments

    from bertcli.core.device import choose_precision
    from bertcli.core.encoding import tokenize_dataset
    from bertcli.core.metrics import compute_eval_metrics
    from bertcli.core.model import load_classifier, load_tokenizer
    from bertcli.core.training.trainer import BertCliTrainer, padding_collator

    model_path = args.model or packaged_minilm()
    precision = choose_precision("auto", "cpu")
    texts, labels = read_split(args.imdb, "test", args.n, 1)
    tokenizer = load_tokenizer(model_path)
    eval_ds = tokenize_dataset(datasets.Dataset.from_dict({"text": texts, "label": labels}), tokenizer, args.max_length, "head+tail")
    model = load_classifier(model_path, ["negative", "positive"], attention_dropout=0.0)
    with tempfile.TemporaryDirectory() as out:
        settings = TrainingArguments(
            output_dir=out, per_device_eval_batch_size=32, bf16=precision == "bf16", use_cpu=True, report_to="none",
            disable_tqdm=True, train_sampling_strategy="group_by_length", remove_unused_columns=False,
        )
        common = dict(model=model, args=settings, eval_dataset=eval_ds, processing_class=tokenizer,
                      data_collator=padding_collator(tokenizer, None), compute_metrics=compute_eval_metrics)
        sides = {"transformers": Trainer(**common), "bertcli": BertCliTrainer(**common, sampler_seed=42)}
        padded = {
            name: sum(batch["input_ids"].numel() for batch in trainer.get_eval_dataloader()) for name, trainer in sides.items()
        }
        seconds = {name: [] for name in sides}
        scores = {}
        for name, trainer in sides.items():
            trainer.evaluate()  # warm-up
        for _ in range(args.rounds):
            for name, trainer in sides.items():
                started = time.perf_counter()
                scores[name] = trainer.evaluate()
                seconds[name].append(time.perf_counter() - started)
    print(f"{machine()}; CPU kind: {cpu_kind()}; {load_before} before; {precision}")
    print(f"{args.n} IMDb test reviews ({sum(eval_ds['length']):,} tokens), head+tail at {args.max_length}, eval batch 32")
    for name in sides:
        best = min(seconds[name])
        print(
            f"{name:13} {best:6.2f} s (best of {args.rounds}; all: {', '.join(f'{s:.2f}' for s in seconds[name])}), "
            f"{padded[name]:,} padded tokens, loss {scores[name]['eval_loss']:.5f}, accuracy {scores[name]['eval_accuracy']:.4f}"
        )
    print(f"bertcli evaluates {min(seconds['transformers']) / min(seconds['bertcli']):.2f}x as fast")


if __name__ == "__main__":
    main()
