"""`bertcli debug data`: what is wrong with a dataset before any training — under the model's tokenizer.

Label balance per split, exact and normalised duplicates within a split, train/eval overlap (leakage),
the same text with conflicting labels, empty texts, markup left in texts, and the token-length
distribution with the share cut at --max-length. Duplicates are found by hashing (one pass per split);
texts are tokenized in batches, so all 25,000 IMDb train reviews take seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

# A long step's progress for the caller to show: (phase, done, total or None, detail).
OnProgress = Callable[[str, int, "int | None", str], None]

from bertcli.core.commands import bertcli_command, data_flags
from bertcli.core.diagnose import Diagnosis, json_safe, percentile, sort_findings
from bertcli.core.errors import BertCliError, DataError, UsageError

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
LENGTH_EDGES = (32, 64, 128, 256, 384, 512, 1024, 2048)
SUGGESTED_LENGTHS = (64, 128, 256, 384, 512)
COVERAGE_TARGET = 0.95
TOKENIZE_BATCH = 1000
EXAMPLES = 3
SNIPPET = 70
UNLABELLED = "(none)"


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
class TokenLengths:
    split: str
    tokenizer: str
    texts: int
    max_length: int
    model_limit: int | None
    mean: float
    median: int
    p90: int
    p95: int
    p99: int
    longest: int
    histogram: list[dict[str, Any]]  # {"low", "high", "count"}; high None for the open last bin
    truncated: int
    truncated_share: float
    suggested_max_length: int
    suggested_coverage: float
    markup_tokens: int  # tokens spent on markup in this split
    markup_token_share: float


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
    eval_split: str | None
    splits: list[SplitReport]
    leakage: Leakage | None
    lengths: TokenLengths | None
    findings: list[Diagnosis]
    seconds: float
    cleaned: CleanedData | None = None
    # The dataset options the user gave, so that printed fixes carry them (see core/commands.py).
    flags: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Split:
    name: str
    texts: list[Any]
    labels: list[str | None]
    exact: list[bytes | None] = field(default_factory=list)
    normal: list[bytes | None] = field(default_factory=list)


def diagnose_data(
    source: str,
    tokenizer: Any = None,
    *,
    tokenizer_name: str = "",
    max_length: int = 512,
    model_limit: int | None = None,
    text_column: str = "text",
    label_column: str = "label",
    train_split: str = "train",
    eval_split: str | None = None,
    train_size: int | None = None,
    eval_size: int | None = None,
    seed: int = 42,
    clean_to: str | Path | None = None,
    on_progress: OnProgress | None = None,
) -> DataDiagnosis:
    """Load the train and eval splits as `bertcli train` would and look for everything that hurts training."""
    from bertcli.core.data import _subsample, label_names_of, load_raw, select_splits

    started = time.perf_counter()
    eval_split_given = eval_split
    if on_progress is not None:
        on_progress("loading", 0, None, "")
    used, eval_split = select_splits(load_raw(source), source, train_split, eval_split, text_column, label_column)
    sizes = {train_split: train_size, eval_split: eval_size}
    used = {name: _subsample(ds, sizes.get(name), seed) if sizes.get(name) else ds for name, ds in used.items()}
    names = label_names_of(used)
    splits = [_Split(name, list(ds["text"]), row_labels(ds, names)) for name, ds in used.items()]
    if on_progress is not None:
        rows = sum(len(split.texts) for split in splits)
        on_progress("loading", rows, rows, "")
    reports = []
    for split in splits:
        split.exact, split.normal = _digests(split.texts, _phase(on_progress, f"hashing {split.name}", len(split.texts)))
        reports.append(describe_split(split))
    leakage = find_leakage(splits[0], splits[1]) if len(splits) > 1 else None
    lengths = None
    if tokenizer is not None:
        lengths = measure_token_lengths(
            splits[0], tokenizer, tokenizer_name=tokenizer_name, max_length=max_length, model_limit=model_limit,
            markup=reports[0].markup, on_progress=on_progress,
        )
    result = DataDiagnosis(
        source=source,
        label_names=names,
        train_split=train_split,
        eval_split=eval_split,
        splits=reports,
        leakage=leakage,
        lengths=lengths,
        findings=[],
        seconds=0.0,
        flags=data_flags(
            source, model=tokenizer_name or None, text_column=text_column, label_column=label_column,
            train_split=train_split, eval_split=eval_split_given,
        ),
    )
    if clean_to is not None:
        result.cleaned = write_clean_copy(splits, Path(clean_to))
    result.findings = sort_findings(data_diagnoses(result, source))
    result.seconds = time.perf_counter() - started
    return result


def row_labels(ds: Any, names: Sequence[str]) -> list[str | None]:
    """Each row's label as a name from `names`, or None when it is missing or outside the set."""
    from datasets import ClassLabel

    from bertcli.core.data import READABLE_LABELS

    feature = ds.features.get("label")
    values = list(ds["label"])
    if isinstance(feature, ClassLabel):
        declared = [READABLE_LABELS.get(n, n) for n in feature.names]
        values = [declared[v] if isinstance(v, int) and 0 <= v < len(declared) else None for v in values]
    lookup = {name: name for name in names}
    lookup.update({name.lower(): name for name in names})
    out: list[str | None] = []
    for value in values:
        if isinstance(value, str):
            key = value.strip()
            label = lookup.get(key, lookup.get(key.lower()))
            if label is None and key.lstrip("-").isdigit() and 0 <= int(key) < len(names):
                label = names[int(key)]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
            label = names[int(value)] if 0 <= int(value) < len(names) else None
        else:
            label = None
        out.append(label)
    return out


