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
from typer.core import TyperGroup

from bertcli import __version__
from bertcli.cli.options import APP_SETTINGS, OptionError

DEBUG_ENV = "BERTCLI_DEBUG"


class OneLineUsageErrors(TyperGroup):
    """Command-line mistakes (an unknown option, a missing value) as one `error:` line and exit 2,
    like every other bertcli error, instead of click's three-line usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (OptionError, NoArgsIsHelpError) as err:  # already one line / the help a bare command asks for
            err.show()
            sys.exit(err.exit_code)
        except ClickException as err:
            where = ""
            if isinstance(err, UsageError) and err.ctx is not None:
                where = f" — see '{err.ctx.command_path} --help'"
            print(f"error: {err.format_message().rstrip('.')}{where}", file=sys.stderr)
            sys.exit(err.exit_code)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


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
    from bertcli.cli import debug, evaluate, inspect, predict, sweep, train

    # Short help as the command list shows it: whole at 80 columns, never cut with '...'.
    command("train", train.train_cmd, short_help="Fine-tune a BERT-family text classifier.")
    command("inspect-checkpoint", inspect.inspect_cmd, short_help="Loss, LR and grad norms of a Trainer run.")
    app.add_typer(debug.app, name="debug", short_help="Why a run, a dataset or a model went wrong.")
    command("evaluate", evaluate.evaluate_cmd, short_help="Accuracy, F1, calibration and worst errors.")
    command("predict", predict.predict_cmd, short_help="Classify texts, files or a stream.")
    command("sweep", sweep.sweep_cmd, short_help="Variants × seeds, and which gaps are real.")


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    app(args=argv)
