"""`bertcli inspect-checkpoint`: parse options, call core.runs.inspect, render tables, a chart, JSON or a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from bertcli.cli.options import JsonOpt, QuietOpt, number_option
from bertcli.core import limits
from bertcli.core.runs.log import DEFAULT_SPIKE_K


def inspect_cmd(
    paths: Annotated[
        List[Path],
        typer.Argument(
            help="Checkpoint folder, run folder (its newest complete checkpoint) or trainer_state.json; several to compare.",
            metavar="PATH",
            show_default=False,
        ),
    ],
    every: Annotated[
        Optional[int],
        number_option(
            "--every", within=limits.STEPS, help="Loss table: the first log in every N steps (default: all rows for short runs)."
        ),
    ] = None,
    spike_k: Annotated[
        float,
        number_option(
            "--spike-k", within=limits.SPIKE_K, help="A grad norm above median + K x MAD (median absolute deviation) is a spike."
        ),
    ] = DEFAULT_SPIKE_K,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Also write loss, learning rate and grad norm to this PNG (matplotlib).")
    ] = None,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """See a whole training run from its trainer_state.json: loss, LR schedule, grad-norm spikes, evals.

    Reads JSON only (trainer_state.json, config.json, bertcli.json); never torch, never training_args.bin.
    With several paths, compares the runs side by side. --json prints one document: the analysis for
    one path, {"runs": [...], "comparison": {...}} for several.

    Examples:

      bertcli inspect-checkpoint results/checkpoint-375 --every 50

      bertcli inspect-checkpoint runs/3-epochs runs/2-epochs --plot compare.png
    """
    from bertcli.core.runs.inspect import analysis_to_dict, compare_runs, comparison_to_dict, inspect_runs
    from bertcli.render.output import Output

    out = Output(json=json_out, quiet=quiet)
    if plot is not None:
        from bertcli.core.outputs import check_output_path

        states = [q for p in map(Path, paths) for q in ([p, *p.glob("trainer_state.json"), *p.glob("*/trainer_state.json")])]
        check_output_path(plot, "--plot", example="run.png", inputs=[("PATH", q) for q in states if q.is_file()])
    runs = inspect_runs(paths, spike_k=spike_k)
    comparison = compare_runs(runs) if len(runs) > 1 else None
    if plot is not None:
        from bertcli.render.inspect import write_plot

        out.hint(f"[dim]wrote {write_plot(runs, plot)}[/]")
    from bertcli.render.inspect import render_comparison, render_run

    if comparison:
        out.result(comparison_to_dict(runs, comparison), lambda: render_comparison(runs, comparison))
    else:
        out.result(analysis_to_dict(runs[0]), lambda: render_run(runs[0], every))
