"""Which examples a command reads from multi-label data: select_examples' multi-label branch.

The same splits, columns, carving and draws as single-label data (splits.py, selection.py), with labels as lists of
names (or, for training, multi-hot vectors) and the label either one column of lists or several 0/1 columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bertcli.core.data.loading import describe_source
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
from bertcli.core.data.splits import (
    CARVED,
    DataSpec,
    LabelledData,
    apply_decisions,
    carve_rows,
    check_texts,
    draw,
    draw_named,
    pick_columns,
    pick_splits,
    select_named,
    short_draws,
    with_row_ids,
)
from bertcli.core.data.tables import ColumnChoice, resolve_columns
from bertcli.core.errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict


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


def select_multi_label(raw: "DatasetDict", spec: DataSpec, notes: list[str], *, for_training: bool) -> LabelledData:
    """select_examples for multi-label data: the same splits, columns, carving and draws, labels as lists (or,
    for training, multi-hot vectors)."""
    if spec.train_split is None:
        split = select_named(raw, spec, notes)
        choice = multi_label_columns(raw[split], spec, split)
        notes += [choice.note] if choice.note else []
        ds = normalise_multi_label(raw[split], choice.text, choice.label, split)
        names = list(spec.label_names) if spec.label_names else names_from_lists(stored_lists(ds))
        evaluation, shown = draw_named(ds, split, spec, notes)
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
    notes += short_draws(spec, train, evaluation)
    return LabelledData(train, evaluation, names, spec.source, train_split, eval_name, notes, None, choice.text_spec,
                        choice.label, multi_label=True)
