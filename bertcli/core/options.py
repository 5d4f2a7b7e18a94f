"""One declaration per option: a dataclass field that carries its flag, help, range or choices.

`TrainConfig` (core/training/config.py) declares every `bertcli train` option as a field made by `option()`.
That one declaration is read by the Typer option (cli/options.py builds it), the TOML key of `--config` and
`--print-config` (core/config.py), validation (`check_options`), the sweep's flags and axes (cli/sweep.py,
core/sweep/plan.py) and the help text. No typer here: the CLI turns an `Option` into a Typer option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import numbers
from typing import Any

from bertcli.core import limits
from bertcli.core.errors import UsageError

# What each kind of value is, as a refusal says it (a TOML value of the wrong type names it).
KINDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "a string",
    "path": "a string (a path)",
    "bool": "true or false",
    "choice": "a string",
    "examples": "a whole number or \"all\"",
    "labels": "a list of strings, e.g. [\"negative\", \"positive\"]",
    "class_weights": "\"auto\" or a list of numbers, e.g. [1, 3]",
}
SWEEP_USES = ("vary", "set")


@dataclass(frozen=True)
class Option:
    """One option of a command: its flag, help and the values it takes. `name` and `default` come from the field."""

    flag: str  # "--batch-size"
    help: str
    kind: str  # a key of KINDS
    within: limits.Range | None = None  # int and float: the range a value must fall in
    choices: tuple[str, ...] = ()  # choice: the names it takes (any case)
    short: str | None = None  # "-b"
    negatable: bool = False  # a bool written --x/--no-x
    in_file: bool = True  # False: says what to do with this invocation (--resume), never a config key
    sweep: str | None = None  # "vary": a sweep takes a comma-separated list; "set": one value for every run
    unset: str = ""  # what None means (print-config's comment; the help's default)
    show_default: bool | str = True  # False or a text in place of the default in --help
    name: str = ""  # the dataclass field (and the command's parameter)
    default: Any = None

    @property
    def key(self) -> str:
        """The config-file key: the flag without its dashes ("batch-size")."""
        return self.flag.lstrip("-")

    @property
    def field(self) -> str:
        """The config field the option sets (its name)."""
        return self.name

    @property
    def param(self) -> str:
        """The command's parameter behind the flag (its name)."""
        return self.name

    def check(self, value: Any, where: str | None = None) -> Any:
        """`value` (already the field's type, or None where the default is None) checked as the flag checks it."""
        where = where or self.flag
        if value is None and (self.default is None or self.kind == "examples"):  # examples: None is 'all'
            return None
        if self.within is not None:
            return self.within.check(where, value)
        if self.kind == "choice":
            return limits.check_choice(where, value, self.choices)
        if self.kind == "class_weights":
            return parse_class_weights(value, where)
        return value


def option(
    default: Any,
    flag: str,
    short: str | None = None,
    *,
    help: str,
    kind: str | None = None,
    within: limits.Range | None = None,
    choices: tuple[str, ...] = (),
    **more: Any,
) -> Any:
    """A dataclass field declaring an option: `epochs: float = option(3.0, "--epochs", "-e", within=limits.EPOCHS,
    help="Passes over the training set.")`. The kind follows from `within` (int or float), `choices` or a
    bool default unless given (examples, labels, class_weights, path)."""
    if kind is None:
        kind = ("int" if within.integer else "float") if within else "choice" if choices else \
            "bool" if isinstance(default, bool) else "str"
    if kind not in KINDS:
        raise ValueError(f"unknown option kind {kind!r}: one of {', '.join(KINDS)}")
    if more.get("sweep") not in (None, *SWEEP_USES):
        raise ValueError(f"sweep= takes one of {SWEEP_USES}")
    declared = Option(flag=flag, short=short, help=help, kind=kind, within=within, choices=tuple(choices), **more)
    return dataclasses.field(default=default, metadata={"option": declared})


def declared_options(cls: type) -> tuple[Option, ...]:
    """The options a dataclass declares with `option()`, in field order, each knowing its field and default."""
    return tuple(
        dataclasses.replace(f.metadata["option"], name=f.name, default=f.default)
        for f in dataclasses.fields(cls)
        if "option" in f.metadata
    )


def check_options(obj: Any) -> Any:
    """Every declared option of `obj` checked as its flag checks it (choices come back as spelled); returns `obj`."""
    for declared in declared_options(type(obj)):
        setattr(obj, declared.name, declared.check(getattr(obj, declared.name)))
    return obj


def toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, numbers.Real):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def parse_class_weights(value: Any, where: str = "--class-weights") -> str | list[float]:
    """'auto', or one positive weight per label ("1,3" or a list of numbers), else a UsageError naming `where`."""
    fix = "give 'auto' or one positive weight per label in id order, e.g. 1,3"
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "auto":
            return "auto"
        parts = [p.strip() for p in text.split(",")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise UsageError(f"{where} takes {KINDS['class_weights']}, not {toml_type(value)} — {fix}")
    if not parts or any(p == "" for p in parts):
        raise UsageError(f"{where} takes 'auto' or comma-separated weights, not '{value}' — {fix}")
    weights = []
    for i, part in enumerate(parts):
        label = f"{where} (the weight of label {i})"
        if isinstance(part, str):
            try:
                number = float(part)
            except ValueError:
                raise UsageError(f"{where} takes 'auto' or numbers, not '{part}' — {fix}") from None
        elif isinstance(part, numbers.Real) and not isinstance(part, bool):
            number = float(part)
        else:
            raise UsageError(f"{where} takes numbers, not {toml_type(part)} — {fix}")
        weights.append(float(limits.CLASS_WEIGHT.check(label, number)))
    return weights


def format_class_weights(weights: str | list[float] | None) -> str | None:
    """--class-weights as text ('auto', '1,3'), as bertcli.toml and bertcli.json write it."""
    if weights is None or isinstance(weights, str):
        return weights
    return ",".join(f"{w:g}" for w in weights)
