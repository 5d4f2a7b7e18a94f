"""Datasets from the hub, a hub-layout folder, CSV/JSONL/Parquet files or an aclImdb/ folder.

Everything comes back with two columns, `text` (str) and `label` (ClassLabel), so the rest of
bertcli never cares where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

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
    if path.suffix.lower() in FILE_BUILDERS or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise DataError(f"dataset path '{source}' does not exist — check the path given to --dataset")
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


def load_raw(source: str) -> "DatasetDict":
    """Load every split of a dataset source, without renaming anything."""
    kind = describe_source(source)
    if kind == "acl":
        return _read_acl(_acl_root(Path(source).expanduser()))
    if kind == "sample":
        return _read_sample()

    if kind == "hub":
        prepare_hub_access()
    import datasets
    from datasets import DatasetDict

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    try:
        if kind == "file":
            path = Path(source).expanduser()
            builder = FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise DataError(
                    f"cannot read '{path.name}': use a .csv, .tsv, .json, .jsonl or .parquet file, "
                    "a folder in the hub's layout, or an aclImdb/ folder"
                )
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
        raise DataError(f"cannot read dataset '{source}': {str(err).splitlines()[0] if str(err) else name}") from err
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
    used, eval_split = select_splits(load_raw(source), source, train_split, eval_split, text_column, label_column)
    names = list(label_names) if label_names else label_names_of(used)
    if len(names) < 2:
        raise DataError(f"need at least two labels to classify, found {names}")

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
        notes.append(f"no validation or test split: carved a stratified {len(evaluation)}-example split from train")
        eval_name = CARVED
    else:
        evaluation = used[eval_split]
        eval_name = eval_split

    train = _subsample(train, train_size, seed)
    evaluation = _subsample(evaluation, eval_size, seed)
    train = _encode_labels(train, names, train_split)
    evaluation = _encode_labels(evaluation, names, eval_name)
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
