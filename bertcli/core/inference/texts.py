"""Texts to classify from any file of data/files.FORMATS or stdin (predictions go out through `records`).

Readers stream: one line or row at a time, so memory stays flat however long the input. A bad
line (not UTF-8, not JSON, no text) becomes a `TextItem` with an `error`, never an exception that
loses the lines around it. Problems with the whole file (missing, unreadable, no such column) are
raised before the first line is read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from bertcli.core.data.files import file_format, suffixes_text
from bertcli.core.errors import DataError, UsageError

STDIN = "-"
# A line longer than this is skipped with an error instead of being read into memory whole.
MAX_LINE_BYTES = 8_000_000


@dataclass
class TableOptions:
    """How a --file table is read: its text column(s) as given, the one saved with the model (tried when
    --text-column is left at its default), and its delimiter and header row (None: found from its first rows)."""

    text_column: str = "text"
    saved_column: str | None = None
    delimiter: str | None = None
    header: bool | None = None
    notes: list[str] = field(default_factory=list)  # what was found about the file (filled when it is opened)


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


def _read_csv(path: Path, options: TableOptions) -> Iterator[TextItem]:
    from bertcli.core.data.tables import choose_columns, join_texts, layout_notes, sample_columns, table_layout

    _open_binary(path).close()
    layout = table_layout(path, path.name, delimiter=options.delimiter, header=options.header,
                          expected=[c for c in (options.text_column, options.saved_column) if c])
    choice = choose_columns(sample_columns(path, layout), options.text_column, None, f"'{path.name}'",
                            saved=(options.saved_column, None))
    options.notes += layout_notes({path.name: layout}) + ([choice.note] if choice.note else [])
    positions = [layout.columns.index(name) for name in choice.text]
    column = choice.text_spec
    stream = io.TextIOWrapper(_open_binary(path), encoding="utf-8", errors="surrogateescape", newline="")
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(stream, delimiter=layout.delimiter)
    if layout.header:
        try:
            next(reader, None)
        except csv.Error as err:
            stream.close()
            raise DataError(f"cannot read the header of '{path.name}': {err}") from None
    others = [(i, name) for i, name in enumerate(layout.columns) if i not in positions]

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
                if max(positions) >= len(row):
                    yield _with(TextItem(None, row_number, f"row has {len(row)} field(s), no '{column}'"), fields, "row", starts)
                    continue
                text = row[positions[0]] if len(positions) == 1 else join_texts([[row[p] for p in positions]])[0]
                yield _with(as_item(text, row_number), fields, "row", starts)

    return rows()


def _record_item(record: Any, number: int, columns: list[str], unit: str) -> TextItem:
    """A JSON object (or a Parquet row) as an item: its text `columns` as the text (several joined), its other
    fields kept."""
    if not isinstance(record, dict):
        return _with(TextItem(None, number, f"not a JSON object but a {type(record).__name__}"), None, unit)
    fields = {k: v for k, v in record.items() if k not in columns}
    missing = [c for c in columns if c not in record]
    if missing:
        return _with(TextItem(None, number, f"no '{missing[0]}' field"), fields, unit)
    if len(columns) == 1:
        return _with(as_item(record[columns[0]], number), fields, unit)
    from bertcli.core.data.tables import join_texts

    return _with(as_item(join_texts([[record[c] for c in columns]])[0], number), fields, unit)


def _lacks(record: Any, columns: list[str]) -> bool:
    return isinstance(record, dict) and any(c not in record for c in columns)


def _read_jsonl(path: Path, column: list[str]) -> Iterator[TextItem]:
    stream = _open_binary(path)

    def value_of(raw: bytes, number: int, first: bool) -> TextItem:
        try:
            record = json.loads(raw)
        except UnicodeDecodeError:
            return _decode(raw, number)
        except ValueError as err:
            return TextItem(None, number, f"not a JSON object: {str(err).splitlines()[0]}")
        if first and _lacks(record, column):
            stream.close()
            raise _missing_column(path, ",".join(column), record.keys())
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


def _read_json_array(path: Path, column: list[str]) -> Iterator[TextItem]:
    with _open_binary(path) as stream:
        start = stream.read(64).lstrip()
    if not start.startswith(b"["):
        return _read_jsonl(path, column)
    try:
        records = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read '{path.name}' as JSON: {str(err).splitlines()[0]}") from None
    first = next((r for r in records if isinstance(r, dict)), None)
    if first is not None and _lacks(first, column):
        raise _missing_column(path, ",".join(column), first.keys())

    def rows() -> Iterator[TextItem]:
        for number, record in enumerate(records, start=1):
            yield _record_item(record, number, column, "record")

    return rows()


def _read_parquet(path: Path, column: list[str]) -> Iterator[TextItem]:
    import pyarrow.parquet as pq

    _open_binary(path).close()
    try:
        parquet = pq.ParquetFile(str(path))
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, ... for the same problem
        raise DataError(f"cannot read '{path.name}' as Parquet: {str(err).splitlines()[0]}") from None
    names = parquet.schema_arrow.names
    if any(c not in names for c in column):
        raise _missing_column(path, ",".join(column), names)

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
    if file_format(source) is None:
        raise UsageError(
            f"--file {source}: bertcli cannot read {Path(source).suffix.lower()} files — give {suffixes_text(labelled=False)} "
            "(save a spreadsheet as CSV, a document as plain .txt)"
        )


def read_texts(source: str | Path, table: TableOptions | str = "text", stdin: IO | None = None) -> Iterator[TextItem]:
    """Stream the texts of a file (by its format: a table, JSON Lines, JSON, Parquet, or one text per line) or
    stdin ('-'). `table` names the text column (or says how to read a table)."""
    if str(source) == STDIN:
        import sys

        return read_plain_lines(stdin if stdin is not None else sys.stdin)
    check_text_source(source)
    options = TableOptions(table) if isinstance(table, str) else table
    path = Path(source).expanduser()
    reader = file_format(path).reader  # type: ignore[union-attr]
    if reader == "table":
        return _read_csv(path, options)
    if reader in ("jsonl", "json", "parquet"):
        columns = _record_columns(path, reader, options)
        read = {"jsonl": _read_jsonl, "json": _read_json_array, "parquet": _read_parquet}[reader]
        return read(path, columns)
    stream = _open_binary(path)

    def lines() -> Iterator[TextItem]:
        with stream:
            yield from read_plain_lines(stream)

    return lines()


def _record_columns(path: Path, reader: str, options: TableOptions) -> list[str]:
    """The text field(s) of a JSON Lines, JSON or Parquet file: as named, the one saved with the model, 'text',
    or the one field of long texts in its first records (a bounded read); as named when those cannot be read."""
    from bertcli.core.data.tables import SAMPLE_BYTES, SAMPLE_ROWS, choose_columns

    records: list[Any] = []
    try:
        if reader == "parquet":
            import pyarrow.parquet as pq

            batch = next(pq.ParquetFile(str(path)).iter_batches(batch_size=SAMPLE_ROWS), None)
            records = batch.to_pylist() if batch is not None else []
        else:
            with path.open("rb") as stream:
                head = stream.read(SAMPLE_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff").lstrip()
            decoder, at = json.JSONDecoder(), 1 if head.startswith("[") else 0
            while len(records) < SAMPLE_ROWS:
                while at < len(head) and head[at] in " \t\r\n,":
                    at += 1
                record, at = decoder.raw_decode(head, at)
                records.append(record)
    except Exception:  # a record cut at the end of the sample, or an unreadable file: its reader says why
        pass
    sample: dict[str, list[Any]] = {}
    for record in (r for r in records if isinstance(r, dict)):
        for key, value in record.items():
            sample.setdefault(key, []).append(value)
    if not sample:
        return [options.saved_column if options.text_column == "text" and options.saved_column else options.text_column]
    choice = choose_columns(sample, options.text_column, None, f"'{path.name}'", saved=(options.saved_column, None))
    options.notes += [choice.note] if choice.note else []
    return choice.text
