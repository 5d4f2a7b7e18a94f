"""Multi-label data: a text may carry any number of labels (none, one or several).

Recognised from the data — a label column holding lists (`0,5`, `["joy","fear"]`, a list value) or several
0/1 columns named with `--label-column joy,fear,…` — or asked for with `--multi-label`. Each row's labels are
read as a list of names (`row_label_lists`), and training gets them as float multi-hot vectors
(`encode_multi_hot`). Label ids index the names given (`--labels`, `--label-names FILE`), else the distinct
values found, sorted (ints as numbers). An empty list is a row with no label; a missing value too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.data.labels import as_int
from bertcli.core.errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset

# Where rows with no label are counted.
NO_LABEL = "(no label)"


def label_column_list(label_column: str) -> list[str]:
    """--label-column joy,fear → ['joy', 'fear'] (several 0/1 columns); one name → [name]."""
    return [c.strip() for c in label_column.split(",") if c.strip()]


def parse_label_list(value: Any) -> list[Any]:
    """One row's labels as a list: `0,5` → ['0', '5'], `["joy","fear"]` → ['joy', 'fear'], 3 → [3];
    an empty text, `[]` or a missing value → [] (no label)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None and str(v).strip() != ""]
    if isinstance(value, bool):
        raise DataError(f"label {value!r} is neither a label id nor a name")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:  # NaN: a missing cell
            return []
        return [int(value)] if float(value).is_integer() else [value]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            try:
                parsed = json.loads(text.replace("'", '"'))
            except json.JSONDecodeError:
                raise DataError(f"label {text[:60]!r} starts like a JSON list but is not one — write it as [\"joy\", \"fear\"] or 3,4") from None
        if not isinstance(parsed, list):
            raise DataError(f"label {text[:60]!r} is not a list — write it as [\"joy\", \"fear\"] or 3,4")
        return parse_label_list(parsed)
    return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]


def label_set_text(names: Sequence[str]) -> str:
    """A label set as people read and write it (`joy, surprise`; an empty set as NO_LABEL): what `debug labels`
    shows and its decisions file holds, read back by `parse_label_set`."""
    return ", ".join(names) if names else NO_LABEL


def parse_label_set(text: Any) -> list[Any]:
    """A label set written as `label_set_text` writes it (or as any label list: `0,5`, `["joy"]`, `[]`)."""
    return [] if str(text).strip() == NO_LABEL else parse_label_list(text)


def looks_multi_label(values: Sequence[Any]) -> bool:
    """Whether a label column holds lists: list values, or texts with a comma or in brackets."""
    for value in values:
        if isinstance(value, (list, tuple)):
            return True
        if isinstance(value, str) and ("," in value or value.strip().startswith("[")):
            return True
    return False


def names_from_lists(lists: Sequence[Sequence[Any]]) -> list[str]:
    """The label set implied by rows' label lists: names sorted, ids as '0'..'max' (an id is a position)."""
    values = {v for row in lists for v in row}
    if not values:
        raise DataError("no row carries a label — check --label-column and the data")
    ints = [as_int(v) for v in values]
    if all(i is not None for i in ints):
        if min(ints) < 0:  # type: ignore[type-var]
            raise DataError(f"label id {min(ints)} is negative — label ids count from 0")  # type: ignore[type-var]
        return [str(i) for i in range(max(ints) + 1)]  # type: ignore[type-var]
    return sorted(str(v) for v in values)


def map_label_list(row: Sequence[Any], names: Sequence[str]) -> tuple[list[int], list[Any]]:
    """A row's labels as sorted ids into `names` (a name exactly or in any case, or an id), and the values that are neither."""
    exact = {name: i for i, name in enumerate(names)}
    folded = {name.lower(): i for i, name in enumerate(names)}
    ids: set[int] = set()
    bad: list[Any] = []
    for value in row:
        idx = None
        if isinstance(value, str):
            idx = exact.get(value.strip(), folded.get(value.strip().lower()))
        if idx is None:
            number = as_int(value)
            if number is not None and 0 <= number < len(names):
                idx = number
        if idx is None:
            bad.append(value)
        else:
            ids.add(idx)
    return sorted(ids), bad


def map_rows(lists: Sequence[Sequence[Any]], names: Sequence[str]) -> tuple[list[list[int]], int, str]:
    """(every row's label ids, how many labels fall outside `names`, the first few of those as 'row N: value')."""
    out, bad = [], []
    for row, values in enumerate(lists):
        ids, unknown = map_label_list(values, names)
        out.append(ids)
        bad += [(row, v) for v in unknown]
    return out, len(bad), ", ".join(f"row {r}: {v!r}" for r, v in bad[:3])


def ids_of_rows(lists: Sequence[Sequence[Any]], names: Sequence[str], split: str) -> list[list[int]]:
    """Every row's label ids, refusing (one line, the first rows named) labels outside `names`."""
    out, bad, shown = map_rows(lists, names)
    if bad:
        raise DataError(
            f"{bad} label(s) in split '{split}' are outside the {len(names)} label names {list(names)} ({shown}) — "
            "fix the data, or give every name with --labels or --label-names FILE (line 1 = id 0)"
        )
    return out


def multi_hot(ids: Sequence[Sequence[int]], n_labels: int) -> list[list[float]]:
    """Label ids per row as float 0/1 vectors (BCE's targets)."""
    rows = []
    for row in ids:
        vector = [0.0] * n_labels
        for i in row:
            vector[i] = 1.0
        rows.append(vector)
    return rows


def row_label_lists(ds: "Dataset") -> list[list[Any]]:
    """Each row's `label` value read as a list (see parse_label_list)."""
    return [parse_label_list(v) for v in ds["label"]]


