"""Option types shared by every command, defined once, and the one check every number and choice passes.

Numbers and choices are checked while the command line is parsed, before anything is loaded: a value
outside its range (NaN and infinity included) or not among the choices is one `error:` line, exit 2.
"""

import inspect
from pathlib import Path
from typing import IO, Annotated, Any, Callable, Optional, Sequence

import typer

from bertcli.core import limits
from bertcli.core.encoding import POOLINGS, TRUNCATIONS
from bertcli.core.errors import UsageError
from bertcli.core.device import INFERENCE_PRECISIONS
from bertcli.core.inference.load import QUANTIZATIONS
from bertcli.core.limits import Range
from bertcli.core.options import Option
from bertcli.core.training.config import train_options

# Settings every Typer app of bertcli shares: plain help, no completion, no pretty tracebacks.
APP_SETTINGS = dict(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OptionError(typer.BadParameter):
    """A bad option value found while parsing: printed as one `error: ...` line with exit code 2."""

    def show(self, file: Optional[IO[Any]] = None) -> None:
        typer.echo(f"error: {self.message}", file=file, err=file is None)


class InRange:
    """A Typer `parser`: the option's text as a number inside `within`, else an OptionError naming the range."""

    def __init__(self, flag: str, within: Range):
        self.flag, self.within = flag, within

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.within.check(self.flag, value)
        except UsageError as err:
            raise OptionError(str(err)) from None


class ExamplesOrAll(InRange):
    """A number of examples inside `within`, or 'all' (parsed as None: use every example)."""

    def __call__(self, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
            return None
        number = None
        try:
            number = self.within.parse(self.flag, value)
        except UsageError:
            pass
        if number is None or not self.within.contains(number):
            raise OptionError(f"{self.flag} takes a number of examples in {self.within} or 'all', not '{value}'")
        return int(number)


class OneOf:
    """A Typer `parser`: one of `choices` (any case), else an OptionError listing them."""

    def __init__(self, flag: str, choices: tuple[str, ...]):
        self.flag, self.choices = flag, tuple(choices)

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return limits.check_choice(self.flag, value, self.choices)
        except UsageError as err:
            raise OptionError(str(err)) from None


class ClassWeights:
    """A Typer `parser`: 'auto' or one positive weight per label ("1,3"), as text; else an OptionError."""

    def __init__(self, flag: str):
        self.flag = flag

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        from bertcli.core.options import format_class_weights, parse_class_weights

        try:
            return format_class_weights(parse_class_weights(value, self.flag))
        except UsageError as err:
            raise OptionError(str(err)) from None


def class_weights_option(*names: str, help: str, **kwargs: Any) -> Any:
    """typer.Option for --class-weights: 'auto' or comma-separated weights, checked while parsing."""
    return typer.Option(*names, parser=ClassWeights(names[0]), metavar="<auto|w0,w1,...>", help=help, **kwargs)


def number_option(*names: str, within: Range, help: str, **kwargs: Any) -> Any:
    """typer.Option for a number: checked against `within` while parsing; --help shows the range."""
    metavar = "<int>" if within.integer else "<float>"
    return typer.Option(*names, parser=InRange(names[0], within), metavar=metavar, help=f"{help} Range {within}.", **kwargs)


def examples_option(*names: str, help: str, **kwargs: Any) -> Any:
    """typer.Option for a number of examples or 'all'."""
    return typer.Option(*names, parser=ExamplesOrAll(names[0], limits.EXAMPLES), metavar="<int|all>", help=help, **kwargs)


def choice_option(*names: str, choices: tuple[str, ...], help: str, **kwargs: Any) -> Any:
    """typer.Option for one of `choices`: checked while parsing; --help lists them."""
    listed = "|".join(choices)
    if len(listed) > 40:  # a long list goes in the help text, which wraps, not in the metavar, which does not
        return typer.Option(*names, parser=OneOf(names[0], choices), metavar="<name>",
                            help=f"{help} One of {', '.join(choices)}.", **kwargs)
    return typer.Option(*names, parser=OneOf(names[0], choices), metavar=f"[{listed}]", help=help, **kwargs)


class LabelNames:
    """A Typer `parser`: comma-separated label names ("negative, positive") as a list, or None when none is given."""

    def __call__(self, value: Any) -> Any:
        from bertcli.core.data.labels import parse_label_names

        return value if isinstance(value, list) else parse_label_names(value)


PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "path": Path}


def typer_option(declared: Option, **kwargs: Any) -> Any:
    """The typer.Option of a declared option (core.options.Option): its flag, help, range or choices."""
    names = (declared.flag, declared.short) if declared.short else (declared.flag,)
    if declared.show_default is not True:
        kwargs.setdefault("show_default", declared.show_default)
    kind = declared.kind
    if kind in ("int", "float"):
        return number_option(*names, within=declared.within, help=declared.help, **kwargs)
    if kind == "choice":
        return choice_option(*names, choices=declared.choices, help=declared.help, **kwargs)
    if kind == "examples":
        return examples_option(*names, help=declared.help, **kwargs)
    if kind == "class_weights":
        return class_weights_option(*names, help=declared.help, **kwargs)
    if kind == "labels":
        return typer.Option(*names, parser=LabelNames(), metavar="<str>", help=declared.help, **kwargs)
    if kind == "bool" and declared.negatable:
        names = (f"{declared.flag}/--no-{declared.key}",)
    return typer.Option(*names, help=declared.help, **kwargs)


def annotated(declared: Option) -> Any:
    """`Annotated[type, typer.Option(...)]` for a declared option: a command parameter's annotation."""
    python_type = PYTHON_TYPES.get(declared.kind, str)
    return Annotated[Optional[python_type] if declared.default is None else python_type, typer_option(declared)]


def with_options(
    options: Callable[[], Sequence[Option]], *, annotate: Callable[[Option], Any] = annotated, default: Any = ...
) -> Callable[[Callable], Callable]:
    """A command takes declared options as keyword arguments: `@with_options(train_options)` on
    `def cmd(ctx, config=..., **options)` gives Typer a signature with one parameter per option (after the
    leading Context), then the function's own. Each option's annotation is `annotate(option)`, its default the
    declared one unless `default` is given. `declare_options(cmd)` reads `options` again."""

    def wrap(func: Callable) -> Callable:
        func.declared_options = (options, annotate, default)  # type: ignore[attr-defined]
        declare_options(func)
        return func

    return wrap


def declare_options(func: Callable) -> None:
    """(Re)build `func.__signature__` from its declared options (see `with_options`)."""
    own = getattr(func, "own_signature", None) or inspect.signature(func, eval_str=True)
    func.own_signature = own  # type: ignore[attr-defined]
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.parameters.values()
              if p.kind is not inspect.Parameter.VAR_KEYWORD]
    lead = [p for p in params if p.annotation is typer.Context]
    rest = [p for p in params if p.annotation is not typer.Context]
    options, annotate, default = func.declared_options  # type: ignore[attr-defined]
    declared = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default if default is ... else default,
                          annotation=annotate(o))
        for o in options()
    ]
    func.__signature__ = own.replace(parameters=[*lead, *declared, *rest])  # type: ignore[attr-defined]
    func.__annotations__ = {p.name: p.annotation for p in func.__signature__.parameters.values()}  # type: ignore


