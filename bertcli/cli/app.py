"""The one Typer app and the one error boundary.

Command modules are light at import time: torch, transformers and datasets are imported inside
the functions that need them, so `bertcli --help` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import typer

from bertcli import __version__
from bertcli.cli.options import APP_SETTINGS

DEBUG_ENV = "BERTCLI_DEBUG"

app = typer.Typer(
    name="bertcli",
    help="Fine-tune BERT-family models for text classification and understand what happened in the run.",
    epilog="Examples:  bertcli train --epochs 3    bertcli inspect-checkpoint results/checkpoint-375",
    **APP_SETTINGS,
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


def error_boundary(func: Callable) -> Callable:
    """Turn core errors into one line on stderr and an exit code; tracebacks only with BERTCLI_DEBUG=1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from bertcli.core.errors import BertCliError

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BertCliError as err:
            if os.environ.get(DEBUG_ENV):
                raise
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except Exception as err:  # a bug or an unexpected library failure: still one line
            if os.environ.get(DEBUG_ENV):
                raise
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            print(
                f"error: unexpected {type(err).__name__}: {detail} (run with {DEBUG_ENV}=1 for the traceback)",
                file=sys.stderr,
            )
            raise typer.Exit(1) from None

    return wrapper


def command(name: str, func: Callable, **kwargs) -> None:
    app.command(name, **kwargs)(error_boundary(func))


def _register() -> None:
    from bertcli.cli import debug, evaluate, inspect, predict, train

    command("train", train.train_cmd)
    command("inspect-checkpoint", inspect.inspect_cmd)
    app.add_typer(debug.app, name="debug")
    command("evaluate", evaluate.evaluate_cmd)
    command("predict", predict.predict_cmd)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    app(args=argv)