def _label_lists_from_columns(ds: "Dataset", columns: Sequence[str], split: str) -> list[list[str]]:
    """Several 0/1 columns: each row's labels are the columns holding 1 (true, '1', 1.0)."""
    lists: list[list[str]] = [[] for _ in range(len(ds))]
    for column in columns:
        for row, value in enumerate(ds[column]):
            if value is None or value in (0, 0.0, False, "0", "0.0", "", "false", "False"):
                continue
            if value in (1, 1.0, True, "1", "1.0", "true", "True"):
                lists[row].append(column)
                continue
            raise DataError(
                f"column '{column}' of split '{split}' holds {value!r} at row {row} — several label columns must "
                "each hold 0 or 1 (give one column of label lists with --label-column instead)"
            )
    return lists


def normalise_multi_label(ds: "Dataset", text_columns: Sequence[str], label_column: str, split: str) -> "Dataset":
    """The split with a `text` column (several text columns joined) and a `label` column of label lists (names
    from 0/1 columns, else as given)."""
    from datasets import Dataset

    from bertcli.core.data.tables import join_texts

    columns = label_column_list(label_column)
    missing = [c for c in [*text_columns, *columns] if c not in ds.column_names]
    if missing:
        flag = "--text-column" if set(missing) & set(text_columns) else "--label-column"
        raise DataError(
            f"split '{split}' has no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(ds.column_names)}) — name the right one(s) with {flag}"
        )
    if len(columns) > 1:
        lists: list[list[Any]] = _label_lists_from_columns(ds, columns, split)
    else:
        lists = [parse_label_list(v) for v in ds[columns[0]]]
    texts = list(ds[text_columns[0]]) if len(text_columns) == 1 else join_texts(list(zip(*(ds[c] for c in text_columns))))
    # label lists as JSON text: datasets cannot type a column whose lists mix ints and names
    return Dataset.from_dict({"text": texts, "label": [json.dumps(row) for row in lists]})


def several_label_columns(spec: Any, columns: Sequence[str]) -> str | None:
    """The 0/1 label columns of a multi-label table, comma-separated, where --label-column names several (or,
    left at its default, the model's saved label columns are several); None: one label column."""
    from bertcli.core.data.tables import DEFAULT_LABEL

    if len(label_column_list(spec.label_column)) > 1:
        return spec.label_column
    saved = getattr(spec, "model_columns", (None, None))[1]
    if spec.label_column == DEFAULT_LABEL and DEFAULT_LABEL not in columns and saved and len(label_column_list(saved)) > 1:
        return saved
    return None


def stored_lists(ds: "Dataset") -> list[list[Any]]:
    """The label lists `normalise_multi_label` stored as JSON text."""
    return [json.loads(v) for v in ds["label"]]


def encode_multi_hot(ds: "Dataset", names: Sequence[str], split: str) -> "Dataset":
    """The split with `label` as float multi-hot vectors over `names` (labels outside them refused)."""
    from datasets import Sequence as Seq
    from datasets import Value

    vectors = multi_hot(ids_of_rows(stored_lists(ds), names, split), len(names))
    ds = ds.remove_columns("label").add_column("label", vectors)
    return ds.cast_column("label", Seq(Value("float32")))


def positive_counts(ids: Sequence[Sequence[int]], n_labels: int) -> list[int]:
    """How many rows carry each label id."""
    counts = [0] * n_labels
    for row in ids:
        for i in row:
            counts[i] += 1
    return counts


def multi_hot_counts(ds: Any, n_labels: int) -> list[int] | None:
    """Rows carrying each label in a multi-hot `label` column; None without a dataset."""
    if ds is None:
        return None
    counts = [0] * n_labels
    for vector in ds["label"]:
        for i, v in enumerate(vector):
            counts[i] += v >= 0.5
    return [int(c) for c in counts]


def positive_weights(spec: Any, positives: Sequence[int], examples: int, names: Sequence[str]) -> list[float] | None:
    """BCE's per-label positive weights: 'auto' is negatives / positives of each label in the training set;
    given numbers are used as they are (one per label)."""
    if spec is None:
        return None
    if spec == "auto":
        from bertcli.core.training.plan import refuse_labels_without_examples

        refuse_labels_without_examples(names, positives)
        return [(examples - n) / n for n in positives]
    from bertcli.core.training.plan import given_weights

    return given_weights(spec, names, "positive weight")


@dataclass
class LabelOverview:
    """What `debug data` shows of multi-label data: per-label counts, rows with none, labels per row, pairs."""

    split: str
    examples: int
    counts: dict[str, int]
    no_label: int
    mean_labels: float
    most_labels: int
    pairs: list[tuple[str, str, int]]  # the commonest label pairs, most first


def label_overview(lists: Sequence[Sequence[int]], names: Sequence[str], split: str, top_pairs: int = 10) -> LabelOverview:
    """Per-label counts, rows with no label, labels per row and the `top_pairs` commonest co-occurring pairs."""
    from collections import Counter
    from itertools import combinations

    pairs: Counter = Counter()
    for row in lists:
        pairs.update(combinations(sorted(set(row)), 2))
    counts = positive_counts(lists, len(names))
    sizes = [len(set(row)) for row in lists]
    return LabelOverview(
        split=split,
        examples=len(lists),
        counts={name: n for name, n in sorted(zip(names, counts), key=lambda nc: -nc[1])},
        no_label=sum(1 for s in sizes if s == 0),
        mean_labels=sum(sizes) / len(sizes) if sizes else 0.0,
        most_labels=max(sizes, default=0),
        pairs=[(names[a], names[b], n) for (a, b), n in pairs.most_common(top_pairs)],
    )
