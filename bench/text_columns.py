"""Text in two columns (AG News's CSV: title, description): joined into one text, or encoded as a text pair?

Both sides fine-tune the same model the same way on the same rows, several seeds each, and are scored on
the same held-out rows; only the encoding differs:

  join  title + newline + description as one text (what `--text-column title,description` does)
  pair  tokenizer(title, description): [CLS] title [SEP] description [SEP], token types 0 / 1

Data: ../shared/data/agnews-csv (headerless; class 1–4, title, description): its train.csv less a held-out
part trains, the held-out part plus test.csv scores. Prints the CPU, the load average and both accuracies.

    python bench/text_columns.py
    python bench/text_columns.py --seeds 0 1 2 3 4 --epochs 4
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from _common import REPO, machine, packaged_minilm

DEFAULT_DATA = Path(os.environ.get("BERTCLI_SHARED_DATA", REPO.parent / "shared" / "data")) / "agnews-csv"


def read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(class id from 0, title, description) of a headerless AG News CSV, read the way bertcli reads it."""
    from bertcli.core.data.tables import read_table, table_layout

    columns = read_table(path, str(path), table_layout(path, str(path)))
    return [(int(c) - 1, t, d) for c, t, d in zip(columns["1"], columns["2"], columns["3"])]


def encode(tokenizer, rows, mode: str, max_length: int):
    titles, bodies = [r[1] for r in rows], [r[2] for r in rows]
    if mode == "pair":
        return tokenizer(titles, bodies, truncation="longest_first", max_length=max_length, padding=True, return_tensors="pt")
    from bertcli.core.data.tables import join_texts

    return tokenizer(join_texts(list(zip(titles, bodies))), truncation=True, max_length=max_length, padding=True,
                     return_tensors="pt")


def run(model_path: str, train, held, mode: str, seed: int, args) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * -(-len(train) // args.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    model.train()
    for _ in range(args.epochs):
        order = list(train)
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            inputs = encode(tokenizer, batch, mode, args.max_length)
            loss = model(**inputs, labels=torch.tensor([r[0] for r in batch])).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(held), 64):
            batch = held[start : start + 64]
            logits = model(**encode(tokenizer, batch, mode, args.max_length)).logits
            correct += int((logits.argmax(-1) == torch.tensor([r[0] for r in batch])).sum())
    return correct / len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--held-out", type=int, default=150, help="rows of train.csv held out for scoring")
    args = parser.parse_args()
    if not (args.data / "train.csv").is_file():
        raise SystemExit(f"no {args.data / 'train.csv'}: pass --data (the agnews-csv folder)")
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    rows = read_rows(args.data / "train.csv")
    random.Random(1234).shuffle(rows)
    train, held = rows[args.held_out :], rows[: args.held_out] + read_rows(args.data / "test.csv")
    model = args.model or packaged_minilm()
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{len(train)} train rows, {len(held)} scored; {args.epochs} epochs, batch {args.batch_size}, lr {args.lr}, "
          f"max length {args.max_length}")
    scores: dict[str, list[float]] = {"join": [], "pair": []}
    for seed in args.seeds:
        for mode in scores:  # both encodings under each seed, back to back
            started = time.time()
            scores[mode].append(run(model, train, held, mode, seed, args))
            print(f"seed {seed} {mode}: accuracy {scores[mode][-1]:.4f} ({time.time() - started:.0f} s)", flush=True)
    for mode, values in scores.items():
        mean = sum(values) / len(values)
        print(f"{mode}: mean accuracy {mean:.4f} over seeds {args.seeds} ({', '.join(f'{v:.4f}' for v in values)})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
