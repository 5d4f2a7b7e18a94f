"""The one Typer app: the root options and the commands registered on it.

Command modules are light at import time: torch, transformers and datasets are imported inside
the functions that need them, so `bertcli --help` stays fast.
"""

from __future__ import annotations

import typer

from bertcli import __version__
from bertcli.cli.boundary import OneLineUsageErrors, command
from bertcli.cli.options import APP_SETTINGS

app = typer.Typer(
    cls=OneLineUsageErrors,
    name="bertcli",
    help="Fine-tune BERT-family models for text classification and understand what happened in the run.",
    epilog="\b\nExamples:\n  bertcli train --epochs 3\n  bertcli inspect-checkpoint results/checkpoint-375\n  bertcli predict \"great movie\"",
    **{**APP_SETTINGS, "add_completion": True},  # bertcli --install-completion / --show-completion bash
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bertcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Fine-tune BERT-family models for text classification and understand what happened in the run."""


def _register() -> None:
    from bertcli.cli import debug, evaluate, export, inspect, predict, serve, sweep, train

    # Short help as the command list shows it: whole at 80 columns, never cut with '...'.
    command(app, "train", train.train_cmd, short_help="Fine-tune a BERT-family text classifier.")
    command(app, "inspect-checkpoint", inspect.inspect_cmd, short_help="Loss, LR and grad norms of a Trainer run.")
    app.add_typer(debug.app, name="debug", short_help="Why a run, a dataset or a model went wrong.")
    command(app, "evaluate", evaluate.evaluate_cmd, short_help="Accuracy, F1, calibration and worst errors.")
    command(app, "predict", predict.predict_cmd, short_help="Classify texts, files or a stream.")
    command(app, "sweep", sweep.sweep_cmd, short_help="Variants × seeds, and which gaps are real.")
    command(app, "export", export.export_cmd, short_help="ONNX export, checked against the model.")
    command(app, "serve", serve.serve_cmd, short_help="An HTTP API over a model or export.")


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    app(args=argv)
