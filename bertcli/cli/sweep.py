"""`bertcli sweep`: parse options, call core.sweep, render the progress, the table and the curves."""

from __future__ import annotations

from pathlib import Path
from dataclasses import replace
from typing import Annotated, Any, Optional

import typer

from bertcli.cli.options import JsonOpt, typer_option, with_options
from bertcli.core.options import Option


def sweep_options() -> tuple[Option, ...]:
    """Train's options a sweep takes (declared with sweep="vary" or "set" on TrainConfig)."""
    from bertcli.core.training.config import train_options

    return tuple(o for o in train_options() if o.sweep)


def _default_text(declared: Option) -> str:
    value = declared.default
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_annotated(declared: Option) -> object:
    """A sweep's flag for a train option: "vary" takes a comma-separated list, "set" one value for every run;
    either left out means train's default."""
    names = (declared.flag, declared.short) if declared.short else (declared.flag,)
    default = f" Train's default: {_default_text(declared)}." if declared.default is not None else ""
    if declared.sweep == "vary":
        default = default.replace(" Train's default", " Comma-separated; train's default") or " Comma-separated."
        return Annotated[Optional[str], typer.Option(*names, metavar="<list>", help=declared.help + default,
                                                     show_default=False)]
    if declared.kind in ("int", "float", "choice"):  # checked while parsing, as train checks them
        return Annotated[Optional[str], typer_option(replace(declared, help=declared.help + default), show_default=False)]
    # the rest as text: plan_sweep reads it as train does ('all' for a size, names for --labels)
    shown = declared.show_default if isinstance(declared.show_default, str) else False
    return Annotated[Optional[str], typer.Option(*names, help=declared.help + default, show_default=shown)]


def _one(*names: str, help: str) -> typer.Option:
    return typer.Option(*names, help=help, show_default=False)


@with_options(sweep_options, annotate=sweep_annotated, default=None)
def sweep_cmd(
    config: Annotated[
        Optional[Path],
        _one("--config", help="TOML file: train's options as keys (weight-decay = 0.01), the values to vary as lists "
             "in a [sweep] table (epochs = [2, 3]), and seeds. Flags override it."),
    ] = None,
    seeds: Annotated[
        Optional[str], _one("--seeds", help="Seeds each variant runs with, comma-separated (default 1,2,3).")
    ] = None,
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
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Start a grid of more than 100 runs (refused without it).")
    ] = False,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="One line per run on stderr, no live training display.")] = False,
    **options: Any,
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

    use = {o.name: o.sweep for o in sweep_options()}
    lists = {name: value for name, value in options.items() if value is not None and use[name] == "vary"}
    base = {name: value for name, value in options.items() if value is not None and use[name] == "set"}
    if plot is not None:
        from bertcli.core.outputs import check_output_path
        from bertcli.render.evaluate import check_plotting

        check_output_path(plot, "--plot", example="sweep.png",
                          inputs=[("--dataset", options.get("dataset")), ("--model", options.get("model")), ("--config", config)])
        check_plotting(plot)
    plan = plan_sweep(lists=lists, base=base, seeds=seeds, config=config, output_dir=output_dir, keep_weights=keep_weights,
                      yes=yes)

    from bertcli.core.sweep import report_as_dict
    from bertcli.render.output import Output
    from bertcli.render.sweep import SweepProgress, render_plan, render_sweep, save_plot

    out = Output(json=json_out, quiet=quiet)
    render_plan(plan, out)

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

