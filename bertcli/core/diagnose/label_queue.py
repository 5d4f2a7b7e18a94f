"""`bertcli debug labels`' review queue: its issues and how they are ranked (cleanlab), the findings about it,
and the decisions file it becomes. Shared by the three kinds of evidence: a model scoring another split
(`labels`), cross-fitted folds (`label_folds`) and recorded training dynamics (`label_dynamics`).
Multi-label data goes through cleanlab's multi-label versions (`cleanlab.multilabel_classification`): each
label's sigmoid probability judged one-vs-rest, the example's score pooled over its labels; an issue then
shows the given label set and the set the model believes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.errors import DataError, UsageError
from bertcli.core.findings import Finding
from bertcli.core.jsondata import plain

if TYPE_CHECKING:
    import numpy as np

RANKINGS = ("self_confidence", "normalized_margin")
# A queue longer than this is cut for the screen (the JSON and the decisions file hold every issue).
SHOWN = 20
SNIPPET = 60
# Published re-labelling studies confirm roughly half of what such methods flag (Northcutt et al., 2021).
CONFIRMED_SHARE = "about half"

OnProgress = Callable[[str, int, "int | None", str], None]


@dataclass
class LabelIssue:
    """One example whose label the evidence doubts: where it is, what it says, what the model believes."""

    rank: int
    row: int  # the example's row in its split, as the data has it
    given: str  # multi-label: the given label set, `joy, surprise`
    suggested: str  # multi-label: the labels at or over their thresholds
    # the model's probability of the given label; multi-label: cleanlab's self-confidence of the given set
    self_confidence: float
    quality: float  # cleanlab's label quality score that ranks the queue (lower: more likely wrong)
    snippet: str
    evidence: str
    same_words_as: int | None = None  # a row with the same words under another label (debug data's conflicts)


@dataclass
class LabelDiagnosis:
    """A split's label issues, ranked, with how they were found and the findings about them."""

    source: str
    split: str
    model: str | None
    evidence: str  # out-of-sample model / cross-fitting / training dynamics
    ranked_by: str
    label_names: list[str]
    examples: int
    issues: list[LabelIssue]
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    agreement: float | None = None  # share of examples whose given label is the model's top label
    majority: float | None = None  # share of the commonest given label: what agreement a model that learned nothing gets
    multi_label: bool = False  # label sets: agreement is an exact match, majority each label's commoner value
    # every example's row and score ('rows', 'quality'; dynamics add theirs), for ranked_rows and --plot (not in the JSON)
    scores: Any = field(default=None, repr=False)


@dataclass
class Scored:
    """Out-of-sample evidence for a set of examples: rows, texts, given label ids and probabilities."""

    rows: list[int]
    texts: list[str]
    labels: Any  # np.ndarray of label ids; multi-label: (examples, labels) 0/1 rows
    probabilities: Any  # np.ndarray (examples, classes); multi-label: each label's sigmoid
    thresholds: Any = None  # multi-label: each label's decision threshold (None: 0.5), for the suggested sets


# --- ranking -----------------------------------------------------------------------------------------------------


def check_ranking(ranked_by: str) -> str:
    if ranked_by not in RANKINGS:
        raise UsageError(f"--rank-by takes one of {', '.join(RANKINGS)}, not '{ranked_by}'")
    return ranked_by


def label_lists(rows: "np.ndarray") -> list[list[int]]:
    """0/1 label rows as cleanlab's multi-label input: each example's label ids."""
    import numpy as np

    return [np.flatnonzero(row).tolist() for row in rows]


def label_quality(labels: "np.ndarray", probabilities: "np.ndarray", ranked_by: str) -> "np.ndarray":
    """cleanlab's label quality score of every example (lower: the label is more likely wrong); for 0/1 label
    rows its multi-label score (each label's score one-vs-rest, pooled with the most weight on the worst)."""
    import numpy as np

    if np.ndim(labels) == 2:
        from cleanlab.multilabel_classification.rank import get_label_quality_scores as multi_label_scores

        return multi_label_scores(label_lists(labels), probabilities, method=ranked_by)
    from cleanlab.rank import get_label_quality_scores

    return get_label_quality_scores(labels, probabilities, method=ranked_by)


