"""What `debug data` already knows, joined to `debug labels`' queue: the same words under different labels.

Two examples whose texts match once case, markup and punctuation are set aside (`debug data`'s normalised
duplicates) but whose labels differ cannot both be right. Each such example joins the queue with that
evidence; one the model already doubts keeps its place and gains the evidence.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Sequence


def conflicting_copies(texts: Sequence[str], given: Sequence[str]) -> dict[int, list[int]]:
    """For each position whose words match another position's under another label: those other positions."""
    from bertcli.core.diagnose.data import text_digests

    _, normal = text_digests(texts)
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i, key in enumerate(normal):
        if key is not None:
            groups[key].append(i)
    found: dict[int, list[int]] = {}
    for members in groups.values():
        if len({given[i] for i in members}) < 2:
            continue
        for i in members:
            found[i] = [j for j in members if given[j] != given[i]]
    return found


def join_duplicates(
    d: Any,
    new_issue: Callable[..., Any],
    rows: Sequence[int],
    texts: Sequence[str],
    given: Sequence[str],
    believed: Sequence[str],
    confidence: Sequence[float],
    quality: Sequence[float],
) -> int:
    """Add the conflicting copies among the scored examples to `d`'s queue (a LabelDiagnosis; `new_issue` makes
    a LabelIssue from its fields); how many examples that concerned.

    `rows`, `texts`, `given` (the example's label), `believed` (the evidence's top label), `confidence` (its
    probability of the given label) and `quality` (the ranking score) run in parallel. Examples already in the
    queue gain the evidence; the others follow the evidence-ranked issues, lowest quality first."""
    copies = conflicting_copies(texts, given)
    if not copies:
        return 0
    by_row = {issue.row: issue for issue in d.issues}
    added = []
    for i, others in copies.items():
        more = f" and {len(others) - 1} more" if len(others) > 1 else ""
        note = f"same words as row {rows[others[0]]}{more}, labelled {given[others[0]]}"
        issue = by_row.get(rows[i])
        if issue is not None:
            issue.evidence = f"{issue.evidence}; {note}"
            issue.same_words_as = int(rows[others[0]])
            continue
        suggested = believed[i] if believed[i] != given[i] else given[others[0]]
        added.append(new_issue(
            rank=0, row=int(rows[i]), given=given[i], suggested=suggested, self_confidence=float(confidence[i]),
            quality=float(quality[i]), text=texts[i], evidence=f"near-duplicate: {note}",
            same_words_as=int(rows[others[0]]),
        ))
    added.sort(key=lambda issue: (issue.quality, issue.row))
    d.issues.extend(added)
    for rank, issue in enumerate(d.issues, 1):
        issue.rank = rank
    d.notes.append(
        f"{len(copies):,} example(s) share their words with an example of another label (debug data's conflicting "
        f"labels): {len(added):,} joined the queue on that evidence, {len(copies) - len(added):,} were in it already"
    )
    return len(copies)

