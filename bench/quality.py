"""Accuracy of the original recipe vs bertcli's defaults, both evaluated on the whole IMDb test split.

  original  the reference script's recipe: reviews padded and truncated to 128 tokens (head), lr 2e-5,
            batch 16, 3 epochs, weight decay 0.01, fp32
  bertcli   `bertcli train` with its defaults: max length 512, head+tail truncation, length-grouped
            batches, bf16 where the CPU has it, best checkpoint by eval accuracy

Both train on the same 2,000 reviews and pick nothing from the test split; `bertcli evaluate` then
scores each on every review of the test split, each model with the max length and truncation it was
trained with. Training both takes about 25 minutes on a 2-core CPU with the packaged MiniLM.

    python bench/quality.py
    python bench/quality.py --bertcli-run results-minilm/   # reuse a finished `bertcli train` run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DEFAULT_IMDB, machine, packaged_minilm, train_reference_recipe


def evaluate(model_dir: Path, dataset: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bertcli", "evaluate", "--model", str(model_dir), "--dataset", dataset,
         "--split", "test", "--size", "all", "--json"],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bertcli evaluate failed: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    return report["models"][0] if "models" in report else report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    parser.add_argument("--dataset", default=str(DEFAULT_IMDB))
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--bertcli-run", type=Path, default=None, help="a finished bertcli train output dir to reuse")
    parser.add_argument("--original-model", type=Path, default=None, help="a finished original-recipe model to reuse")
    parser.add_argument("--work", type=Path, default=None, help="where to keep the two runs (default: a temp dir)")
    args = parser.parse_args()
    model = args.model or packaged_minilm()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-quality-"))
    work.mkdir(parents=True, exist_ok=True)

    from bertcli.core.data import load_labelled_data
    from bertcli.core.model import InputSettings, save_input_settings

    original_dir = args.original_model
    if original_dir is None:
        data = load_labelled_data(args.dataset, train_size=2000, eval_size=500, seed=42)
        trainer, seconds = train_reference_recipe(model, data, 128, 16, work / "original", epochs=args.epochs)
        original_dir = work / "original" / "final"
        trainer.save_model(str(original_dir))
        save_input_settings(original_dir, InputSettings(max_length=128, truncation="head"))
        print(f"original recipe trained in {seconds:.0f} s", file=sys.stderr)

    run_dir = args.bertcli_run
    if run_dir is None:
        run_dir = work / "bertcli"
        subprocess.run([sys.executable, "-m", "bertcli", "train", "--model", model, "--dataset", args.dataset,
                        "--epochs", str(args.epochs), "-o", str(run_dir), "--no-tensorboard", "-q"], check=True)

    original = evaluate(original_dir, args.dataset)
    ours = evaluate(Path(run_dir) / "final", args.dataset)
    a, b = original["accuracy"], ours["accuracy"]
    print(f"machine: {machine()}")
    print(f"test reviews: {original['examples']}")
    print(f"original recipe (128 tokens, head)       accuracy {a:.4f}   macro F1 {original['macro']['f1']:.4f}")
    print(f"bertcli defaults (512 tokens, head+tail) accuracy {b:.4f}   macro F1 {ours['macro']['f1']:.4f}")
    print(f"difference: {100 * (b - a):+.2f} points")


if __name__ == "__main__":
    main()