def find_issues(labels: "np.ndarray", probabilities: "np.ndarray", ranked_by: str) -> list[int]:
    """The examples confident learning finds mislabelled, most likely first (cleanlab.filter.find_label_issues;
    for 0/1 label rows cleanlab.multilabel_classification.filter.find_label_issues)."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if np.ndim(labels) == 2:
            from cleanlab.multilabel_classification.filter import find_label_issues as find_multi_label

            found = find_multi_label(label_lists(labels), probabilities, return_indices_ranked_by=ranked_by, n_jobs=1)
        else:
            from cleanlab.filter import find_label_issues

            found = find_label_issues(labels, probabilities, return_indices_ranked_by=ranked_by, n_jobs=1)
    return [int(i) for i in found]


def names_of(row: "np.ndarray", label_names: Sequence[str]) -> str:
    """A 0/1 label row as the label set people read (`joy, surprise`)."""
    from bertcli.core.data.multilabel import label_set_text

    return label_set_text([label_names[k] for k, on in enumerate(row) if on])


def confidence_meaning(multi_label: bool) -> str:
    """What the queue's confidence column means (the table's caption)."""
    if multi_label:
        return ("self-conf.: cleanlab's multi-label self-confidence, each label's probability if given, 1 - it if "
                "not, pooled with the most weight on the worst")
    return "p(given): the model's probability of the given label"


def rank_scored(scored: Scored, label_names: list[str], ranked_by: str, evidence: str) -> tuple[list[LabelIssue], Any]:
    """The queue of issues from out-of-sample probabilities, and every example's quality score."""
    import numpy as np

    from bertcli.core.evaluation import snippet

    labels = np.asarray(scored.labels, dtype=np.int64)
    probs = np.asarray(scored.probabilities, dtype=float)
    check_class_counts(labels, label_names)
    quality = label_quality(labels, probs, ranked_by)
    multi = labels.ndim == 2
    if multi:
        confidence = quality if ranked_by == "self_confidence" else label_quality(labels, probs, "self_confidence")
        believed = predicted_sets(probs, scored.thresholds)
    issues = []
    for rank, i in enumerate(find_issues(labels, probs, ranked_by), 1):
        issues.append(LabelIssue(
            rank=rank, row=scored.rows[i],
            given=names_of(labels[i], label_names) if multi else label_names[labels[i]],
            suggested=names_of(believed[i], label_names) if multi else label_names[int(probs[i].argmax())],
            self_confidence=float(confidence[i] if multi else probs[i, labels[i]]), quality=float(quality[i]),
            snippet=snippet(scored.texts[i], SNIPPET), evidence=evidence,
        ))
    return issues, quality


def predicted_sets(probabilities: "np.ndarray", thresholds: Sequence[float] | None) -> "np.ndarray":
    """Multi-label: each example's 0/1 row of labels at or over their thresholds (None: 0.5 for every label)."""
    from bertcli.core.metrics import apply_thresholds

    return apply_thresholds(probabilities, thresholds if thresholds is not None else [0.5] * probabilities.shape[1])


def join_copies(d: "LabelDiagnosis", rows, texts, given, believed, confidence, quality) -> int:
    """Examples whose words match another's under another label join the queue (`label_duplicates`)."""
    from bertcli.core.diagnose.label_duplicates import join_duplicates
    from bertcli.core.formatting import snippet

    def new_issue(text: str, **fields: Any) -> LabelIssue:
        return LabelIssue(snippet=snippet(text, SNIPPET), **fields)

    return join_duplicates(d, new_issue, rows, texts, given, believed, confidence, quality)


def join_scored_duplicates(d: "LabelDiagnosis", scored: Scored, label_names: Sequence[str], quality: Any) -> int:
    """`join_copies` for out-of-sample evidence (a model scoring a split, or cross-fitted folds); label sets
    compare as the queue shows them."""
    import numpy as np

    labels = np.asarray(scored.labels, dtype=np.int64)
    probs = np.asarray(scored.probabilities, dtype=float)
    if labels.ndim == 2:
        return join_copies(
            d, scored.rows, scored.texts, [names_of(y, label_names) for y in labels],
            [names_of(b, label_names) for b in predicted_sets(probs, scored.thresholds)],
            label_quality(labels, probs, "self_confidence"), quality,
        )
    return join_copies(
        d, scored.rows, scored.texts, [label_names[y] for y in labels], [label_names[int(p.argmax())] for p in probs],
        probs[np.arange(len(labels)), labels], quality,
    )


def check_class_counts(labels: "np.ndarray", label_names: Sequence[str]) -> None:
    """Confident learning estimates a threshold per class: each class needs examples in the scored set."""
    import numpy as np

    if labels.ndim == 2:  # multi-label: every label both given and not given somewhere (one-vs-rest per label)
        counts = labels.sum(axis=0)
        every = [label_names[k] for k, n in enumerate(counts) if n == len(labels)]
        if every:
            raise DataError(f"every one of the {len(labels):,} scored examples carries {', '.join(every)} — confident "
                            "learning needs each label both present and absent; score more examples (--size all)")
    else:
        counts = np.bincount(labels, minlength=len(label_names))
    empty = [label_names[k] for k, n in enumerate(counts) if n == 0]
    if empty:
        raise DataError(
            f"no example of {', '.join(empty)} among the {len(labels):,} scored — confident learning needs every "
            "label present; score more examples (--size all)"
        )


