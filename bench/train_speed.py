"""bertcli train vs the original recipe (every review padded to max_length), same model, data and length.

Both run in this process, one after the other, on the same training and evaluation reviews:

  reference  the original script's way: tokenizer(padding="max_length", truncation=True), Trainer with
             lr 2e-5, batch 16, weight decay 0.01, logging and checkpoints every 10 steps, fp32
  bertcli    `bertcli train` with its defaults (length-grouped dynamic padding, head+tail truncation,
             bf16 where the CPU has it, attention dropout off on CPU)

Prints each wall time, the ratio and both accuracies on the eval reviews; then, for each side, where the
training time went (forward, backward, grad clipping, optimizer, evaluation, checkpoint saving, the rest)
and the model FLOPs per step against this CPU's matrix-multiply peak measured in the same run (fp32, and
bf16 where the CPU has it): the utilisation inside the training loop and over the whole wall time.

    python bench/train_speed.py --max-length 512
    python bench/train_speed.py --max-length 128 --train-size 960
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from _common import DEFAULT_IMDB, cpu_kind, gemm_peak, load_average, machine, packaged_minilm, train_reference_recipe
from train_profile import TrainProfile, print_breakdown


def run_reference(model: str, data, max_length: int, batch_size: int, out: Path, profile: TrainProfile) -> tuple[float, float]:
    with profile.active():
        trainer, seconds = train_reference_recipe(model, data, max_length, batch_size, out, epochs=1)
    return seconds, trainer.evaluate()["eval_accuracy"]


def run_bertcli(model: str, dataset: str, args, out: Path, profile: TrainProfile) -> tuple[float, float]:
    from bertcli.core.training import TrainConfig, train

    with profile.active():
        report = train(TrainConfig(
            model=model, dataset=dataset, output_dir=out, epochs=1, batch_size=args.batch_size,
            train_size=args.train_size, eval_size=args.eval_size, max_length=args.max_length, tensorboard=False,
            final_from="last",
        ))
    return report.train_seconds, report.final_metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the packaged MiniLM)")
    parser.add_argument("--dataset", default=str(DEFAULT_IMDB))
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--train-size", type=int, default=480, help="training reviews (one epoch)")
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = args.model or packaged_minilm()

    from bertcli.core.data import load_labelled_data

    data = load_labelled_data(args.dataset, train_size=args.train_size, eval_size=args.eval_size, seed=42)
    from bertcli.core.device import choose_precision

    precision = choose_precision("auto", "cpu")  # what bertcli train picks on this CPU
    peaks = {"fp32": gemm_peak("fp32")}
    if precision == "bf16":
        peaks["bf16"] = gemm_peak("bf16")
    quiet_before = load_average()
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    ref_profile, cli_profile = TrainProfile(), TrainProfile()
    try:
        ref_s, ref_acc = run_reference(model, data, args.max_length, args.batch_size, work / "reference", ref_profile)
        cli_s, cli_acc = run_bertcli(model, args.dataset, args, work / "bertcli", cli_profile)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    steps = -(-args.train_size // args.batch_size)
    result = {
        "machine": machine(), "cpu_kind": cpu_kind(), "load": f"before {quiet_before}, after {load_average()}",
        "model": model, "max_length": args.max_length, "train_reviews": args.train_size,
        "eval_reviews": args.eval_size, "steps": steps,
        "reference_seconds": round(ref_s, 1), "bertcli_seconds": round(cli_s, 1),
        "speedup": round(ref_s / cli_s, 2),
        "reference_accuracy": round(ref_acc, 4), "bertcli_accuracy": round(cli_acc, 4),
        "gemm_peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()}, "bertcli_precision": precision,
    }
    if not args.json:
        print(f"machine: {result['machine']}; CPU kind: {result['cpu_kind']}; {result['load']}")
        print(f"matrix-multiply peak, {', '.join(f'{k} {v:.0f} GFLOP/s' for k, v in result['gemm_peak_gflops'].items())}")
        print(f"{steps} steps of {args.batch_size} reviews at max length {args.max_length}, eval on {args.eval_size}")
        print(f"reference (pad to max_length): {ref_s:8.1f} s   {ref_s / steps:6.2f} s/step   accuracy {ref_acc:.4f}")
        print(f"bertcli train (defaults)     : {cli_s:8.1f} s   {cli_s / steps:6.2f} s/step   accuracy {cli_acc:.4f}")
        print(f"speedup: {result['speedup']:.2f}x   accuracy change: {cli_acc - ref_acc:+.4f}")
    import contextlib
    import io

    sink = io.StringIO() if args.json else None
    with contextlib.redirect_stdout(sink) if sink else contextlib.nullcontext():
        result["reference_profile"] = print_breakdown("reference (fp32)", ref_profile, ref_s, peaks["fp32"], "fp32")
        result["bertcli_profile"] = print_breakdown(
            f"bertcli train ({precision})", cli_profile, cli_s, peaks[precision if precision in peaks else "fp32"],
            precision if precision in peaks else "fp32",
        )
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
