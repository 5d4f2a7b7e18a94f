"""Datasets from the hub, a hub-layout folder, CSV/JSONL/Parquet files or an aclImdb/ folder.

Everything comes back with two columns, `text` (str) and `label` (ClassLabel), so the rest of
bertcli never cares where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from bertcli.core.errors import DataError, UsageError
from bertcli.core.hub import prepare_hub_access, unreachable

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

FILE_BUILDERS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
# Short label names some corpora use, and the words people expect to read.
READABLE_LABELS = {"neg": "negative", "pos": "positive"}
EVAL_SPLIT_PREFERENCE = ("validation", "valid", "dev", "test")
CARVED = "carved from train"


@dataclass
class LabelledData:
    """The train and eval sets of a run, already subsampled."""

    train: "Dataset"
    eval: "Dataset | None"
    label_names: list[str]
    source: str
    train_split: str
    eval_split: str | None
    notes: list[str] = field(default_factory=list)


def parse_size(value: str | int | None, flag: str) -> int | None:
    """`2000` → 2000, `all` → None (use everything)."""
    if value is None:
        return None
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().lower()
        if text in {"all", "full", "-1"}:
            return None
        try:
            n = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise UsageError(f"{flag} takes a number of examples or 'all', not '{value}'") from None
    if n <= 0:
        raise UsageError(f"{flag} must be a positive number of examples or 'all', not {n}")
    return n


def describe_source(source: str) -> str:
    """What kind of source a --dataset value is: 'acl', 'file', 'folder' or 'hub'."""
    from bertcli.core.defaults import SAMPLE_DATASET

    path = Path(source).expanduser()
    if source == SAMPLE_DATASET and not path.exists():
        return "sample"
    if path.is_dir():
        return "acl" if _acl_root(path) is not None else "folder"
    if path.is_file():
        return "file"
    if path.exists():
        raise DataError(f"'{source}' is neither a file nor a folder — give --dataset a data file or a folder")
    if _looks_local(source):
        raise _missing_path_error(source)
    return "hub"


def _acl_root(path: Path) -> Path | None:
    for root in (path, path / "aclImdb"):
        if (root / "train" / "pos").is_dir() and (root / "train" / "neg").is_dir():
            return root
    return None


def _read_acl(root: Path) -> "DatasetDict":
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    splits = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, sub in enumerate(("neg", "pos")):
            folder = root / split / sub
            if not folder.is_dir():
                continue
            for file in sorted(folder.glob("*.txt")):
                texts.append(file.read_text(encoding="utf-8", errors="replace"))
                labels.append(label)
        if texts:
            splits[split] = Dataset.from_dict({"text": texts, "label": labels}, features=features)
    if "train" not in splits:
        raise DataError(f"{root} has train/pos and train/neg but no .txt reviews in them")
    return DatasetDict(splits)


def _read_sample() -> "DatasetDict":
    """The IMDb sample bundled with bertcli (2,000 train / 500 test reviews; see its README for the source)."""
    import datasets
    from datasets import ClassLabel, Features, Value

    from bertcli.core.defaults import sample_folder

    datasets.disable_progress_bars()
    folder = sample_folder()
    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    files = {split: str(folder / f"{split}.jsonl.gz") for split in ("train", "test")}
    return datasets.load_dataset("json", data_files=files, features=features)


# --- data files that cannot be read: named before datasets sees them -------------------------------------------

# Read this much at a time when checking a file; the structure checks look at the first chunk only.
CHUNK_BYTES = 1 << 20
# Suffixes that mark a --dataset value as a local path, never a hub name.
LOCAL_SUFFIXES = set(FILE_BUILDERS) | {".ndjson", ".txt", ".xlsx", ".xls", ".arrow", ".gz", ".zip", ".bz2", ".xz"}
# File signatures of formats people hand over under a text suffix.
MAGIC = (
    (b"PAR1", "a Parquet file — give it a .parquet suffix"),
    (b"PK\x03\x04", "a zip archive (an Excel workbook?) — export the data as CSV or unpack it"),
    (b"\x1f\x8b", "gzip-compressed — decompress it first (gunzip)"),
    (b"SQLite format 3\x00", "an SQLite database — export a table as CSV"),
)
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27))
FORMAT_NAMES = {".csv": "CSV", ".tsv": "TSV", ".json": "JSON", ".jsonl": "JSON Lines", ".parquet": "Parquet"}


def _missing_path_error(source: str) -> DataError:
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


def _looks_local(source: str) -> bool:
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

    label = FORMAT_NAMES.get(path.suffix.lower(), "text")
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


def _check_csv_head(head: bytes, whole: bool, source: str, delimiter: str) -> None:
    import csv
    import io

    if not whole:
        return  # a header longer than a chunk is not worth guessing about; datasets will say
    text = head.decode("utf-8").lstrip("\ufeff")
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if any(c.strip() for c in r)]
    except csv.Error:
        return
    if len(rows) == 1:
        columns = ", ".join(c.strip() for c in rows[0])[:120]
        raise DataError(f"'{source}' has a header ({columns}) but no rows — add one row per example below it")


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
    """Refuse a data file that cannot be read, naming why: empty, header but no rows, binary, not UTF-8,
    not JSON at line N, not Parquet. Reads the file once in chunks; structure is checked on the first chunk."""
    source = source or str(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        _check_parquet(path, source)
        return
    if suffix not in FILE_BUILDERS:
        return
    head, size = _scan_bytes(path, source)
    whole = size <= len(head)
    if whole and not head.removeprefix(b"\xef\xbb\xbf").strip():
        what = "a header row (e.g. text,label) and one row per example" if suffix in (".csv", ".tsv") else (
            'one JSON object per line, like {"text": "...", "label": ...}'
        )
        raise DataError(f"'{source}' is empty — it needs {what}")
    if suffix in (".csv", ".tsv"):
        _check_csv_head(head, whole, source, "\t" if suffix == ".tsv" else ",")
        return
    body = head.removeprefix(b"\xef\xbb\xbf")
    if suffix == ".json" and body.lstrip().startswith(b"["):
        if whole:
            _check_json_document(body, source)
        return  # an array of records: datasets parses it whole
    if suffix == ".json" and (not whole or _check_json_document(body, source)):
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


def _explain_failure(path: Path, source: str, err: Exception) -> DataError:
    """After datasets failed on a file that passed the cheap checks: bytes that are not UTF-8, the first bad JSON
    line, else the root cause."""
    if path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json"):
        try:
            _scan_bytes(path, source, whole_file=True)
            if path.suffix.lower() in (".jsonl", ".json") and not _starts_with(path, b"["):
                _check_json_lines(_json_lines_of(path), source)
        except DataError as found:
            return found
        except OSError:
            pass
    what = FORMAT_NAMES.get(path.suffix.lower(), "data")
    return DataError(f"cannot read '{source}' as {what}: {_root_message(err)} — check the file's format")


def _root_message(err: BaseException) -> str:
    """The first line of the innermost cause (datasets wraps the parser's own words in a generic error)."""
    cause, seen = err, set()
    while (cause.__cause__ or cause.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return str(cause).splitlines()[0] if str(cause) else type(cause).__name__


def _data_files_in(folder: Path, limit: int = 500) -> list[Path]:
    """The data files datasets would read from a hub-layout folder (hidden folders left out)."""
    found = []
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or file.suffix.lower() not in FILE_BUILDERS:
            continue
        if file.is_file():
            found.append(file)
            if len(found) >= limit:
                break
    return found


def load_raw(source: str) -> "DatasetDict":
    """Load every split of a dataset source, without renaming anything."""
    kind = describe_source(source)
    if kind == "acl":
        return _read_acl(_acl_root(Path(source).expanduser()))
    if kind == "sample":
        return _read_sample()

    path = Path(source).expanduser()
    if kind == "file" and path.suffix.lower() not in FILE_BUILDERS:
        raise DataError(
            f"cannot read '{path.name}': use a .csv, .tsv, .json, .jsonl or .parquet file, "
            "a folder in the hub's layout, or an aclImdb/ folder"
        )
    # name what is wrong with a local file before datasets (and its import) sees it
    checked = [path] if kind == "file" else _data_files_in(path) if kind == "folder" else []
    for file in checked:
        check_data_file(file, source if kind == "file" else str(Path(source) / file.relative_to(path)))

    if kind == "hub":
        prepare_hub_access()
    import datasets
    from datasets import DatasetDict

    datasets.disable_progress_bars()
    # datasets logs its own line for each failure; every failure below becomes one DataError line instead
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        if kind == "file":
            builder = FILE_BUILDERS[path.suffix.lower()]
            kwargs: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
            loaded = datasets.load_dataset(builder, data_files={"train": str(path)}, **kwargs)
        elif kind == "folder":
            loaded = datasets.load_dataset(str(Path(source).expanduser()))
        else:
            loaded = datasets.load_dataset(source)
    except DataError:
        raise
    except (ConnectionError, TimeoutError) as err:
        raise unreachable("dataset", source, "--dataset") from err
    except Exception as err:  # datasets raises many kinds for the same few problems
        name = type(err).__name__
        if kind == "hub" and ("Offline" in name or "NotFound" in name or "Connection" in name or "Hub" in str(err)):
            raise unreachable("dataset", source, "--dataset") from err
        if kind == "file":
            raise _explain_failure(path, source, err) from err
        detail = _root_message(err) if kind == "folder" else (str(err).splitlines()[0] if str(err) else name)
        raise DataError(f"cannot read dataset '{source}': {detail}") from err
    if not isinstance(loaded, DatasetDict):
        loaded = DatasetDict({"train": loaded})
    return loaded


def _normalise_columns(ds: "Dataset", text_column: str, label_column: str | None, split: str) -> "Dataset":
    missing = [c for c in (text_column, label_column) if c and c not in ds.column_names]
    if missing:
        flags = " / ".join(
            f"--{'text' if c == text_column else 'label'}-column" for c in missing
        )
        raise DataError(
            f"split '{split}' has no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(ds.column_names)}) — name the right one with {flags}"
        )
    keep = [text_column] + ([label_column] if label_column else [])
    ds = ds.select_columns(keep)
    if text_column != "text":
        ds = ds.rename_column(text_column, "text")
    if label_column and label_column != "label":
        ds = ds.rename_column(label_column, "label")
    return ds


def label_names_of(splits: dict[str, "Dataset"]) -> list[str]:
    """The label set the data itself declares or implies."""
    from datasets import ClassLabel

    first = next(iter(splits.values()))
    feature = first.features.get("label")
    if isinstance(feature, ClassLabel):
        return [READABLE_LABELS.get(n, n) for n in feature.names]
    values: set = set()
    for ds in splits.values():
        values.update(v for v in ds["label"] if v is not None)
    if values and all(isinstance(v, str) for v in values):
        return sorted(values)
    ints = sorted(int(v) for v in values if isinstance(v, (int, float)) and float(v).is_integer())
    if not ints:
        raise DataError("no usable labels found — labels must be integers or names")
    if set(ints) <= {0, 1}:
        return ["negative", "positive"]
    top = max(ints)
    return [str(i) for i in range(max(top + 1, 2))]


def map_labels(values: Sequence[Any], label_names: Sequence[str]) -> tuple[list[int | None], list[tuple[int, Any]]]:
    """Label ids for names (any case) or ints in range, and the (row, value) pairs that are neither."""
    lookup = {name.lower(): i for i, name in enumerate(label_names)}
    ids: list[int | None] = []
    bad: list[tuple[int, Any]] = []
    for row, value in enumerate(values):
        idx = None
        if isinstance(value, str):
            key = value.strip()
            idx = lookup.get(key.lower())
            if idx is None and key.isdigit() and int(key) < len(label_names):
                idx = int(key)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
            idx = int(value) if 0 <= int(value) < len(label_names) else None
        if idx is None:
            bad.append((row, value))
        ids.append(idx)
    return ids, bad


def _encode_labels(ds: "Dataset", label_names: list[str], split: str) -> "Dataset":
    """Map names (or ints) to ids in `label_names`, refusing anything outside that set."""
    from datasets import ClassLabel

    feature = ds.features["label"]
    raw = list(ds["label"])
    if isinstance(feature, ClassLabel):
        names = [READABLE_LABELS.get(n, n) for n in feature.names]
        raw = [names[v] if v is not None and 0 <= v < len(names) else v for v in raw]
    ids, bad = map_labels(raw, label_names)
    if bad:
        shown = ", ".join(f"row {r}: {v!r}" for r, v in bad[:3])
        raise DataError(
            f"{len(bad)} label(s) in split '{split}' are outside the label set {label_names} ({shown}) — "
            "fix the data, or pass --labels with the full set of names"
        )
    ds = ds.remove_columns("label").add_column("label", ids)
    return ds.cast_column("label", ClassLabel(names=list(label_names)))


def check_texts(ds: "Dataset", split: str) -> None:
    """Refuse empty or missing texts before any training starts."""
    empty = [i for i, t in enumerate(ds["text"]) if t is None or not str(t).strip()]
    if empty:
        rows = ", ".join(str(i) for i in empty[:5]) + (" …" if len(empty) > 5 else "")
        raise DataError(
            f"{len(empty)} empty text(s) in split '{split}' (rows {rows}) — drop or fill them before training"
        )


def _label_counts(values: Iterable[Any]) -> dict[str, int]:
    """How many examples carry each label, most common first (missing labels left out)."""
    from collections import Counter

    return dict(Counter(str(v) for v in values if v is not None).most_common())


def _class_counts(ds: "Dataset", names: list[str]) -> dict[str, int]:
    """Examples per class of a split, by the names in `names` (labels outside them are left to _encode_labels)."""
    from datasets import ClassLabel

    raw = list(ds["label"])
    feature = ds.features["label"]
    if isinstance(feature, ClassLabel):
        declared = [READABLE_LABELS.get(n, n) for n in feature.names]
        raw = [declared[v] if v is not None and 0 <= v < len(declared) else v for v in raw]
    ids, _ = map_labels(raw, names)
    return _label_counts(names[i] for i in ids if i is not None)


def one_class_error(counts: dict[str, int], subsampled: bool = False) -> DataError:
    """Training on one class learns nothing: refuse with the class counts."""
    if not counts:
        return DataError("the training data holds no labelled examples — check --label-column and the data")
    shown = ", ".join(f"{name}: {n:,}" for name, n in counts.items())
    more = "; or raise --train-size (the sample drawn holds one class)" if subsampled else ""
    return DataError(
        f"the training data holds only one class ({shown}) — a classifier needs examples of at least two; "
        f"check --label-column and the data{more}"
    )


def _subsample(ds: "Dataset", n: int | None, seed: int) -> "Dataset":
    shuffled = ds.shuffle(seed=seed)
    if n is None or n >= len(shuffled):
        return shuffled
    return shuffled.select(range(n))


def select_splits(
    raw: "DatasetDict",
    source: str,
    train_split: str,
    eval_split: str | None,
    text_column: str,
    label_column: str | None,
) -> tuple[dict[str, "Dataset"], str | None]:
    """The train split and the eval split (validation, else test, else none), with `text`/`label` columns."""
    if train_split not in raw:
        raise DataError(f"dataset '{source}' has no split '{train_split}' (splits: {', '.join(raw)}) — try --train-split")
    if eval_split is not None and eval_split not in raw:
        raise DataError(f"dataset '{source}' has no split '{eval_split}' (splits: {', '.join(raw)}) — try --eval-split")
    if eval_split is None:
        eval_split = next((s for s in EVAL_SPLIT_PREFERENCE if s in raw and s != train_split), None)
    elif eval_split == train_split:
        eval_split = None  # scoring on the training rows would flatter the model: carve a held-out part instead
    used = {train_split: raw[train_split]}
    if eval_split:
        used[eval_split] = raw[eval_split]
    return {name: _normalise_columns(ds, text_column, label_column, name) for name, ds in used.items()}, eval_split


def load_labelled_data(
    source: str,
    *,
    train_size: int | None = 2000,
    eval_size: int | None = 500,
    seed: int = 42,
    text_column: str = "text",
    label_column: str = "label",
    train_split: str = "train",
    eval_split: str | None = None,
    label_names: list[str] | None = None,
    carve_fraction: float = 0.1,
) -> LabelledData:
    """Load, normalise, validate and subsample the train and eval sets of a run."""
    asked_eval = eval_split
    used, eval_split = select_splits(load_raw(source), source, train_split, eval_split, text_column, label_column)
    names = list(label_names) if label_names else label_names_of(used)
    if len(names) < 2 and label_names:
        raise DataError(f"need at least two labels to classify, found {names}")
    counts = _class_counts(used[train_split], names)
    if len(counts) < 2:
        raise one_class_error(counts)

    notes: list[str] = []
    train = used[train_split]
    if eval_split is None:
        train = _encode_labels(train, names, train_split)
        check_texts(train, train_split)
        if len(train) < 4:
            raise DataError(f"only {len(train)} examples in '{source}' — too few to carve a validation split")
        test_size: float | int = carve_fraction
        if eval_size is not None:
            test_size = max(len(names), min(eval_size, int(len(train) * 0.2)))
        try:
            parts = train.train_test_split(test_size=test_size, seed=seed, stratify_by_column="label")
        except ValueError:
            parts = train.train_test_split(test_size=test_size, seed=seed)
        train, evaluation = parts["train"], parts["test"]
        why = f"--eval-split {train_split}" if asked_eval == train_split else "no validation or test split"
        notes.append(f"{why}: carved a stratified {len(evaluation)}-example split from {train_split}, held out of training")
        eval_name = CARVED
    else:
        evaluation = used[eval_split]
        eval_name = eval_split

    available = len(train)
    train = _subsample(train, train_size, seed)
    evaluation = _subsample(evaluation, eval_size, seed)
    train = _encode_labels(train, names, train_split)
    evaluation = _encode_labels(evaluation, names, eval_name)
    trained_on = _label_counts(names[i] for i in train["label"])
    if len(trained_on) < 2:
        raise one_class_error(trained_on, subsampled=len(train) < available)
    unseen = {name: n for name, n in _label_counts(names[i] for i in evaluation["label"]).items() if name not in trained_on}
    if unseen:
        shown = ", ".join(f"{name} ({n:,})" for name, n in unseen.items())
        notes.append(f"the eval split holds labels the training data never shows: {shown} — the model cannot learn them")
    check_texts(train, train_split)
    check_texts(evaluation, eval_name)
    for requested, got, what in ((train_size, len(train), "train"), (eval_size, len(evaluation), "eval")):
        if requested is not None and got < requested:
            notes.append(f"asked for {requested} {what} examples, the data has {got}: using all of them")
    return LabelledData(
        train=train,
        eval=evaluation,
        label_names=names,
        source=source,
        train_split=train_split,
        eval_split=eval_name,
        notes=notes,
    )
