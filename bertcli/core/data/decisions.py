"""A decisions file: what the user decided about each example `debug labels` queued for review.

`debug labels --decisions FILE` writes one row per queued example, every action `keep`; the user edits the
actions (`keep`, `relabel:NAME`, `drop`) and `train --relabel FILE` / `train --exclude FILE` apply them to
the rows they name, by the row's index in its split as the data has it. For multi-label data the given and
suggested labels are label sets (`joy, surprise`, `(no label)` for none) and a row is relabelled to a set
(`relabel:joy,surprise`). Nothing else changes, and nothing
is ever changed in the data files themselves. CSV or JSON Lines, by the file's suffix.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.errors import DataError, UsageError

if TYPE_CHECKING:
    from datasets import Dataset

COLUMNS = ("row", "split", "given", "suggested", "action", "self_confidence", "snippet")
KEEP, DROP, RELABEL = "keep", "drop", "relabel:"
MAX_BYTES = 64 * 1024 * 1024  # a decisions file is a review queue, not a dataset
ROW_COLUMN = "row"  # the column that carries each example's row in its split through selection


@dataclass
class Decision:
    row: int
    split: str
    given: str
    action: str  # keep, drop or relabel:NAME

    @property
    def relabel_to(self) -> str | None:
        return self.action[len(RELABEL):] if self.action.startswith(RELABEL) else None


@dataclass
class Decisions:
    """The decisions a file holds, and which of them a run applies (`relabel`, `drop`)."""

    path: Path
    split: str
    rows: list[Decision]
    relabel: bool = False
    drop: bool = False
    changed: dict[str, int] = field(default_factory=dict)  # filled by apply: relabelled / dropped

    def merged(self, other: "Decisions") -> "Decisions":
        """The same file given to --relabel and --exclude: one set of decisions applying both."""
        return Decisions(self.path, self.split, self.rows, self.relabel or other.relabel, self.drop or other.drop)

    def describe(self) -> str:
        """The plan's line: how many rows each kind of decision changed."""
        parts = []
        if self.relabel:
            parts.append(f"relabelled {self.changed.get('relabelled', 0):,} row(s)")
        if self.drop:
            parts.append(f"excluded {self.changed.get('dropped', 0):,} row(s)")
        return f"decisions from {self.path}: " + ", ".join(parts) + f" of split '{self.split}'"

    def apply(
        self, ds: "Dataset", label_names: Sequence[str], label_keys: Sequence[str] | None = None, *,
        multi_label: bool = False,
    ) -> "Dataset":
        """`ds` (the split the file names, with its `row` column) with the chosen rows relabelled and/or dropped.

        Refuses a row the split does not have, a given label that is not the data's label at that row (the file
        was written for other data), and a new label outside `label_names`. Multi-label data (`label` holding
        label lists as JSON text, see multilabel.py): given and new labels are label sets (`joy, surprise`)."""
        if multi_label:
            return self._apply_label_sets(ds, label_names)
        from bertcli.core.data.labels import label_values, map_labels

        rows = list(ds[ROW_COLUMN])
        position = {r: i for i, r in enumerate(rows)}
        values = label_values(ds)
        ids, _ = map_labels(values, label_names, label_keys)
        names = [label_names[i] if i is not None else str(v) for i, v in zip(ids, values)]
        where = f"{self.path}"
        relabel: dict[int, str] = {}
        drop: set[int] = set()
        for d in self.rows:
            self._check_row(d, position)
            current = names[position[d.row]]
            if d.given and d.given.lower() != current.lower():
                raise DataError(
                    f"{where}: row {d.row} is labelled '{current}' in the data, the file says '{d.given}' — "
                    "the file was written for other data (or the data changed); write it again with bertcli debug labels"
                )
            target = d.relabel_to
            if target is not None and self.relabel:
                lookup = {n.lower(): n for n in label_names}
                if target.strip().lower() not in lookup:
                    raise DataError(
                        f"{where}: row {d.row} says relabel:{target}, not one of the labels {', '.join(label_names)}"
                    )
                relabel[position[d.row]] = lookup[target.strip().lower()]
            elif d.action == DROP and self.drop:
                drop.add(position[d.row])
        new = [relabel.get(i, n) for i, n in enumerate(names)]
        self.changed = {"relabelled": sum(1 for i, n in relabel.items() if names[i] != n), "dropped": len(drop)}
        if relabel:
            ds = ds.remove_columns("label").add_column("label", new)
        if drop:
            ds = ds.select([i for i in range(len(ds)) if i not in drop])
        return ds


    def _check_row(self, d: Decision, position: dict[int, int]) -> None:
        if d.row not in position:
            raise DataError(
                f"{self.path}: row {d.row} is not in split '{self.split}' ({len(position):,} rows, 0..{len(position) - 1}) — "
                "was the file written for other data? Write it again with bertcli debug labels --decisions"
            )

    def _apply_label_sets(self, ds: "Dataset", label_names: Sequence[str]) -> "Dataset":
        """`apply` for multi-label data: each row's label set checked against the file's `given` set, replaced by
        a relabel:SET row's set (`relabel:joy,surprise`; `relabel:(no label)` for none), or dropped."""
        import json

        from bertcli.core.data.multilabel import label_set_text, map_label_list, map_rows, parse_label_set, stored_lists

        position = {r: i for i, r in enumerate(ds[ROW_COLUMN])}
        current, _, _ = map_rows(stored_lists(ds), label_names)

        def label_set(text: str, row: int) -> list[int]:
            ids, bad = map_label_list(parse_label_set(text), label_names)
            if bad:
                raise DataError(f"{self.path}: row {row} names {', '.join(map(str, bad))} in '{text}', not one of the "
                                f"labels {', '.join(label_names)} — write a label set as names or ids, comma-separated")
            return ids

        relabel: dict[int, list[int]] = {}
        drop: set[int] = set()
        for d in self.rows:
            self._check_row(d, position)
            now = current[position[d.row]]
            if d.given and label_set(d.given, d.row) != now:
                raise DataError(
                    f"{self.path}: row {d.row} is labelled '{label_set_text([label_names[i] for i in now])}' in the data, "
                    f"the file says '{d.given}' — the file was written for other data (or the data changed); write it "
                    "again with bertcli debug labels"
                )
            target = d.relabel_to
            if target is not None and self.relabel:
                relabel[position[d.row]] = label_set(target, d.row)
            elif d.action == DROP and self.drop:
                drop.add(position[d.row])
        self.changed = {"relabelled": sum(1 for i, ids in relabel.items() if ids != current[i]), "dropped": len(drop)}
        if relabel:
            stored = list(ds["label"])
            for i, ids in relabel.items():
                stored[i] = json.dumps([label_names[k] for k in ids])
            ds = ds.remove_columns("label").add_column("label", stored)
        if drop:
            ds = ds.select([i for i in range(len(ds)) if i not in drop])
        return ds