def normalise_text(text: str) -> str:
    """Case, markup, entities, punctuation and spacing removed: what is left is the words."""
    text = html.unescape(TAG_RE.sub(" ", text))
    return NON_WORD_RE.sub(" ", text.casefold()).strip()


def _phase(on_progress: OnProgress | None, phase: str, total: int) -> Callable[[int], None] | None:
    """`on_progress` bound to one phase: called with the count done so far."""
    if on_progress is None:
        return None
    return lambda done: on_progress(phase, done, total, "")


PROGRESS_EVERY = 1000  # texts between two progress calls while hashing


def _digests(texts: Sequence[Any], on_done: Callable[[int], None] | None = None) -> tuple[list[bytes | None], list[bytes | None]]:
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


def describe_split(split: _Split) -> SplitReport:
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


def _group(split: _Split, rows: list[int]) -> DuplicateGroup:
    labels = sorted({split.labels[i] or UNLABELLED for i in rows})
    return DuplicateGroup(len(rows), _snippet(split.texts[rows[0]]), labels, rows[:5])


def _snippet(text: Any) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _markup_key(found: str) -> str:
    """Markup as it appears (`<br />`, `&amp;`), lower-cased; long tags such as links by their name."""
    text = " ".join(found.split()).lower()
    if len(text) <= 12:
        return text
    match = TAG_NAME_RE.match(found)
    name = match.group(1).lower() if match else text[:12]
    return f"</{name}>" if found.startswith("</") else f"<{name} …>"


def find_leakage(train: _Split, evaluation: _Split) -> Leakage:
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
            examples.append(DuplicateGroup(2, _snippet(evaluation.texts[i]), labels, [first_row[key], i]))
    return Leakage(train.name, evaluation.name, len(evaluation.texts), exact, normal, conflicting, examples)