TRAIN = {o.name: o for o in train_options()}
# The options train shares with the other commands, each from its one declaration in TrainConfig: train, sweep and
# debug data take the dataset options, evaluate --dataset, the columns and --seed (its own --split/--size pick what
# it scores); core.data.DataSpec holds their values.
ModelOpt = annotated(TRAIN["model"])
DatasetOpt = annotated(TRAIN["dataset"])
TextColumnOpt = annotated(TRAIN["text_column"])
LabelColumnOpt = annotated(TRAIN["label_column"])
DelimiterOpt = annotated(TRAIN["delimiter"])
HeaderOpt = annotated(TRAIN["header"])
TrainSplitOpt = annotated(TRAIN["train_split"])
EvalSplitOpt = annotated(TRAIN["eval_split"])
LabelsOpt = annotated(TRAIN["labels"])
# --labels from a file: read into the labels list (so bertcli.toml records the names, not the path)
LabelNamesOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--label-names", help="A text file of label names, one per line, line 1 naming the smallest label value (e.g. classes.txt)."
    ),
]
MultiLabelOpt = annotated(TRAIN["multi_label"])
TrainSizeOpt = annotated(TRAIN["train_size"])
EvalSizeOpt = annotated(TRAIN["eval_size"])
SeedOpt = annotated(TRAIN["seed"])
OutputDirOpt = annotated(TRAIN["output_dir"])
MaxLengthOpt = annotated(TRAIN["max_length"])
TruncationOpt = annotated(TRAIN["truncation"])
StrideOpt = annotated(TRAIN["stride"])
# predict and evaluate: how the model reads long texts, overriding what was saved with it (bertcli.json)
ReadTruncationOpt = Annotated[
    Optional[str],
    choice_option(
        "--truncation",
        choices=TRUNCATIONS,
        help="Override how the model reads long texts (default: as saved with it): head, tail, head+tail or sliding.",
        show_default=False,
    ),
]
ReadMaxLengthOpt = Annotated[
    Optional[int],
    number_option(
        "--max-length",
        within=limits.MAX_LENGTH,
        help="Override the longest input (or window) in tokens, specials included (default: as saved with the model).",
        show_default=False,
    ),
]
PoolingOpt = Annotated[
    Optional[str],
    choice_option(
        "--pooling",
        choices=POOLINGS,
        help="With sliding truncation: how the windows' logits become one — mean (default), max, or weighted "
        "(by the tokens each window adds).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr: the result only.")]
TrainedModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="A results/final or checkpoint folder, a run folder, or a hub name. Default: the newest trained model under ./results.",
        show_default=False,
    ),
]
QuantizeOpt = Annotated[
    str, choice_option("--quantize", choices=QUANTIZATIONS, help="none, or int8: dynamic int8 query/key/value and FFN-input layers on oneDNN, the rest in --precision (x86 CPU; pays off with VNNI or AMX, not on AVX2-only CPUs: bench/README.md).")
]
InferencePrecisionOpt = Annotated[
    str, choice_option("--precision", choices=INFERENCE_PRECISIONS, help="auto (bf16 where the GPU or CPU has native bf16, else fp32), fp32 or bf16.")
]
InferenceBatchOpt = Annotated[
    Optional[int],
    number_option(
        "--batch-size",
        "-b",
        within=limits.BATCH_SIZE,
        help="Most texts per forward pass (on CPU a batch also stops at 4,096 tokens).",
        show_default=False,
    ),
]
