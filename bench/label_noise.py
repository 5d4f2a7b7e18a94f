"""Planted label errors: how well `bertcli debug labels` finds them, against a TF-IDF baseline in the same run.

A slice of a dataset's training split is drawn with --seed (through bertcli's own loading and label code, so
any folder bertcli reads works) and 5% of its labels are planted wrong: a single-label example gets another
class; a multi-label example gets another label set (one given label swapped for one it does not carry, or
one added where it carries none). Three rankings of the slice, each most-likely-wrong first:

  dynamics   `bertcli train --record-dynamics` on the noisy slice, then `debug labels RUN`'s order
             (mean probability of the given label — multi-label: cleanlab's multi-label self-confidence of
             the given set — over epochs, then variability)
  folds      `debug labels RUN --folds K`: K MiniLM models on the run's recipe, cleanlab self-confidence
  tfidf      TF-IDF + logistic regression (multi-label: one-vs-rest), K-fold cross-validated probabilities
             (the folds `--folds` uses), the same cleanlab ranking

For each: precision at k (k = the number planted) and recall in the top 2k. The run also states what
recording the dynamics cost (the recorder's own time against the run's training time) and the time
--folds took against the estimate it stated before starting.

    python bench/label_noise.py --n 500 --folds 3 --max-length 128 --epochs 1
    python bench/label_noise.py --dataset ../shared/data/agnews --text-column 1 --label-column 2 --n 500
    python bench/label_noise.py --dataset ../shared/data/goemotions-ekman --text-column 1 --label-column 2 \
        --eval-split dev --label-names ../shared/data/goemotions-ekman/labels.txt --n 500
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


def planted_slice(args: argparse.Namespace):
    """n training examples and `eval` evaluation examples drawn with the seed as `bertcli train` draws them, with
    round(noise * n) training labels planted wrong: (names, multi_label, texts, noisy labels, planted rows,
    eval texts, eval labels). Labels are ids, or for multi-label data lists of ids."""
    import numpy as np

    from bertcli.core.data import load_labelled_data
    from bertcli.core.data.labels import given_label_names

    data = load_labelled_data(
        args.dataset, train_size=args.n, eval_size=args.eval, seed=args.seed, text_column=args.text_column,
        label_column=args.label_column, train_split=args.train_split, eval_split=args.eval_split,
        label_names=given_label_names(None, args.label_names),
    )
    names, multi = data.label_names, data.multi_label

    def ids(ds) -> list:
        return [np.flatnonzero(np.asarray(v) >= 0.5).tolist() for v in ds["label"]] if multi else [int(v) for v in ds["label"]]

    labels = ids(data.train)
    rng = np.random.default_rng(args.seed)
    planted = sorted(int(i) for i in rng.choice(len(labels), size=int(round(args.noise * len(labels))), replace=False))
    noisy = list(labels)
    for i in planted:
        if multi:
            present, absent = list(labels[i]), [k for k in range(len(names)) if k not in labels[i]]
            wrong = set(present)
            if present:
                wrong.remove(int(rng.choice(present)))
            if absent:
                wrong.add(int(rng.choice(absent)))
            noisy[i] = sorted(wrong)
        else:
            noisy[i] = int(rng.choice([k for k in range(len(names)) if k != labels[i]]))
    return names, multi, list(data.train["text"]), noisy, planted, list(data.eval["text"]), ids(data.eval)


def write_jsonl(path: Path, texts, labels, names) -> None:
    """One {"text", "label"} object a line: a label id as its name, a list of ids as the list of their names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            named = [names[k] for k in label] if isinstance(label, list) else names[label]
            f.write(json.dumps({"text": text, "label": named}) + "\n")


def scores_of(ranking: list[int], planted: list[int]) -> dict:
    k = len(planted)
    truth = set(planted)
    return {"precision_at_k": len(set(ranking[:k]) & truth) / k, "recall_at_2k": len(set(ranking[: 2 * k]) & truth) / k}