def measure_token_lengths(
    split: _Split,
    tokenizer: Any,
    *,
    tokenizer_name: str,
    max_length: int,
    model_limit: int | None,
    markup: dict[str, int] | None = None,
    on_progress: OnProgress | None = None,
) -> TokenLengths:
    """Token counts (specials included, nothing cut) of every non-empty text, tokenized in batches."""
    from bertcli.core.encoding import encode_texts

    texts = [t for t, key in zip(split.texts, split.exact) if key is not None]
    if not texts:
        raise DataError(f"split '{split.name}' has no non-empty text to tokenize")
    lengths: list[int] = []
    on_done = _phase(on_progress, f"tokenizing {split.name}", len(texts))
    for start in range(0, len(texts), TOKENIZE_BATCH):
        if on_done is not None:
            on_done(start)
        lengths += encode_texts(tokenizer, texts[start : start + TOKENIZE_BATCH], max_length, "head")["n_tokens"]
    if on_done is not None:
        on_done(len(texts))
    ordered = sorted(lengths)
    histogram = []
    low = 0
    for high in (*LENGTH_EDGES, None):
        count = sum(1 for n in lengths if n > low and (high is None or n <= high))
        histogram.append({"low": low + 1, "high": high, "count": count})
        if high is None:
            break
        low = high
    while histogram and histogram[-1]["count"] == 0 and len(histogram) > 1:
        histogram.pop()
    truncated = sum(1 for n in lengths if n > max_length)
    limit = model_limit or max(SUGGESTED_LENGTHS)
    candidates = [c for c in SUGGESTED_LENGTHS if c <= limit] or [limit]
    suggested = next((c for c in candidates if _share_within(ordered, c) >= COVERAGE_TARGET), candidates[-1])
    markup_tokens = 0
    if markup:
        for form, occurrences in markup.items():
            probe = form.replace(" …>", ">")
            pieces = tokenizer(probe, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
            markup_tokens += len(pieces) * occurrences
    total_tokens = sum(lengths)
    return TokenLengths(
        split=split.name,
        tokenizer=short_name(tokenizer_name) if tokenizer_name else type(tokenizer).__name__,
        texts=len(lengths),
        max_length=max_length,
        model_limit=model_limit,
        mean=statistics.fmean(lengths),
        median=int(statistics.median_low(ordered)),
        p90=percentile(ordered, 0.90),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        longest=ordered[-1],
        histogram=histogram,
        truncated=truncated,
        truncated_share=truncated / len(lengths),
        suggested_max_length=suggested,
        suggested_coverage=_share_within(ordered, suggested),
        markup_tokens=markup_tokens,
        markup_token_share=markup_tokens / total_tokens if total_tokens else 0.0,
    )


def short_name(name_or_path: str) -> str:
    """A model named for people: the hub name, or the last two parts of a local path."""
    path = Path(name_or_path)
    if path.exists() and len(path.parts) > 2:
        return "/".join(path.parts[-2:])
    return name_or_path


def _share_within(ordered: Sequence[int], limit: int) -> float:
    import bisect

    return bisect.bisect_right(ordered, limit) / len(ordered)


def write_clean_copy(splits: Sequence[_Split], folder: Path) -> CleanedData:
    """Each split as JSON Lines without empty texts, markup, duplicates, conflicting labels or leaked eval rows.

    The folder loads with `bertcli train --dataset FOLDER` (train.jsonl plus the eval split's file).
    """
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"--clean-to {folder} already has files in it — give a new or empty folder")
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
            for text, label, key in zip(split.texts, split.labels, split.normal):
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
                    out.write(json.dumps({"text": cleaned, "label": label}, ensure_ascii=False) + "\n")
                    kept[split.name] = kept.get(split.name, 0) + 1
        files[split.name] = str(path)
        kept.setdefault(split.name, 0)
        dropped[split.name] = dict(reasons)
    return CleanedData(str(folder), files, kept, dropped)


# --- the findings ----------------------------------------------------------------------------------------------


def data_diagnoses(d: DataDiagnosis, source: str) -> list[Diagnosis]:
    findings: list[Diagnosis] = []
    folder = d.cleaned.folder if d.cleaned else _clean_folder(source)
    keep = {k: v for k, v in d.flags.items() if k in ("--model", "--train-split", "--eval-split")}
    train_flag = bertcli_command("train", keep, dataset=folder)  # the clean copy has text and label columns
    # Once the clean copy is written, the fix is to train on it; before, to write it.
    clean = train_flag if d.cleaned else bertcli_command("debug data", d.flags, clean_to=folder)
    for report in d.splits:
        is_train = report.name == d.train_split
        findings += _label_findings(d, report, is_train)
        findings += _empty_findings(report, clean)
        findings += _duplicate_findings(d, report, clean, train_flag)
        findings += _conflict_findings(report, clean)
        findings += _markup_findings(d, report, clean)
    if d.leakage is not None:
        findings += _leakage_findings(d.leakage, clean)
    elif d.splits:
        findings.append(
            Diagnosis(
                "no_eval_split",
                "info",
                f"no validation or test split: bertcli train carves a stratified eval set from '{d.train_split}'",
                ["duplicates within train then land on both sides and inflate the eval score"]
                if d.splits[0].exact_duplicate_rows or d.splits[0].normalised_duplicate_rows
                else [],
            )
        )
    if d.lengths is not None:
        findings += _length_findings(d.lengths, d.flags)
    return findings


