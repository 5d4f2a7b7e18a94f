"""Does `bertcli predict -` hold its memory flat on a long stream? Feeds N lines (default 200,000) on stdin to
`python -m bertcli predict - --model TINY` (JSON lines out, read and dropped) and samples the child's resident
set size (VmRSS) as it goes.

The model is a 2-layer random BERT (hidden size 32) built in a temporary folder, so the run measures
bertcli's own per-line bookkeeping (reading, batching, writing, counting) rather than the model's arithmetic.
Every line is a different text (random words, some unknown to the vocabulary), so a cache keyed by text would
show as growth. The figure that matters is the RSS after the first lines against the RSS at the end: a leak of
even 100 bytes a line is 20 MB over 200,000 lines.

    python bench/predict_memory.py
    python bench/predict_memory.py --lines 50000 --every 5000
    python bench/predict_memory.py --minilm --lines 30000 --every 3000
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORDS = ("the film was wonderful brilliant moving superb charming terrible boring awful dull clumsy painful plot "
         "acting story cast music ending direction script scenes really quite very").split()


def build_classifier(folder: Path) -> Path:
    """A 2-layer random BERT classifier (negative/positive) with a WordPiece tokenizer over WORDS."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(0)
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))])}
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2,
                        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    folder.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(config).save_pretrained(folder)
    BertTokenizer(vocab=vocab).save_pretrained(folder)
    return folder


def minilm_classifier(folder: Path) -> Path:
    """The packaged all-MiniLM-L6-v2 with a seeded, untrained two-label head (labels mean nothing here)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from _common import packaged_minilm

    torch.manual_seed(0)
    source = packaged_minilm()
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    return folder


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--every", type=int, default=20_000, help="sample the RSS every this many lines written")
    parser.add_argument("--minilm", action="store_true",
                        help="the packaged all-MiniLM-L6-v2 with a fresh seeded head instead of the tiny model (real "
                             "kernels and many more input shapes: texts of 5 to 400 words)")
    args = parser.parse_args()

    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        model = minilm_classifier(Path(tmp) / "minilm") if args.minilm else build_classifier(Path(tmp) / "tiny")
        longest = 400 if args.minilm else 40
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
        child = subprocess.Popen([sys.executable, "-m", "bertcli", "predict", "-", "--model", str(model)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        out_lines = [0]

        def drain() -> None:
            for _ in child.stdout:
                out_lines[0] += 1

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        started = time.time()
        samples: list[tuple[int, int, float]] = []
        for i in range(1, args.lines + 1):
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, longest))]
            words.append(f"unknown{i}")  # every text differs, also in a word the vocabulary lacks
            child.stdin.write((" ".join(words) + "\n").encode())
            if i % args.every == 0:
                child.stdin.flush()
                while out_lines[0] < i - 2_000 and child.poll() is None:  # let the child catch up to the writer
                    time.sleep(0.05)
                samples.append((i, out_lines[0], rss_mb(child.pid)))
                print(f"{i:>9,} lines written, {out_lines[0]:>9,} predicted: RSS {samples[-1][2]:7.1f} MB", flush=True)
        child.stdin.close()
        child.wait()
        reader.join(timeout=10)
        took = time.time() - started

    first, last = samples[0], samples[-1]
    middle = samples[len(samples) // 2]
    print(f"\n{out_lines[0]:,} records from {args.lines:,} lines in {took:.0f} s ({args.lines / took:,.0f} lines/s), "
          f"exit {child.returncode}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"RSS after {first[0]:,} lines {first[2]:.1f} MB, after {middle[0]:,} {middle[2]:.1f} MB, "
          f"after {last[0]:,} {last[2]:.1f} MB: {last[2] - first[2]:+.1f} MB over the last {last[0] - first[0]:,} lines "
          f"({(last[2] - middle[2]) * 1e6 / max(1, last[0] - middle[0]):+.0f} bytes a line over the second half)")


if __name__ == "__main__":
    main()
