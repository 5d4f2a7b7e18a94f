"""Planted label errors: how well `bertcli debug labels` finds them, against a TF-IDF baseline in the same run.

A slice of IMDb training reviews is drawn with --seed and 5% of its labels are flipped (the planted errors).
Three rankings of the slice, each most-likely-wrong first:

  dynamics   `bertcli train --record-dynamics` on the noisy slice, then `debug labels RUN`'s order
             (mean probability of the given label over epochs, then variability)
  folds      `debug labels RUN --folds K`: K MiniLM models on the run's recipe, cleanlab self-confidence
  tfidf      TF-IDF + logistic regression, K-fold cross-validated probabilities, the same cleanlab ranking

For each: precision at k (k = the number planted) and recall in the top 2k. The run also states what
recording the dynamics cost (the recorder's own time against the run's training time) and the time
--folds took against the estimate it stated before starting.

    python bench/label_noise.py --n 500 --folds 3 --max-length 128 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_IMDB, cpu_kind, load_average, machine, packaged_minilm


def planted_slice(dataset: str, n: int, noise: float, seed: int, eval_n: int):
    """n training reviews and eval_n test reviews drawn with `seed`, with round(noise * n) training labels flipped."""
    import numpy as np

    from bertcli.core.data import load_raw
    from bertcli.core.data.labels import label_names_of, label_values, map_labels
    from bertcli.core.data.selection import normalise_columns

    raw = load_raw(dataset)
    rng = np.random.default_rng(seed)
    train = normalise_columns(raw["train"], "text", "label", "train")
    test = normalise_columns(raw["test"], "text", "label", "test")
    names = label_names_of({"train": train})
    pick = rng.choice(len(train), size=n, replace=False)
    texts = [train[int(i)]["text"] for i in pick]
    labels, _ = map_labels([label_values(train.select([int(i)]))[0] for i in pick], names)
    flipped = sorted(int(i) for i in rng.choice(n, size=int(round(noise * n)), replace=False))
    noisy = list(labels)
    for i in flipped:
        others = [k for k in range(len(names)) if k != labels[i]]
        noisy[i] = int(rng.choice(others))
    held = rng.choice(len(test), size=eval_n, replace=False)
    eval_rows = [(test[int(i)]["text"], label_values(test.select([int(i)]))[0]) for i in held]
    eval_ids, _ = map_labels([y for _, y in eval_rows], names)
    return names, texts, noisy, flipped, [t for t, _ in eval_rows], eval_ids


def write_jsonl(path: Path, texts, labels, names) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            f.write(json.dumps({"text": text, "label": names[label]}) + "\n")


def scores_of(ranking: list[int], planted: list[int]) -> dict:
    k = len(planted)
    truth = set(planted)
    return {"precision_at_k": len(set(ranking[:k]) & truth) / k, "recall_at_2k": len(set(ranking[: 2 * k]) & truth) / k}


def tfidf_ranking(texts, labels, folds: int, seed: int) -> list[int]:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    from bertcli.core.diagnose.labels import label_quality

    model = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)), LogisticRegression(max_iter=1000, C=4.0))
    probs = cross_val_predict(model, texts, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=seed), method="predict_proba")
    quality = label_quality(np.asarray(labels), probs, "self_confidence")
    return [int(i) for i in np.argsort(quality, kind="stable")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DEFAULT_IMDB))
    parser.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--eval", type=int, default=100, help="test reviews the runs evaluate on (picks the best checkpoint)")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    model = args.model or packaged_minilm()
    work = args.work or Path(tempfile.mkdtemp(prefix="label-noise-"))
    started_load = load_average()

    names, texts, noisy, planted, eval_texts, eval_labels = planted_slice(args.dataset, args.n, args.noise, args.seed, args.eval)
    data = work / "data"
    write_jsonl(data / "train.jsonl", texts, noisy, names)
    write_jsonl(data / "validation.jsonl", eval_texts, eval_labels, names)
    results: dict = {"planted": len(planted), "examples": args.n}

    t = time.perf_counter()
    tfidf = tfidf_ranking(texts, noisy, args.folds, args.seed)
    results["tfidf"] = {**scores_of(tfidf, planted), "seconds": round(time.perf_counter() - t, 1)}

    run = work / "run"
    t = time.perf_counter()
    command = [sys.executable, "-m", "bertcli", "train", "--model", model, "--dataset", str(data), "--train-size", "all",
               "--eval-size", "all", "--epochs", str(args.epochs), "--max-length", str(args.max_length), "--batch-size",
               str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed), "--save-steps", "100000",
               "--no-tensorboard", "--record-dynamics", "--overwrite", "-o", str(run), "--json", "-q"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bertcli train failed: {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout)
    import numpy as np

    with np.load(run / "dynamics.npz", allow_pickle=False) as f:
        record_seconds = float(f["record_seconds"])
    results["run"] = {"train_seconds": round(report["train_seconds"], 1), "wall_seconds": round(time.perf_counter() - t, 1),
                      "final_metrics": report.get("final_metrics"), "record_seconds": round(record_seconds, 3),
                      "record_share": record_seconds / report["train_seconds"]}

    from bertcli.core.diagnose.label_folds import cross_fit_labels, plan_folds
    from bertcli.core.diagnose.labels import diagnose_dynamics, ranked_rows

    results["dynamics"] = scores_of(ranked_rows(diagnose_dynamics(run)), planted)
    plan = plan_folds(run, args.folds)
    estimate = plan.estimate_seconds
    print(plan.describe(), file=sys.stderr)
    t = time.perf_counter()
    folds = cross_fit_labels(plan, "self_confidence")
    seconds = time.perf_counter() - t
    results["folds"] = {**scores_of(ranked_rows(folds), planted), "seconds": round(seconds, 1),
                        "estimate_seconds": round(estimate, 1) if estimate else None, "issues": len(folds.issues)}
    results["machine"] = f"{machine()}, {cpu_kind()}; {started_load} at start, {load_average()} at the end"
    results["settings"] = vars(args) | {"model": model, "work": str(work)}
    print(json.dumps(results, indent=2, default=str))
    print(
        f"| {args.n} IMDb train reviews, {len(planted)} flipped (seed {args.seed}); MiniLM, {args.max_length} tokens, "
        f"{args.epochs:g} epoch, lr {args.lr:g} | P@k / R@2k: folds (K={args.folds}) {results['folds']['precision_at_k']:.2f} / "
        f"{results['folds']['recall_at_2k']:.2f}, dynamics {results['dynamics']['precision_at_k']:.2f} / "
        f"{results['dynamics']['recall_at_2k']:.2f}, TF-IDF+LR {results['tfidf']['precision_at_k']:.2f} / "
        f"{results['tfidf']['recall_at_2k']:.2f} | recording {100 * results['run']['record_share']:.2f}% of training; "
        f"--folds {seconds:.0f} s against {estimate or 0:.0f} s estimated |"
    )


if __name__ == "__main__":
    main()
