"""Labels: the set a dataset declares or implies, each row's label as a name of that set, ids for training.

The one place where label values (ClassLabel ids, names in any case, ints, digit strings) meet a list of
label names; train, evaluate and debug data all map through `map_labels`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from bertcli.core.errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset

# Short label names some corpora use, and the words people expect to read.
READABLE_LABELS = {"neg": "negative", "pos": "positive"}
# Where rows without a usable label are counted.
UNLABELLED = "(none)"


def parse_label_names(text: str | None) -> list[str] | None:
    """--labels negative,positive → ['negative', 'positive']; None or nothing given → None."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def label_values(ds: "Dataset") -> list[Any]:
    """Each row's label as the data gives it: a ClassLabel id as its (readable) name, any other value as it is."""
    from datasets import ClassLabel

    feature = ds.features.get("label")
    values = list(ds["label"])
    if isinstance(feature, ClassLabel):
        names = [READABLE_LABELS.get(n, n) for n in feature.names]
        return [names[v] if v is not None and 0 <= v < len(names) else v for v in values]
    return values


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
    """Label ids for names (exactly, else in any case) or ints in range, and the (row, value) pairs that are neither."""
    exact = {name: i for i, name in enumerate(label_names)}
    folded = {name.lower(): i for i, name in enumerate(label_names)}
    ids: list[int | None] = []
    bad: list[tuple[int, Any]] = []
    for row, value in enumerate(values):
        idx = None
        if isinstance(value, str):
            key = value.strip()
            idx = exact.get(key, folded.get(key.lower()))
            if idx is None and key.isdigit() and int(key) < len(label_names):
                idx = int(key)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
            idx = int(value) if 0 <= int(value) < len(label_names) else None
        if idx is None:
            bad.append((row, value))
        ids.append(idx)
    return ids, bad


def row_label_names(ds: "Dataset", names: Sequence[str]) -> list[str | None]:
    """Each row's label as a name from `names`, or None when it is missing or outside the set."""
    ids, _ = map_labels(label_values(ds), names)
    return [names[i] if i is not None else None for i in ids]


def refuse_unknown_labels(bad: list[tuple[int, Any]], label_names: list[str], split: str) -> None:
    """Refuse the (row, value) pairs `map_labels` found outside the label set, naming the first few."""
    if bad:
        shown = ", ".join(f"row {r}: {v!r}" for r, v in bad[:3])
        raise DataError(
            f"{len(bad)} label(s) in split '{split}' are outside the label set {label_names} ({shown}) — "
            "fix the data, or pass --labels with the full set of names"
        )


def encode_labels(ds: "Dataset", label_names: list[str], split: str) -> "Dataset":
    """Map names (or ints) to ids in `label_names`, refusing anything outside that set."""
    from datasets import ClassLabel

    ids, bad = map_labels(label_values(ds), label_names)
    refuse_unknown_labels(bad, label_names, split)
    ds = ds.remove_columns("label").add_column("label", ids)
    return ds.cast_column("label", ClassLabel(names=list(label_names)))


def label_counts(values: Iterable[Any]) -> dict[str, int]:
    """How many examples carry each label, most common first (missing labels left out)."""
    from collections import Counter

    return dict(Counter(str(v) for v in values if v is not None).most_common())


def class_counts(ds: "Dataset", names: list[str]) -> dict[str, int]:
    """Examples per class of a split, by the names in `names` (labels outside them are left to encode_labels)."""
    return label_counts(name for name in row_label_names(ds, names) if name is not None)


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
