"""How fast does an ONNX export run, against bertcli's PyTorch paths and `transformers.pipeline()`?

One run, on the same weights and the same IMDb test reviews (../shared/data/imdb):

  1. `bertcli export` writes an fp32 and an int8 export of the model into a temporary folder;
  2. throughput of each path on N test reviews (default 2,000), taking turns on --rounds slices so load
     from other processes falls on all alike: the pipeline (truncation=True at the model's max length,
     batch_size 1 as usually written), bertcli torch fp32, bf16 (CPUs with native bf16) and int8, and the
     two exports on onnxruntime (same tokenization, head+tail truncation and length-sorted batches);
  3. label agreement of every path with bertcli torch fp32, and accuracy on the reviews' labels.

The pipeline keeps only the head of a long review; bertcli and the exports use the truncation saved with
the model, so their agreement with the pipeline is not the point: agreement is measured against torch fp32.

Which model: --model PATH, else the newest trained model under --results, else the packaged
all-MiniLM-L6-v2 with a fresh, seeded head (accuracy then means nothing: speed and agreement only).

    python bench/export_speed.py --n 2000
    python bench/export_speed.py --model results/final --n 200 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _common import DEFAULT_IMDB, cpu_kind, load_average, machine
from predict_speed import agreement, bertcli_runner, interleaved, pick_model, pipeline_runner, read_split


def export(path: str, out: Path, quantize: str, check_texts: int) -> str:
    from bertcli.core.deploy.export import ExportOptions, export_model

    report = export_model(ExportOptions(model=path, output=out, quantize=quantize, check_size=check_texts, force=True,
                                        allow_untrained_head=True))
    return f"{report.export_seconds:.1f} s, {report.onnx_bytes / 1e6:.1f} MB, parity on {check_texts}: {report.parity.line()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or run folder (default: newest under --results)")
    parser.add_argument("--results", default="results")
    parser.add_argument("--imdb", type=Path, default=DEFAULT_IMDB)
    parser.add_argument("--n", type=int, default=2000, help="test reviews timed and scored")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch and onnxruntime threads (0: their defaults)")
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--check-texts", type=int, default=50, help="texts of export's own parity check")
    parser.add_argument("--no-pipeline", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from bertcli.core.device import cpu_supports_bf16
    from bertcli.core.inference.load import load_for_inference

    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {"machine": machine(), "cpu": cpu_kind(), "n": args.n}
    texts, labels = read_split(args.imdb, "test", args.n, args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        path, described = pick_model(args, Path(scratch))
        results["model"] = described
        print(f"model: {described}", file=sys.stderr)
        exports = {}
        for quantize in ("none", "int8"):
            out = Path(scratch) / f"export-{quantize}"
            results[f"export {quantize}"] = export(path, out, quantize, args.check_texts)
            exports["onnx " + ("int8" if quantize == "int8" else "fp32")] = str(out)
            print(f"export {quantize}: {results[f'export {quantize}']}", file=sys.stderr)
        modes = {"bertcli fp32": (path, {"precision": "fp32"})}
        if cpu_supports_bf16():
            modes["bertcli bf16"] = (path, {"precision": "bf16"})
        modes["bertcli int8"] = (path, {"quantize": "int8", "precision": "fp32"})
        modes.update({name: (folder, {}) for name, folder in exports.items()})
        runners = {}
        length = None
        for name, (folder, kwargs) in modes.items():
            clf = load_for_inference(folder, max_length=args.max_length, **kwargs)
            if args.threads and clf.runtime == "onnxruntime":
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = args.threads
                clf.model.session = ort.InferenceSession(str(Path(folder) / "model.onnx"), options, providers=["CPUExecutionProvider"])
            length = clf.max_length
            runners[name] = bertcli_runner(clf, args.batch_size)
        if not args.no_pipeline:
            runners = {"pipeline()": pipeline_runner(path, length, 1), **runners}
        timed = interleaved(runners, texts, args.rounds)
    base_labels, _, base_s = timed["bertcli fp32"]
    pipe_s = timed["pipeline()"][2] if "pipeline()" in timed else None
    names = {0: "negative", 1: "positive"}
    gold = [names.get(label, str(label)) for label in labels]
    rows = []
    for name, (got, _, seconds) in timed.items():
        row = {"path": name, "texts_per_s": round(len(texts) / seconds, 2), "vs_torch_fp32": round(base_s / seconds, 2),
               "vs_pipeline": round(pipe_s / seconds, 2) if pipe_s else None,
               "agreement_with_torch_fp32": round(agreement(got, base_labels), 4),
               "accuracy": round(agreement([g.lower() for g in got], gold), 4)}
        rows.append(row)
    results["rows"] = rows
    results["load"] = load_average()
    print(f"{results['machine']}; {results['cpu']}; {results['load']}; {args.n} IMDb test reviews; {results['model']}")
    print(f"{'path':<14} {'texts/s':>8} {'× torch fp32':>13} {'× pipeline':>11} {'agree fp32':>11} {'accuracy':>9}")
    for r in rows:
        print(f"{r['path']:<14} {r['texts_per_s']:>8.2f} {r['vs_torch_fp32']:>13.2f} {r['vs_pipeline'] or 0:>11.2f} "
              f"{r['agreement_with_torch_fp32']:>11.2%} {r['accuracy']:>9.2%}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
