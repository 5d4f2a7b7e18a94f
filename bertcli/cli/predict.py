"""`bertcli predict`: classify texts given on the command line, in a file, or streamed on stdin."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from bertcli.cli.options import (
    InferenceBatchOpt,
    InferencePrecisionOpt,
    JsonOpt,
    QuantizeOpt,
    TextColumnOpt,
    TrainedModelOpt,
    choice_option,
    number_option,
)
from bertcli.core import limits
from bertcli.core.textio import OUTPUT_FORMATS

# Also declared in cli/evaluate.py: the two commands that run a model as a classifier.
AllowUntrainedHeadOpt = Annotated[
    bool,
    typer.Option("--allow-untrained-head", help="Run a model that has no trained classification head (a base encoder): its labels mean nothing."),
]
STDIN_BATCH = 8
FILE_BATCH = 32
# On stdin a partial batch runs once no new line has arrived for this long.
STDIN_MAX_WAIT = 0.2


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
            help="One text per line (.txt, or '-' for stdin), or a .csv/.tsv/.jsonl/.json/.parquet file read with --text-column.",
            show_default=False,
        ),
    ] = None,
    text_column: TextColumnOpt = "text",
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
    """
    import sys

    from bertcli.core.errors import DataError, UsageError
    from bertcli.core.inference import (
        WINDOW_BATCHES,
        RunStats,
        check_flag,
        is_flagged,
        load_for_inference,
        predict_stream,
        resolve_model,
    )
    from bertcli.core.textio import STDIN, check_text_source, open_output, output_format, read_texts
    from bertcli.render.predict import (
        JsonOutput,
        RecordOutput,
        TableOutput,
        announce_model,
        file_progress,
        render_line_error,
        render_predict_summary,
    )

    given = list(texts or [])
    if file is not None and given:
        raise UsageError("give texts on the command line or --file, not both")
    from_stdin = file == STDIN or given == [STDIN]
    if not given and file is None:
        raise UsageError("nothing to classify: give texts, --file FILE, or - to read stdin (one text per line)")
    fmt_name = output_format(output, fmt)
    if output is not None:  # a folder, or a parent that is a file, fails here, before the model loads
        from bertcli.core.textio import check_output_path

        check_output_path(output, "--output")
    if file is not None:
        check_text_source(file)

    # The input is opened (and a table's header read) before the model loads: a wrong path or column fails fast.
    if from_stdin:
        items = read_texts(STDIN)
        batch, window_batches, max_wait = batch_size or STDIN_BATCH, 1, STDIN_MAX_WAIT
    elif file is not None:
        items = read_texts(file, text_column)
        batch, window_batches, max_wait = batch_size or FILE_BATCH, WINDOW_BATCHES, None
    else:
        items = given
        batch = batch_size or FILE_BATCH
        window_batches, max_wait = max(1, -(-len(given) // batch)), None

    resolved = resolve_model(model)
    clf = load_for_inference(resolved.path, precision=precision, quantize=quantize, allow_untrained_head=allow_untrained_head)
    flag_name, min_confidence = check_flag(flag, threshold, clf.label_names)
    if not quiet:
        announce_model(resolved, clf)

    outputs: list = []
    if output is not None:
        outputs.append(RecordOutput(open_output(output), fmt_name, clf.label_names, close_stream=True))
    if json_out:
        header = {
            "model": resolved.path,
            "chosen_as": resolved.chosen_as,
            "labels": clf.label_names,
            "max_length": clf.max_length,
            "truncation": clf.truncation,
            "mode": clf.mode,
            "flag": flag_name,
            "threshold": min_confidence if flag_name else None,
        }
        outputs.append(JsonOutput(header, clf.label_names))
    elif output is None:
        table = given and not from_stdin and fmt is None
        outputs.append(TableOutput(clf.label_names, flag_name) if table else RecordOutput(sys.stdout, fmt_name, clf.label_names))

    stats = RunStats()
    flagged = shown_errors = 0
    # A bar for --file only: on an interactive stream it would fight with the lines as they come.
    progress = file_progress(file is not None and not from_stdin and not quiet, to_screen=output is None and _is_tty(sys.stdout))
    try:
        for chunk in predict_stream(clf, items, batch_size=batch, window_batches=window_batches, max_wait=max_wait, stats=stats,
                                    on_batch=progress.update):
            for pred in chunk:
                if pred.error and not quiet:
                    render_line_error(pred, shown_errors)
                    shown_errors += 1
                hit = is_flagged(pred, flag_name, min_confidence)
                flagged += hit
                for out in outputs:
                    if flag_name is None or hit or isinstance(out, TableOutput):
                        out.write(pred, hit)
            for out in outputs:
                out.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
        raise typer.Exit(0) from None
    finally:
        progress.close()
        summary = {
            "model": resolved.path,
            "mode": clf.mode,
            "texts": stats.texts,
            "predicted": stats.predicted,
            "skipped": stats.skipped,
            "errors": stats.errors,
            "truncated": stats.truncated,
            "max_length": clf.max_length,
            "seconds": round(stats.seconds, 3),
            "texts_per_second": stats.texts_per_second,
            "tokens_per_second": stats.tokens_per_second,
            "flag": flag_name,
            "threshold": min_confidence if flag_name else None,
            "flagged": flagged if flag_name else None,
            "output": str(output) if output is not None else None,
            "written": outputs[0].writer.count if output is not None else None,
        }
        for out in outputs:
            try:
                out.close(summary)
            except BrokenPipeError:
                _quiet_broken_pipe()
    if stats.predicted == 0:
        raise DataError(_nothing_classified(stats, "stdin" if from_stdin else file))
    if not quiet:
        render_predict_summary(summary)


def _nothing_classified(stats, source: str | None) -> str:
    """The one line for a run in which not one text could be classified."""
    reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(stats.errors.items(), key=lambda kv: -kv[1]))
    if source is None:
        return f"nothing could be classified: every text given was skipped ({reasons}) — give texts with words in them"
    if stats.texts == 0:
        return f"nothing could be classified: '{source}' held no text — give one text per line, or a table with a text column"
    return (
        f"nothing could be classified: all {stats.texts:,} line(s) or row(s) of '{source}' were skipped ({reasons}) — "
        "give UTF-8 text, one text per line (or a table with a text column)"
    )


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _quiet_broken_pipe() -> None:
    """The reader went away (`| head`): stop writing to stdout without a traceback."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
