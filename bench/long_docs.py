"""Long texts: head, tail, head+tail and sliding windows (mean, max, token-weighted mean) at 256 and 512 tokens,
one trained model, the same IMDb test reviews, per token-length bucket, with bootstrap intervals, exact
McNemar against head+tail at the same length, and texts/s of each.

The reviews are drawn stratified by length (--n / 4 from each of ≤128, 129–256, 257–512, >512 tokens, with
--seed), so long reviews weigh far more than in IMDb (where about 1 in 8 is over 512): the overall column
is a mean over that mix, not IMDb accuracy. Every strategy runs in one process on one thread after the
same warm-up; sliding's three poolings come from one pass (their texts/s is that pass).

    python bench/long_docs.py --model runs/imdb-minilm/final --n 300 --json long_docs.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from _common import DEFAULT_IMDB, cpu_kind, load_average, machine

STRATEGIES = ("head", "tail", "head+tail", "sliding")
POOLINGS = ("mean", "max", "weighted")


def stratified_sample(lengths: list[int], n: int, seed: int) -> list[int]:
    """Row numbers: n / 4 from each default length bucket (all of a smaller bucket, the rest from the others)."""
    from bertcli.core.length_buckets import DEFAULT_EDGES

    bounds = [0, *DEFAULT_EDGES, None]
    rng = random.Random(seed)
    pools = [[i for i, k in enumerate(lengths) if k > lo and (hi is None or k <= hi)] for lo, hi in zip(bounds, bounds[1:])]
    for pool in pools:
        rng.shuffle(pool)
    share = n // len(pools)
    chosen = [i for pool in pools for i in pool[:share]]
    rest = [i for pool in pools for i in pool[share:]]
    rng.shuffle(rest)
    return sorted(chosen + rest[: n - len(chosen)])


def read_test(imdb: Path) -> tuple[list[str], list[int]]:
    import pyarrow.parquet as pq

    [path] = sorted((imdb / "plain_text").glob("test-*.parquet"))
    table = pq.read_table(path, columns=["text", "label"])
    return table.column("text").to_pylist(), table.column("label").to_pylist()


def run_strategy(model: str, texts: list[str], max_length: int, truncation: str, stride: int | None, batch_size: int):
    """{pooling or truncation: (label ids, n_tokens, truncated)} and the seconds the pass took."""
    from bertcli.core.encoding import tokenize_bodies
    from bertcli.core.inference.classify import window_logits
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.stream import predict_texts

    clf = load_for_inference(model, precision="fp32", max_length=max_length, truncation=truncation, stride=stride)
    predict_texts(clf, ["warm-up " * 50] * 4, batch_size=batch_size)
    started = time.perf_counter()
    if truncation != "sliding":
        preds = predict_texts(clf, texts, batch_size=batch_size)
        seconds = time.perf_counter() - started
        return {truncation: ([p.label_id for p in preds], [p.n_tokens for p in preds], [p.truncated for p in preds])}, seconds
    bodies = tokenize_bodies(clf.tokenizer, texts)
    pooled: dict[int, object] = {}
    window_logits(clf, bodies, batch_size, lambda position, pool: pooled.__setitem__(position, pool))
    seconds = time.perf_counter() - started
    n_tokens = [len(b) + 2 for b in bodies]
    out = {}
    for pooling in POOLINGS:
        ids = [int(pooled[i].pooled(pooling).argmax()) for i in range(len(texts))]
        out[f"sliding/{pooling}"] = (ids, n_tokens, [False] * len(texts))
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained IMDb classifier folder (bertcli train ... -o RUN: RUN/final)")
    parser.add_argument("--imdb", type=Path, default=DEFAULT_IMDB)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lengths", default="256,512")
    parser.add_argument("--stride", type=int, default=None, help="sliding: tokens windows share (default: a quarter)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    load_before = load_average()

    from bertcli.core.encoding import tokenize_bodies
    from bertcli.core.inference.classify import Prediction
    from bertcli.core.length_buckets import score_by_length
    from bertcli.core.model import load_tokenizer
    from bertcli.core.significance import bootstrap_intervals, exact_mcnemar, p_text

    all_texts, all_labels = read_test(args.imdb)
    tokenizer = load_tokenizer(args.model)
    lengths = [len(ids) + 2 for ids in tokenize_bodies(tokenizer, all_texts)]
    rows = stratified_sample(lengths, args.n, args.seed)
    texts, gold = [all_texts[i] for i in rows], [all_labels[i] for i in rows]
    results = []
    for max_length in (int(x) for x in args.lengths.split(",")):
        runs: dict[str, tuple] = {}
        for truncation in STRATEGIES:
            got, seconds = run_strategy(args.model, texts, max_length, truncation, args.stride, args.batch_size)
            for name, value in got.items():
                runs[name] = (*value, seconds)
        reference = [a == g for a, g in zip(runs["head+tail"][0], gold)]
        for name, (ids, n_tokens, cut, seconds) in runs.items():
            right = [a == g for a, g in zip(ids, gold)]
            ci = bootstrap_intervals(gold, ids, None, 2, seed=args.seed)["accuracy"]
            preds = [Prediction(index=i, text=None, label_id=a, n_tokens=n, truncated=c)
                     for i, (a, n, c) in enumerate(zip(ids, n_tokens, cut))]
            buckets = score_by_length(preds, gold, 2, max_length=max_length, truncation=name, seed=args.seed).buckets
            test = exact_mcnemar(reference, right)
            results.append({
                "max_length": max_length, "strategy": name, "accuracy": sum(right) / len(right),
                "ci": [ci.low, ci.high], "texts_per_second": len(texts) / seconds,
                "versus_head_tail": {"only_head_tail_right": test.only_reference_right, "only_this_right": test.only_model_right,
                                     "p_value": test.p_value, "verdict": test.verdict},
                "buckets": [{"tokens": b.name, "count": b.count, "accuracy": b.accuracy, "ci": [b.interval["low"], b.interval["high"]] if b.interval else None,
                             "cut": b.truncated_share} for b in buckets],
            })
            print(f"{max_length} {name:18s} acc {results[-1]['accuracy']:.3f} ({ci.low:.3f}–{ci.high:.3f}) "
                  f"{results[-1]['texts_per_second']:.1f} texts/s; vs head+tail {test.describe()}", flush=True)

    names = [b["tokens"] for b in results[0]["buckets"]]
    counts = {b["tokens"]: b["count"] for b in results[0]["buckets"]}
    print(f"\n{args.n} IMDb test reviews stratified by length (seed {args.seed}); {cpu_kind()}; {machine()}; "
          f"{load_before} before, {load_average()} after\n")
    print("| max length | strategy | all | " + " | ".join(f"{n} ({counts[n]})" for n in names)
          + " | vs head+tail (McNemar) | texts/s |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|")
    for r in results:
        cells = [f"{b['accuracy']:.3f}" + (f" ({b['ci'][0]:.2f}–{b['ci'][1]:.2f})" if b["ci"] else "") for b in r["buckets"]]
        v = r["versus_head_tail"]
        versus = "reference" if r["strategy"] == "head+tail" else f"{v['verdict']} (p = {p_text(v['p_value'])}; {v['only_head_tail_right']}/{v['only_this_right']})"
        print(f"| {r['max_length']} | {r['strategy']} | {r['accuracy']:.3f} ({r['ci'][0]:.3f}–{r['ci'][1]:.3f}) | "
              + " | ".join(cells) + f" | {versus} | {r['texts_per_second']:.1f} |")
    if args.json is not None:
        args.json.write_text(json.dumps({"n": args.n, "seed": args.seed, "cpu": cpu_kind(), "machine": machine(),
                                         "load_before": load_before, "load_after": load_average(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
