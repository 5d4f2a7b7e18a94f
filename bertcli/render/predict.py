"""Rendering for `bertcli predict`: a table for a few texts, JSON Lines / CSV / one JSON document for many.

Outputs take predictions one window at a time, so a stream of any length is written as it goes.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Sequence

from rich.markup import escape
from bertcli.render.table import Table

from bertcli.render import console_err, console_out, fmt, human_seconds

SNIPPET = 70
ERRORS_SHOWN = 10


def announce_model(resolved: Any, clf: Any) -> None:
    """Which model runs, and how (stderr)."""
    chosen = f"{resolved.describe()}, the newest trained model (--model to pick another)" if resolved.automatic else resolved.path
    console_err().print(
        f"[bold]model[/] {escape(chosen)}; {escape(', '.join(clf.label_names))}; max length {clf.max_length} ({clf.truncation}); "
        f"{clf.mode} on {clf.device}",
        highlight=False,
    )
    note_near_chance(resolved.path)


def note_near_chance(model: str) -> None:
    """One warning line (stderr) when the eval accuracy the model's run recorded is near chance."""
    from bertcli.core.runs.underfitting import recorded_accuracy, run_folder_of_model

    check = recorded_accuracy(model)
    if check is None or not check.near_chance:
        return
    chance = check.chance
    always = f": always '{chance.label}'" if chance.label is not None else ""
    on = f" of {check.examples:,} examples" if check.examples else ""
    run = run_folder_of_model(model)
    see = f"; see bertcli debug run {escape(str(run))}" if run is not None else ""
    console_err().print(
        f"[bold yellow]warning:[/] this model scored {check.accuracy:.3f} accuracy on its eval set{on} "
        f"(chance {chance.rate:.3f}{escape(always)}) — its predictions are close to guesses{see}",
        highlight=False,
        soft_wrap=True,
    )


def _snippet(text: str | None, limit: int = SNIPPET) -> str:
    flat = " ".join((text or "").split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


class TableOutput:
    """A rich table on stdout once every prediction is in: text, label, confidence, probabilities."""

    def __init__(self, label_names: Sequence[str], flag: str | None = None):
        self.label_names = list(label_names)
        self.flag = flag
        self.rows: list[tuple[Any, bool]] = []

    def write(self, pred: Any, flagged: bool) -> None:
        self.rows.append((pred, flagged))

    def flush(self) -> None:
        pass

    def close(self, summary: dict[str, Any]) -> None:
        table = Table(title_justify="left")
        table.add_column("#", justify="right", style="dim")
        table.add_column("text", overflow="fold", max_width=60)
        table.add_column("label")
        table.add_column("confidence", justify="right")
        for name in self.label_names:
            table.add_column(escape(f"p({name})"), justify="right")
        if self.flag:
            table.add_column("flagged")
        for pred, flagged in self.rows:
            if pred.error:
                cells = [str(pred.index + 1), _snippet(pred.text) or "[dim](none)[/]", f"[red]skipped: {escape(pred.error)}[/]", "-"]
                cells += ["-"] * len(self.label_names)
            else:
                style = ("red", "green")[pred.label_id] if len(self.label_names) == 2 else "bold"
                cells = [str(pred.index + 1), _snippet(pred.text), f"[{style}]{escape(pred.label)}[/]", fmt(pred.confidence, 3)]
                cells += [fmt(p, 3) for p in pred.probabilities]
            if self.flag:
                cells.append("[bold yellow]⚑ yes[/]" if flagged else "")
            table.add_row(*cells)
        out = console_out()
        out.print(table)


class RecordOutput:
    """JSON Lines or CSV records to a stream (a file or stdout), flushed after each window."""

    def __init__(self, stream: IO[str], fmt_name: str, label_names: Sequence[str], close_stream: bool = False):
        from bertcli.core.textio import RecordWriter

        self.writer = RecordWriter(stream, fmt_name)  # CSV columns are set by the first record (see write)
        self.label_names = list(label_names)
        self.close_stream = close_stream
        self.stream = stream

    def write(self, pred: Any, flagged: bool) -> None:
        from bertcli.core.inference import prediction_record

        from bertcli.core.inference import OUTPUT_KEYS

        record = prediction_record(pred, self.label_names)
        if self.writer.format == "csv":
            probs = record.pop("probabilities", None) or {}
            record.update({f"p_{n}": probs.get(n) for n in self.label_names})
            if self.writer.columns is None:  # the input's own columns between ours, then the probabilities
                ours = {*OUTPUT_KEYS, *(f"p_{n}" for n in self.label_names)}
                inputs = [k for k in record if k not in ours]
                self.writer.columns = ["index", "line", *inputs, "text", "label", "confidence",
                                       *[f"p_{n}" for n in self.label_names], "truncated", "error"]
        self.writer.write(record)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self.writer.flush()
        if self.close_stream:
            self.stream.close()


class JsonOutput:
    """One JSON document on stdout, written as predictions arrive: {"model", "predictions": [...], "summary"}."""

    def __init__(self, header: dict[str, Any], label_names: Sequence[str]):
        self.label_names = list(label_names)
        self.count = 0
        head = json.dumps(header, indent=2)[:-2]  # drop the closing "\n}" to keep writing into the object
        sys.stdout.write(head + ',\n  "predictions": [')

    def write(self, pred: Any, flagged: bool) -> None:
        from bertcli.core.inference import prediction_record

        record = prediction_record(pred, self.label_names)
        sys.stdout.write(("," if self.count else "") + "\n    " + json.dumps(record, ensure_ascii=False, allow_nan=False))
        self.count += 1

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self, summary: dict[str, Any]) -> None:
        tail = json.dumps(summary, indent=2).replace("\n", "\n  ")
        sys.stdout.write(("\n  " if self.count else "") + f'],\n  "summary": {tail}\n}}\n')
        sys.stdout.flush()


