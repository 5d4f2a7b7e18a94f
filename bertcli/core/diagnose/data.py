"""`bertcli debug data`: what is wrong with a dataset before any training — under the model's tokenizer.

Label balance per split, exact and normalised duplicates within a split, train/eval overlap (leakage),
the same text with conflicting labels, empty texts, markup left in texts, and the token-length
distribution with the share cut at --max-length (data_lengths.py). The rows are the ones `bertcli train`
picks for the same options (bertcli.core.data.select_examples). Duplicates are found by hashing (one pass
per split). The findings drawn from these measurements are in data_findings.py.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core.commands import data_flags
from bertcli.core.data.labels import UNLABELLED, row_label_names
from bertcli.core.data.selection import select_examples
from bertcli.core.data.splits import CARVED, DataSpec, LabelledData
from bertcli.core.diagnose.data_findings import data_findings
from bertcli.core.diagnose.data_lengths import OnProgress, measure_token_lengths, phase_progress
from bertcli.core.diagnose.data_report import CleanedData, DataDiagnosis, DuplicateGroup, Leakage, SplitReport
from bertcli.core.errors import BertCliError, UsageError
from bertcli.core.findings import sort_findings
from bertcli.core.formatting import snippet
from bertcli.core.jsondata import plain

HTML_TAGS = (
    "a|abbr|b|big|blockquote|br|center|code|div|em|font|h[1-6]|hr|i|img|li|ol|p|pre|s|small|span|strike|"
    "strong|sub|sup|table|td|th|tr|tt|u|ul"
)
TAG_PATTERN = rf"</?(?:{HTML_TAGS})\b[^<>]{{0,200}}?/?>"
ENTITY_PATTERN = r"&(?:[a-zA-Z]{2,8}|#\d{1,7}|#x[0-9a-fA-F]{1,6});"
TAG_RE = re.compile(TAG_PATTERN, re.I)
MARKUP_RE = re.compile(f"{TAG_PATTERN}|{ENTITY_PATTERN}", re.I)
TAG_NAME_RE = re.compile(r"</?\s*([a-zA-Z0-9]+)")
NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)
EXAMPLES = 3
SNIPPET = 70


@dataclass
class SplitRows:
    """The texts and labels (names, None when missing or outside the set) of one split, with their digests."""

    name: str
    texts: list[Any]
    labels: list[str | None]
    exact: list[bytes | None] = field(default_factory=list)
    normal: list[bytes | None] = field(default_factory=list)
    # multi-label: each row's label ids (`labels` then holds the set as one name, 'joy+fear', for duplicates and leakage)
    label_ids: list[list[int]] | None = None


def diagnose_data(
    spec: DataSpec,
    tokenizer: Any = None,
    *,
    tokenizer_name: str = "",
    max_length: int = 512,
    model_limit: int | None = None,
    clean_to: str | Path | None = None,
    on_progress: OnProgress | None = None,
) -> DataDiagnosis:
    """Take the rows `bertcli train` would for `spec` and look for everything that hurts training."""
    started = time.perf_counter()
    if clean_to is not None:  # before a row is read: the clean copy never goes into (or over) the data it cleans
        from bertcli.core.outputs import refuse_input_overwrite

        refuse_input_overwrite(clean_to, "--clean-to", [("--dataset", spec.source)], folder=True)
        check_clean_to(Path(clean_to))
    if on_progress is not None:
        on_progress("loading", 0, None, "")
    data, splits = read_splits(spec)
    if on_progress is not None:
        rows = sum(len(split.texts) for split in splits)
        on_progress("loading", rows, rows, "")
    reports = []
    for split in splits:
        split.exact, split.normal = text_digests(split.texts, phase_progress(on_progress, f"hashing {split.name}", len(split.texts)))
        reports.append(describe_split(split))
        if split.label_ids is not None:  # the balance of labels, not of label sets
            reports[-1].labels = multi_label_counts(split.label_ids, data.label_names)
    leakage = find_leakage(splits[0], splits[1]) if len(splits) > 1 else None
    lengths = None
    if tokenizer is not None:
        train = splits[0]
        lengths = measure_token_lengths(
            train.name, [t for t, key in zip(train.texts, train.exact) if key is not None], tokenizer,
            tokenizer_name=tokenizer_name, max_length=max_length, model_limit=model_limit, markup=reports[0].markup,
            on_progress=on_progress,
        )
    result = DataDiagnosis(
        source=spec.source,
        label_names=data.label_names,
        train_split=spec.train_split,
        eval_split=data.eval_split,
        splits=reports,
        leakage=leakage,
        lengths=lengths,
        findings=[],
        seconds=0.0,
        flags=spec_flags(spec, tokenizer_name),
        notes=list(data.notes),
    )
    if data.multi_label:
        from bertcli.core.data.multilabel import label_overview

        result.multi_label = [label_overview(s.label_ids or [], data.label_names, s.name) for s in splits]
    if clean_to is not None:
        result.cleaned = write_clean_copy(splits, Path(clean_to), data.label_names)
    result.findings = sort_findings(data_findings(result, spec.source))
    result.seconds = time.perf_counter() - started
    return result


def read_splits(spec: DataSpec) -> tuple[LabelledData, list[SplitRows]]:
    """The rows `bertcli train` picks for `spec` (in the data's order unless a size draws them), labels as names."""
    data = select_examples(spec, for_training=False)
    picked = [(spec.train_split, data.train)]
    if data.eval is not None:
        picked.append((data.eval_split, data.eval))
    if data.multi_label:
        return data, [multi_label_rows(name, ds, data.label_names) for name, ds in picked]
    splits = [SplitRows(name, list(ds["text"]), row_label_names(ds, data.label_names, data.label_values)) for name, ds in picked]
    return data, splits


def multi_label_rows(name: str, ds: Any, label_names: list[str]) -> SplitRows:
    """A multi-label split's rows: label ids per row, and the set as one name for duplicates and leakage
    ('(no label)' for none; None where a label is outside the names)."""
    from bertcli.core.data.multilabel import NO_LABEL, map_label_list, stored_lists

    ids, sets = [], []
    for row in stored_lists(ds):
        found, bad = map_label_list(row, label_names)
        ids.append(found)
        sets.append(None if bad else "+".join(label_names[i] for i in found) or NO_LABEL)
    return SplitRows(name, list(ds["text"]), sets, label_ids=ids)


def multi_label_counts(ids: Sequence[Sequence[int]], label_names: Sequence[str]) -> dict[str, int]:
    """Rows carrying each label, then rows with none."""
    from bertcli.core.data.multilabel import NO_LABEL, positive_counts

    counts = dict(zip(label_names, positive_counts(ids, len(label_names))))
    counts[NO_LABEL] = sum(1 for row in ids if not row)
    return counts


def spec_flags(spec: DataSpec, model: str = "") -> dict[str, Any]:
    """The dataset options the user gave, as flags for the printed fixes (defaults left out)."""
    flags = data_flags(
        spec.source, model=model or None, text_column=spec.text_column, label_column=spec.label_column,
        train_split=spec.train_split, eval_split=spec.eval_split,
    )
    if spec.label_names:
        flags["--labels"] = ",".join(spec.label_names)
    if spec.multi_label:
        flags["--multi-label"] = True
    return flags


def data_diagnosis_to_dict(d: DataDiagnosis) -> dict[str, Any]:
    return plain(d)


def normalise_text(text: str) -> str:
    """Case, markup, entities, punctuation and spacing removed: what is left is the words."""
    text = html.unescape(TAG_RE.sub(" ", text))
    return NON_WORD_RE.sub(" ", text.casefold()).strip()


PROGRESS_EVERY = 1000  # texts between two progress calls while hashing


def text_digests(texts: Sequence[Any], on_done: Callable[[int], None] | None = None) -> tuple[list[bytes | None], list[bytes | None]]:
    """A digest of each text as it is and of its words (normalise_text); None for an empty text."""
    exact, normal = [], []
    for done, text in enumerate(texts):
        if on_done is not None and done % PROGRESS_EVERY == 0:
            on_done(done)
        if not isinstance(text, str) or not text.strip():
            exact.append(None)
            normal.append(None)
            continue
        exact.append(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
        words = normalise_text(text)
        normal.append(hashlib.blake2b(words.encode("utf-8", "surrogatepass"), digest_size=16).digest() if words else None)
    if on_done is not None:
        on_done(len(texts))
    return exact, normal


def describe_split(split: SplitRows) -> SplitReport:
    """Labels, empty texts, duplicates, conflicting labels and markup of one split (its digests computed)."""
    labels = Counter(label if label is not None else UNLABELLED for label in split.labels)
    unlabelled = [i for i, label in enumerate(split.labels) if label is None]
    empty_rows = [i for i, key in enumerate(split.exact) if key is None]
    exact_groups = _groups(split.exact)
    normal_groups = _groups(split.normal)
    exact_extra = sum(len(rows) - 1 for rows in exact_groups)
    normal_extra = sum(len(rows) - 1 for rows in normal_groups)
    exact_sets = {frozenset(rows) for rows in exact_groups}
    conflicts = [rows for rows in normal_groups if len({split.labels[i] for i in rows}) > 1]
    markup_rows = 0
    markup: Counter = Counter()
    for text in split.texts:
        if isinstance(text, str) and ("<" in text or "&" in text):
            found = MARKUP_RE.findall(text)
            if found:
                markup_rows += 1
                markup.update(_markup_key(m) for m in found)
    by_size = sorted(normal_groups, key=lambda rows: (-len(rows), rows[0]))
    return SplitReport(
        name=split.name,
        rows=len(split.texts),
        labels=dict(sorted(labels.items(), key=lambda kv: (kv[0] == UNLABELLED, kv[0]))),
        unlabelled_rows=unlabelled[:10],
        empty=len(empty_rows),
        empty_rows=empty_rows[:10],
        exact_duplicate_groups=len(exact_groups),
        exact_duplicate_rows=exact_extra,
        normalised_duplicate_groups=sum(1 for rows in normal_groups if frozenset(rows) not in exact_sets),
        normalised_duplicate_rows=normal_extra - exact_extra,
        duplicate_examples=[_group(split, rows) for rows in by_size[:EXAMPLES]],
        conflict_groups=len(conflicts),
        conflict_rows=sum(len(rows) for rows in conflicts),
        conflict_examples=[_group(split, rows) for rows in conflicts[:EXAMPLES]],
        markup_rows=markup_rows,
        markup=dict(markup.most_common(8)),
    )


def _groups(keys: Sequence[bytes | None]) -> list[list[int]]:
    rows: dict[bytes, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key is not None:
            rows[key].append(i)
    return [group for group in rows.values() if len(group) > 1]


def _group(split: SplitRows, rows: list[int]) -> DuplicateGroup:
    labels = sorted({split.labels[i] or UNLABELLED for i in rows})
    return DuplicateGroup(len(rows), snippet(split.texts[rows[0]], SNIPPET), labels, rows[:5])


def _markup_key(found: str) -> str:
    """Markup as it appears (`<br />`, `&amp;`), lower-cased; long tags such as links by their name."""
    text = " ".join(found.split()).lower()
    if len(text) <= 12:
        return text
    match = TAG_NAME_RE.match(found)
    name = match.group(1).lower() if match else text[:12]
    return f"</{name}>" if found.startswith("</") else f"<{name} …>"


def find_leakage(train: SplitRows, evaluation: SplitRows) -> Leakage:
    """Eval rows whose text (exactly, or after normalising) is also in train."""
    exact_train = {key for key in train.exact if key is not None}
    labels_by_text: dict[bytes, set] = defaultdict(set)
    first_row: dict[bytes, int] = {}
    for i, key in enumerate(train.normal):
        if key is not None:
            labels_by_text[key].add(train.labels[i])
            first_row.setdefault(key, i)
    exact = normal = conflicting = 0
    examples = []
    for i, key in enumerate(evaluation.normal):
        if key is None or key not in labels_by_text:
            continue
        normal += 1
        exact += evaluation.exact[i] in exact_train
        conflict = evaluation.labels[i] not in labels_by_text[key]
        conflicting += conflict
        if len(examples) < EXAMPLES:
            labels = sorted({lab or UNLABELLED for lab in labels_by_text[key] | {evaluation.labels[i]}})
            examples.append(DuplicateGroup(2, snippet(evaluation.texts[i], SNIPPET), labels, [first_row[key], i]))
    return Leakage(train.name, evaluation.name, len(evaluation.texts), exact, normal, conflicting, examples)


def write_clean_copy(splits: Sequence[SplitRows], folder: Path, names_of: Sequence[str] = ()) -> CleanedData:
    """Each split as JSON Lines without empty texts, markup, duplicates, conflicting labels or leaked eval rows.

    The folder loads with `bertcli train --dataset FOLDER` (train.jsonl plus the eval split's file; an eval
    split carved from train goes back into train.jsonl, as it came).
    """
    if len(splits) > 1 and splits[1].name == CARVED:  # the data has one split: so has its clean copy
        train, held = splits
        ids = train.label_ids + held.label_ids if train.label_ids is not None and held.label_ids is not None else None
        splits = [SplitRows(train.name, train.texts + held.texts, train.labels + held.labels, train.exact + held.exact,
                            train.normal + held.normal, ids)]
    check_clean_to(folder)
    try:
        return _write_clean_copy(splits, folder, names_of)
    except OSError as err:
        raise BertCliError(f"cannot write the clean copy to {folder}: {err.strerror or err} — free some space or "
                           f"give a writable --clean-to") from None


def check_clean_to(folder: Path) -> None:
    """--clean-to names a new or empty folder that can be written; checked before the data is read."""
    from bertcli.core.training import check_output_dir

    check_output_dir(folder, flag="--clean-to")
    if folder.is_dir() and any(folder.iterdir()):
        raise UsageError(f"--clean-to {folder} already has files in it — give a new or empty folder")


def _write_clean_copy(splits: Sequence[SplitRows], folder: Path, names_of: Sequence[str] = ()) -> CleanedData:
    folder.mkdir(parents=True, exist_ok=True)
    train_normal = {key for key in splits[0].normal if key is not None}
    files, kept, dropped = {}, {}, {}
    for index, split in enumerate(splits):
        conflicted = {
            split.normal[rows[0]] for rows in _groups(split.normal) if len({split.labels[i] for i in rows}) > 1
        }
        seen: set = set()
        reasons: Counter = Counter()
        path = folder / f"{split.name}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            lists = [[names_of[i] for i in row] for row in split.label_ids] if split.label_ids is not None else None
            for row, (text, label, key) in enumerate(zip(split.texts, split.labels, split.normal)):
                if key is None:
                    reasons["empty"] += 1
                elif label is None:
                    reasons["no label"] += 1
                elif key in conflicted:
                    reasons["conflicting labels"] += 1
                elif key in seen:
                    reasons["duplicate"] += 1
                elif index > 0 and key in train_normal:
                    reasons["also in train"] += 1
                else:
                    seen.add(key)
                    cleaned = " ".join(html.unescape(TAG_RE.sub(" ", text)).split())
                    value = lists[row] if lists is not None else label  # multi-label: the list of names
                    out.write(json.dumps({"text": cleaned, "label": value}, ensure_ascii=False) + "\n")
                    kept[split.name] = kept.get(split.name, 0) + 1
        files[split.name] = str(path)
        kept.setdefault(split.name, 0)
        dropped[split.name] = dict(reasons)
    return CleanedData(str(folder), files, kept, dropped)
