"""Which labelled examples a command reads: one `DataSpec`, one `select_examples`.

train, evaluate and debug data all pick their rows here, so the same options give the same rows: the
train split and an eval split (validation, else test, else a stratified part carved from train — carved
first, then drawn), each drawn with --seed to --train-size / --eval-size. Everything comes back with two
columns, `text` and `label`, so the rest of bertcli never cares where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.data.labels import (
    LabelSet,
    class_counts,
    encode_labels,
    label_counts,
    label_set_of,
    names_file_beside,
    read_label_names,
    label_values,
    map_labels,
    one_class_error,
    refuse_unknown_labels,
)
from bertcli.core.data.loading import TableOptions, describe_source, load_raw
from bertcli.core.data.multilabel import (
    encode_multi_hot,
    ids_of_rows,
    label_column_list,
    looks_multi_label,
    names_from_lists,
    normalise_multi_label,
    positive_counts,
    several_label_columns,
    stored_lists,
)
from bertcli.core.data.tables import (
    SAMPLE_ROWS,
    ColumnChoice,
    choose_columns,
    join_texts,
    parse_delimiter,
    resolve_columns,
)
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


def select_splits(raw: "DatasetDict", spec: DataSpec) -> tuple[dict[str, "Dataset"], str | None, ColumnChoice]:
    """The train split and the eval split (validation, else test, else none), with `text`/`label` columns, and
    the columns they came from (picked on the train split, the same in the eval split)."""
    train_split, eval_split = pick_splits(raw, spec)
    used = {train_split: raw[train_split]}
    if eval_split:
        used[eval_split] = raw[eval_split]
    choice = pick_columns(raw[train_split], spec, train_split)
    for name, ds in used.items():
        missing = [c for c in choice.text + [choice.label] if c not in ds.column_names]
        if missing:
            raise DataError(
                f"split '{name}' has no column {', '.join(repr(c) for c in missing)} (columns: "
                f"{', '.join(ds.column_names)}) — give its splits the same columns, or name them with --text-column / --label-column"
            )
    return {name: normalise_columns(ds, choice) for name, ds in used.items()}, eval_split, choice


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


def carve_eval(
    train: "Dataset", names: list[str], spec: DataSpec, *, for_training: bool, keys: Sequence[str] | None = None
) -> tuple["Dataset", "Dataset", str] | None:
    """The train split without a stratified held-out part, the part, and a note saying so.

    For training, labels outside `names`, empty texts and fewer than 4 rows are refused first; otherwise
    a split too small to carve gives None, and labels outside the set give an unstratified carve. The rows
    come back as the data has them (labels not yet encoded)."""
    ids, bad = map_labels(label_values(train), names, keys)
    if for_training:
        refuse_unknown_labels(bad, names, spec.train_split)
        check_texts(train, spec.train_split)
    if len(train) < 4:
        if for_training:
            raise DataError(f"only {len(train)} examples in '{spec.source}' — too few to carve a validation split")
        return None
    test_size: float | int = spec.carve_fraction
    if spec.eval_size is not None:
        test_size = max(len(names), min(spec.eval_size, int(len(train) * 0.2)))
    kept, held = carve_rows(len(train), None if bad else ids, names, test_size, spec.seed)
    evaluation = train.select(held)
    why = f"--eval-split {spec.train_split}" if spec.eval_split == spec.train_split else "no validation or test split"
    note = f"{why}: carved a stratified {len(evaluation)}-example split from {spec.train_split}, held out of training"
    return train.select(kept), evaluation, note


def select_examples(spec: DataSpec, *, for_training: bool = True) -> LabelledData:
    """The rows `spec` picks: the same for train, evaluate and debug data.

    `for_training` (train): refuse what training cannot use (one class, labels outside the set, empty texts),
    labels as ClassLabel ids, every split shuffled with the seed. Otherwise (evaluate, debug data): every
    row as the data has it, in the data's order unless a size draws a sample. With `spec.train_split` None
    only the eval split is read, as named (evaluate)."""
    notes: list[str] = []
    raw = load_raw(spec.source, spec.table_options(), notes)
    spec = with_names_beside(spec, notes)
    if is_multi_label(raw, spec):
        return select_multi_label(raw, spec, notes, for_training=for_training)
    if spec.train_split is None:
        return _named_split(raw, spec, notes)
    used, eval_split, choice = select_splits(raw, spec)
    notes += [choice.note] if choice.note else []
    labels = labels_of(used, spec)
    names, keys = labels.names, labels.values
    if spec.row_ids or spec.decisions is not None:
        used = {name: with_row_ids(ds) for name, ds in used.items()}
    if spec.decisions is not None:
        # a single data file is one split, whatever name a command showed it by: its rows are the file's
        same = Path(spec.source).name if describe_source(spec.source) == "file" and len(raw) == 1 else None
        used[spec.train_split] = apply_decisions(spec.decisions, used[spec.train_split], names, spec.train_split, keys,
                                                 also=same)
        notes.append(spec.decisions.describe())
    train = used[spec.train_split]
    if for_training:
        if len(names) < 2 and spec.label_names:
            raise DataError(f"need at least two labels to classify, found {names}")
        counts = class_counts(train, names, keys)
        if len(counts) < 2:
            raise one_class_error(counts)
    evaluation, eval_name = (used[eval_split], eval_split) if eval_split else (None, None)
    if eval_split is None:
        carved = carve_eval(train, names, spec, for_training=for_training, keys=keys)
        if carved is not None:
            train, evaluation, note = carved
            eval_name = CARVED
            notes.append(note)
    available = len(train)
    train = draw(train, spec.train_size, spec.seed, keep_order=not for_training)
    if evaluation is not None:
        evaluation = draw(evaluation, spec.eval_size, spec.seed, keep_order=not for_training)
    if for_training:
        train = encode_labels(train, names, spec.train_split, keys)
        evaluation = encode_labels(evaluation, names, eval_name, keys)
        notes += _check_training_sets(train, evaluation, names, spec.train_split, eval_name, available)
    for requested, drawn, what in ((spec.train_size, train, "train"), (spec.eval_size, evaluation, "eval")):
        if requested is not None and drawn is not None and len(drawn) < requested:
            notes.append(f"asked for {requested} {what} examples, the data has {len(drawn)}: using all of them")
    return LabelledData(train, evaluation, names, spec.source, spec.train_split, eval_name, notes, keys,
                        choice.text_spec, choice.label)


def with_names_beside(spec: DataSpec, notes: list[str]) -> DataSpec:
    """Label names from a names file in the dataset folder (classes.txt, labels.txt) when none were given."""
    from dataclasses import replace

    file = None if spec.label_names else names_file_beside(spec.source)
    if file is None:
        return spec
    try:
        names = read_label_names(file)
    except UsageError as err:
        raise UsageError(f"{file.name} in the dataset folder cannot name the labels ({str(err).split(': ', 1)[-1]}) — "
                         "name them with --labels or --label-names FILE") from None
    notes.append(f"label names from {file.name} in the dataset folder, line 1 naming the smallest label value "
                 "(--labels or --label-names FILE to name them otherwise)")
    return replace(spec, label_names=names, names_from=file.name)


def labels_of(splits: dict[str, "Dataset"], spec: DataSpec) -> Any:
    """The classes of the data (labels.label_set_of), saying so when a names file in the folder does not fit them."""
    try:
        return label_set_of(splits, spec.label_names)
    except UsageError as err:
        if spec.names_from is None:
            raise
        raise UsageError(f"{spec.names_from} in the dataset folder does not fit the data: {err}; or name the labels "
                         "with --labels / --label-names FILE") from None


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


def _check_training_sets(
    train: "Dataset", evaluation: "Dataset", names: list[str], train_split: str, eval_name: str, available: int
) -> list[str]:
    """Refuse drawn sets training cannot use (one class, empty texts); a note on eval labels training never shows."""
    notes = []
    trained_on = label_counts(names[i] for i in train["label"])
    if len(trained_on) < 2:
        raise one_class_error(trained_on, subsampled=len(train) < available)
    unseen = {name: n for name, n in label_counts(names[i] for i in evaluation["label"]).items() if name not in trained_on}
    if unseen:
        shown = ", ".join(f"{name} ({n:,})" for name, n in unseen.items())
        notes.append(f"the eval split holds labels the training data never shows: {shown} — the model cannot learn them")
    check_texts(train, train_split)
    check_texts(evaluation, eval_name)
    return notes


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


def _named_split(raw: "DatasetDict", spec: DataSpec, notes: list[str]) -> LabelledData:
    """Only `spec.eval_split`, as named (a single data file: its rows, named by the file), drawn to
    `spec.eval_size` in the data's order."""
    split = select_named(raw, spec, notes)
    choice = pick_columns(raw[split], spec, split)
    notes += [choice.note] if choice.note else []
    ds = normalise_columns(raw[split], choice)
    labels = labels_of({split: ds}, spec)
    evaluation, shown = _draw_named(ds, split, spec, notes)
    return LabelledData(None, evaluation, labels.names, spec.source, None, shown, notes, labels.values, choice.text_spec,
                        choice.label)