def _clean_folder(source: str) -> str:
    return f"{Path(source.rstrip('/')).name or 'data'}-clean"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _label_findings(d: DataDiagnosis, r: SplitReport, is_train: bool) -> list[Diagnosis]:
    findings = []
    counts = {name: r.labels.get(name, 0) for name in d.label_names}
    shown = ", ".join(f"{name} {n:,} ({_pct(n, r.rows)})" for name, n in counts.items())
    if r.labels.get(UNLABELLED):
        n = r.labels[UNLABELLED]
        findings.append(
            Diagnosis(
                "unlabelled",
                "error",
                f"{n:,} row{'s' if n > 1 else ''} of '{r.name}' have no label in the set {d.label_names} (missing, -1 or unknown)",
                [f"row indices {', '.join(map(str, r.unlabelled_rows))}" + (" …" if n > len(r.unlabelled_rows) else "")],
                "fix or drop them (bertcli train refuses them); with unknown names, pass --labels with the full set",
            )
        )
    missing = [name for name, n in counts.items() if n == 0]
    if missing:
        findings.append(
            Diagnosis(
                "missing_label",
                "error" if is_train else "warning",
                f"'{r.name}' has no example of {', '.join(missing)}: "
                + ("the model can never learn it" if is_train else "the eval score says nothing about it"),
                [shown],
                f"check --label-column ({'train' if is_train else 'eval'} split '{r.name}')",
            )
        )
        return findings
    present = [n for n in counts.values() if n]
    ratio = max(present) / min(present) if present else 1.0
    majority = max(counts, key=counts.get)
    if ratio >= 1.5:
        findings.append(
            Diagnosis(
                "imbalance",
                "warning",
                f"labels in '{r.name}' are imbalanced {ratio:.1f}:1 — always answering '{majority}' scores "
                f"{counts[majority] / r.rows:.1%} accuracy",
                [shown],
                bertcli_command("train", d.flags, best_metric="f1") + "  # judge and pick checkpoints by F1, not accuracy",
            )
        )
    else:
        findings.append(Diagnosis("labels", "info", f"labels in '{r.name}' ({r.rows:,} rows): {shown}"))
    return findings


def _empty_findings(r: SplitReport, clean: str) -> list[Diagnosis]:
    if not r.empty:
        return []
    rows = ", ".join(map(str, r.empty_rows)) + (" …" if r.empty > len(r.empty_rows) else "")
    return [
        Diagnosis(
            "empty_texts",
            "error",
            f"{r.empty:,} empty or whitespace-only text{'s' if r.empty > 1 else ''} in '{r.name}' — bertcli train refuses them",
            [f"row indices {rows}"],
            clean,
        )
    ]


def _duplicate_findings(d: DataDiagnosis, r: SplitReport, clean: str, train_flag: str) -> list[Diagnosis]:
    extra = r.exact_duplicate_rows + r.normalised_duplicate_rows
    if not extra:
        return [Diagnosis("duplicates", "info", f"no duplicate texts in '{r.name}' (exact or after normalising)")]
    evidence = []
    if r.exact_duplicate_rows:
        evidence.append(
            f"{r.exact_duplicate_groups:,} group{'s' if r.exact_duplicate_groups != 1 else ''} of identical texts "
            f"({r.exact_duplicate_rows:,} extra cop{'ies' if r.exact_duplicate_rows != 1 else 'y'})"
        )
    if r.normalised_duplicate_rows:
        evidence.append(
            f"{r.normalised_duplicate_groups:,} more group{'s' if r.normalised_duplicate_groups != 1 else ''} identical once "
            f"case, markup and punctuation are ignored ({r.normalised_duplicate_rows:,} extra)"
        )
    evidence += [f"×{g.count}: \"{g.text}\" (rows {', '.join(map(str, g.rows))})" for g in r.duplicate_examples]
    share = extra / r.rows
    return [
        Diagnosis(
            "duplicates",
            "warning" if share >= 0.001 or r.name != d.train_split else "info",
            f"{extra:,} duplicate text{'s' if extra > 1 else ''} in '{r.name}' ({share:.2%}): "
            f"{r.exact_duplicate_rows:,} exact, {r.normalised_duplicate_rows:,} after normalising",
            evidence,
            clean if d.cleaned else f"{clean} && {train_flag}",
        )
    ]


def _conflict_findings(r: SplitReport, clean: str) -> list[Diagnosis]:
    if not r.conflict_groups:
        return []
    evidence = [f"×{g.count} as {' and '.join(g.labels)}: \"{g.text}\" (rows {', '.join(map(str, g.rows))})" for g in r.conflict_examples]
    return [
        Diagnosis(
            "conflicting_labels",
            "error" if r.conflict_rows >= 0.01 * r.rows else "warning",
            f"{r.conflict_groups:,} text{'s' if r.conflict_groups > 1 else ''} in '{r.name}' appear{'' if r.conflict_groups > 1 else 's'} with different labels "
            f"({r.conflict_rows:,} rows): the model is trained to give both answers",
            evidence,
            clean + "  # drops every copy of a conflicting text",
        )
    ]


def _markup_findings(d: DataDiagnosis, r: SplitReport, clean: str) -> list[Diagnosis]:
    if not r.markup_rows:
        return []
    forms = ", ".join(f"{form} ×{n:,}" for form, n in r.markup.items())
    evidence = [forms]
    lengths = d.lengths
    if lengths is not None and lengths.split == r.name and lengths.markup_tokens:
        evidence.append(
            f"≈ {lengths.markup_tokens:,} tokens under {lengths.tokenizer} ({lengths.markup_token_share:.1%} of all tokens) "
            "spent on markup"
        )
    share = r.markup_rows / r.rows
    return [
        Diagnosis(
            "markup",
            "warning" if share >= 0.01 else "info",
            f"markup left in {r.markup_rows:,} of {r.rows:,} '{r.name}' texts ({share:.1%})",
            evidence,
            clean + "  # replaces tags such as <br /> with a space and decodes entities",
        )
    ]


