"""Start-up cost: `bertcli --help` and `bertcli inspect-checkpoint` vs importing torch + transformers.

Each command runs --repeat times in fresh processes; prints the median wall time and whether torch was
imported (checked with python -X importtime).

    python bench/startup.py
    python bench/startup.py --state results/minilm-imdb-3ep/checkpoint-375
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import REPO


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def imports_torch(cmd: list[str]) -> bool:
    done = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True)
    return any(line.rstrip().endswith("| torch") for line in done.stderr.splitlines())


def default_state() -> str | None:
    found = sorted(REPO.glob("results/*/checkpoint-*/trainer_state.json"))
    return str(found[-1].parent) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--state", default=default_state(), help="checkpoint for inspect-checkpoint")
    args = parser.parse_args()
    py = sys.executable
    cases = [("bertcli --help", [py, "-m", "bertcli", "--help"])]
    if args.state:
        cases.append((f"bertcli inspect-checkpoint {args.state}", [py, "-m", "bertcli", "inspect-checkpoint", args.state]))
    cases.append(("python -c 'import torch, transformers'", [py, "-c", "import torch, transformers"]))
    baseline = wall(cases[-1][1], args.repeat)
    print(f"{'command':60s} {'median s':>9s} {'vs torch+transformers':>22s} {'imports torch':>14s}")
    for name, cmd in cases:
        seconds = baseline if cmd is cases[-1][1] else wall(cmd, args.repeat)
        print(f"{name[:60]:60s} {seconds:9.3f} {seconds / baseline:21.2f}x {str(imports_torch(cmd)):>14s}")


if __name__ == "__main__":
    main()
