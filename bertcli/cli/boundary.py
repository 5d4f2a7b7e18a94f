"""The one error boundary: core errors and command-line mistakes become one `error:` line and an exit code.

A leaf module (typer and the core's error types only), so every command module registers through it
without importing the app.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import typer
from typer.core import TyperGroup

from bertcli.cli.options import OptionError

DEBUG_ENV = "BERTCLI_DEBUG"


class OneLineUsageErrors(TyperGroup):
    """Command-line mistakes (an unknown option, a missing value) as one `error:` line and exit 2,
    like every other bertcli error, instead of click's three-line usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as err:  # public: the base of every exception of the click typer runs on
            if isinstance(err, OptionError) or type(err).__name__ == "NoArgsIsHelpError":
                err.show()  # already one line / the help a bare command asks for (typer tells it by name too)
                sys.exit(err.exit_code)
            where = ""
            if getattr(err, "ctx", None) is not None:  # a usage error knows its command
                where = f" — see '{err.ctx.command_path} --help'"
            print(f"error: {err.format_message().rstrip('.')}{where}", file=sys.stderr)
            sys.exit(err.exit_code)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def error_boundary(func: Callable) -> Callable:
    """Turn core errors into one line on stderr and an exit code; tracebacks only with BERTCLI_DEBUG=1."""

    # Only the names are copied: Typer reads the signature through __wrapped__, so a command whose declared
    # options are rebuilt later (declare_options) is seen as it is now, not as it was when registered.
    @functools.wraps(func, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=())
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


def command(app: typer.Typer, name: str, func: Callable, **kwargs) -> None:
    """Register `func` as command `name` of `app`, behind the error boundary."""
    app.command(name, **kwargs)(error_boundary(func))
