"""`bertcli debug data`'s findings: what the measurements of a dataset (data.py) say, at what level, and the
command that fixes each — built from the dataset options the user gave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertcli.core.commands import bertcli_command
from bertcli.core.data.labels import UNLABELLED
from bertcli.core.data.splits import CARVED
from bertcli.core.diagnose.data_lengths import COVERAGE_TARGET, TokenLengths
from bertcli.core.diagnose.data_report import DataDiagnosis, Leakage, SplitReport
from bertcli.core.findings import Finding


def data_findings(d: DataDiagnosis, source: str) -> list[Finding]:
    findings: list[Finding] = []
    folder = d.cleaned.folder if d.cleaned else _clean_folder(source)
    keep = {k: v for k, v in d.flags.items() if k in ("--model", "--train-split", "--eval-split", "--labels")}
    train_flag = bertcli_command("train", keep, dataset=folder)  # the clean copy has text and label columns
    # Once the clean copy is written, the fix is to train on it; before, to write it.
    clean = train_flag if d.cleaned else bertcli_command("debug data", d.flags, clean_to=folder)
    for index, report in enumerate(d.splits):
        is_train = report.name == d.train_split
        if d.multi_label is not None:
            findings += _multi_label_findings(d, report, d.multi_label[index], is_train)
        else:
            findings += _label_findings(d, report, is_train)
        findings += _empty_findings(report, clean)
        findings += _duplicate_findings(d, report, clean, train_flag)
        findings += _conflict_findings(report, clean)
        findings += _markup_findings(d, report, clean)
    if d.leakage is not None:
        findings += _leakage_findings(d.leakage, clean)
    if d.eval_split == CARVED:
        asked = d.flags.get("--eval-split")
        why = f"--eval-split {asked}" if asked else "no validation or test split"
        findings.append(
            Finding(
                "carved_eval",
                "info",
                f"{why}: '{CARVED}' is the {'random' if d.multi_label else 'stratified'} {d.splits[1].rows:,}-example "
                "eval set bertcli train holds out "
                f"of '{d.train_split}'",
            )
        )
    elif d.leakage is None and d.splits:
        findings.append(
            Finding(
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


def _label_findings(d: DataDiagnosis, r: SplitReport, is_train: bool) -> list[Finding]:
    findings = []
    counts = {name: r.labels.get(name, 0) for name in d.label_names}
    shown = ", ".join(f"{name} {n:,} ({_pct(n, r.rows)})" for name, n in counts.items())
    if r.labels.get(UNLABELLED):
        n = r.labels[UNLABELLED]
        findings.append(
            Finding(
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
            Finding(
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
            Finding(
                "imbalance",
                "warning",
                f"labels in '{r.name}' are imbalanced {ratio:.1f}:1 — always answering '{majority}' scores "
                f"{counts[majority] / r.rows:.1%} accuracy",
                [shown],
                bertcli_command("train", d.flags, class_weights="auto", best_metric="f1_macro")
                + "  # weigh the loss by inverse label frequency; pick checkpoints by macro F1, not accuracy",
            )
        )
    else:
        findings.append(Finding("labels", "info", f"labels in '{r.name}' ({r.rows:,} rows): {shown}"))
    return findings


def _multi_label_findings(d: DataDiagnosis, r: SplitReport, overview: Any, is_train: bool) -> list[Finding]:
    """Multi-label data: each label's share of rows, rows with no label, labels per row, the commonest pairs;
    a label no row carries; labels so rare that positive weights would help."""
    findings = []
    shown = ", ".join(f"{name} {n:,} ({_pct(n, r.rows)})" for name, n in overview.counts.items())
    pairs = ", ".join(f"{a}+{b} {n:,}" for a, b, n in overview.pairs[:5]) or "none"
    evidence = [
        shown,
        f"{overview.no_label:,} row(s) ({_pct(overview.no_label, r.rows)}) with no label; {overview.mean_labels:.2f} labels "
        f"per row (at most {overview.most_labels})",
        f"commonest pairs: {pairs}",
    ]
    if r.labels.get(UNLABELLED):
        n = r.labels[UNLABELLED]
        findings.append(Finding(
            "unlabelled", "error", f"{n:,} row(s) of '{r.name}' carry a label outside {d.label_names}",
            [f"row indices {', '.join(map(str, r.unlabelled_rows))}"],
            "fix or drop them (bertcli train refuses them), or give every name with --labels or --label-names FILE",
        ))
    missing = [name for name, n in overview.counts.items() if n == 0]
    if missing:
        findings.append(Finding(
            "missing_label", "error" if is_train else "warning",
            f"'{r.name}' has no example of {', '.join(missing)}: "
            + ("the model can never learn it" if is_train else "the eval score says nothing about it"),
            evidence, f"check --label-column ({'train' if is_train else 'eval'} split '{r.name}')",
        ))
        return findings
    rarest = min(overview.counts, key=overview.counts.get)
    share = overview.counts[rarest] / r.rows if r.rows else 0.0
    if is_train and share < 0.05:
        findings.append(Finding(
            "imbalance", "warning",
            f"multi-label '{r.name}': '{rarest}' is on {share:.1%} of rows — at a threshold of 0.5 a rare label is "
            "seldom predicted; bertcli tunes each label's threshold on the eval split, and positive weights help it learn",
            evidence, bertcli_command("train", d.flags, class_weights="auto") + "  # per-label positive weights (negatives / positives)",
        ))
    else:
        findings.append(Finding("labels", "info", f"multi-label '{r.name}' ({r.rows:,} rows)", evidence))
    return findings


def _empty_findings(r: SplitReport, clean: str) -> list[Finding]:
    if not r.empty:
        return []
    rows = ", ".join(map(str, r.empty_rows)) + (" …" if r.empty > len(r.empty_rows) else "")
    return [
        Finding(
            "empty_texts",
            "error",
            f"{r.empty:,} empty or whitespace-only text{'s' if r.empty > 1 else ''} in '{r.name}' — bertcli train refuses them",
            [f"row indices {rows}"],
            clean,
        )
    ]


def _duplicate_findings(d: DataDiagnosis, r: SplitReport, clean: str, train_flag: str) -> list[Finding]:
    extra = r.exact_duplicate_rows + r.normalised_duplicate_rows
    if not extra:
        return [Finding("duplicates", "info", f"no duplicate texts in '{r.name}' (exact or after normalising)")]
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
        Finding(
            "duplicates",
            "warning" if share >= 0.001 or r.name != d.train_split else "info",
            f"{extra:,} duplicate text{'s' if extra > 1 else ''} in '{r.name}' ({share:.2%}): "
            f"{r.exact_duplicate_rows:,} exact, {r.normalised_duplicate_rows:,} after normalising",
            evidence,
            clean if d.cleaned else f"{clean} && {train_flag}",
        )
    ]


def _conflict_findings(r: SplitReport, clean: str) -> list[Finding]:
    if not r.conflict_groups:
        return []
    evidence = [f"×{g.count} as {' and '.join(g.labels)}: \"{g.text}\" (rows {', '.join(map(str, g.rows))})" for g in r.conflict_examples]
    return [
        Finding(
            "conflicting_labels",
            "error" if r.conflict_rows >= 0.01 * r.rows else "warning",
            f"{r.conflict_groups:,} text{'s' if r.conflict_groups > 1 else ''} in '{r.name}' appear{'' if r.conflict_groups > 1 else 's'} with different labels "
            f"({r.conflict_rows:,} rows): the model is trained to give both answers",
            evidence,
            clean + "  # drops every copy of a conflicting text",
        )
    ]


def _markup_findings(d: DataDiagnosis, r: SplitReport, clean: str) -> list[Finding]:
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
        Finding(
            "markup",
            "warning" if share >= 0.01 else "info",
            f"markup left in {r.markup_rows:,} of {r.rows:,} '{r.name}' texts ({share:.1%})",
            evidence,
            clean + "  # replaces tags such as <br /> with a space and decodes entities",
        )
    ]


def _leakage_findings(leak: Leakage, clean: str) -> list[Finding]:
    if not leak.normalised_rows:
        return [
            Finding("leakage", "info", f"no '{leak.eval_split}' text is also in '{leak.train_split}' (exact or normalised)")
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
        Finding(
            "leakage",
            "error" if share >= 0.01 else "warning",
            f"{leak.normalised_rows:,} of {leak.eval_rows:,} '{leak.eval_split}' texts ({share:.2%}) are also in "
            f"'{leak.train_split}': the eval score is inflated",
            evidence,
            clean + "  # drops eval rows found in train",
        )
    ]


def _length_findings(t: TokenLengths, flags: dict[str, Any]) -> list[Finding]:
    bins = ", ".join(
        f"{h['low']}–{h['high']}: {h['count']:,}" if h["high"] is not None else f">{h['low'] - 1}: {h['count']:,}"
        for h in t.histogram
    )
    evidence = [
        f"tokens per text (with [CLS]/[SEP]): mean {t.mean:.0f}, median {t.median}, 90% ≤ {t.p90}, 95% ≤ {t.p95}, "
        f"99% ≤ {t.p99}, longest {t.longest}",
        f"histogram: {bins}",
        f"--max-length {t.suggested_max_length} keeps {t.suggested_coverage:.1%} of texts whole",
        "how a trained model scores on each length (and how much truncation cut there): "
        + bertcli_command("evaluate", {"--dataset": flags.get("--dataset")}, by_length=True),
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
            Finding(
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
            Finding(
                "token_lengths",
                "info",
                summary + f"; 99% fit in {t.p99} tokens",
                evidence,
                bertcli_command("train", flags, max_length=t.suggested_max_length) + "  # shorter inputs train faster",
            )
        ]
    return [Finding("token_lengths", "info", summary, evidence)]
