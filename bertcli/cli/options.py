"""Option types shared by every command, defined once."""

from pathlib import Path
from typing import Annotated, Optional

import typer

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
OptionalPath = Optional[Path]
