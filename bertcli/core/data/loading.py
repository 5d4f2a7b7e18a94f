"""Every split of a --dataset source, as datasets reads it: a hub name, the bundled imdb-sample, a folder in the
hub's layout, a data file (files.FORMATS) or an aclImdb/ folder. Tables (.csv, .tsv) are read here, with the
delimiter and header row their first rows show (tables.py); the rest by datasets. Nothing renamed or checked for labels here
(see selection.py); a local file that cannot be read is refused first with the reason (see files.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bertcli.core.data.files import (
    FileFormat,
    check_data_file,
    data_format,
    explain_failure,
    looks_local,
    missing_path_error,
    root_message,
    suffixes_text,
)
from bertcli.core.errors import DataError
from bertcli.core.hub import prepare_hub_access, unreachable

if TYPE_CHECKING:
    from datasets import DatasetDict


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
    if looks_local(source):
        raise missing_path_error(source)
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


def _data_files_in(folder: Path, limit: int = 500) -> list[Path]:
    """The data files datasets would read from a hub-layout folder (hidden folders left out)."""
    found = []
    for file in sorted(folder.rglob("*")):
        rel = file.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or data_format(file) is None:
            continue
        if file.is_file():
            found.append(file)
            if len(found) >= limit:
                break
    return found


def _offline_fix(source: str) -> str | None:
    """For IMDb, what works without the hub: the bundled sample, or a local copy in one of the layouts read here."""
    from bertcli.core.defaults import SAMPLE_DATASET

    if source.lower().rsplit("/", 1)[-1] != "imdb":
        return None
    return (f"use --dataset {SAMPLE_DATASET} (2,500 IMDb reviews bundled with bertcli) or a local copy of IMDb: "
            f"--dataset PATH, a folder in the hub's layout such as ../shared/data/imdb, an aclImdb/ folder or a "
            f"CSV/JSONL/Parquet file")


# A table in a folder belongs to the split its file name starts with (train.tsv, test-00000-of-00001.csv).
_SPLIT_FILE = re.compile(r"(train|test|dev|valid|validation|eval)(?:[-_.].*)?", re.IGNORECASE)
# datasets reads the other formats with these builders.
_BUILDERS = {"jsonl": "json", "json": "json", "parquet": "parquet"}


@dataclass
class TableOptions:
    """How tables are read: the delimiter and whether they have a header row (None: found from the file),
    and the columns the caller looks for (a first row naming one is a header)."""

    delimiter: str | None = None
    header: bool | None = None
    expected: tuple[str, ...] = ()


def _read_tables(files: dict[str, list[Path]], root: Path, source: str, options: TableOptions, notes: list[str]) -> "DatasetDict":
    """Tables read with the layout each one's first rows show, one split per name (its files concatenated)."""
    from datasets import Dataset, DatasetDict, concatenate_datasets

    from bertcli.core.data.tables import layout_notes, read_table, table_layout

    splits, layouts = {}, {}
    for split, paths in files.items():
        parts = []
        for path in paths:
            name = source if path == root else str(Path(source) / path.relative_to(root))
            layout = layouts[name] = table_layout(
                path, name, delimiter=options.delimiter, header=options.header, expected=options.expected
            )
            try:
                parts.append(Dataset.from_dict(read_table(path, name, layout)))
            except DataError:
                raise
            except (UnicodeDecodeError, ValueError) as err:
                raise explain_failure(path, name, err) from err
        splits[split] = parts[0] if len(parts) == 1 else concatenate_datasets(parts)
    notes += layout_notes(layouts)
    return DatasetDict(splits)


def _table_splits(files: list[Path]) -> dict[str, list[Path]] | None:
    """The tables of a folder by split, when every data file in it is a table named after its split; else None."""
    splits: dict[str, list[Path]] = {}
    for file in files:
        match = _SPLIT_FILE.fullmatch(file.stem)
        fmt: FileFormat | None = data_format(file)
        if match is None or fmt is None or fmt.reader != "table":
            return None
        splits.setdefault(match.group(1).lower(), []).append(file)
    return splits or None


def load_raw(source: str, table: TableOptions | None = None, notes: list[str] | None = None) -> "DatasetDict":
    """Load every split of a dataset source, without renaming anything; what was found about a table's layout
    (its delimiter, no header row) is added to `notes`."""
    table = table or TableOptions()
    notes = notes if notes is not None else []
    kind = describe_source(source)
    if kind == "acl":
        return _read_acl(_acl_root(Path(source).expanduser()))
    if kind == "sample":
        return _read_sample()

    path = Path(source).expanduser()
    fmt = data_format(path) if kind == "file" else None
    if kind == "file" and fmt is None:
        raise DataError(
            f"cannot read '{path.name}': use a {suffixes_text()} file, a folder in the hub's layout, or an aclImdb/ folder"
        )
    # name what is wrong with a local file before datasets (and its import) sees it
    checked = [path] if kind == "file" else _data_files_in(path) if kind == "folder" else []
    if kind == "folder" and not checked:
        raise DataError(
            f"'{source}' holds no data files ({suffixes_text()}; hidden folders left out) — "
            f"give --dataset a folder with train/test files, a data file, or an aclImdb/ folder"
        )
    for file in checked:
        check_data_file(file, source if kind == "file" else str(Path(source) / file.relative_to(path)))
    tables = {"train": [path]} if fmt is not None and fmt.reader == "table" else _table_splits(checked) if kind == "folder" else None
    if tables:
        import datasets

        datasets.disable_progress_bars()
        return _read_tables(tables, path, source, table, notes)

    if kind == "hub":
        prepare_hub_access()
    import datasets
    from datasets import DatasetDict

    datasets.disable_progress_bars()
    # datasets logs its own line for each failure; every failure below becomes one DataError line instead
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        if kind == "file":
            loaded = datasets.load_dataset(_BUILDERS[fmt.reader], data_files={"train": str(path)})
        elif kind == "folder":
            loaded = datasets.load_dataset(str(Path(source).expanduser()))
        else:
            loaded = datasets.load_dataset(source)
    except DataError:
        raise
    except (ConnectionError, TimeoutError) as err:
        raise unreachable("dataset", source, "--dataset", _offline_fix(source)) from err
    except Exception as err:  # datasets raises many kinds for the same few problems
        name = type(err).__name__
        if kind == "hub" and ("Offline" in name or "NotFound" in name or "Connection" in name or "Hub" in str(err)):
            raise unreachable("dataset", source, "--dataset", _offline_fix(source)) from err
        if kind == "file":
            raise explain_failure(path, source, err) from err
        detail = root_message(err) if kind == "folder" else (str(err).splitlines()[0] if str(err) else name)
        raise DataError(f"cannot read dataset '{source}': {detail}") from err
    if not isinstance(loaded, DatasetDict):
        loaded = DatasetDict({"train": loaded})
    return loaded