def is_multi_label(raw: "DatasetDict", spec: DataSpec) -> bool:
    """Whether `spec` reads multi-label data: --multi-label, several label columns, or a label column (named, by
    position, saved with the model, or picked from the data) holding lists, its first 1,000 rows looked at."""
    split = spec.train_split if spec.train_split in raw else spec.eval_split if spec.eval_split in raw else next(iter(raw))
    ds = raw[split]
    if spec.multi_label or several_label_columns(spec, ds.column_names):
        return True
    try:
        label = pick_columns(ds, spec, split).label
    except DataError:  # the single-label path refuses these columns, naming why
        return False
    return looks_multi_label(ds.select(range(min(1000, len(ds))))[label])


def multi_label_columns(ds: "Dataset", spec: DataSpec, split: str) -> ColumnChoice:
    """The columns of multi-label data: the text as pick_columns finds it, the label either one column of
    label lists (picked as pick_columns picks it) or several 0/1 columns (names or positions, comma-separated)."""
    several = several_label_columns(spec, ds.column_names)
    if several is None:
        return pick_columns(ds, spec, split)
    text = pick_columns(ds, spec, split, label=False)
    found = resolve_columns(several, ds.column_names)
    if found is None:
        raise DataError(
            f"split '{split}' has no column(s) {several!r} (columns: {', '.join(ds.column_names)}) — name the 0/1 "
            "label columns with --label-column (names or positions, comma-separated)"
        )
    if set(found) & set(text.text):
        raise DataError(f"split '{split}': a column cannot be both the text and a label — name them with --text-column "
                        "and --label-column")
    return ColumnChoice(text.text, ",".join(found), text.note)


