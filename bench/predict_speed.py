"""How fast is `bertcli predict` against `transformers.pipeline("text-classification")`, on the same model?

One run measures, on the same weights and the same reviews from the IMDb copy in ../shared/data/imdb:

  1. throughput on N unsupervised-split reviews (default 2,000): the pipeline (truncation=True,
     max_length = the model's saved max length, batch_size 1 as usually written, and optionally
     batched) versus bertcli's inference at fp32, bf16 (CPUs with bf16), int8 with the rest in bf16
     and int8 with the rest in fp32;
  2. label agreement of each bertcli mode with the pipeline / with bertcli fp32;
  3. the fp32 ceiling: how long the encoder's linear layers would take on these reviews at this
     CPU's own fp32 matrix-multiply burst peak (measured here), and how long the run's own linear
     calls take replayed back to back (the rate the GEMM library sustains on those shapes), each plus
     how long everything else takes with the linear layers replaced by free zeros, against the
     pipeline's time and against bertcli fp32 timed again;
  4. accuracy on M test-split reviews (default 2,000, drawn with --seed) in every mode.

The pipeline can only keep the head of a long review, so the comparison with it runs bertcli with
head truncation too (same tokens in, so labels must agree); the test-split accuracy uses the
truncation saved with the model.

Which model: --model PATH, else the newest trained model under --results (final, else the best
checkpoint), else the packaged all-MiniLM-L6-v2 with a fresh, seeded classification head saved to a
temporary folder (labels then mean nothing, so only speed and agreement are meaningful).

The runs take turns on slices of the reviews (--rounds), so load from other processes on a shared
machine falls on all of them alike; --threads 1 keeps a busy 2-core machine from skewing the numbers
(batch-1 pipelines suffer most when a core is taken away mid-operation).

--agreement-only skips 1 and 3 and reports, per mode, how many test labels differ from fp32: the
int8 check for one kind of CPU. The modes follow the CPU as bertcli sees it (bertcli.core.cpu), so
the AVX2-only kind can be emulated on an AVX-512 machine by capping oneDNN and ATen before start:

    python bench/predict_speed.py --results ../runs/ref --threads 1
    python bench/predict_speed.py --n 500 --test-n 500 --batch-size 32
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python bench/predict_speed.py --model RUN --agreement-only
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_IMDB, gemm_peak, machine, packaged_minilm


def pick_model(args: argparse.Namespace, scratch: Path) -> tuple[str, str]:
    from bertcli.core.errors import ModelError
    from bertcli.core.inference.resolve import find_trained_model, resolve_model

    if args.model:
        found = resolve_model(args.model)
        return found.path, found.describe()
    try:
        found = find_trained_model(args.results)
        return found.path, found.describe()
    except ModelError:
        pass
    import torch

    from bertcli.core.model import (
        InputSettings,
        load_classifier,
        load_tokenizer,
        save_input_settings,
    )

    base = packaged_minilm()
    torch.manual_seed(args.seed)
    model = load_classifier(str(base), ["negative", "positive"])
    folder = scratch / "minilm-fresh-head"
    model.save_pretrained(folder)
    load_tokenizer(str(base)).save_pretrained(folder)
    save_input_settings(folder, InputSettings(max_length=args.max_length or 512, truncation="head+tail"))
    return str(folder), f"packaged all-MiniLM-L6-v2 with a fresh head (no trained model under {args.results})"


def read_split(imdb: Path, split: str, n: int, seed: int) -> tuple[list[str], list[int]]:
    import pyarrow.parquet as pq

    files = sorted((imdb / "plain_text").glob(f"{split}-*.parquet"))
    if not files:
        sys.exit(f"no {split} split under {imdb}/plain_text — set --imdb or BERTCLI_IMDB")
    table = pq.read_table(files[0], columns=["text", "label"])
    rows = random.Random(seed).sample(range(table.num_rows), min(n, table.num_rows))
    texts = table.column("text").to_pylist()
    labels = table.column("label").to_pylist()
    return [texts[i] for i in rows], [labels[i] for i in rows]


def bertcli_runner(clf, batch_size):
    from bertcli.core.inference.stream import predict_texts

    def run(texts):
        preds = predict_texts(clf, texts, batch_size=batch_size)
        return [p.label for p in preds], [p.probabilities for p in preds]

    run(["warm-up " * 50] * 2)
    return run


def pipeline_runner(path, max_length, batch_size):
    from transformers import pipeline

    clf = pipeline("text-classification", model=path, device=-1, truncation=True, max_length=max_length)

    def run(texts):
        return [o["label"] for o in clf(texts, batch_size=batch_size)], None

    run(["warm-up " * 50] * 2)
    return run


def interleaved(runners: dict, texts: list[str], rounds: int) -> dict:
    """Each runner on the same texts, in `rounds` slices taken in turn, so load from other processes
    on a shared machine falls on all of them alike. Returns name -> (labels, probs, seconds)."""
    out = {name: ([], [], 0.0) for name in runners}
    size = -(-len(texts) // rounds)
    for r in range(rounds):
        part = texts[r * size : (r + 1) * size]
        if not part:
            break
        for name, run in runners.items():
            started = time.perf_counter()
            labels, probs = run(part)
            seconds = time.perf_counter() - started
            old_labels, old_probs, old_s = out[name]
            out[name] = (old_labels + labels, old_probs + (probs or []), old_s + seconds)
    return out


def linear_macs(model, tokens: int, texts: int) -> int:
    """Multiply-adds of the encoder's linear layers that an exact run needs: every layer for every token,
    except that the last layer needs only its keys and values for every token and the rest for [CLS]."""
    import torch

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".encoder." in f".{n}."]
    last = max(int(n.split(".layer.")[1].split(".")[0]) for n, _ in layers)
    total = 0
    for name, m in layers:
        in_last = int(name.split(".layer.")[1].split(".")[0]) == last
        rows = texts if in_last and not name.endswith((".key", ".value")) else tokens
        total += rows * m.in_features * m.out_features
    return total


def time_without_linear_layers(clf, texts: list[str], batch_size: int) -> float:
    """Seconds for the same run with every encoder linear layer replaced by a zero output of its shape:
    attention, GELU, LayerNorm, embeddings, tokenization and Python, which no faster GEMM can remove."""
    import torch

    from bertcli.core.inference.stream import predict_texts

    zeros: dict = {}  # one zero tensor per shape, so filling memory is not timed either

    class Zero(torch.nn.Module):
        def __init__(self, out_features):
            super().__init__()
            self.out_features = out_features

        def forward(self, x):
            shape = (*x.shape[:-1], self.out_features)
            if (shape, x.dtype) not in zeros:
                zeros[shape, x.dtype] = x.new_zeros(shape)
            return zeros[shape, x.dtype]

    for name, module in list(clf.model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear) and ".encoder." in f".{name}.":
                setattr(module, child_name, Zero(child.out_features))
    predict_texts(clf, texts[:4], batch_size=batch_size)
    started = time.perf_counter()
    predict_texts(clf, texts, batch_size=batch_size)
    return time.perf_counter() - started


def record_linear_calls(clf, texts: list[str], batch_size: int) -> tuple[list[tuple[int, int, int, bool]], float]:
    """Every encoder linear layer call of an fp32 run on `texts`, as (rows, in, out, has bias), and the
    run's own seconds."""
    import torch

    from bertcli.core.inference.stream import predict_texts

    calls: list[tuple[int, int, int, bool]] = []

    def note(module, args, output):
        calls.append((args[0].numel() // module.in_features, module.in_features, module.out_features, module.bias is not None))

    handles = [
        m.register_forward_hook(note)
        for n, m in clf.model.named_modules()
        if isinstance(m, torch.nn.Linear) and ".encoder." in f".{n}."
    ]
    started = time.perf_counter()
    try:
        predict_texts(clf, texts, batch_size=batch_size)
    finally:
        for handle in handles:
            handle.remove()
    return calls, time.perf_counter() - started


def replay_linear_calls(calls: list[tuple[int, int, int, bool]]) -> float:
    """Seconds for the same linear-layer calls back to back with nothing else running: the rate torch's
    fp32 GEMM sustains on exactly this run's shapes (random inputs; same sizes, same bias adds)."""
    import torch

    tensors: dict = {}
    total = 0.0
    with torch.inference_mode():
        for rows, fan_in, fan_out, bias in calls:
            key = (rows, fan_in, fan_out, bias)
            if key not in tensors:
                tensors[key] = (torch.randn(rows, fan_in), torch.randn(fan_out, fan_in), torch.randn(fan_out) if bias else None)
                torch.nn.functional.linear(*tensors[key])  # first touch and kernel choice are not timed
            x, w, b = tensors[key]
            started = time.perf_counter()
            torch.nn.functional.linear(x, w, b)
            total += time.perf_counter() - started
    return total


def fp32_ceiling(path: str, texts: list[str], length: int, pipeline_s: float, batch_size: int) -> dict:
    """The fastest exact fp32 could be here, two ways: (a) the linear layers' multiply-adds at the CPU's
    fp32 GEMM burst peak (best of many products of one shape) and (b) the same linear calls replayed back
    to back at their own shapes (what the GEMM library sustains), each plus the time everything else takes
    when the linear layers cost nothing. Also the bertcli fp32 run's own time, measured here, as a share
    of each."""
    import torch

    from bertcli.core.encoding import encode_texts
    from bertcli.core.inference.load import load_for_inference

    clf = load_for_inference(path, precision="fp32", truncation="head")
    tokens = sum(len(ids) for ids in encode_texts(clf.tokenizer, texts, length, "head")["input_ids"])
    macs = linear_macs(clf.model, tokens, len(texts))
    peak = gemm_peak("fp32")
    linear_s = 2 * macs / peak
    calls, run_s = record_linear_calls(clf, texts, batch_size)
    replay_s = replay_linear_calls(calls)
    rest_s = time_without_linear_layers(clf, texts, batch_size)
    best = pipeline_s / (linear_s + rest_s)
    sustained = pipeline_s / (replay_s + rest_s)
    padded = sum(rows * i * o for rows, i, o, _ in calls)
    print(
        f"\nfp32 ceiling: the linear layers' {macs / 1e9:.0f}G multiply-adds ({tokens:,} tokens) at {peak / 1e9:.0f} GFLOP/s "
        f"(this CPU's fp32 GEMM burst peak, {torch.get_num_threads()} threads) take {linear_s:.1f} s; the same "
        f"{len(calls)} linear calls replayed alone ({padded / 1e9:.0f}G multiply-adds with batch padding) take "
        f"{replay_s:.1f} s ({2 * padded / replay_s / 1e9:.0f} GFLOP/s sustained); everything else takes {rest_s:.1f} s "
        f"with the linear layers free; the pipeline took {pipeline_s:.1f} s. An exact fp32 run cannot beat it by "
        f"more than {best:.2f}x at the burst peak, {sustained:.2f}x at the sustained rate "
        f"({pipeline_s / linear_s:.2f}x if everything else were free too)."
    )
    print(
        f"bertcli fp32 timed again here: {run_s:.1f} s, {pipeline_s / run_s:.2f}x the pipeline = "
        f"{(linear_s + rest_s) / run_s:.0%} of the burst-peak ceiling, {(replay_s + rest_s) / run_s:.0%} of the sustained one"
    )
    return {
        "tokens": tokens, "gemm_gflops": round(peak / 1e9, 1), "linear_floor_s": round(linear_s, 2),
        "linear_replay_s": round(replay_s, 2), "linear_padding_share": round(1 - macs / padded, 4),
        "rest_s": round(rest_s, 2), "max_speedup": round(best, 2), "max_speedup_sustained": round(sustained, 2),
        "max_speedup_linear_only": round(pipeline_s / linear_s, 2), "bertcli_fp32_s": round(run_s, 2),
        "share_of_ceiling": round((linear_s + rest_s) / run_s, 3),
        "share_of_sustained_ceiling": round((replay_s + rest_s) / run_s, 3),
    }


def agreement(a, b) -> float:
    return sum(x == y for x, y in zip(a, b)) / max(len(a), 1)


def speed_and_ceiling(args: argparse.Namespace, path: str, length: int, modes: dict, results: dict) -> None:
    """Parts 1-3: throughput against the pipeline, label agreement, and the fp32 ceiling."""
    from bertcli.core.inference.load import load_for_inference

    texts, _ = read_split(args.imdb, "unsupervised", args.n, args.seed)
    runners = {"pipeline (batch 1)": pipeline_runner(path, length, 1)}
    if args.pipeline_batch_size:
        runners[f"pipeline (batch {args.pipeline_batch_size})"] = pipeline_runner(path, length, args.pipeline_batch_size)
    for name, kwargs in modes.items():
        clf = load_for_inference(path, max_length=args.max_length, truncation="head", **kwargs)
        runners[name] = bertcli_runner(clf, args.batch_size)
    runs = interleaved(runners, texts, args.rounds)

    base_labels, _, base_s = runs["pipeline (batch 1)"]
    fp32_labels, fp32_probs, _ = runs["bertcli fp32"]
    print(f"\n{len(texts)} unsupervised reviews, head truncation at {length} tokens, {args.rounds} interleaved rounds:")
    print(f"{'':22} {'reviews/s':>10} {'vs pipeline':>12} {'same label as pipeline':>24} {'same as fp32':>13} {'max |Δp|':>9}")
    table = []
    for name, (labels, probs, s) in runs.items():
        delta = max(abs(a[0] - b[0]) for a, b in zip(probs, fp32_probs)) if probs else None
        row = {
            "run": name,
            "seconds": round(s, 2),
            "per_second": round(len(texts) / s, 2),
            "speedup": round(base_s / s, 2),
            "agree_pipeline": agreement(labels, base_labels),
            "agree_fp32": agreement(labels, fp32_labels),
            "max_prob_delta": delta,
        }
        table.append(row)
        print(
            f"{name:22} {row['per_second']:>10.1f} {row['speedup']:>11.2f}x {row['agree_pipeline']:>23.2%} "
            f"{row['agree_fp32']:>12.2%} {'' if delta is None else f'{delta:.4f}':>9}"
        )
    results["speed"] = table
    results["fp32_ceiling"] = fp32_ceiling(path, texts, length, base_s, args.batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or run folder (default: newest under --results)")
    parser.add_argument("--results", default="results", help="where to look for a trained model")
    parser.add_argument("--imdb", type=Path, default=DEFAULT_IMDB)
    parser.add_argument("--n", type=int, default=2000, help="unsupervised reviews for the speed run")
    parser.add_argument("--test-n", type=int, default=2000, help="test reviews for the accuracy check (0: skip)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--pipeline-batch-size", type=int, default=0, help="also time the pipeline batched (0: skip)")
    parser.add_argument("--rounds", type=int, default=4, help="slices the runs take turns on")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 is steadier on a shared machine")
    parser.add_argument("--max-length", type=int, default=None, help="override the saved max length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--agreement-only", action="store_true", help="only the test-split accuracy and labels changed vs fp32")
    args = parser.parse_args()

    import torch

    from bertcli.core.cpu import describe_cpu, has_int8_dot_product
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.device import cpu_supports_bf16

    cpu = f"{describe_cpu()}, ATen {torch.backends.cpu.get_cpu_capability()}; int8 weights {8 if has_int8_dot_product() else 7}-bit"
    results: dict = {"machine": machine(), "cpu": cpu, "n": args.n, "batch_size": args.batch_size}
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = {"bertcli fp32": {"precision": "fp32"}}
    if cpu_supports_bf16():
        modes["bertcli bf16"] = {"precision": "bf16"}
        modes["bertcli int8+bf16"] = {"quantize": "int8", "precision": "bf16"}
    modes["bertcli int8"] = {"quantize": "int8", "precision": "fp32"}
    with tempfile.TemporaryDirectory() as scratch:
        path, described = pick_model(args, Path(scratch))
        length = load_for_inference(path, max_length=args.max_length).max_length
        print(f"{machine()}; {torch.get_num_threads()} torch threads\nCPU as bertcli sees it: {cpu}")
        print(f"model: {described}; max length {length}; batch {args.batch_size}")
        results.update(model=described, max_length=length, threads=torch.get_num_threads())
        if not args.agreement_only:
            speed_and_ceiling(args, path, length, modes, results)

        if args.test_n:
            texts, gold = read_split(args.imdb, "test", args.test_n, args.seed)
            runners = {}
            names = None
            for name, kwargs in modes.items():
                clf = load_for_inference(path, max_length=args.max_length, **kwargs)
                names = clf.label_names
                runners[name] = bertcli_runner(clf, args.batch_size)
            runs = interleaved(runners, texts, args.rounds)
            print(f"\naccuracy on {len(texts)} test reviews (truncation saved with the model):")
            accuracy = {}
            base_ids = [names.index(x) for x in runs["bertcli fp32"][0]]
            base_acc = sum(p == g for p, g in zip(base_ids, gold)) / len(gold)
            base_probs = runs["bertcli fp32"][1]
            for name, (labels, probs, s) in runs.items():
                ids = [names.index(x) for x in labels]
                acc = sum(p == g for p, g in zip(ids, gold)) / len(gold)
                changed = sum(a != b for a, b in zip(ids, base_ids))
                delta = max(abs(a[0] - b[0]) for a, b in zip(probs, base_probs))
                accuracy[name] = {
                    "accuracy": acc, "labels_changed_vs_fp32": changed, "agree_fp32": 1 - changed / len(texts),
                    "max_prob_delta": round(delta, 4), "per_second": round(len(texts) / s, 2),
                }
                print(
                    f"{name:22} accuracy {acc:.4f} ({(acc - base_acc) * 100:+.2f} points vs fp32), "
                    f"{changed} of {len(texts)} labels changed ({1 - changed / len(texts):.2%} agree), "
                    f"max |Δp| {delta:.4f}, {len(texts) / s:.1f} reviews/s"
                )
            results["test"] = accuracy
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