# --- findings ----------------------------------------------------------------------------------------------------


TEST_SPLITS = ("test", "testing", "eval", "validation", "valid", "dev")


def weigh_evidence(d: LabelDiagnosis, labels: Any, probabilities: Any, thresholds: Sequence[float] | None = None) -> None:
    """How often the model's top label is the given one, against the commonest label's share (chance); for label
    sets how often the model's set (labels at or over `thresholds`, else 0.5) is the given one, against giving
    every example each label's commoner value (bertcli's multi-label chance baseline)."""
    import numpy as np

    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=float)
    if labels.ndim == 2:
        from bertcli.core.metrics import majority_per_label

        d.agreement = float((predicted_sets(probabilities, thresholds) == labels).all(axis=1).mean())
        d.majority = float((majority_per_label(labels) == labels).all(axis=1).mean())
        return
    d.agreement = float((probabilities.argmax(axis=1) == labels).mean())
    d.majority = float(np.bincount(labels).max() / len(labels))


def label_findings(d: LabelDiagnosis) -> list[Finding]:
    """What the queue says, how sure it is, and what not to do with it."""
    findings_weak = []
    if d.agreement is not None and d.majority is not None and d.agreement < d.majority + 0.1:
        said = (f"the model's label set is the given one for {d.agreement:.1%} of the examples, close to the "
                f"{d.majority:.1%} that giving every example each label's commoner value reaches") if d.multi_label else (
            f"the model's top label is the given one for {d.agreement:.1%} of the examples, close to the "
            f"{d.majority:.1%} the commonest label alone reaches")
        findings_weak.append(Finding(
            "weak_evidence", "warning", f"{said}: it learned too little for its doubts to be evidence",
            ["a queue from a model near chance flags examples, not wrong labels; train longer, on more data or longer "
             "texts (the run's recipe), then look again"],
        ))
    share = len(d.issues) / max(d.examples, 1)
    findings: list[Finding] = []
    if d.issues:
        findings.append(Finding(
            "label_issues", "warning",
            f"{len(d.issues):,} of {d.examples:,} examples ({share:.1%}) of split '{d.split}' probably carry a wrong label",
            [f"evidence: {d.evidence}; {how_found(d.ranked_by)}",
             f"published re-labelling studies confirm {CONFIRMED_SHARE} of what such methods flag: review, do not delete",
             f"--decisions FILE writes the queue for review (action keep, {relabel_action(d.multi_label)} or drop); "
             "bertcli train --relabel FILE / --exclude FILE applies it"],
        ))
    else:
        findings.append(Finding("label_issues", "info", f"no label issues found among {d.examples:,} examples of split '{d.split}'",
                                [f"evidence: {d.evidence}"]))
    findings += findings_weak
    if d.split.lower() in TEST_SPLITS:
        findings.append(Finding(
            "test_split", "warning",
            f"'{d.split}' is an evaluation split: do not relabel or drop its examples to raise a score",
            ["fixing a test split's labels only where your model disagrees inflates its accuracy; if you correct it, "
             "review every example blind to the model and report both scores"],
        ))
    return findings


def ranked_rows(d: LabelDiagnosis) -> list[int]:
    """Every scored example's row, the most likely mislabelled first: by quality score (dynamics: confidence,
    then variability) — the order the queue takes, for all examples rather than the issues only."""
    import numpy as np

    quality = np.asarray(d.scores["quality"], dtype=float)
    order = np.lexsort((d.scores.get("variability", np.zeros_like(quality)), quality))
    return [int(d.scores["rows"][i]) for i in order if np.isfinite(quality[i])]


def relabel_action(multi_label: bool) -> str:
    """The relabel action a decisions file takes, as help and hints write it."""
    return "relabel:LABEL,LABEL" if multi_label else "relabel:LABEL"


def how_found(ranked_by: str) -> str:
    if ranked_by in RANKINGS:
        return f"found by confident learning (cleanlab), ranked by {ranked_by.replace('_', ' ')}"
    return "the model's mean probabilities preferred another label (set); ranked by confidence, then variability"


def label_diagnosis_to_dict(d: LabelDiagnosis) -> dict[str, Any]:
    return plain(d, drop=("scores",))


def decision_records(d: LabelDiagnosis) -> list[dict[str, Any]]:
    """The decisions file's rows: one per issue, action 'keep' for the user to edit."""
    return [
        {"row": i.row, "split": d.split, "given": i.given, "suggested": i.suggested, "action": "keep",
         "self_confidence": round(i.self_confidence, 4), "snippet": i.snippet}
        for i in d.issues
    ]