def _draw_named(ds: "Dataset", split: str, spec: DataSpec, notes: list[str]) -> tuple["Dataset", str]:
    """A split read as named (evaluate, debug labels): row ids when asked, drawn to `spec.eval_size` in the data's
    order, and the name to show it by (a single data file: the file's)."""
    if spec.row_ids:
        ds = with_row_ids(ds)
    if spec.eval_size is not None and spec.eval_size >= len(ds):
        notes.append(f"asked for {spec.eval_size} examples, split '{split}' has {len(ds)}: using all of them")
    evaluation = draw(ds, spec.eval_size, spec.seed, keep_order=True)
    return evaluation, Path(spec.source).name if describe_source(spec.source) == "file" else split


def select_multi_label(raw: "DatasetDict", spec: DataSpec, notes: list[str], *, for_training: bool) -> LabelledData:
    """select_examples for multi-label data: the same splits, columns, carving and draws, labels as lists (or,
    for training, multi-hot vectors)."""
    if spec.train_split is None:
        split = select_named(raw, spec, notes)
        choice = multi_label_columns(raw[split], spec, split)
        notes += [choice.note] if choice.note else []
        ds = normalise_multi_label(raw[split], choice.text, choice.label, split)
        names = list(spec.label_names) if spec.label_names else names_from_lists(stored_lists(ds))
        evaluation, shown = _draw_named(ds, split, spec, notes)
        return LabelledData(None, evaluation, names, spec.source, None, shown, notes, None, choice.text_spec,
                            choice.label, multi_label=True)

    train_split, eval_split = pick_splits(raw, spec)
    choice = multi_label_columns(raw[train_split], spec, train_split)
    notes += [choice.note] if choice.note else []
    train = normalise_multi_label(raw[train_split], choice.text, choice.label, train_split)
    evaluation = normalise_multi_label(raw[eval_split], choice.text, choice.label, eval_split) if eval_split else None
    lists = stored_lists(train) + (stored_lists(evaluation) if evaluation is not None else [])
    columns = label_column_list(choice.label)
    names = list(spec.label_names) if spec.label_names else columns if len(columns) > 1 else names_from_lists(lists)
    if spec.row_ids or spec.decisions is not None:
        train = with_row_ids(train)
        evaluation = with_row_ids(evaluation) if evaluation is not None else None
    if spec.decisions is not None:
        same = Path(spec.source).name if describe_source(spec.source) == "file" and len(raw) == 1 else None
        train = apply_decisions(spec.decisions, train, names, train_split, also=same, multi_label=True)
        notes.append(spec.decisions.describe())
    if for_training:
        ids_of_rows(lists, names, train_split)  # refuse labels outside the names before anything is drawn
        check_texts(train, train_split)
    eval_name = eval_split
    if evaluation is None and len(train) >= 4:
        test_size: float | int = spec.carve_fraction
        if spec.eval_size is not None:
            test_size = max(1, min(spec.eval_size, int(len(train) * 0.2)))
        kept, held = carve_rows(len(train), None, names, test_size, spec.seed)
        train, evaluation, eval_name = train.select(kept), train.select(held), CARVED
        why = f"--eval-split {spec.train_split}" if spec.eval_split == spec.train_split else "no validation or test split"
        notes.append(f"{why}: carved a random {len(evaluation)}-example split from {train_split}, held out of training")
    elif evaluation is None and for_training:
        raise DataError(f"only {len(train)} examples in '{spec.source}' — too few to carve a validation split")
    train = draw(train, spec.train_size, spec.seed, keep_order=not for_training)
    if evaluation is not None:
        evaluation = draw(evaluation, spec.eval_size, spec.seed, keep_order=not for_training)
    if for_training:
        check_texts(evaluation, eval_name)
        counts = positive_counts(ids_of_rows(stored_lists(train), names, train_split), len(names))
        if sum(1 for n in counts if n) < 1:
            raise DataError("no training example carries a label — check --label-column and the data")
        absent = [name for name, n in zip(names, counts) if n == 0]
        if absent:
            notes.append(f"label(s) {', '.join(absent)} have no training example: the model cannot learn them")
        train, evaluation = encode_multi_hot(train, names, train_split), encode_multi_hot(evaluation, names, eval_name)
    for requested, drawn, what in ((spec.train_size, train, "train"), (spec.eval_size, evaluation, "eval")):
        if requested is not None and drawn is not None and len(drawn) < requested:
            notes.append(f"asked for {requested} {what} examples, the data has {len(drawn)}: using all of them")
    return LabelledData(train, evaluation, names, spec.source, train_split, eval_name, notes, None, choice.text_spec,
                        choice.label, multi_label=True)


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
    multi_label: bool = False,
    delimiter: str | None = None,
    header: bool | None = None,
    decisions: Any = None,
    row_ids: bool = False,
) -> LabelledData:
    """Load, normalise, validate and draw the train and eval sets of a run (select_examples for training)."""
    spec = DataSpec(
        source, text_column=text_column, label_column=label_column, train_split=train_split, eval_split=eval_split,
        train_size=train_size, eval_size=eval_size, seed=seed, label_names=label_names, carve_fraction=carve_fraction,
        multi_label=multi_label, delimiter=delimiter, header=header, decisions=decisions, row_ids=row_ids,
    )
    return select_examples(spec, for_training=True)
