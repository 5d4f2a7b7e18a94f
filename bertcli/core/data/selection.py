"""Which labelled examples a command reads: one `DataSpec` (splits.py), one `select_examples`.

train, evaluate and debug data all pick their rows here, so the same options give the same rows: the
train split and an eval split (validation, else test, else a stratified part carved from train — carved
first, then drawn), each drawn with --seed to --train-size / --eval-size. Everything comes back with two
columns, `text` and `label`, so the rest of bertcli never cares where it came from. Multi-label data takes
the same steps (splits.py) in selection_multilabel.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.data.labels import (
    class_counts,
    encode_labels,
    label_counts,
    label_set_of,
    label_values,
    map_labels,
    names_file_beside,
    one_class_error,
    read_label_names,
    refuse_unknown_labels,
)
from bertcli.core.data.loading import describe_source, load_raw
from bertcli.core.data.selection_multilabel import is_multi_label, select_multi_label
from bertcli.core.data.splits import (
    CARVED,
    DataSpec,
    LabelledData,
    apply_decisions,
    carve_rows,
    check_texts,
    draw,
    draw_named,
    normalise_columns,
    pick_columns,
    pick_splits,
    select_named,
    short_draws,
    with_row_ids,
)
from bertcli.core.data.tables import ColumnChoice
from bertcli.core.errors import DataError, UsageError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict


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
    notes += short_draws(spec, train, evaluation)
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


def _named_split(raw: "DatasetDict", spec: DataSpec, notes: list[str]) -> LabelledData:
    """Only `spec.eval_split`, as named (a single data file: its rows, named by the file), drawn to
    `spec.eval_size` in the data's order."""
    split = select_named(raw, spec, notes)
    choice = pick_columns(raw[split], spec, split)
    notes += [choice.note] if choice.note else []
    ds = normalise_columns(raw[split], choice)
    labels = labels_of({split: ds}, spec)
    evaluation, shown = draw_named(ds, split, spec, notes)
    return LabelledData(None, evaluation, labels.names, spec.source, None, shown, notes, labels.values, choice.text_spec,
                        choice.label)


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