def tfidf_ranking(texts, labels, names, folds: int, seed: int) -> list[int]:
    """TF-IDF + logistic regression (one-vs-rest for label sets), cross-validated on the folds `--folds` cuts,
    ranked by cleanlab's self-confidence (its multi-label score for label sets)."""
    import warnings

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    from bertcli.core.data.multilabel import multi_hot
    from bertcli.core.diagnose.label_folds import fold_of
    from bertcli.core.diagnose.label_queue import label_quality

    multi = isinstance(labels[0], list)
    y = np.asarray(multi_hot(labels, len(names)), dtype=np.int64) if multi else np.asarray(labels)
    which = fold_of(y, folds, seed)
    cv = [(np.flatnonzero(which != k), np.flatnonzero(which == k)) for k in range(folds)]
    regression = LogisticRegression(max_iter=1000, C=4.0)
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2)),
                          OneVsRestClassifier(regression) if multi else regression)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-vs-rest: a label absent from a fold's training part
        probs = cross_val_predict(model, texts, y, cv=cv, method="predict_proba")
    quality = label_quality(y, probs, "self_confidence")
    return [int(i) for i in np.argsort(quality, kind="stable")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(DEFAULT_IMDB), help="any folder or file bertcli reads (default: IMDb)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--eval-split", default=None, help="default: validation, else test, as bertcli train picks")
    parser.add_argument("--label-names", default=None, help="a names file, line 1 = label id 0")
    parser.add_argument("--model", default=None, help="default: the packaged all-MiniLM-L6-v2")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--eval", type=int, default=100, help="evaluation examples the runs evaluate on (picks the best checkpoint)")
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--folds", type=int, default=3, help="K of `debug labels --folds K` and of the baseline's cross-validation")
    parser.add_argument("--no-folds", action="store_true", help="skip `--folds K` (its K models): the dynamics and the baseline only")
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

    names, multi, texts, noisy, planted, eval_texts, eval_labels = planted_slice(args)
    data = work / "data"
    write_jsonl(data / "train.jsonl", texts, noisy, names)
    write_jsonl(data / "validation.jsonl", eval_texts, eval_labels, names)
    names_file = work / "labels.txt"
    names_file.write_text("\n".join(names) + "\n", encoding="utf-8")
    results: dict = {"dataset": args.dataset, "multi_label": multi, "planted": len(planted), "examples": len(texts)}

    t = time.perf_counter()
    tfidf = tfidf_ranking(texts, noisy, names, args.folds, args.seed)
    results["tfidf"] = {**scores_of(tfidf, planted), "seconds": round(time.perf_counter() - t, 1)}

    run = work / "run"
    t = time.perf_counter()
    command = [sys.executable, "-m", "bertcli", "train", "--model", model, "--dataset", str(data), "--train-size", "all",
               "--eval-size", "all", "--epochs", str(args.epochs), "--max-length", str(args.max_length), "--batch-size",
               str(args.batch_size), "--lr", str(args.lr), "--seed", str(args.seed), "--save-steps", "100000",
               "--no-tensorboard", "--record-dynamics", "--overwrite", "-o", str(run), "--json", "-q",
               "--label-names", str(names_file), *(["--multi-label"] if multi else [])]
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
    from bertcli.core.diagnose.label_dynamics import diagnose_dynamics
    from bertcli.core.diagnose.label_queue import ranked_rows

    results["dynamics"] = scores_of(ranked_rows(diagnose_dynamics(run)), planted)
    seconds = estimate = None
    if not args.no_folds:
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
    dataset = Path(args.dataset).name
    what = "label sets changed" if multi else "labels flipped"
    folds_cell = "" if args.no_folds else (
        f"folds (K={args.folds}) {results['folds']['precision_at_k']:.2f} / {results['folds']['recall_at_2k']:.2f}, ")
    folds_time = "" if args.no_folds else f"; --folds {seconds:.0f} s against {estimate or 0:.0f} s estimated"
    print(
        f"| {len(texts)} {dataset} train examples{' (multi-label)' if multi else ''}, {len(planted)} {what} "
        f"(seed {args.seed}); MiniLM, {args.max_length} tokens, "
        f"{args.epochs:g} epoch, lr {args.lr:g} | P@k / R@2k: {folds_cell}"
        f"dynamics {results['dynamics']['precision_at_k']:.2f} / "
        f"{results['dynamics']['recall_at_2k']:.2f}, TF-IDF+LR {results['tfidf']['precision_at_k']:.2f} / "
        f"{results['tfidf']['recall_at_2k']:.2f} | recording {100 * results['run']['record_share']:.2f}% of training"
        f"{folds_time} |"
    )


if __name__ == "__main__":
    main()
