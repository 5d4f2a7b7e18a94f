"""Every split of a --dataset source, as datasets reads it: a hub name, the bundled imdb-sample, a folder in the
hub's layout, a CSV/TSV/JSONL/Parquet file or an aclImdb/ folder. Nothing renamed or checked for labels here
(see selection.py); a local file that cannot be read is refused first with the reason (see files.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertcli.core.data.files import (
    FILE_BUILDERS,
    check_data_file,
    explain_failure,
    looks_local,
    missing_path_error,
    root_message,
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
        if any(part.startswith(".") for part in rel.parts) or file.suffix.lower() not in FILE_BUILDERS:
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
    if kind == "folder" and not checked:
        raise DataError(
            f"'{source}' holds no data files (.csv, .tsv, .json, .jsonl or .parquet, hidden folders left out) — "
            f"give --dataset a folder with train/test files, a data file, or an aclImdb/ folder"
        )
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
