"""Predictions as flat records, written as JSON Lines or CSV to a file or stdout.

A write that fails part-way (a full disk, an I/O error) becomes one error that says how many rows
reached the file whole.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Sequence

from bertcli.core.errors import BertCliError, DiskSpaceError, UsageError

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction

OUTPUT_FORMATS = ("jsonl", "csv")
# What a prediction record holds of its own: an input column of the same name is kept as input_<name>.
OUTPUT_KEYS = ("index", "line", "text", "label", "labels", "confidence", "probabilities", "n_tokens", "truncated", "windows",
               "error")


def prediction_record(pred: Prediction, label_names: Sequence[str], *, with_text: bool = True) -> dict[str, Any]:
    """One prediction as a flat JSON-able record (what --output, --json and --predictions write)."""
    record: dict[str, Any] = {"index": pred.index}
    if pred.line is not None:
        record["line"] = pred.line
    for name, value in (pred.fields or {}).items():  # the input's other columns; ours keep their names
        record[name if name not in OUTPUT_KEYS else f"input_{name}"] = value
    if with_text:
        record["text"] = pred.text
    if pred.error is not None:
        record.update(label=None, confidence=None, error=pred.error)
        return record
    if pred.labels is not None:  # multi-label: every label over its threshold ('label' joins them with commas)
        record["labels"] = pred.labels
    record.update(
        label=pred.label,
        confidence=round(pred.confidence, 6),
        probabilities={name: round(p, 6) for name, p in zip(label_names, pred.probabilities or [])},
        n_tokens=pred.n_tokens,
        truncated=pred.truncated,
    )
    if pred.windows is not None:
        record["windows"] = pred.windows
    return record


def output_format(path: Path | None, requested: str | None) -> str:
    """jsonl or csv: what --format says, else the --output suffix, else jsonl."""
    if requested:
        value = requested.strip().lower()
        if value not in OUTPUT_FORMATS:
            raise UsageError(f"--format takes one of {', '.join(OUTPUT_FORMATS)}, not '{requested}'")
        return value
    if path is not None and path.suffix.lower() == ".csv":
        return "csv"
    return "jsonl"


class OutputFile(io.TextIOWrapper):
    """A UTF-8 output file that knows its path and the flag that named it, so a failed write can say both.

    It is written as a temporary file beside its path: `finish(complete=True)` (also a plain close, or the end of
    a `with` block without an error) renames it onto the path; an incomplete one only takes a path where no file
    was, else it is kept as PATH.partial beside the untouched earlier file.
    """

    output_path: Path
    output_flag: str
    partial_path: Path | None = None

    def finish(self, complete: bool) -> Path:
        """Close the file and put it in place; returns where it now lies."""
        from bertcli.core.outputs import settle

        partial, self.partial_path = self.partial_path, None
        try:
            if not self.closed:
                super().close()
        except BaseException:  # the last bytes did not reach the file: it is incomplete
            if partial is not None:
                self.output_path = settle(partial, self.output_path, complete=False)
            raise
        if partial is not None:
            self.output_path = settle(partial, self.output_path, complete)
        return self.output_path

    def close(self) -> None:
        self.finish(complete=True)

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.finish(complete=exc_type is None)


# Errors that mean the disk (or the user's quota, or the largest file allowed) is full.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class RecordWriter:
    """Write dict records as JSON Lines or CSV (columns fixed by the first record), flushing on demand.

    Writing to a file from `open_output`, a failed write (a full disk, an I/O error) becomes one error that
    says how many rows reached the file whole: the writer remembers where each row ends until the next flush
    and compares that with the file's size once the stream is closed.
    """

    def __init__(self, stream: IO[str], fmt: str, columns: list[str] | None = None):
        self.stream = stream
        self.format = fmt
        self.columns = columns
        self._csv: Any = None
        self._row = io.StringIO()
        self.count = 0
        self.target: Path | None = getattr(stream, "output_path", None)
        self.flag: str = getattr(stream, "output_flag", "--output")
        self.failed = False
        self._bytes = 0  # bytes handed to the stream
        self._flushed = (0, 0)  # (bytes, complete rows) known to have reached the file
        self._ends: list[tuple[int, int]] = []  # (end byte, rows complete there) since the last flush

    def write(self, record: dict[str, Any]) -> None:
        if self.format == "jsonl":
            self._emit(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n", 1)
            return
        if self._csv is None:
            self.columns = self.columns or list(record)
            self._csv = csv.DictWriter(self._row, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
            self._csv.writeheader()
            self._emit(self._take_row(), 0)
        flat = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in record.items()}
        self._csv.writerow(flat)
        self._emit(self._take_row(), 1)

    def _take_row(self) -> str:
        text = self._row.getvalue()
        self._row.seek(0)
        self._row.truncate()
        return text

    def _emit(self, text: str, rows: int) -> None:
        if self.target is None:  # stdout: a closed pipe is the caller's to handle
            self.stream.write(text)
            self.count += rows
            return
        if self.failed:
            return
        try:
            self.stream.write(text)
        except OSError as err:
            raise self._failure(err) from None
        self.count += rows
        self._bytes += len(text) if text.isascii() else len(text.encode("utf-8"))
        self._ends.append((self._bytes, self.count))

    def flush(self) -> None:
        if self.target is None:
            self.stream.flush()
            return
        if self.failed:
            return
        try:
            self.stream.flush()
        except OSError as err:
            raise self._failure(err) from None
        self._flushed = (self._bytes, self.count)
        self._ends.clear()

    def complete_rows(self) -> int:
        """Rows that lie whole in the file (call after the stream is closed)."""
        try:
            size = self.target.stat().st_size if self.target is not None else None
        except OSError:
            size = None
        complete = self._flushed[1]
        if size is None:
            return complete
        for end, rows in self._ends:
            if end > size:
                break
            complete = rows
        return complete

    def _failure(self, err: OSError) -> BertCliError:
        """Close the file (whatever still fits goes in), count the whole rows in it, and say so in one line."""
        self.failed = True
        try:
            finish = getattr(self.stream, "finish", None)
            if finish is not None:
                self.target = finish(complete=False)
            else:
                self.stream.close()
        except OSError:
            pass
        return write_failure(self.target or Path("?"), self.flag, self.complete_rows(), err)


def write_failure(path: Path, flag: str, rows: int, err: OSError) -> BertCliError:
    """One line for a write that failed part-way: the file, the flag, the rows that are whole, the fix."""
    whole = f"{rows:,} complete row{'' if rows == 1 else 's'}"
    if err.errno in DISK_FULL:
        return DiskSpaceError(
            f"wrote {whole} to {path} ({flag}) before the disk filled; the last row may be cut — free space and rerun"
        )
    return BertCliError(
        f"writing {path} ({flag}) failed after {whole}: {err.strerror or err} — the last row may be cut; "
        "fix that and rerun"
    )


def open_output(path: Path, flag: str = "--output") -> IO[str]:
    """Open `path` for writing records, creating its folder; the stream remembers the path and flag for errors.

    The records go to a temporary file beside `path`, renamed onto it when the stream is closed after a complete
    write (see OutputFile.finish), so an interrupted run never leaves a half file where a good one was.
    """
    from bertcli.core.outputs import partial_file

    try:
        fd, partial = partial_file(path)
        stream = OutputFile(os.fdopen(fd, "wb"), encoding="utf-8", newline="")
    except OSError as err:
        raise BertCliError(f"cannot write {flag} {path}: {err.strerror or err} — pick another path") from None
    stream.output_path = path
    stream.output_flag = flag
    stream.partial_path = partial
    return stream