def _leakage_findings(leak: Leakage, clean: str) -> list[Diagnosis]:
    if not leak.normalised_rows:
        return [
            Diagnosis("leakage", "info", f"no '{leak.eval_split}' text is also in '{leak.train_split}' (exact or normalised)")
        ]
    share = leak.normalised_rows / leak.eval_rows
    evidence = [
        f"{leak.exact_rows:,} identical, {leak.normalised_rows - leak.exact_rows:,} more after normalising",
    ]
    if leak.conflicting_rows:
        evidence.append(
            f"{leak.conflicting_rows:,} of them carr{'ies' if leak.conflicting_rows == 1 else 'y'} a different label in '{leak.train_split}'"
        )
    evidence += [f"\"{g.text}\" (train row {g.rows[0]}, eval row {g.rows[1]}; {' / '.join(g.labels)})" for g in leak.examples]
    return [
        Diagnosis(
            "leakage",
            "error" if share >= 0.01 else "warning",
            f"{leak.normalised_rows:,} of {leak.eval_rows:,} '{leak.eval_split}' texts ({share:.2%}) are also in "
            f"'{leak.train_split}': the eval score is inflated",
            evidence,
            clean + "  # drops eval rows found in train",
        )
    ]


def _length_findings(t: TokenLengths, flags: dict[str, Any]) -> list[Diagnosis]:
    bins = ", ".join(
        f"{h['low']}–{h['high']}: {h['count']:,}" if h["high"] is not None else f">{h['low'] - 1}: {h['count']:,}"
        for h in t.histogram
    )
    evidence = [
        f"tokens per text (with [CLS]/[SEP]): mean {t.mean:.0f}, median {t.median}, 90% ≤ {t.p90}, 95% ≤ {t.p95}, "
        f"99% ≤ {t.p99}, longest {t.longest}",
        f"histogram: {bins}",
        f"--max-length {t.suggested_max_length} keeps {t.suggested_coverage:.1%} of texts whole",
    ]
    limit = f" (the model's limit is {t.model_limit})" if t.model_limit else ""
    if t.truncated_share >= 0.1:
        if t.suggested_max_length > t.max_length:
            if t.suggested_coverage < COVERAGE_TARGET:
                fix = bertcli_command("train", flags, max_length=t.suggested_max_length, truncation="head+tail")
                fix += f"  # {1 - t.suggested_coverage:.1%} are longer still: keep their opening and ending"
            else:
                fix = bertcli_command("train", flags, max_length=t.suggested_max_length)
        else:
            fix = bertcli_command("train", flags, max_length=t.max_length, truncation="head+tail")
            fix += "  # keeps the opening and the ending of long texts"
        return [
            Diagnosis(
                "truncation",
                "warning",
                f"{t.truncated_share:.1%} of '{t.split}' texts ({t.truncated:,} of {t.texts:,}) are longer than "
                f"--max-length {t.max_length} and get cut{limit}",
                evidence,
                fix,
            )
        ]
    summary = f"{t.truncated_share:.1%} of '{t.split}' texts are longer than --max-length {t.max_length}{limit}"
    if t.p99 * 2 <= t.max_length and t.suggested_max_length < t.max_length:
        return [
            Diagnosis(
                "token_lengths",
                "info",
                summary + f"; 99% fit in {t.p99} tokens",
                evidence,
                bertcli_command("train", flags, max_length=t.suggested_max_length) + "  # shorter inputs train faster",
            )
        ]
    return [Diagnosis("token_lengths", "info", summary, evidence)]


def data_diagnosis_to_dict(d: DataDiagnosis) -> dict[str, Any]:
    return json_safe(asdict(d))


def model_position_limit(name_or_path: str, tokenizer: Any = None) -> int | None:
    """The longest input the model takes: max_position_embeddings from its config, else the tokenizer's limit."""
    try:
        from transformers import AutoConfig

        from bertcli.core.model import _resolve

        target, _ = _resolve(name_or_path)
        limit = getattr(AutoConfig.from_pretrained(target), "max_position_embeddings", None)
        if isinstance(limit, int) and limit > 0:
            return limit
    except (OSError, ValueError, KeyError, BertCliError):  # the tokenizer's limit is the fallback
        pass
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 100_000 else None
