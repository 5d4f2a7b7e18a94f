"""Tables (.csv, .tsv) as they are published: the delimiter and whether the first row is a header, found from
the first rows; columns named by position (1 = the first) when there is no header; and the text and label
columns picked when the data leaves one choice.

Only the first SAMPLE_BYTES of a file are read to find its layout; the rows are read once, in order, when
they are used.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from bertcli.core.errors import DataError, UsageError

SAMPLE_BYTES = 1 << 16
SAMPLE_ROWS = 200
# The longest field a table may hold (csv's own limit is 128 KB).
MAX_FIELD_BYTES = 8_000_000
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
_DELIMITER_WORDS = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
DEFAULT_TEXT, DEFAULT_LABEL = "text", "label"
# Several text columns are joined into one text with this between them.
TEXT_JOIN = "\n"
_INT = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_delimiter(value: str | None) -> str | None:
    """--delimiter: one character, or tab, comma, semicolon, pipe, '\\t'; None: found from the file."""
    if value is None:
        return None
    delimiter = _DELIMITER_WORDS.get(value.strip().lower(), value)
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise UsageError(f"--delimiter takes one character or tab, comma, semicolon, pipe — not {value!r}")
    return delimiter


def delimiter_name(delimiter: str) -> str:
    return DELIMITERS.get(delimiter, repr(delimiter))


@dataclass
class TableLayout:
    """How a table's rows are split, whether its first row names the columns, and the columns' names
    (the header's, or "1", "2", … by position)."""

    delimiter: str
    header: bool
    columns: list[str]
    found_delimiter: bool = False  # another delimiter than the suffix's, found from the rows
    found_no_header: bool = False  # no header row, found from the rows


def layout_notes(layouts: Mapping[str, TableLayout]) -> list[str]:
    """One note for each thing found about the layout of these tables (by name), naming the flag that says otherwise."""
    notes = []
    for delimiter in sorted({t.delimiter for t in layouts.values() if t.found_delimiter}):
        names = [name for name, t in layouts.items() if t.found_delimiter and t.delimiter == delimiter]
        suffixes = "/".join(sorted({Path(name).suffix for name in names}))
        notes.append(f"{_listed(names)}: {delimiter_name(delimiter)}-separated despite the {suffixes} suffix "
                     "(--delimiter to say otherwise)")
    headerless = {name: t for name, t in layouts.items() if t.found_no_header}
    if headerless:
        widths = sorted({len(t.columns) for t in headerless.values()})
        numbered = "1–" + "/".join(map(str, widths))
        notes.append(f"{_listed(list(headerless))}: no header row (the first row is data), columns numbered {numbered} "
                     "(--header to say there is one)")
    return notes


def _listed(names: Sequence[str]) -> str:
    return ", ".join(f"'{Path(name).name}'" for name in names)


def _sample_text(path: Path) -> tuple[str, bool]:
    """The first SAMPLE_BYTES of a file as text, cut after its last whole line, and whether that is all of it."""
    with path.open("rb") as stream:
        raw = stream.read(SAMPLE_BYTES + 1)
    whole = len(raw) <= SAMPLE_BYTES
    text = raw[:SAMPLE_BYTES].decode("utf-8", errors="replace").lstrip("\ufeff")
    if not whole and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text, whole


def _rows(text: str, delimiter: str) -> list[list[str]]:
    """The non-blank rows of a sample, at most SAMPLE_ROWS."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in row):
                rows.append(row)
                if len(rows) >= SAMPLE_ROWS:
                    break
    except csv.Error:
        pass
    return rows


def _modal_width(rows: Sequence[Sequence[str]]) -> tuple[int, float]:
    """The commonest number of fields in the rows, and the share of rows that have it."""
    counts = [len(row) for row in rows]
    if not counts:
        return 0, 0.0
    width = max(set(counts), key=counts.count)
    return width, counts.count(width) / len(counts)


def sniff_delimiter(text: str, suffix: str) -> str:
    """The delimiter that splits the sample's rows into the same number (≥ 2) of fields most consistently;
    the suffix's own (tab for .tsv, else comma) unless another does strictly better."""
    own = "\t" if suffix == ".tsv" else ","
    best, best_share = own, -1.0
    for delimiter in [own] + [d for d in DELIMITERS if d != own]:
        width, share = _modal_width(_rows(text, delimiter))
        if width >= 2 and share > best_share:
            best, best_share = delimiter, share
    return best


def _looks_like_data(rows: Sequence[Sequence[str]], expected: Iterable[str]) -> bool:
    """Whether a table's first row is data, not a header: it names none of the expected columns and one of its
    cells is a number, a sentence, or a value that comes back further down its column."""
    first, rest = rows[0], rows[1:]
    if {cell.strip().lower() for cell in first} & {name.lower() for name in expected if name}:
        return False
    for j, cell in enumerate(first):
        value = cell.strip()
        if not value:
            continue
        if _NUMBER.fullmatch(value) or len(value) > 40 or len(value.split()) > 5:
            return True
        if any(j < len(row) and row[j].strip() == value for row in rest):
            return True
    return False


def table_layout(path: Path, source: str, *, delimiter: str | None = None, header: bool | None = None,
                 expected: Iterable[str] = ()) -> TableLayout:
    """A table's layout from its first SAMPLE_BYTES; `delimiter` and `header` as given win over what is found.

    `expected` names columns the caller looks for (--text-column title,description): a first row holding
    one of them is a header."""
    text, whole = _sample_text(path)
    found_delimiter = found_no_header = False
    if delimiter is None:
        delimiter = sniff_delimiter(text, path.suffix.lower())
        found_delimiter = delimiter != ("\t" if path.suffix.lower() == ".tsv" else ",")
    rows = _rows(text, delimiter)
    width, _ = _modal_width(rows)
    if header is None:
        names = {part.strip() for name in expected for part in name.split(",") if not part.strip().isdigit()}
        header = not (len(rows) >= 2 and _looks_like_data(rows, names))
        found_no_header = not header
    if header and whole and len(rows) == 1:
        columns = ", ".join(c.strip() for c in rows[0])[:120]
        raise DataError(f"'{source}' has a header ({columns}) but no rows — add one row per example below it")
    if header and rows:
        columns = [cell.strip() or str(j + 1) for j, cell in enumerate(rows[0])]
    else:
        columns = [str(j + 1) for j in range(width)]
    return TableLayout(delimiter, header, columns, found_delimiter, found_no_header)


def _typed(values: list[str]) -> list[Any]:
    """A column as ints when every value is an integer, floats when every value is a number, else as text."""
    if values and all(_INT.fullmatch(v.strip()) for v in values):
        return [int(v) for v in values]
    if values and all(_NUMBER.fullmatch(v.strip()) for v in values):
        return [float(v) for v in values]
    return values


def read_table(path: Path, source: str, layout: TableLayout) -> dict[str, list[Any]]:
    """Every row of a table as columns (ints or numbers where a column holds only those); a row with another
    number of fields is refused with its line."""
    csv.field_size_limit(MAX_FIELD_BYTES)
    width = len(layout.columns)
    values: list[list[str]] = [[] for _ in range(width)]
    with path.open(encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream, delimiter=layout.delimiter)
        if layout.header:
            next(reader, None)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                what = "the header names" if layout.header else "the first rows have"
                raise DataError(
                    f"'{source}' line {reader.line_num:,} has {len(row)} field(s) where {what} {width} "
                    f"({delimiter_name(layout.delimiter)}-separated) — fix that row, or name the delimiter with --delimiter"
                )
            for column, cell in zip(values, row):
                column.append(cell)
    return {name: _typed(column) for name, column in zip(layout.columns, values)}


# ---- which columns hold the text and the label ----


def resolve_columns(given: str, columns: Sequence[str]) -> list[str] | None:
    """The columns `given` names: a name, a position (1 = the first column), or several joined by commas
    ("title,description", "2,3"); None when one of them is not there."""
    if given in columns:
        return [given]
    found = []
    for part in (p.strip() for p in given.split(",")):
        if part in columns:
            found.append(part)
        elif part.isdigit() and 1 <= int(part) <= len(columns):
            found.append(columns[int(part) - 1])
        else:
            return None
    return found or None


@dataclass
class ColumnRoles:
    """Which columns of a sample could be the text (long, varied, words) and which the label (few values)."""

    text: list[str]
    label: list[str]


def column_roles(sample: Mapping[str, Sequence[Any]]) -> ColumnRoles:
    text, label = [], []
    for name, column in sample.items():
        values = [str(v) for v in column if v is not None and str(v).strip()]
        if not values:
            continue
        distinct = len(set(values))
        wordy = sum(len(v.split()) >= 3 for v in values) / len(values)
        if wordy >= 0.5 and distinct >= 0.5 * len(values):
            text.append(name)
        elif wordy < 0.5 and distinct <= max(2, len(values) // 2):  # (one value: a sample of a file sorted by label)
            label.append(name)
    return ColumnRoles(text, label)


def describe_columns(sample: Mapping[str, Sequence[Any]], names: Iterable[str] | None = None) -> str:
    """'id (0), question (How did serfdom…), label (DESC)': each column with its first value."""
    shown = []
    for name in names if names is not None else sample:
        first = next((v for v in sample.get(name, []) if v is not None), "")
        value = " ".join(str(first).split())
        shown.append(f"{name} ({value[:24] + '…' if len(value) > 25 else value})")
    return ", ".join(shown)


@dataclass
class ColumnChoice:
    """The columns a command reads: the text (one, or several joined), the label (None: none read), and a
    note when they were picked from the data rather than named."""

    text: list[str]
    label: str | None
    note: str | None = None

    @property
    def text_spec(self) -> str:
        """How --text-column names the text columns again ("question", "2,3")."""
        return ",".join(self.text)


def choose_columns(
    sample: Mapping[str, Sequence[Any]],
    text_column: str,
    label_column: str | None,
    where: str,
    *,
    saved: tuple[str | None, str | None] = (None, None),
) -> ColumnChoice:
    """The text and label columns of a table whose columns and first rows are `sample`.

    A column named on the command line is used as named (a name, a 1-based position, or several text
    columns joined). Left at its default ('text', 'label'), the column saved with the model is tried, then
    the default, then the one column of its kind the data has; where it has several, or none, the error
    names the flag."""
    columns = list(sample)
    roles: ColumnRoles | None = None
    picked: list[str] = []

    def find(given: str, default: str, saved_name: str | None, kind: str) -> list[str]:
        nonlocal roles
        found = resolve_columns(given, columns)
        if found is not None or given != default:
            return found if found is not None else _missing(given, kind)
        for name in (saved_name, default):
            found = resolve_columns(name, columns) if name else None
            if found is not None:
                return found
        roles = roles or column_roles(sample)
        return _guess(kind, roles)

    def _missing(given: str, kind: str) -> list[str]:
        raise DataError(
            f"{where} has no column {given!r} (columns: {describe_columns(sample)}) — name the right one with "
            f"--{kind}-column (a name or a position, 1 = the first column)"
        )

    def _guess(kind: str, roles: ColumnRoles) -> list[str]:
        taken = set(text) if kind == "label" else set()
        candidates = [c for c in (roles.text if kind == "text" else roles.label) if c not in taken]
        if len(candidates) == 1:
            picked.append(f"{kind} from column {candidates[0]}")
            return candidates
        default = DEFAULT_TEXT if kind == "text" else DEFAULT_LABEL
        if not candidates:
            raise DataError(
                f"{where} has no column '{default}' and none that looks like its {kind} "
                f"(columns: {describe_columns(sample)}) — name it with --{kind}-column (a name or a position, 1 = the first)"
            )
        shown = describe_columns(sample, candidates)
        if kind == "text":
            raise DataError(
                f"{where} has {len(candidates)} columns of text ({shown}) — pick one with --text-column "
                f"{candidates[-1]}, or join them with --text-column {','.join(candidates)}"
            )
        raise DataError(f"{where} has {len(candidates)} columns that could be the label ({shown}) — "
                        f"name it with --label-column {candidates[0]}")

    text = find(text_column, DEFAULT_TEXT, saved[0], "text")
    label = None
    if label_column is not None:
        label = find(label_column, DEFAULT_LABEL, saved[1], "label")
        if len(label) != 1:
            raise DataError(f"--label-column names one column, not {label_column!r}")
        if label[0] in text:
            raise DataError(f"{where}: column {label[0]} cannot be both the text and the label — "
                            "name them with --text-column and --label-column")
    note = None
    if picked:
        note = f"{where}: {', '.join(picked)} (the only one that fits; --text-column / --label-column to choose)"
    return ColumnChoice(text, label[0] if label else None, note)


def join_texts(rows: Sequence[Sequence[Any]]) -> list[str | None]:
    """Each row's text columns as one text (empty parts left out); None where every part is empty."""
    joined = []
    for parts in rows:
        kept = [str(p).strip() for p in parts if p is not None and str(p).strip()]
        joined.append(TEXT_JOIN.join(kept) if kept else None)
    return joined


def sample_columns(path: Path, layout: TableLayout) -> dict[str, list[str | None]]:
    """The first rows of a table (from its first SAMPLE_BYTES), by column."""
    text, _ = _sample_text(path)
    rows = _rows(text, layout.delimiter)[1 if layout.header else 0:]
    return {name: [row[j] if j < len(row) else None for row in rows] for j, name in enumerate(layout.columns)}
