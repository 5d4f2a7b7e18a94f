"""Option types shared by every command, defined once, and the one check every number and choice passes.

Numbers and choices are checked while the command line is parsed, before anything is loaded: a value
outside its range (NaN and infinity included) or not among the choices is one `error:` line, exit 2.
"""

from pathlib import Path
from typing import IO, Annotated, Any, Optional

import typer

from bertcli.core import limits
from bertcli.core.encoding import POOLINGS, TRUNCATIONS
from bertcli.core.errors import UsageError
from bertcli.core.device import INFERENCE_PRECISIONS
from bertcli.core.inference.load import QUANTIZATIONS
from bertcli.core.limits import Range

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
        from bertcli.core.config import format_class_weights, parse_class_weights

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


ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="Hub name (bert-base-uncased, distilbert-base-uncased) or a local model folder. Offline with nothing "
        "cached, the default stands in the packaged all-MiniLM-L6-v2.",
        show_default="bert-base-uncased",
    ),
]

# The dataset options, one definition each: train, sweep and debug data take all of them, evaluate --dataset,
# the columns and --seed (its own --split/--size pick what it scores); core.data.DataSpec holds their values.
DatasetOpt = Annotated[
    Optional[str],
    typer.Option(
        "--dataset",
        "-d",
        help="Hub name (imdb), imdb-sample (2,500 IMDb reviews bundled with bertcli), a local folder in the hub's "
        "layout, a CSV/TSV/JSONL/Parquet file, or an aclImdb/ folder. Offline with nothing cached, the default "
        "stands in imdb-sample.",
        show_default="imdb",
    ),
]
TextColumnOpt = Annotated[str, typer.Option("--text-column", help="Column holding the text.")]
LabelColumnOpt = Annotated[str, typer.Option("--label-column", help="Column holding the label (ints or names).")]
TrainSplitOpt = Annotated[str, typer.Option("--train-split", help="Split to train on.")]
EvalSplitOpt = Annotated[
    Optional[str],
    typer.Option(
        "--eval-split",
        help="Split to evaluate on (default: validation, else test, else carved from train; naming the train split carves too).",
    ),
]
LabelsOpt = Annotated[
    Optional[str], typer.Option("--labels", help="Comma-separated label names in id order, e.g. negative,positive.")
]
TrainSizeOpt = Annotated[str, examples_option("--train-size", help="Training examples drawn with --seed, or 'all'.")]
EvalSizeOpt = Annotated[str, examples_option("--eval-size", help="Evaluation examples drawn with --seed, or 'all'.")]
SeedOpt = Annotated[int, number_option("--seed", within=limits.SEED, help="Seed for sampling, shuffling and initialisation.")]

OutputDirOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Where checkpoints and the final model go.")]
MaxLengthOpt = Annotated[
    int, number_option("--max-length", within=limits.MAX_LENGTH, help="Longest input in tokens, specials included.")
]
TruncationOpt = Annotated[
    str,
    choice_option(
        "--truncation",
        choices=TRUNCATIONS,
        help="What to keep of a long text: head, tail, head+tail (first 128 and last 382 tokens at 512), or sliding "
        "(all of it, in overlapping windows of --max-length whose predictions are pooled).",
    ),
]
StrideOpt = Annotated[
    Optional[int],
    number_option(
        "--stride",
        within=limits.STRIDE,
        help="With --truncation sliding: tokens consecutive windows share (default: a quarter of --max-length).",
        show_default=False,
    ),
]
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
