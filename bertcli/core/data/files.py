"""Data files that cannot be read, named before datasets sees them: empty, binary, not UTF-8, broken JSON or Parquet.

Each check reads the file once, in chunks, so memory stays flat whatever the size; a --dataset value that looks
like a local path but is not there is "no such file or folder" with a near name, never a hub lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from bertcli.core.errors import DataError



@dataclass(frozen=True)
class FileFormat:
    """One kind of data file: its suffixes, its name in messages, how it is read, and what it holds."""

    suffixes: tuple[str, ...]
    name: str
    reader: str  # "table" (delimited rows), "jsonl", "json", "parquet" or "lines" (one text per line)
    holds: str
    labelled: bool = True  # can hold labels: train, evaluate and debug data read it; False: predict only


# The one table of the files bertcli reads: every command and every help text reads it from here.
FORMATS = (
    FileFormat((".csv",), "CSV", "table", "rows of fields, comma- or tab-separated (found), a header row or none"),
    FileFormat((".tsv",), "TSV", "table", "rows of tab-separated fields, a header row or none"),
    FileFormat((".jsonl", ".ndjson"), "JSON Lines", "jsonl", "one JSON object per line"),
    FileFormat((".json",), "JSON", "json", "a JSON array of objects, or JSON Lines"),
    FileFormat((".parquet",), "Parquet", "parquet", "a Parquet table"),
    FileFormat((".txt", ""), "text", "lines", "one text per line, no labels", labelled=False),
)
_BY_SUFFIX = {suffix: fmt for fmt in FORMATS for suffix in fmt.suffixes}


def file_format(path: str | Path) -> FileFormat | None:
    """The format a file's suffix names, or None for a suffix bertcli does not read."""
    return _BY_SUFFIX.get(Path(path).suffix.lower())


def data_format(path: str | Path) -> FileFormat | None:
    """The format of a labelled data file (train, evaluate, debug data), or None."""
    fmt = file_format(path)
    return fmt if fmt is not None and fmt.labelled else None


def suffixes_text(labelled: bool = True) -> str:
    """The suffixes as help texts list them: '.csv, .tsv, .jsonl, .ndjson, .json or .parquet'."""
    names = [s for fmt in FORMATS if fmt.labelled or not labelled for s in fmt.suffixes if s]
    return ", ".join(names[:-1]) + " or " + names[-1]


DATA_SUFFIXES = tuple(s for fmt in FORMATS if fmt.labelled for s in fmt.suffixes)
# Read this much at a time when checking a file; the structure checks look at the first chunk only.
CHUNK_BYTES = 1 << 20
# Suffixes that mark a --dataset value as a local path, never a hub name.
LOCAL_SUFFIXES = {s for s in _BY_SUFFIX if s} | {".xlsx", ".xls", ".arrow", ".gz", ".zip", ".bz2", ".xz"}
# File signatures of formats people hand over under a text suffix.
MAGIC = (
    (b"PAR1", "a Parquet file — give it a .parquet suffix"),
    (b"PK\x03\x04", "a zip archive (an Excel workbook?) — export the data as CSV or unpack it"),
    (b"\x1f\x8b", "gzip-compressed — decompress it first (gunzip)"),
    (b"SQLite format 3\x00", "an SQLite database — export a table as CSV"),
)
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27))


def format_name(path: Path, default: str) -> str:
    fmt = data_format(path)
    return fmt.name if fmt is not None else default


def missing_path_error(source: str) -> DataError:
    """'no such file or folder', naming the first part of the path that is missing and a near name beside it."""
    import difflib

    path = Path(source).expanduser()
    parts = path.parts
    hint = ""
    for depth in range(1, len(parts) + 1):
        here = Path(*parts[:depth])
        if here.exists():
            continue
        parent = here.parent
        if parent.is_dir():
            try:
                siblings = sorted(p.name for p in parent.iterdir())[:2000]
            except OSError:
                siblings = []
            close = difflib.get_close_matches(here.name, siblings, n=1, cutoff=0.8)
            if close:
                hint = f"did you mean {parent / close[0] if str(parent) != '.' else close[0]}?"
        break
    return DataError(f"no such file or folder: {source} — the --dataset path does not exist; {hint or 'check it for typos'}")


