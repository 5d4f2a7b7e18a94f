"""`bertcli sweep`: parse options, call core.sweep, render the progress, the table and the curves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bertcli.cli.options import (
    DatasetOpt,
    EvalSplitOpt,
    JsonOpt,
    LabelColumnOpt,
    LabelsOpt,
    ModelOpt,
    TextColumnOpt,
    TrainSplitOpt,
    choice_option,
    number_option,
)
from bertcli.core import limits
from bertcli.core.training import BEST_METRICS, PRECISIONS


def _list(*names: str, help: str, default: str) -> typer.Option:
    return typer.Option(*names, metavar="<list>", help=f"{help} Comma-separated; train's default: {default}.", show_default=False)


def _one(*names: str, help: str) -> typer.Option:
    return typer.Option(*names, help=help, show_default=False)


def sweep_cmd(
    config: Annotated[
        Optional[Path],
        _one("--config", help="TOML file: train's options as keys (weight-decay = 0.01), the values to vary as lists "
             "in a [sweep] table (epochs = [2, 3]), and seeds. Flags override it."),
    ] = None,
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    epochs: Annotated[Optional[str], _list("--epochs", "-e", help="Passes over the training set.", default="3")] = None,
    batch_size: Annotated[Optional[str], _list("--batch-size", "-b", help="Examples per step.", default="16")] = None,
    lr: Annotated[Optional[str], _list("--lr", help="Peak learning rates.", default="2e-5")] = None,
    weight_decay: Annotated[Optional[str], _list("--weight-decay", help="AdamW weight decays.", default="0.01")] = None,
    warmup_ratio: Annotated[Optional[str], _list("--warmup-ratio", help="Warm-up shares.", default="0")] = None,
    scheduler: Annotated[Optional[str], _list("--scheduler", help="LR schedules.", default="linear")] = None,
    max_length: Annotated[Optional[str], _list("--max-length", help="Longest inputs in tokens.", default="512")] = None,
    truncation: Annotated[Optional[str], _list("--truncation", help="head, tail or head+tail.", default="head+tail")] = None,
    seeds: Annotated[
        Optional[str], _one("--seeds", help="Seeds each variant runs with, comma-separated (default 1,2,3).")
    ] = None,
    train_size: Annotated[Optional[str], _one("--train-size", help="Training examples, or 'all' (default 2000).")] = None,
    eval_size: Annotated[
        Optional[str], _one("--eval-size", help="Eval reviews every run is scored on, or 'all' (default 500).")
    ] = None,
    save_steps: Annotated[
        Optional[int], number_option("--save-steps", within=limits.STEPS, help="Checkpoint every N steps (default 10).",
                                     show_default=False)
    ] = None,
    logging_steps: Annotated[
        Optional[int], number_option("--logging-steps", within=limits.STEPS, help="Log every N steps (default 10).",
                                     show_default=False)
    ] = None,
    keep_checkpoints: Annotated[
        Optional[int], number_option("--keep-checkpoints", within=limits.KEEP_CHECKPOINTS,
                                     help="Checkpoints kept while a run trains (default 2).", show_default=False)
    ] = None,
    max_steps: Annotated[
        Optional[int], number_option("--max-steps", within=limits.STEPS, help="Stop each run after N steps.",
                                     show_default=False)
    ] = None,
    best_metric: Annotated[
        Optional[str], choice_option("--best-metric", choices=BEST_METRICS, help="Picks each run's best checkpoint.",
                                     show_default=False)
    ] = None,
    final: Annotated[
        Optional[str], choice_option("--final", choices=limits.FINAL_FROM, help="What each run's final/ holds.",
                                     show_default=False)
    ] = None,
    precision: Annotated[
        Optional[str], choice_option("--precision", choices=PRECISIONS, help="Training precision (default auto).",
                                     show_default=False)
    ] = None,
    text_column: TextColumnOpt = None,
    label_column: LabelColumnOpt = None,
    train_split: TrainSplitOpt = None,
    eval_split: EvalSplitOpt = None,
    labels: LabelsOpt = None,
    output_dir: Annotated[
        Optional[Path], _one("--output-dir", "-o", help="The sweep's folder: one run folder per variant and seed "
                             "(default results-sweep).")
    ] = None,
    keep_weights: Annotated[
        bool, typer.Option("--keep-weights", help="Keep each run's final/ weights (for evaluate and predict).")
    ] = False,
    plot: Annotated[
        Optional[Path], _one("--plot", help="Save the loss and eval-accuracy curves of every run (PNG/SVG/PDF).")
    ] = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="One line per run on stderr, no live training display.")] = False,
) -> None:
    """Train variants of one configuration over several seeds and say which differences are real.

    Each variant and seed is a normal run folder (OUTPUT_DIR/epochs=2,batch_size=8/seed-1). Each run's
    final model is scored on its eval split; then its weights and optimizer states are deleted (unless
    --keep-weights). A rerun skips finished runs and resumes a killed one. The table shows each variant's
    mean±sd over seeds and an exact McNemar test against the first variant.

    \b
    Examples:
      bertcli sweep --epochs 2,3 --weight-decay 0.01,0.05 --seeds 1,2
      bertcli sweep --config sweep.toml -o results-sweep --plot sweep.png
    """
    from bertcli.core.sweep import plan_sweep, run_sweep

    lists = {
        name: value
        for name, value in dict(
            epochs=epochs, weight_decay=weight_decay, batch_size=batch_size, lr=lr, warmup_ratio=warmup_ratio,
            scheduler=scheduler, max_length=max_length, truncation=truncation,
        ).items()
        if value is not None
    }
    base = {
        name: value
        for name, value in dict(
            model=model, dataset=dataset, train_size=train_size, eval_size=eval_size, save_steps=save_steps,
            logging_steps=logging_steps, keep_checkpoints=keep_checkpoints, max_steps=max_steps,
            best_metric=best_metric, final_from=final, precision=precision, text_column=text_column,
            label_column=label_column, train_split=train_split, eval_split=eval_split, labels=labels,
        ).items()
        if value is not None
    }
    if plot is not None:
        from bertcli.core.outputs import check_output_path
        from bertcli.render.evaluate import check_plotting

        check_output_path(plot, "--plot", example="sweep.png", inputs=[("--dataset", dataset), ("--model", model), ("--config", config)])
        check_plotting(plot)
    plan = plan_sweep(lists=lists, base=base, seeds=seeds, config=config, output_dir=output_dir, keep_weights=keep_weights)

    from bertcli.core.sweep import report_as_dict
    from bertcli.render.output import Output
    from bertcli.render.sweep import SweepProgress, render_sweep, save_plot

    out = Output(json=json_out, quiet=quiet)

    def callbacks(run):
        if not out.live:
            return []
        from bertcli.render import console_err
        from bertcli.render.progress import RichProgressCallback

        return [RichProgressCallback(console_err())]

    report = run_sweep(plan, on_event=SweepProgress(), callbacks=callbacks)
    if plot is not None:
        save_plot(report, plot, out)
    out.result(report_as_dict(report), lambda: render_sweep(report))
