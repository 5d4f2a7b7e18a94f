"""Why bertcli switches attention dropout off on CPU: one training step with and without it.

Times forward + backward + AdamW on a batch of random token ids (the content does not matter for
speed), the model in training mode, SDPA attention, bf16 autocast where the CPU has it.

    python bench/attention_dropout.py --max-length 512 --batch-size 16
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import machine, packaged_minilm


def step_seconds(model_dir: str, dropout: float, length: int, batch: int, steps: int, bf16: bool) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, attn_implementation="sdpa", attention_probs_dropout_prob=dropout
    )
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    ids = torch.randint(1000, 20000, (batch, length))
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[::2, length * 3 // 4 :] = 0  # padded rows, as in a real batch
    labels = torch.randint(0, 2, (batch,))
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first step warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    from bertcli.core.device import cpu_supports_bf16

    model = args.model or packaged_minilm()
    bf16 = cpu_supports_bf16()
    with_dropout = step_seconds(model, 0.1, args.max_length, args.batch_size, args.steps, bf16)
    without = step_seconds(model, 0.0, args.max_length, args.batch_size, args.steps, bf16)
    print(f"machine: {machine()}; bf16 autocast: {bf16}")
    print(f"train step, batch {args.batch_size} x {args.max_length} tokens, SDPA:")
    print(f"  attention dropout 0.1: {with_dropout:6.2f} s/step")
    print(f"  attention dropout 0.0: {without:6.2f} s/step   ({with_dropout / without:.1f}x faster)")


if __name__ == "__main__":
    main()
