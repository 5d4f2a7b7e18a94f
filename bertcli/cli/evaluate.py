"""`bertcli evaluate`: parse options, call core.evaluation.evaluate, render the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from bertcli.cli.options import (
    DatasetOpt,
    DelimiterOpt,
    HeaderOpt,
    InferenceBatchOpt,
    InferencePrecisionOpt,
    JsonOpt,
    LabelColumnOpt,
    PoolingOpt,
    QuantizeOpt,
    ReadMaxLengthOpt,
    ReadTruncationOpt,
    SeedOpt,
    StrideOpt,
    TextColumnOpt,
    examples_option,
    number_option,
)
from bertcli.core import limits


def evaluate_cmd(
    model: Annotated[
        Optional[List[str]],
        typer.Option(
            "--model",
            "-m",
            help="A results/final or checkpoint folder, a run folder, or a hub name; repeat to compare models. "
            "Default: the newest trained model under ./results.",
            show_default=False,
        ),
    ] = None,
    dataset: DatasetOpt = None,
    split: Annotated[str, typer.Option("--split", help="Split to evaluate on (a single labelled file: all its rows).")] = "test",
    size: Annotated[Optional[int], examples_option("--size", help="Examples drawn with --seed, or 'all'.")] = "all",
    seed: SeedOpt = 42,
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    delimiter: DelimiterOpt = None,
    header: HeaderOpt = None,
    batch_size: InferenceBatchOpt = 32,
    mistakes: Annotated[
        int, number_option("--mistakes", within=limits.MISTAKES, help="How many of the most confident mistakes to show.")
    ] = 5,
    bins: Annotated[int, number_option("--bins", within=limits.BINS, help="Confidence bins for calibration (ECE).")] = 10,
    predictions: Annotated[
        Optional[Path], typer.Option("--predictions", help="Write every prediction to this .jsonl (or .csv) file.", show_default=False)
    ] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Save a confusion-matrix and reliability picture (PNG/SVG/PDF).", show_default=False)
    ] = None,
    confusion_csv: Annotated[
        Optional[Path],
        typer.Option("--confusion-csv", help="Write each model's full confusion matrix to this CSV file.", show_default=False),
    ] = None,
    json_out: JsonOpt = False,
    by_length: Annotated[
        bool,
        typer.Option("--by-length", help="Score each token-length bucket (≤128, 129–256, 257–512, >512, or the data's "
                     "quartiles) with its interval and the share truncation cut; with --plot also FILE-by-length.png."),
    ] = False,
    truncation: ReadTruncationOpt = None,
    max_length: ReadMaxLengthOpt = None,
    stride: StrideOpt = None,
    pooling: PoolingOpt = None,
    quantize: QuantizeOpt = "none",
    precision: InferencePrecisionOpt = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr.")] = False,
    threshold: Annotated[
        Optional[float],
        number_option(
            "--threshold",
            within=limits.THRESHOLD,
            help="Multi-label models: one decision threshold for every label (default: the ones tuned and saved with the model).",
            show_default=False,
        ),
    ] = None,
    allow_untrained_head: Annotated[
        bool, typer.Option("--allow-untrained-head", help="Score a model that has no trained classification head (a base encoder).")
    ] = False,
) -> None:
    """Score trained models on a labelled split: accuracy, P/R/F1, ROC-AUC, log loss, calibration, mistakes.

    Several --model values are scored on the same examples and shown side by side.

    \b
    Examples:
      bertcli evaluate
      bertcli evaluate --dataset ../shared/data/imdb --size 2000 --plot eval.png
      bertcli evaluate -m results/checkpoint-250 -m results/final --size 500
      bertcli evaluate --dataset intents.csv --confusion-csv confusion.csv
      bertcli evaluate --by-length --truncation sliding --size 500
    """
    from bertcli.core.defaults import resolve_sources
    from bertcli.core.evaluation import EvalConfig, evaluate, prediction_rows, report_as_dict
    from bertcli.core.inference.resolve import model_inputs
    from bertcli.core.outputs import check_output_path
    from bertcli.render.evaluate import (
        EvalProgress,
        check_plotting,
        length_plot_path,
        render_by_length,
        render_evaluation,
        render_notes,
        save_length_plot,
        save_plot,
        write_predictions,
    )
    from bertcli.render.output import Output

    writes = plot or predictions or confusion_csv
    inputs = [("--dataset", dataset), *model_inputs(list(model) if model else [None])] if writes else []
    if confusion_csv is not None:
        check_output_path(confusion_csv, "--confusion-csv", example="confusion.csv", inputs=inputs)
    if plot is not None:
        check_output_path(plot, "--plot", example="eval.png", inputs=inputs)
        check_plotting(plot)
        if by_length:
            check_output_path(length_plot_path(plot), "--plot", example="eval.png", inputs=inputs)
    if predictions is not None:
        check_output_path(predictions, "--predictions", inputs=inputs)
    out = Output(json=json_out, quiet=quiet)
    sources = resolve_sources(None, dataset, uses_model=False)
    if sources.note:
        out.hint(sources.note)
    cfg = EvalConfig(
        models=list(model) if model else [None],
        dataset=sources.dataset,
        split=split,
        size=size,
        seed=seed,
        text_column=text_column,
        label_column=label_column,
        delimiter=delimiter,
        header=header,
        batch_size=batch_size or 32,
        precision=precision,
        quantize=quantize,
        mistakes=mistakes,
        bins=bins,
        allow_untrained_head=allow_untrained_head,
        threshold=threshold,
        truncation=truncation,
        max_length=max_length,
        stride=stride,
        pooling=pooling,
        by_length=by_length,
    )
    progress = EvalProgress(enabled=out.live)
    with progress:
        report = evaluate(cfg, on_model=progress.start_model, on_progress=progress.update, on_batch=progress.batch)
    if not out.quiet:
        render_notes(report)
    failed = []  # a file that cannot be written does not cost the report: it is printed, then the error
    if predictions is not None:
        failed += _write_output(lambda: write_predictions(prediction_rows(report), predictions, out), predictions, "--predictions")
    if plot is not None:
        failed += _write_output(lambda: _save_plot(save_plot, report, plot, out), plot, "--plot")
        if by_length:
            lengths = length_plot_path(plot)
            failed += _write_output(lambda: _save_plot(save_length_plot, report, lengths, out), lengths, "--plot")
    if confusion_csv is not None:
        from bertcli.render.evaluate import write_confusion

        failed += _write_output(lambda: write_confusion(report, confusion_csv, out), confusion_csv, "--confusion-csv")
    out.result(report_as_dict(report), lambda: (render_evaluation(report), render_by_length(report)))
    if failed:
        from bertcli.core.errors import BertCliError

        raise BertCliError("; ".join(failed) + " (the report above is complete)")


def _save_plot(save_plot, report, path: Path, out) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_plot(report, path, out)


def _write_output(write, path: Path, flag: str) -> list[str]:
    """Run one output write; the error it ends with, as one message naming the file and the flag, or nothing."""
    from bertcli.core.errors import BertCliError

    try:
        write()
    except BertCliError as err:
        return [str(err)]
    except OSError as err:
        return [f"cannot write {flag} {path}: {err.strerror or err} — pick another path"]
    return []
