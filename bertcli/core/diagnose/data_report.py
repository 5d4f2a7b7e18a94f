"""What `bertcli debug data` reports about a dataset: one report per split, the train/eval leakage, the clean
copy, and the whole diagnosis with its findings. Measured in data.py, judged in data_findings.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bertcli.core.diagnose.data_lengths import TokenLengths
from bertcli.core.findings import Finding


@dataclass
class DuplicateGroup:
    count: int
    text: str  # the first occurrence, shortened
    labels: list[str]
    rows: list[int]  # the first few rows of the group


@dataclass
class SplitReport:
    name: str
    rows: int
    labels: dict[str, int]  # label name -> rows; rows without a usable label under "(none)"
    unlabelled_rows: list[int]
    empty: int
    empty_rows: list[int]
    exact_duplicate_groups: int
    exact_duplicate_rows: int  # copies beyond the first of each group
    normalised_duplicate_groups: int  # groups that only match after normalising case, markup and punctuation
    normalised_duplicate_rows: int
    duplicate_examples: list[DuplicateGroup]
    conflict_groups: int  # the same (normalised) text with different labels
    conflict_rows: int
    conflict_examples: list[DuplicateGroup]
    markup_rows: int
    markup: dict[str, int]  # tag or entity -> occurrences


@dataclass
class Leakage:
    train_split: str
    eval_split: str
    eval_rows: int
    exact_rows: int  # eval rows whose exact text is in train
    normalised_rows: int  # eval rows whose normalised text is in train (exact ones included)
    conflicting_rows: int  # of those, with a label the train copy does not have
    examples: list[DuplicateGroup]


@dataclass
class CleanedData:
    folder: str
    files: dict[str, str]  # split -> file
    kept: dict[str, int]
    dropped: dict[str, dict[str, int]]  # split -> reason -> rows


@dataclass
class DataDiagnosis:
    source: str
    label_names: list[str]
    train_split: str
    eval_split: str | None  # CARVED: a part carved from the train split, as bertcli train holds it out
    splits: list[SplitReport]
    leakage: Leakage | None
    lengths: TokenLengths | None
    findings: list[Finding]
    seconds: float
    cleaned: CleanedData | None = None
    # The dataset options the user gave, so that printed fixes carry them (see core/commands.py).
    flags: dict[str, Any] = field(default_factory=dict)
    # multi-label data: per split, label counts, rows with no label, labels per row, the commonest pairs
    multi_label: list[Any] | None = None
    # what reading the data found: a table's delimiter or missing header, the columns picked, a carved split
    notes: list[str] = field(default_factory=list)
