"""Where a bertcli training step's time goes, op by op, and how fast its matrix products run.

Runs bertcli's training recipe on the packaged MiniLM (batches of 16 IMDb train reviews grouped by
length, head+tail truncation at --max-length, attention dropout off on CPU, bf16 autocast where the
CPU has bf16, the fused AdamW the Trainer uses, gradient clipping at 1.0): --steps timed steps, then
the same steps again under torch.profiler. Each op's own CPU time is sorted into matrix products,
attention, LayerNorm, GELU, dropout, dtype casts and copies, optimizer, gradient clipping and the
rest. The matrix products carry their FLOPs, so their achieved rate is compared with the CPU's GEMM
peak measured in the same run; the account ends with the utilisation the loop would reach if every
product ran at that peak and everything else took the time it took here.

    python bench/train_ops.py
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/train_ops.py
"""

from __future__ import annotations

import argparse
import json
import random
import time

from _common import DEFAULT_IMDB, cpu_kind, gemm_peak, load_average, machine, packaged_minilm
from predict_speed import read_split

# First match wins: op-name fragments, lower case, per part of the step.
CATEGORIES = (
    ("attention", ("scaled_dot_product", "flash_attention")),
    ("matrix products", ("addmm", "aten::mm", "bmm", "matmul", "mkldnn_linear", "aten::linear")),
    ("LayerNorm", ("layer_norm",)),
    ("GELU", ("gelu",)),
    ("dropout", ("dropout", "bernoulli")),
    ("casts and copies", ("copy_", "_to_copy", "aten::to", "clone", "contiguous")),
    ("optimizer", ("adam",)),
    ("gradient clipping", ("norm", "clamp")),
    ("embeddings", ("embedding", "index_select")),
    ("loss", ("cross_entropy", "nll_loss", "log_softmax")),
)


def category(name: str) -> str:
    lowered = name.lower()
    return next((part for part, fragments in CATEGORIES if any(f in lowered for f in fragments)), "other")


def batches(args: argparse.Namespace, tokenizer) -> list[tuple]:
    """`args.steps` + 1 batches of 16 reviews: a random sample sorted by length, cut in 16s, in random order."""
    import torch

    from bertcli.core.encoding import encode_texts

    texts, labels = read_split(args.imdb, "train", 16 * (args.steps + 1) * args.pool, args.seed)
    ids = encode_texts(tokenizer, texts, args.max_length, "head+tail")["input_ids"]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    groups = [order[i : i + 16] for i in range(0, len(order), 16)]
    random.Random(args.seed).shuffle(groups)
    out = []
    for group in groups[: args.steps + 1]:
        longest = max(len(ids[i]) for i in group)
        input_ids = torch.zeros((16, longest), dtype=torch.long)
        mask = torch.zeros((16, longest), dtype=torch.long)
        for row, i in enumerate(group):
            input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
            mask[row, : len(ids[i])] = 1
        out.append((input_ids, mask, torch.tensor([labels[i] for i in group]), [len(ids[i]) for i in group]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    parser.add_argument("--imdb", type=type(DEFAULT_IMDB), default=DEFAULT_IMDB)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--pool", type=int, default=8, help="reviews drawn per batch slot before length grouping")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = load_average()

    import torch
    from torch.profiler import ProfilerActivity, profile

    from bertcli.core.device import choose_precision, training_flops
    from bertcli.core.model import load_classifier, load_tokenizer

    model_path = args.model or packaged_minilm()
    precision = choose_precision("auto", "cpu") if args.precision == "auto" else args.precision
    tokenizer = load_tokenizer(model_path)
    torch.manual_seed(args.seed)
    model = load_classifier(model_path, ["negative", "positive"], attention_dropout=0.0)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01, fused=True)
    data = batches(args, tokenizer)
    config = model.config
    matmul_params = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embeddings" not in n)

    def step(input_ids, mask, labels, _lengths) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()

    step(*data[0])  # first step: kernel choice, optimizer state
    peak = gemm_peak(precision)
    started = time.perf_counter()
    for batch in data[1:]:
        step(*batch)
    plain_s = time.perf_counter() - started
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        started = time.perf_counter()
        for batch in data[1:]:
            step(*batch)
        profiled_s = time.perf_counter() - started

    seconds: dict[str, float] = {}
    product_flops = 0.0
    for event in prof.key_averages():
        part = category(event.key)
        seconds[part] = seconds.get(part, 0.0) + event.self_cpu_time_total / 1e6
        if part == "matrix products":
            product_flops += event.flops or 0.0
    total = sum(seconds.values())
    lengths = [n for batch in data[1:] for n in batch[3]]
    padded = sum(16 * batch[0].shape[1] for batch in data[1:])
    model_flops = training_flops(matmul_params, lengths, config.num_hidden_layers, config.hidden_size, 1.0)
    products = seconds.get("matrix products", 0.0)
    rest = total - products
    at_peak = product_flops / peak + rest * plain_s / total  # the rest scaled back to an unprofiled step
    result = {
        "machine": machine(), "cpu_kind": cpu_kind(), "load": f"before {load_before}, after {load_average()}", "precision": precision,
        "threads": torch.get_num_threads(), "steps": args.steps, "tokens": sum(lengths), "padded_tokens": padded,
        "peak_gflops": round(peak / 1e9, 1), "step_seconds": round(plain_s / args.steps, 3),
        "profiled_step_seconds": round(profiled_s / args.steps, 3),
        "model_tflops_per_step": round(model_flops / args.steps / 1e12, 4),
        "loop_utilisation": round(model_flops / plain_s / peak, 4),
        "parts_seconds": {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
        "product_gflops": round(product_flops / products / 1e9, 1) if products else None,
        "product_share_of_peak": round(product_flops / products / peak, 4) if products else None,
        "utilisation_if_products_at_peak": round(model_flops / at_peak / peak, 4),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['machine']}; CPU kind: {result['cpu_kind']}; {result['load']}; {result['threads']} torch threads")
    print(
        f"{args.steps} steps of 16 reviews at up to {args.max_length} tokens ({sum(lengths):,} tokens, {padded:,} with "
        f"padding), {precision}; {precision} GEMM peak {peak / 1e9:.0f} GFLOP/s"
    )
    print(
        f"step {plain_s / args.steps:.2f} s ({profiled_s / args.steps:.2f} s profiled); model FLOPs "
        f"{model_flops / args.steps / 1e12:.3f} T per step; loop utilisation {result['loop_utilisation']:.1%} of the peak"
    )
    print(f"\n{'part (own CPU time, profiled)':<32}{'seconds':>9}{'share':>8}")
    for part, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        print(f"{part:<32}{s:>9.2f}{s / total:>8.1%}")
    if products:
        print(
            f"\nmatrix products: {product_flops / 1e12:.2f} TFLOP in {products:.2f} s = {product_flops / products / 1e9:.0f} "
            f"GFLOP/s, {product_flops / products / peak:.0%} of the {precision} peak"
        )
    print(
        f"if every matrix product ran at the peak and the rest took what it took here, a step would take "
        f"{at_peak / args.steps:.2f} s: {result['utilisation_if_products_at_peak']:.0%} of the peak is the ceiling "
        f"for this model and recipe with torch's own kernels"
    )


if __name__ == "__main__":
    main()
