"""`bertcli predict`: classify texts given on the command line, in a file, or streamed on stdin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from bertcli.cli.options import (
    DelimiterOpt,
    HeaderOpt,
    InferenceBatchOpt,
    InferencePrecisionOpt,
    JsonOpt,
    PoolingOpt,
    QuantizeOpt,
    ReadMaxLengthOpt,
    ReadTruncationOpt,
    StrideOpt,
    TextColumnOpt,
    TrainedModelOpt,
    choice_option,
    number_option,
)
from bertcli.core import limits
from bertcli.core.data.files import suffixes_text
from bertcli.core.inference.records import OUTPUT_FORMATS

# Also declared in cli/evaluate.py: the two commands that run a model as a classifier.
AllowUntrainedHeadOpt = Annotated[
    bool,
    typer.Option("--allow-untrained-head", help="Run a model that has no trained classification head (a base encoder): its labels mean nothing."),
]


def predict_cmd(
    texts: Annotated[
        Optional[List[str]],
        typer.Argument(help="Texts to classify; a single '-' reads stdin, one text per line.", show_default=False),
    ] = None,
    model: TrainedModelOpt = None,
    file: Annotated[
        Optional[str],
        typer.Option(
            "--file",
            "-f",
            help=f"One text per line (.txt, or '-' for stdin), or a {suffixes_text()} file read with --text-column.",
            show_default=False,
        ),
    ] = None,
    text_column: TextColumnOpt = "text",
    delimiter: DelimiterOpt = None,
    header: HeaderOpt = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write predictions to this file.", show_default=False)
    ] = None,
    fmt: Annotated[
        Optional[str],
        choice_option(
            "--format",
            choices=OUTPUT_FORMATS,
            help="jsonl or csv (default: from --output's suffix, else jsonl).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    flag: Annotated[
        Optional[str],
        typer.Option("--flag", help="Keep only texts predicted as this label (e.g. negative); a table marks them.", show_default=False),
    ] = None,
    threshold: Annotated[
        Optional[float],
        number_option(
            "--threshold",
            within=limits.THRESHOLD,
            help="With --flag: the least confidence to flag (default 0).",
            show_default=False,
        ),
    ] = None,
    batch_size: InferenceBatchOpt = None,
    quantize: QuantizeOpt = "none",
    precision: InferencePrecisionOpt = "auto",
    truncation: ReadTruncationOpt = None,
    max_length: ReadMaxLengthOpt = None,
    stride: StrideOpt = None,
    pooling: PoolingOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No model line, skipped lines or summary on stderr.")] = False,
    allow_untrained_head: AllowUntrainedHeadOpt = False,
) -> None:
    """Classify texts with a trained model: a table for a few, JSON Lines or CSV for files and streams.

    Files and stdin are read and written in batches, so any length works in flat memory; empty,
    blank, non-UTF-8 or unreadable lines are skipped with a message and counted; the exit code is 1
    when not one text could be classified.
    With stdin, each batch (default 8 lines, 32 elsewhere) is written and flushed as soon as it
    is classified, and a partial batch runs once input pauses.

    Examples:

      bertcli predict "a wonderful, moving film" "the worst movie I have seen"

      tail -f reviews.txt | bertcli predict - --flag negative --threshold 0.9

      bertcli predict --file long.txt --truncation sliding --stride 128
    """
    from bertcli.core.errors import DataError
    from bertcli.core.inference.predict import PredictOptions, PredictSource, predict
    from bertcli.render.output import Output
    from bertcli.render.predict import PredictSink

    from bertcli.core.inference.resolve import model_inputs

    source = PredictSource.of(texts, file, text_column, delimiter, header)
    inputs = [("--file", file if file != "-" else None), *model_inputs([model])] if output is not None else []
    sink = PredictSink(Output(json=json_out, quiet=quiet), output=output, fmt=fmt, inputs=inputs)
    options = PredictOptions(model=model, batch_size=batch_size, precision=precision, quantize=quantize,
                             allow_untrained_head=allow_untrained_head, flag=flag, threshold=threshold,
                             truncation=truncation, max_length=max_length, stride=stride, pooling=pooling)
    try:
        summary = predict(source, options, sink)
    except BrokenPipeError:  # the reader went away (`| head`): what was written stands
        raise typer.Exit(0) from None
    if summary.predicted == 0:
        raise DataError(summary.nothing_classified())