def looks_local(source: str) -> bool:
    """A --dataset value meant as a local path: a data suffix, ./ / ~ prefixes, or a first part that is a local folder."""
    path = Path(source).expanduser()
    if path.suffix.lower() in LOCAL_SUFFIXES or source.startswith((".", "/", "~", "\\")) or source.count("/") > 1:
        return True
    parts = Path(source).parts
    return len(parts) > 1 and Path(parts[0]).is_dir()


def _utf8_fix(path: Path, source: str, encoding: str = "latin1") -> str:
    converted = Path(source).with_name(f"{path.stem}.utf8{path.suffix}")
    return f"convert it, e.g. iconv -f {encoding} -t utf-8 {source} > {converted}"


def _scan_bytes(path: Path, source: str, whole_file: bool = False) -> tuple[bytes, int]:
    """The file's first chunk and its size, after refusing binary data and text that is not UTF-8.

    Checks the first chunk, or with `whole_file` every chunk, one at a time, so memory stays flat whatever
    the size (about 0.5 s per 100 MB of non-ASCII text, 0.07 s of ASCII; so the whole file only after datasets has
    failed on it).
    """
    import codecs
    import os

    label = format_name(path, "text")
    try:
        stream = path.open("rb")
    except PermissionError:
        raise DataError(f"cannot read '{source}': permission denied — check the file's permissions") from None
    except OSError as err:
        raise DataError(f"cannot read '{source}': {err.strerror or err}") from None
    with stream:
        head = stream.read(CHUNK_BYTES)
        for magic, what in MAGIC:
            if head.startswith(magic):
                raise DataError(f"'{source}' is not a {label} file: it is {what}")
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise DataError(f"'{source}' is UTF-16 text, not UTF-8 — {_utf8_fix(path, source, 'utf-16')}")
        sample = head[:65536]
        nul = sample.find(b"\x00")
        controls = len(sample) - len(sample.translate(None, _CONTROL))
        if nul >= 0 or controls > len(sample) * 0.05:
            where = f" (a NUL byte at byte {nul:,})" if nul >= 0 else ""
            raise DataError(
                f"'{source}' is not a {label} file: it holds binary data{where} — "
                "give a UTF-8 text file, or a .parquet file with its own suffix"
            )
        size = os.fstat(stream.fileno()).st_size
        pending, offset, chunk = b"", 0, head
        while True:
            data = pending + chunk
            final = not chunk
            if data.isascii():  # most chunks of most files: no decoding needed
                used = len(data)
            else:
                try:
                    _, used = codecs.utf_8_decode(data, "strict", final)
                except UnicodeDecodeError as err:
                    at = offset + err.start
                    raise DataError(
                        f"'{source}' is not UTF-8: byte 0x{data[err.start]:02x} at byte {at:,} "
                        f"(line {_line_at(path, at):,}) — " + _utf8_fix(path, source)
                    ) from None
            pending, offset = data[used:], offset + used
            if final or (not whole_file and size > len(head)):
                break  # (a character cut at the end of the first chunk is not an error)
            chunk = stream.read(CHUNK_BYTES)
    return head, size


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line that holds byte `offset` of a file."""
    lines = 1
    with path.open("rb") as stream:
        while offset > 0:
            chunk = stream.read(min(CHUNK_BYTES, offset))
            if not chunk:
                break
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


def _json_error(raw: bytes, number: int, source: str) -> DataError | None:
    """Why one line of a JSON Lines file is not a record, or None when it is one."""
    import json

    try:
        record = json.loads(raw)
    except ValueError as err:
        reason = (getattr(err, "msg", None) or str(err).splitlines()[0]).removesuffix(" at")
        column = getattr(err, "colno", None)
        where = f" (column {column})" if column else ""
        return DataError(
            f"'{source}' line {number:,} is not valid JSON: {reason}{where} — fix that line; "
            'each line must be one JSON object like {"text": "...", "label": ...}'
        )
    if not isinstance(record, dict):
        return DataError(
            f"'{source}' line {number:,} is a JSON {type(record).__name__}, not an object — "
            'each line must be one JSON object like {"text": "...", "label": ...}'
        )
    return None


def _check_json_lines(lines: Iterable[bytes], source: str) -> None:
    """Refuse the first line of a JSON Lines file that is not a JSON object."""
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            error = _json_error(raw, number, source)
            if error is not None:
                raise error


def _check_json_document(body: bytes, source: str) -> bool:
    """True when a whole .json file is one JSON document; a broken JSON array is refused with its line and column."""
    import json

    try:
        json.loads(body)
        return True
    except ValueError as err:
        if not body.lstrip().startswith(b"["):
            return False  # not one document: read it as JSON Lines
        reason = getattr(err, "msg", None) or str(err).splitlines()[0]
        where = f" at line {err.lineno:,}, column {err.colno}" if hasattr(err, "lineno") else ""
        raise DataError(f"'{source}' is not valid JSON: {reason}{where} — fix it there") from None


def _check_parquet(path: Path, source: str) -> None:
    try:
        size = path.stat().st_size
        with path.open("rb") as stream:
            start = stream.read(4)
            stream.seek(max(size - 4, 0))
            end = stream.read(4)
    except OSError as err:
        raise DataError(f"cannot read '{source}': {err.strerror or err}") from None
    if size == 0:
        raise DataError(f"'{source}' is empty — write the data again (e.g. pandas DataFrame.to_parquet)")
    if start != b"PAR1":
        raise DataError(
            f"'{source}' is not a Parquet file (it does not start with the PAR1 marker) — "
            "give it its real suffix (.csv, .jsonl) or write it with pandas/pyarrow"
        )
    if size < 12 or end != b"PAR1":
        raise DataError(f"'{source}' is an incomplete Parquet file (no footer; cut short?) — copy or write it again")


def check_data_file(path: Path, source: str | None = None) -> None:
    """Refuse a data file that cannot be read, naming why: empty, binary, not UTF-8,
    not JSON at line N, not Parquet. Reads the file once in chunks; structure is checked on the first chunk."""
    source = source or str(path)
    fmt = data_format(path)
    if fmt is None:
        return
    if fmt.reader == "parquet":
        _check_parquet(path, source)
        return
    head, size = _scan_bytes(path, source)
    whole = size <= len(head)
    if whole and not head.removeprefix(b"\xef\xbb\xbf").strip():
        what = "a header row (e.g. text,label) and one row per example" if fmt.reader == "table" else (
            'one JSON object per line, like {"text": "...", "label": ...}'
        )
        raise DataError(f"'{source}' is empty — it needs {what}")
    if fmt.reader == "table":
        return  # its layout (delimiter, header row) is read from the first rows by tables.table_layout
    body = head.removeprefix(b"\xef\xbb\xbf")
    if fmt.reader == "json" and body.lstrip().startswith(b"["):
        if whole:
            _check_json_document(body, source)
        return  # an array of records: datasets parses it whole
    if fmt.reader == "json" and (not whole or _check_json_document(body, source)):
        return  # one JSON document, or too large to tell a pretty-printed object from JSON Lines here
    lines = body.split(b"\n")
    if not whole:
        lines = lines[:-1]  # the last line of the chunk may be cut
    _check_json_lines(lines, source)


def _starts_with(path: Path, prefix: bytes) -> bool:
    with path.open("rb") as stream:
        return stream.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip().startswith(prefix)


def _json_lines_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        for raw in stream:
            yield raw


def explain_failure(path: Path, source: str, err: Exception) -> DataError:
    """After datasets failed on a file that passed the cheap checks: bytes that are not UTF-8, the first bad JSON
    line, else the root cause."""
    fmt = data_format(path)
    if fmt is not None and fmt.reader in ("table", "jsonl", "json"):
        try:
            _scan_bytes(path, source, whole_file=True)
            if fmt.reader in ("jsonl", "json") and not _starts_with(path, b"["):
                _check_json_lines(_json_lines_of(path), source)
        except DataError as found:
            return found
        except OSError:
            pass
    what = format_name(path, "data")
    return DataError(f"cannot read '{source}' as {what}: {root_message(err)} — check the file's format")


def root_message(err: BaseException) -> str:
    """The first line of the innermost cause (datasets wraps the parser's own words in a generic error)."""
    cause, seen = err, set()
    while (cause.__cause__ or cause.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return str(cause).splitlines()[0] if str(cause) else type(cause).__name__
