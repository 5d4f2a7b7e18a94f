"""Option types shared by every command, defined once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

# Settings every Typer app of bertcli shares: plain help, no completion, no pretty tracebacks.
APP_SETTINGS = dict(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ModelOpt = Annotated[
    str,
    typer.Option("--model", "-m", help="Hub name (bert-base-uncased, distilbert-base-uncased) or a local model folder."),
]
DatasetOpt = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="Hub name (imdb), a local folder in the hub's layout, a CSV/JSONL/Parquet file, or an aclImdb/ folder.",
    ),
]
TextColumnOpt = Annotated[str, typer.Option("--text-column", help="Column holding the text.")]
LabelColumnOpt = Annotated[str, typer.Option("--label-column", help="Column holding the label (ints or names).")]
OutputDirOpt = Annotated[Path, typer.Option("--output-dir", "-o", help="Where checkpoints and the final model go.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for sampling, shuffling and initialisation.")]
MaxLengthOpt = Annotated[int, typer.Option("--max-length", min=8, help="Longest input in tokens, specials included.")]
TruncationOpt = Annotated[
    str,
    typer.Option(
        "--truncation",
        help="What to keep of a long text: head, tail, or head+tail (first 128 and last 382 tokens at 512).",
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
    str, typer.Option("--quantize", help="none, or int8: dynamic int8 query/key/value and FFN-input layers on oneDNN, the rest in --precision (x86 CPU).")
]
InferencePrecisionOpt = Annotated[
    str, typer.Option("--precision", help="auto (bf16 where the GPU or CPU has native bf16, else fp32), fp32 or bf16.")
]
InferenceBatchOpt = Annotated[
    Optional[int],
    typer.Option("--batch-size", "-b", min=1, help="Most texts per forward pass (on CPU a batch also stops at 4,096 tokens).", show_default=False),
]
