"""`bertcli export`: a trained model as an ONNX folder, checked against the PyTorch model on real texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bertcli.cli.options import JsonOpt, SeedOpt, choice_option, examples_option, number_option
from bertcli.core import limits


def export_cmd(
    model: Annotated[str, typer.Argument(help="A trained model folder (results/final, a checkpoint) or a run folder.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The export folder to create (new, outside the model's folder).", show_default=False)],
    quantize: Annotated[str, choice_option("--quantize", choices=("none", "int8"), help="none (fp32) or int8 weights (onnxruntime dynamic quantization).")] = "none",
    check_dataset: Annotated[
        Optional[str],
        typer.Option("--check-dataset", help="Labelled data for the parity check (default: the run's own eval split, else the bundled IMDb sample).", show_default=False),
    ] = None,
    check_split: Annotated[Optional[str], typer.Option("--check-split", help="Split of --check-dataset (default: the run's eval split, else test).", show_default=False)] = None,
    check_size: Annotated[str, examples_option("--check-size", help="Texts scored by both models, drawn with --seed, or 'all'.")] = "500",
    seed: SeedOpt = 42,
    batch_size: Annotated[int, number_option("--batch-size", "-b", within=limits.BATCH_SIZE, help="Texts per forward pass in the check.")] = 32,
    force: Annotated[bool, typer.Option("--force", help="Keep the export even when the parity check fails (recorded in its bertcli.json and card).")] = False,
    check_only: Annotated[bool, typer.Option("--check-only", help="Check the existing export at -o against MODEL again; write nothing but the result.")] = False,
    allow_untrained_head: Annotated[bool, typer.Option("--allow-untrained-head", help="Export a model without a trained classification head (speed tests only).")] = False,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress notes on stderr.")] = False,
) -> None:
    """Export a trained model to ONNX (dynamic batch and length) and prove it gives the model's answers.

    Both models score the same labelled texts: an fp32 export must give every label the PyTorch model
    gives, an int8 export at least 99.5% of them, or nothing is written (exit 1) unless --force.
    The folder holds model.onnx, the tokenizer, config.json, bertcli.json and a card; predict,
    evaluate and serve take it as --model / MODEL and run it on onnxruntime.

    \b
    Examples:
      bertcli export results/final -o model-onnx
      bertcli export results/final -o model-int8 --quantize int8
      bertcli export results/final -o model-onnx --check-only --check-size 200
    """
    from bertcli.core.data import parse_size
    from bertcli.core.deploy.export import ExportOptions, ParityError, check_export, export_model
    from bertcli.render.deploy import render_export, render_parity
    from bertcli.render.output import Output

    out = Output(json=json_out, quiet=quiet)
    size = parse_size(check_size, "--check-size")
    if check_only:
        parity = check_export(model, output, check_dataset=check_dataset, check_split=check_split, check_size=size, seed=seed,
                              batch_size=batch_size, allow_untrained_head=allow_untrained_head)
        out.result(parity.as_dict(), lambda: render_parity(parity))
        if not parity.passed:
            raise ParityError(f"{output} fails the parity check: {parity.reason} — it is marked failed in its bertcli.json; export it again")
        return
    options = ExportOptions(model=model, output=output, quantize=quantize, check_dataset=check_dataset, check_split=check_split,
                            check_size=size, seed=seed, batch_size=batch_size, force=force, allow_untrained_head=allow_untrained_head)
    report = export_model(options, on_step=out.hint)
    out.result(report.as_dict(), lambda: render_export(report))
    if not report.written:
        raise ParityError(f"export refused, nothing written to {output}: {report.parity.reason if report.parity else 'no check'} "
                          "— look at the table above; --force keeps it anyway")
