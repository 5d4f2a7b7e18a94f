"""Texts to classify from plain text, CSV, JSON Lines, Parquet or stdin (predictions go out through `records`).

Readers stream: one line or row at a time, so memory stays flat however long the input. A bad
line (not UTF-8, not JSON, no text) becomes a `TextItem` with an `error`, never an exception that
loses the lines around it. Problems with the whole file (missing, unreadable, no such column) are
raised before the first line is read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from bertcli.core.errors import DataError, UsageError

STDIN = "-"
# A line longer than this is skipped with an error instead of being read into memory whole.
MAX_LINE_BYTES = 8_000_000
TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".parquet": "parquet"}
# Read as one text per line; any other suffix (.xlsx, .docx, .bin, ...) is refused rather than read as text lines.
PLAIN_SUFFIXES = ("", ".txt")
SUPPORTED = ".txt (one text per line), .csv, .tsv, .jsonl, .json or .parquet"


@dataclass
class TextItem:
    """One input to classify: its text, where it came from, the input's other columns, or why it cannot be used.

    `line` counts in `unit`: physical lines of a text or JSON Lines file ("line"), data rows of a CSV below
    its header ("row", with the physical line it starts on in `physical_line`), or records of a JSON array
    or Parquet file ("record").
    """

    text: str | None
    line: int | None = None
    error: str | None = None
    fields: dict[str, Any] | None = None
    unit: str = "line"
    physical_line: int | None = None

    def where(self) -> str:
        if self.line is None:
            return ""
        where = f"{self.unit} {self.line}"
        if self.physical_line is not None and self.physical_line != self.line:
            where += f" (line {self.physical_line})"
        return where


def _with(item: TextItem, fields: dict[str, Any] | None, unit: str, physical_line: int | None = None) -> TextItem:
    item.fields, item.unit, item.physical_line = fields, unit, physical_line
    return item


def check_text(text: Any) -> str | None:
    """Why a value cannot be classified, or None when it can."""
    if text is None:
        return "no text"
    if not isinstance(text, str):
        return f"not text ({type(text).__name__})"
    if not text:
        return "empty text"
    if not text.strip():
        return "blank text (whitespace only)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8 — re-encode the input as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
    return None


def as_item(value: Any, line: int | None = None) -> TextItem:
    if isinstance(value, TextItem):
        return value
    error = check_text(value)
    if error is None:
        return TextItem(value, line)
    keep = isinstance(value, str) and not value.strip()  # an empty or blank text is shown as it was
    return TextItem(value if keep else None, line, error)


def _decode(raw: bytes, line: int) -> TextItem:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return TextItem(
            None,
            line,
            f"not valid UTF-8 (byte 0x{raw[err.start]:02x} at position {err.start}) — re-encode the input as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)",
        )
    if "\x00" in text:
        return TextItem(None, line, "binary data (NUL bytes), not text — give a text file with one text per line")
    if line == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return as_item(text.rstrip("\r\n"), line)


def _binary_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes without the newline); None for a line over MAX_LINE_BYTES, which is read past, not kept."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES)
        if not raw:
            return
        number += 1
        if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None
            continue
        yield number, raw.rstrip(b"\r\n")


def _too_long(line: int) -> TextItem:
    return TextItem(None, line, f"line longer than {MAX_LINE_BYTES // 1_000_000} MB — skipped")


def read_plain_lines(stream: IO[bytes] | IO[str]) -> Iterator[TextItem]:
    """One text per line; works on binary and text streams (stdin, files)."""
    binary = getattr(stream, "buffer", stream)
    probe = binary.read(0)
    if isinstance(probe, str):  # a text stream without a binary buffer
        for number, line in enumerate(binary, start=1):
            yield as_item(line.rstrip("\r\n"), number)
        return
    for number, raw in _binary_lines(binary):
        yield _too_long(number) if raw is None else _decode(raw, number)


def _missing_column(path: Path, column: str, columns: Iterable[str]) -> DataError:
    return DataError(
        f"'{path.name}' has no column '{column}' (columns: {', '.join(map(str, columns)) or 'none'}) — "
        "name the text column with --text-column"
    )


def _open_binary(path: Path) -> IO[bytes]:
    if path.is_dir():
        raise DataError(f"'{path}' is a folder — pass a file with one text per line, or a CSV/JSONL/Parquet file")
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise DataError(f"cannot read '{path}': no such file — check the path given to --file") from None
    except PermissionError:
        raise DataError(f"cannot read '{path}': permission denied — check the file's permissions") from None
    except OSError as err:
        raise DataError(f"cannot read '{path}': {err.strerror or err}") from None


def _read_csv(path: Path, column: str, delimiter: str) -> Iterator[TextItem]:
    stream = io.TextIOWrapper(_open_binary(path), encoding="utf-8", errors="surrogateescape", newline="")
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        stream.close()
        raise DataError(f"'{path.name}' is empty — it needs a header row with a '{column}' column") from None
    except csv.Error as err:
        stream.close()
        raise DataError(f"cannot read the header of '{path.name}': {err}") from None
    if header and header[0].startswith("\ufeff"):
        header[0] = header[0][1:]
    if column not in header:
        stream.close()
        raise _missing_column(path, column, header)
    position = header.index(column)

    others = [(i, name) for i, name in enumerate(header) if i != position]

    def rows() -> Iterator[TextItem]:
        with stream:
            row_number = 0
            while True:
                row_number += 1
                starts = reader.line_num + 1  # the physical line this row starts on
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as err:
                    yield _with(TextItem(None, row_number, f"unreadable CSV row: {err}"), None, "row", starts)
                    continue
                if not row:
                    row_number -= 1
                    continue
                fields = {name: row[i] if i < len(row) else None for i, name in others}
                if position >= len(row):
                    yield _with(TextItem(None, row_number, f"row has {len(row)} field(s), no '{column}'"), fields, "row", starts)
                    continue
                yield _with(as_item(row[position], row_number), fields, "row", starts)

    return rows()


def _record_item(record: Any, number: int, column: str, unit: str) -> TextItem:
    """A JSON object (or a Parquet row) as an item: its `column` as the text, its other fields kept."""
    if not isinstance(record, dict):
        return _with(TextItem(None, number, f"not a JSON object but a {type(record).__name__}"), None, unit)
    fields = {k: v for k, v in record.items() if k != column}
    if column not in record:
        return _with(TextItem(None, number, f"no '{column}' field"), fields, unit)
    return _with(as_item(record[column], number), fields, unit)


def _read_jsonl(path: Path, column: str) -> Iterator[TextItem]:
    stream = _open_binary(path)

    def value_of(raw: bytes, number: int, first: bool) -> TextItem:
        try:
            record = json.loads(raw)
        except UnicodeDecodeError:
            return _decode(raw, number)
        except ValueError as err:
            return TextItem(None, number, f"not a JSON object: {str(err).splitlines()[0]}")
        if first and isinstance(record, dict) and column not in record:
            stream.close()
            raise _missing_column(path, column, record.keys())
        return _record_item(record, number, column, "line")

    lines = _binary_lines(stream)
    head: list[TextItem] = []
    for number, raw in lines:  # the first record decides whether the column exists at all
        if raw is None:
            head.append(_too_long(number))
            continue
        if not raw.strip():
            continue
        head.append(value_of(raw, number, first=True))
        break

    def rows() -> Iterator[TextItem]:
        with stream:
            yield from head
            for number, raw in lines:
                if raw is None:
                    yield _too_long(number)
                elif raw.strip():
                    yield value_of(raw, number, first=False)

    return rows()


def _read_json_array(path: Path, column: str) -> Iterator[TextItem]:
    with _open_binary(path) as stream:
        start = stream.read(64).lstrip()
    if not start.startswith(b"["):
        return _read_jsonl(path, column)
    try:
        records = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read '{path.name}' as JSON: {str(err).splitlines()[0]}") from None
    first = next((r for r in records if isinstance(r, dict)), None)
    if first is not None and column not in first:
        raise _missing_column(path, column, first.keys())

    def rows() -> Iterator[TextItem]:
        for number, record in enumerate(records, start=1):
            yield _record_item(record, number, column, "record")

    return rows()


def _read_parquet(path: Path, column: str) -> Iterator[TextItem]:
    import pyarrow.parquet as pq

    _open_binary(path).close()
    try:
        parquet = pq.ParquetFile(str(path))
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for the same problem
        raise DataError(f"cannot read '{path.name}' as Parquet: {str(err).splitlines()[0]}") from None
    names = parquet.schema_arrow.names
    if column not in names:
        raise _missing_column(path, column, names)

    def rows() -> Iterator[TextItem]:
        number = 0
        for batch in parquet.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                number += 1
                yield _record_item(record, number, column, "record")

    return rows()


def check_text_source(source: str | Path) -> None:
    """Refuse a --file whose suffix bertcli cannot read (before anything is loaded)."""
    if str(source) == STDIN:
        return
    suffix = Path(source).suffix.lower()
    if suffix not in TABLE_SUFFIXES and suffix not in PLAIN_SUFFIXES:
        raise UsageError(
            f"--file {source}: bertcli cannot read {suffix} files — give {SUPPORTED} "
            "(save a spreadsheet as CSV, a document as plain .txt)"
        )


def read_texts(source: str | Path, text_column: str = "text", stdin: IO | None = None) -> Iterator[TextItem]:
    """Stream the texts of a file (by suffix: CSV/TSV, JSONL/JSON, Parquet, .txt or none: one text per line) or stdin ('-')."""
    if str(source) == STDIN:
        import sys

        return read_plain_lines(stdin if stdin is not None else sys.stdin)
    check_text_source(source)
    path = Path(source).expanduser()
    kind = TABLE_SUFFIXES.get(path.suffix.lower())
    if kind in ("csv", "tsv"):
        return _read_csv(path, text_column, "\t" if kind == "tsv" else ",")
    if kind == "jsonl":
        return _read_jsonl(path, text_column)
    if kind == "json":
        return _read_json_array(path, text_column)
    if kind == "parquet":
        return _read_parquet(path, text_column)
    stream = _open_binary(path)

    def lines() -> Iterator[TextItem]:
        with stream:
            yield from read_plain_lines(stream)

    return lines()