def parse_action(value: Any, row: Any, where: str) -> str:
    text = str(value or KEEP).strip()
    low = text.lower()
    if low in (KEEP, DROP):
        return low
    if low.startswith(RELABEL) and text[len(RELABEL):].strip():
        return RELABEL + text[len(RELABEL):].strip()
    raise UsageError(f"{where}: row {row} has action '{text}' — write keep, drop or relabel:LABEL (a label set: relabel:LABEL,LABEL)")


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"{path}: no such decisions file — write one with bertcli debug labels --decisions {path}")
    if path.stat().st_size > MAX_BYTES:
        raise UsageError(f"{path} is over {MAX_BYTES // 2**20} MiB — a decisions file holds one short row per queued example")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text — give the CSV or JSON Lines file debug labels wrote") from None
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path}: line {number} is not JSON — a .jsonl decisions file holds one object a line") from None
        if not isinstance(record, dict):
            raise UsageError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    return records


def read_decisions(path: str | Path, *, relabel: bool = False, drop: bool = False) -> Decisions:
    """The decisions in a CSV or JSON Lines file; each row's id, split, given label and action checked."""
    path = Path(path)
    records = _records(path)
    if not records:
        raise UsageError(f"{path} holds no decisions")
    missing = [c for c in ("row", "action") if c not in records[0]]
    if missing:
        raise UsageError(f"{path} has no column {', '.join(missing)} — columns: {', '.join(COLUMNS)}")
    rows: list[Decision] = []
    seen: set[int] = set()
    splits = {str(r.get("split") or "") for r in records}
    if len(splits) > 1:
        raise UsageError(f"{path} mixes the splits {', '.join(sorted(splits))} — one decisions file is about one split")
    for r in records:
        try:
            row = int(str(r.get("row")).strip())
        except ValueError:
            raise UsageError(f"{path}: row id '{r.get('row')}' is not a whole number") from None
        if row < 0:
            raise UsageError(f"{path}: row id {row} is negative")
        if row in seen:
            raise UsageError(f"{path}: row {row} appears twice — keep one decision per row")
        seen.add(row)
        rows.append(Decision(row, str(r.get("split") or ""), str(r.get("given") or ""), parse_action(r.get("action"), row, str(path))))
    return Decisions(path, splits.pop(), rows, relabel=relabel, drop=drop)


def write_decisions(path: str | Path, records: Sequence[dict[str, Any]]) -> Path:
    """Write `records` (COLUMNS) as CSV or JSON Lines, by the suffix; every action 'keep' for the user to edit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
            writer.writeheader()
            for r in records:
                writer.writerow({c: r.get(c) for c in COLUMNS})
    else:
        with path.open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps({c: r.get(c) for c in COLUMNS}, ensure_ascii=False) + "\n")
    return path


def train_decisions(relabel: str | Path | None, exclude: str | Path | None) -> Decisions | None:
    """--relabel FILE and --exclude FILE as one set of decisions (they may name the same file, or one each)."""
    if relabel is None and exclude is None:
        return None
    if relabel is not None and exclude is not None:
        if Path(relabel).resolve() != Path(exclude).resolve():
            raise UsageError("--relabel and --exclude name different files — give one decisions file to both, or one flag")
        return read_decisions(relabel, relabel=True, drop=True)
    if relabel is not None:
        return read_decisions(relabel, relabel=True)
    return read_decisions(exclude, drop=True)  # type: ignore[arg-type]
