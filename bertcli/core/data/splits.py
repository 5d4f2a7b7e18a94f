"""The vocabulary of picking examples, shared by single-label (selection.py) and multi-label
(selection_multilabel.py) data: the `DataSpec` a command's dataset options make, the `LabelledData` it gets
back, and the steps both take — the splits and columns, the seeded draws and carves, a split read as named,
row ids and a decisions file applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.data.labels import LabelSet
from bertcli.core.data.loading import TableOptions, describe_source
from bertcli.core.data.tables import SAMPLE_ROWS, ColumnChoice, choose_columns, join_texts, parse_delimiter
from bertcli.core.errors import DataError, UsageError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

EVAL_SPLIT_PREFERENCE = ("validation", "valid", "dev", "test")
CARVED = "carved from train"



@dataclass
class DataSpec:
    """The dataset options of a command: where the data is, its columns and splits, how many rows, drawn how."""

    source: str
    text_column: str = "text"
    label_column: str = "label"
    # None: read only `eval_split`, as named (evaluate); a single data file stands in for any split name
    train_split: str | None = "train"
    # None: validation, else test, else carved from train; naming the train split carves too
    eval_split: str | None = None
    train_size: int | None = None  # None: every row
    eval_size: int | None = None
    seed: int = 42
    label_names: Sequence[str] | None = None  # None: as the data declares or implies them
    names_from: str | None = None  # the names file in the dataset folder that named the labels, if one did
    carve_fraction: float = 0.1  # of the train split, carved when --eval-size is 'all'
    multi_label: bool = False  # --multi-label: the label column holds label lists (else recognised from the data)
    delimiter: str | None = None  # of a table (.csv, .tsv); None: found from its first rows
    header: bool | None = None  # whether a table's first row names its columns; None: found
    # the columns a model was trained on, tried first when the column options are left at their defaults
    model_columns: tuple[str | None, str | None] = (None, None)

    def table_options(self) -> TableOptions:
        expected = tuple(c for c in (self.text_column, self.label_column, *self.model_columns) if c)
        return TableOptions(parse_delimiter(self.delimiter), self.header, expected)
    row_ids: bool = False  # keep a `row` column: each example's row in its split as the data has it
    decisions: Any = None  # bertcli.core.data.decisions.Decisions applied to the train split's rows



@dataclass
class LabelledData:
    """The train and eval sets a DataSpec picks, already drawn."""

    train: "Dataset | None"
    eval: "Dataset | None"
    label_names: list[str]
    source: str
    train_split: str | None
    eval_split: str | None
    notes: list[str] = field(default_factory=list)
    # the data's value of each class where it is not the name (AG News's 1–4): see labels.LabelSet
    label_values: list[str] | None = None
    text_column: str = "text"  # the column(s) the text came from, as --text-column names them
    label_column: str | None = "label"

    multi_label: bool = False  # labels are lists (core/data/multilabel.py): multi-hot vectors for training

    @property
    def labels(self) -> LabelSet:
        return LabelSet(self.label_names, self.label_values)



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



def normalise_columns(ds: "Dataset", choice: ColumnChoice) -> "Dataset":
    """The split with only its text and label columns, named `text` and `label` (several text columns joined)."""
    ds = ds.select_columns(list(dict.fromkeys(choice.text + ([choice.label] if choice.label else []))))
    names = {choice.label: "label"} if choice.label else {}
    if len(choice.text) > 1:
        texts = join_texts(list(zip(*(ds[c] for c in choice.text))))
        ds = ds.remove_columns([c for c in choice.text if c != choice.label]).rename_columns(names)
        return ds.add_column("text", texts).select_columns(["text"] + list(names.values()))
    names[choice.text[0]] = "text"
    return ds.rename_columns({old: new for old, new in names.items() if old != new}).select_columns(["text"] + (["label"] if choice.label else []))



def pick_columns(ds: "Dataset", spec: DataSpec, split: str, label: bool = True) -> ColumnChoice:
    """The text and label columns of a split, as named or (left at their defaults) picked from its first rows."""
    where = f"'{Path(spec.source).name}'" if describe_source(spec.source) == "file" else f"split '{split}'"
    step = max(1, len(ds) // SAMPLE_ROWS)  # rows from all through the split: a file may be sorted by label
    sample = ds.select(range(0, len(ds), step)[:SAMPLE_ROWS])[:] if len(ds) else {name: [] for name in ds.column_names}
    return choose_columns(sample, spec.text_column, spec.label_column if label else None, where, saved=spec.model_columns)



def pick_splits(raw: "DatasetDict", spec: DataSpec) -> tuple[str, str | None]:
    """The names of the train split and the eval split (validation, else test, else none)."""
    source, train_split, eval_split = spec.source, spec.train_split, spec.eval_split
    if train_split not in raw:
        raise DataError(f"dataset '{source}' has no split '{train_split}' (splits: {', '.join(raw)}) — try --train-split")
    if eval_split is not None and eval_split not in raw:
        raise DataError(f"dataset '{source}' has no split '{eval_split}' (splits: {', '.join(raw)}) — try --eval-split")
    if eval_split is None:
        eval_split = next((s for s in EVAL_SPLIT_PREFERENCE if s in raw and s != train_split), None)
    elif eval_split == train_split:
        eval_split = None  # scoring on the training rows would flatter the model: carve a held-out part instead
    return train_split, eval_split



def check_texts(ds: "Dataset", split: str) -> None:
    """Refuse empty or missing texts before any training starts."""
    empty = [i for i, t in enumerate(ds["text"]) if t is None or not str(t).strip()]
    if empty:
        rows = ", ".join(str(i) for i in empty[:5]) + (" …" if len(empty) > 5 else "")
        raise DataError(
            f"{len(empty)} empty text(s) in split '{split}' (rows {rows}) — drop or fill them before training"
        )



def draw(ds: "Dataset", n: int | None, seed: int, *, keep_order: bool = False) -> "Dataset":
    """`n` rows drawn with `seed` (a seeded shuffle, then the first n); None or n ≥ the rows: every row,
    shuffled with `seed` unless `keep_order`."""
    if n is not None and n < len(ds):
        return ds.shuffle(seed=seed).select(range(n))
    return ds if keep_order else ds.shuffle(seed=seed)



def carve_rows(n: int, ids: list[int] | None, names: Sequence[str], test_size: float | int, seed: int) -> tuple[list[int], list[int]]:
    """Which of `n` rows stay for training and which are held out: stratified by the label `ids` where they
    allow it, else a seeded random split (the rows datasets' train_test_split picks either way)."""
    from datasets import ClassLabel, Dataset, Features, Value

    if ids is None:
        rows = Dataset.from_dict({"row": list(range(n))})
        parts = rows.train_test_split(test_size=test_size, seed=seed)
    else:
        features = Features({"row": Value("int64"), "label": ClassLabel(names=list(names))})
        rows = Dataset.from_dict({"row": list(range(n)), "label": ids}, features=features)
        try:
            parts = rows.train_test_split(test_size=test_size, seed=seed, stratify_by_column="label")
        except ValueError:
            parts = rows.train_test_split(test_size=test_size, seed=seed)
    return list(parts["train"]["row"]), list(parts["test"]["row"])



def short_draws(spec: DataSpec, train: "Dataset | None", evaluation: "Dataset | None") -> list[str]:
    """A note for each set drawn smaller than its --train-size / --eval-size asked: the data had fewer rows."""
    return [f"asked for {requested} {what} examples, the data has {len(drawn)}: using all of them"
            for requested, drawn, what in ((spec.train_size, train, "train"), (spec.eval_size, evaluation, "eval"))
            if requested is not None and drawn is not None and len(drawn) < requested]



def with_row_ids(ds: "Dataset") -> "Dataset":
    """The split with a `row` column: each example's row in the split as the data has it, kept through every draw."""
    from bertcli.core.data.decisions import ROW_COLUMN

    return ds if ROW_COLUMN in ds.column_names else ds.add_column(ROW_COLUMN, list(range(len(ds))))



def apply_decisions(
    decisions: Any, ds: "Dataset", names: list[str], split: str, keys: Sequence[str] | None = None,
    also: str | None = None, multi_label: bool = False,
) -> "Dataset":
    """The train split with a decisions file's relabel/drop rows applied (refused when the file is about another
    split; `also`: another name the same rows go by, a single data file's)."""
    if decisions.split and decisions.split not in (split, also):
        raise DataError(
            f"{decisions.path} holds decisions about split '{decisions.split}', and training reads split '{split}' — "
            "give the decisions file of the training split"
        )
    return decisions.apply(ds, names, keys, multi_label=multi_label)



def select_named(raw: "DatasetDict", spec: DataSpec, notes: list[str]) -> str:
    """The split `spec.eval_split` names (a single data file: its one split, with a note saying so)."""
    split = spec.eval_split
    if split not in raw:
        if describe_source(spec.source) == "file" and len(raw) == 1:
            split = next(iter(raw))
            notes.append(f"'{Path(spec.source).name}' is one file: evaluating on its rows")
        else:
            raise DataError(
                f"dataset '{spec.source}' has no split '{split}' (splits: {', '.join(raw)}) — pick one with --split"
            )
    return split



def draw_named(ds: "Dataset", split: str, spec: DataSpec, notes: list[str]) -> tuple["Dataset", str]:
    """A split read as named (evaluate, debug labels): row ids when asked, drawn to `spec.eval_size` in the data's
    order, and the name to show it by (a single data file: the file's)."""
    if spec.row_ids:
        ds = with_row_ids(ds)
    if spec.eval_size is not None and spec.eval_size >= len(ds):
        notes.append(f"asked for {spec.eval_size} examples, split '{split}' has {len(ds)}: using all of them")
    evaluation = draw(ds, spec.eval_size, spec.seed, keep_order=True)
    return evaluation, Path(spec.source).name if describe_source(spec.source) == "file" else split
