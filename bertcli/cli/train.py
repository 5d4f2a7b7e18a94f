"""`bertcli train`: parse options, call core.training.train, render the plan, progress and summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from bertcli.cli.options import JsonOpt, LabelNamesOpt, with_options
from bertcli.core.training.config import train_options


@with_options(train_options)  # one parameter per TrainConfig option, in its declared order
def train_cmd(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config", "-c", help="A TOML file of train options, keys named like the flags (batch-size = 8); flags given here override it."
        ),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved options as TOML (as JSON with --json) and exit without training.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display; the summary only.")] = False,
    label_names: LabelNamesOpt = None,
    json_out: JsonOpt = False,
    **options: Any,
) -> None:
    """Fine-tune a BERT-family model for text classification.

    Defaults reproduce the reference IMDb run: bert-base-uncased, 2,000 train / 500 eval reviews,
    batch 16, lr 2e-5, 3 epochs, weight decay 0.01, checkpoints every 10 steps (375 steps).
    Every run writes its options to OUTPUT_DIR/bertcli.toml: --config reads such a file back.

    \b
    Examples:
      bertcli train --epochs 3
      bertcli train --dataset ../shared/data/imdb --max-length 256 --epochs 2
      bertcli train --eval-steps 20 --early-stopping 3 --epochs 5
      bertcli train --config results/bertcli.toml --seed 7 -o results-seed7
      bertcli train --dataset emotions.tsv --label-column labels --multi-label
    """
    from bertcli.core.training import TrainConfig

    resolved = resolve_options(ctx, options, config)
    if label_names is not None:  # the names file stands for --labels, over the --config file's labels too
        from bertcli.core.data.labels import given_label_names

        resolved["labels"] = given_label_names(",".join(options["labels"]) if explicit(ctx, "labels") else None, label_names)
    cfg = TrainConfig(**resolved)
    if print_config:
        from bertcli.core.config import config_values, format_config
        from bertcli.core.training import validate_config

        checked = validate_config(cfg)
        if json_out:  # the same options as one JSON object (null: not set, the default applies)
            from bertcli.render import print_json

            print_json(config_values(checked))
            return
        typer.echo(format_config(checked, "bertcli train --config <this file> reads these options back"), nl=False)
        return

    from bertcli.core.training import train
    from bertcli.render import console_err
    from bertcli.render.output import Output
    from bertcli.render.progress import RichProgressCallback
    from bertcli.render.train import render_plan, render_train_report

    out = Output(json=json_out, quiet=quiet)
    callbacks = [RichProgressCallback(console_err())] if not out.quiet else []
    report = train(cfg, callbacks=callbacks, on_plan=render_plan)
    out.result(report, lambda: render_train_report(report))


def explicit(ctx: typer.Context, param: str) -> bool:
    """Whether the user gave the option behind `param` (on the command line or in its environment variable)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def resolve_options(ctx: typer.Context, given: dict, config: Optional[Path]) -> dict:
    """The TrainConfig fields: a flag given on the command line, else the --config file's key, else the default."""
    if config is None:
        return given
    from bertcli.core.config import read_config, settings

    from_file = read_config(config)
    values = dict(given)
    for setting in settings():
        if setting.name in from_file and not explicit(ctx, setting.name):
            values[setting.name] = from_file[setting.name]
    return values
