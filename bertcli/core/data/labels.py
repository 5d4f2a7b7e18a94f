"""Labels: the classes a dataset holds, each row's label as an id of that set, and the names the ids carry.

The one place where label values (ClassLabel ids, names in any case, ints, digit strings) meet a list of
label names. A label value never invents a class: the classes are the distinct values found (ints sorted by
value, names sorted), named by --labels, a names file (--label-names, line 1 = the smallest value) or the
data's ClassLabel. Where the values are not the names themselves (AG News's 1–4 named World … Sci/Tech),
`LabelSet.values` keeps the value of each id, and the model saves it (bertcli.json `label_values`) so
evaluate maps a file's values back the same way. Train, evaluate and debug data all map through `map_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from bertcli.core.errors import DataError, UsageError

if TYPE_CHECKING:
    from datasets import Dataset

# Short label names some corpora use, and the words people expect to read.
READABLE_LABELS = {"neg": "negative", "pos": "positive"}
# Where rows without a usable label are counted.
UNLABELLED = "(none)"
# A names file is a short list: one name per line, read no further than this.
MAX_NAMES_FILE_BYTES = 1_000_000


@dataclass
class LabelSet:
    """The classes of a dataset: `names[i]` is class i's name; `values[i]` the value the data gives class i,
    as text, where the values are not the names (None: each row's label is a name, or an id 0..k-1)."""

    names: list[str]
    values: list[str] | None = None

    def describe(self, limit: int = 12) -> str:
        """`World, Sports` or `1 → World, 2 → Sports`: how the data's values become the model's labels (the
        first `limit` of them, and how many more)."""
        values = self.values if self.values is not None else self.names
        shown = [f"{v} → {n}" if v != n else n for v, n in zip(values, self.names)]
        more = f", … {len(shown) - limit} more" if len(shown) > limit else ""
        return ", ".join(shown[:limit]) + more


def parse_label_names(text: str | None) -> list[str] | None:
    """--labels negative,positive → ['negative', 'positive']; None or nothing given → None."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def read_label_names(path: str | Path) -> list[str]:
    """A names file (--label-names classes.txt): one name per line, line 1 naming the smallest label value."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UsageError(f"--label-names: no file '{path}' — give a text file with one label name per line")
    with file.open("rb") as handle:
        raw = handle.read(MAX_NAMES_FILE_BYTES + 1)
    if len(raw) > MAX_NAMES_FILE_BYTES:
        raise UsageError(f"--label-names: '{path}' is over 1 MB — give a text file with one label name per line")
    names = [line.strip() for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if len(names) < 2:
        raise UsageError(f"--label-names: '{path}' names {len(names)} label(s) — give one name per line, two or more")
    if len(set(names)) < len(names):
        raise UsageError(f"--label-names: '{path}' names a label twice — give each name once")
    return names


# Names files a dataset folder may carry beside its tables (AG News's classes.txt, GoEmotions's labels.txt).
NAMES_FILES = ("classes.txt", "labels.txt", "label_names.txt")


def names_file_beside(source: str) -> Path | None:
    """The one label-names file in a dataset folder, or None (none, several, or not a folder)."""
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return None
    found = [folder / name for name in NAMES_FILES if (folder / name).is_file()]
    return found[0] if len(found) == 1 else None


def given_label_names(labels: str | Sequence[str] | None, names_file: str | Path | None) -> list[str] | None:
    """The label names a user gave: --labels a,b (as text or a list) or --label-names FILE (not both); None for neither."""
    if labels and names_file:
        raise UsageError("--labels and --label-names both name the labels — give one of them")
    if names_file:
        return read_label_names(names_file)
    return parse_label_names(labels) if isinstance(labels, str) or labels is None else list(labels) or None


def as_int(value: Any) -> int | None:
    """An int label value (a digit string included); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return None


def label_values(ds: "Dataset") -> list[Any]:
    """Each row's label as the data gives it: a ClassLabel id as its (readable) name, any other value as it is."""
    from datasets import ClassLabel

    feature = ds.features.get("label")
    values = list(ds["label"])
    if isinstance(feature, ClassLabel):
        names = [READABLE_LABELS.get(n, n) for n in feature.names]
        return [names[v] if v is not None and 0 <= v < len(names) else v for v in values]
    return values


def distinct_values(splits: Iterable["Dataset"]) -> list[str]:
    """The distinct label values of some splits, as text: ints sorted by value, names sorted. A negative int
    (datasets' -1) marks a row without a label, never a class."""
    found: set = set()
    for ds in splits:
        found.update(v for v in ds["label"] if v is not None and not (isinstance(v, str) and not v.strip()))
    found = {v for v in found if (as_int(v) or 0) >= 0}
    ints = [as_int(v) for v in found]
    if found and all(i is not None for i in ints):
        return [str(i) for i in sorted(set(ints))]  # type: ignore[type-var]
    return sorted({str(v).strip() for v in found})


def label_set_of(splits: dict[str, "Dataset"], given: Sequence[str] | None = None) -> LabelSet:
    """The classes of the data: the distinct values found, named by `given` (--labels or a names file, in the
    order of the values), else by the data's ClassLabel, else by the values themselves."""
    from datasets import ClassLabel

    first = next(iter(splits.values()))
    feature = first.features.get("label")
    if isinstance(feature, ClassLabel):
        declared = [READABLE_LABELS.get(n, n) for n in feature.names]
        if given is None:
            return LabelSet(declared)
        if len(given) != len(declared):
            raise _count_error(given, declared, "the data's label names")
        return LabelSet(list(given), declared if list(given) != declared else None)
    values = distinct_values(splits.values())
    if not values:
        raise DataError("no usable labels found — check --label-column and the data")
    if given is None:
        return LabelSet(values)
    given = list(given)
    folded = {name.lower() for name in given}
    if all(as_int(v) is None for v in values) and any(v.lower() in folded for v in values):
        return LabelSet(given)  # the data's labels are names of the given set: mapped by name (others refused)
    if len(values) == len(given):
        return LabelSet(given, values if values != given else None)
    ints = [as_int(v) for v in values]
    if all(i is not None for i in ints):
        start = 0 if 0 in ints else 1  # some classes absent from the data: ids from 0, else numbered from 1
        if all(start <= i < start + len(given) for i in ints):  # type: ignore[operator]
            return LabelSet(given, [str(start + i) for i in range(len(given))])
    raise _count_error(given, values, "the distinct label values in the data")


def _count_error(given: Sequence[str], found: Sequence[str], what: str) -> UsageError:
    shown = ", ".join(found[:10]) + (" …" if len(found) > 10 else "")
    return UsageError(
        f"{len(given)} label name(s) given for {len(found)} class(es) ({what}: {shown}) — give one name per class, "
        "in the order of the values (line 1 = the smallest)"
    )


def map_labels(
    values: Sequence[Any], label_names: Sequence[str], label_keys: Sequence[str] | None = None
) -> tuple[list[int | None], list[tuple[int, Any]]]:
    """Label ids for names (exactly, else in any case), for the data's values in `label_keys` (class i's value
    is `label_keys[i]`), or — without keys — for ids 0..k-1; and the (row, value) pairs that are none of these."""
    exact = {name: i for i, name in enumerate(label_names)}
    folded = {name.lower(): i for i, name in enumerate(label_names)}
    keyed = {key: i for i, key in enumerate(label_keys)} if label_keys is not None else None
    ids: list[int | None] = []
    bad: list[tuple[int, Any]] = []
    for row, value in enumerate(values):
        idx = None
        number = as_int(value)
        if isinstance(value, str):
            key = value.strip()
            idx = exact.get(key, folded.get(key.lower()))
        text = str(number) if number is not None else str(value).strip() if value is not None else None
        if idx is None and keyed is not None:
            idx = keyed.get(text)
        elif idx is None and number is not None:
            # a value that is a name (labels 1–4 named "1" … "4"), else an id 0..k-1
            idx = exact.get(text, number if 0 <= number < len(label_names) else None)
        elif idx is None and text is not None:
            idx = exact.get(text)  # another value named by its text (True/False labels)
        if idx is None:
            bad.append((row, value))
        ids.append(idx)
    return ids, bad


def row_label_names(ds: "Dataset", names: Sequence[str], keys: Sequence[str] | None = None) -> list[str | None]:
    """Each row's label as a name from `names`, or None when it is missing or outside the set."""
    ids, _ = map_labels(label_values(ds), names, keys)
    return [names[i] if i is not None else None for i in ids]


def refuse_unknown_labels(bad: list[tuple[int, Any]], label_names: list[str], split: str) -> None:
    """Refuse the (row, value) pairs `map_labels` found outside the label set, naming the first few."""
    if bad:
        shown = ", ".join(f"row {r}: {v!r}" for r, v in bad[:3])
        raise DataError(
            f"{len(bad)} label(s) in split '{split}' are outside the label set {label_names} ({shown}) — "
            "fix the data, or pass --labels with the full set of names"
        )


def encode_labels(ds: "Dataset", label_names: list[str], split: str, keys: Sequence[str] | None = None) -> "Dataset":
    """Map names (or values) to ids in `label_names`, refusing anything outside that set."""
    from datasets import ClassLabel

    ids, bad = map_labels(label_values(ds), label_names, keys)
    refuse_unknown_labels(bad, label_names, split)
    ds = ds.remove_columns("label").add_column("label", ids)
    return ds.cast_column("label", ClassLabel(names=list(label_names)))


def label_counts(values: Iterable[Any]) -> dict[str, int]:
    """How many examples carry each label, most common first (missing labels left out)."""
    from collections import Counter

    return dict(Counter(str(v) for v in values if v is not None).most_common())


def class_counts(ds: "Dataset", names: list[str], keys: Sequence[str] | None = None) -> dict[str, int]:
    """Examples per class of a split, by the names in `names` (labels outside them are left to encode_labels)."""
    return label_counts(name for name in row_label_names(ds, names, keys) if name is not None)


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