def file_progress(enabled: bool, to_screen: bool) -> Any:
    """Progress of `predict --file` on stderr: texts done and the rate (a streamed file's length is unknown).

    Off when predictions scroll past on the same terminal (`to_screen`): they show the progress themselves.
    """
    from bertcli.render.activity import Activity

    return Activity(console_err(), "predict", None, unit="texts", enabled=enabled and not to_screen)


def render_line_error(pred: Any, shown: int) -> None:
    """A skipped line, on stderr (the first few; the rest are counted in the summary)."""
    if shown < ERRORS_SHOWN:
        where = pred.where or (f"line {pred.line}" if pred.line is not None else f"text {pred.index + 1}")
        console_err().print(f"[yellow]skipped[/] {where}: {escape(pred.error)}", highlight=False, soft_wrap=True)
    elif shown == ERRORS_SHOWN:
        console_err().print("[yellow]…[/] more skipped lines are counted below", highlight=False)


def render_predict_summary(summary: dict[str, Any]) -> None:
    """Counts and speed after the run (stderr)."""
    err = console_err()
    speed = ""
    if summary.get("texts_per_second"):
        speed = f" ({summary['texts_per_second']:,.1f} texts/s, {summary['tokens_per_second']:,.0f} tokens/s)"
    err.print(
        f"[bold]predicted[/] {summary['predicted']:,} of {summary['texts']:,} texts in {human_seconds(summary['seconds'])}{speed}; "
        f"{summary['truncated']:,} cut at {summary['max_length']} tokens",
        highlight=False,
    )
    if summary.get("flag"):
        err.print(
            f"[bold]flagged[/] {summary['flagged']:,} predicted {summary['flag']} with confidence ≥ {summary['threshold']:.2f}",
            highlight=False,
        )
    if summary["skipped"]:
        reasons = ", ".join(f"{n:,} {why}" for why, n in sorted(summary["errors"].items(), key=lambda kv: -kv[1]))
        err.print(f"[yellow]skipped[/] {summary['skipped']:,}: {reasons}", highlight=False)
    if summary.get("output"):
        err.print(f"[bold]wrote[/] {summary['written']:,} record(s) to {escape(summary['output'])}", highlight=False)
