"""`bertcli debug labels`: which examples probably carry a wrong label — a review queue, never a verdict.

The evidence is a model's probabilities for examples it did not train on: a trained model scoring another
split (one inference pass), K models cross-fitted on the training split (`label_folds`), or the training
dynamics a run recorded (`bertcli.core.training.dynamics`). Confident learning (cleanlab's
`find_label_issues`, per-class thresholds) picks the issues; cleanlab's label quality score ranks them.
Multi-label data goes through cleanlab's multi-label versions of both (`cleanlab.multilabel_classification`):
each label's sigmoid probability judged one-vs-rest, the example's score pooled over its labels; an issue
then shows the given label set and the set the model believes. Nothing here changes data: the queue goes to
the user, who decides in a decisions file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.errors import DataError, UsageError
from bertcli.core.findings import Finding, sort_findings
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


# --- which split a model trained on ------------------------------------------------------------------------------


def _same_source(a: str, b: str) -> bool:
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def training_record(model_path: str) -> dict[str, Any] | None:
    """The dataset and splits the run behind a model recorded (bertcli.json, else bertcli.toml); None: unrecorded."""
    from bertcli.core.runs.manifest import RunManifest

    folder = Path(model_path).expanduser()
    for place in (folder, folder.parent):
        manifest = RunManifest.read(place) if place.is_dir() else None
        if manifest is not None and manifest.training is not None and manifest.training.dataset:
            t = manifest.training
            return {"dataset": t.dataset, "train_split": t.train_split or "train", "eval_split": t.eval_split}
    from bertcli.core.config import CONFIG_FILE, read_config

    for place in (folder, folder.parent):
        if (place / CONFIG_FILE).is_file():
            try:
                values = read_config(place / CONFIG_FILE)
            except UsageError:
                return None
            if values.get("dataset"):
                return {"dataset": values["dataset"], "train_split": values.get("train_split", "train"),
                        "eval_split": values.get("eval_split")}
    return None


def refuse_trained_split(model_path: str, dataset: str, split: str) -> str | None:
    """Refuse scoring the split a model trained on (its probabilities there are not evidence); a note when the
    model's training data is not recorded, None when it is recorded and is another split."""
    record = training_record(model_path)
    if record is None:
        return (f"{model_path} records no training data (no bertcli.json or bertcli.toml with a dataset): make sure it "
                f"did not train on split '{split}', or its confidence there is no evidence")
    if _same_source(str(record["dataset"]), dataset) and record["train_split"] == split:
        raise UsageError(
            f"{model_path} trained on split '{split}' of {dataset} (its bertcli.json says so): a model's probabilities "
            f"for its own training examples are no evidence — score another split, or use --folds K on {Path(model_path).parent}"
        )
    if _same_source(str(record["dataset"]), dataset) and record.get("eval_split") == split:
        return f"{model_path} picked its best checkpoint on split '{split}': it did not train on it, but the split chose it"
    return None


# --- out-of-sample: a trained model scores another split ---------------------------------------------------------


@dataclass
class LabelsRequest:
    model: str | None
    dataset: str
    split: str = "test"
    size: int | None = None
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    batch_size: int = 32
    precision: str = "auto"
    quantize: str = "none"
    ranked_by: str = "self_confidence"


def load_split_with_rows(dataset: str, split: str, size: int | None, seed: int, text_column: str, label_column: str,
                         **options: Any) -> Any:
    """The split as `evaluate` reads it (drawn to `size` with `seed`), each example with its row id; `options`:
    more DataSpec fields (multi_label, delimiter, header, model_columns)."""
    from bertcli.core.data import DataSpec, select_examples

    spec = DataSpec(dataset, text_column=text_column, label_column=label_column, train_split=None, eval_split=split,
                    eval_size=size, seed=seed, row_ids=True, **options)
    return select_examples(spec, for_training=False)


def score_texts(clf: Any, texts: list[str], batch_size: int, on_progress: OnProgress | None = None) -> tuple[list[Any], Any]:
    """The predict path's probabilities for `texts` (length-sorted batches): predictions and the RunStats."""
    from bertcli.core.inference.classify import RunStats
    from bertcli.core.inference.stream import predict_stream

    stats = RunStats()
    predictions: list[Any] = []

    def batch_done(done: int) -> None:
        if on_progress is not None:
            on_progress("scoring", done, len(texts), "")

    for chunk in predict_stream(clf, texts, batch_size=batch_size, window_batches=64, stats=stats, on_batch=batch_done):
        predictions.extend(chunk)
    return predictions, stats


def diagnose_labels(req: LabelsRequest, on_progress: OnProgress | None = None) -> LabelDiagnosis:
    """Out-of-sample: a model that did not train on `req.split` scores it; cleanlab finds and ranks the issues."""
    import numpy as np

    from bertcli.core.data.decisions import ROW_COLUMN
    from bertcli.core.data.labels import label_values
    from bertcli.core.data.multilabel import multi_hot, stored_lists
    from bertcli.core.evaluation import label_ids_for_model
    from bertcli.core.evaluation_multilabel import gold_label_ids
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.predict import saved_columns
    from bertcli.core.inference.resolve import resolve_model

    started = time.perf_counter()
    ranked_by = check_ranking(req.ranked_by)
    resolved = resolve_model(req.model)
    notes = [n for n in [refuse_trained_split(resolved.path, req.dataset, req.split)] if n]
    columns = saved_columns(resolved.path)
    data = load_split_with_rows(req.dataset, req.split, req.size, req.seed, req.text_column, req.label_column,
                                model_columns=columns)
    if on_progress is not None:
        on_progress("loading the model", 0, None, "")
    clf = load_for_inference(resolved.path, precision=req.precision, quantize=req.quantize)
    if clf.multi_label and not data.multi_label:  # one label a row, read as label sets of one
        data = load_split_with_rows(req.dataset, req.split, req.size, req.seed, req.text_column, req.label_column,
                                    model_columns=columns, multi_label=True)
    elif data.multi_label and not clf.multi_label:
        raise DataError(
            f"split '{data.eval_split}' is multi-label (label lists) and {resolved.path} is a single-label model — "
            "score it with a model trained on this data's label sets"
        )
    notes += data.notes
    ds = data.eval
    if clf.multi_label:
        gold: Any = multi_hot(gold_label_ids(stored_lists(ds), clf.label_names), len(clf.label_names))
    else:
        refuse_other_labels(clf.label_names, data.label_names, resolved.path, data.eval_split)
        gold = label_ids_for_model(label_values(ds), data.label_names, clf.label_names)
    texts, rows = list(ds["text"]), list(ds[ROW_COLUMN])
    predictions, stats = score_texts(clf, texts, req.batch_size, on_progress)
    kept = [i for i, p in enumerate(predictions) if p.error is None]
    if stats.skipped:
        notes.append(f"{stats.skipped:,} empty or unreadable text(s) left out")
    scored = Scored(
        rows=[rows[i] for i in kept], texts=[texts[i] for i in kept], labels=np.array([gold[i] for i in kept]),
        probabilities=np.array([predictions[i].probabilities for i in kept], dtype=float),
        thresholds=clf.thresholds if clf.multi_label else None,
    )
    evidence = "out-of-sample model"
    issues, quality = rank_scored(scored, clf.label_names, ranked_by, evidence)
    d = LabelDiagnosis(
        source=req.dataset, split=data.eval_split, model=resolved.path, evidence=evidence, ranked_by=ranked_by,
        label_names=clf.label_names, examples=len(kept), issues=issues, notes=notes,
        seconds=time.perf_counter() - started, scores={"rows": scored.rows, "quality": quality},
        multi_label=clf.multi_label,
    )
    join_scored_duplicates(d, scored, clf.label_names, quality)
    weigh_evidence(d, scored.labels, scored.probabilities, scored.thresholds)
    d.findings = sort_findings(label_findings(d))
    return d


# --- training dynamics: what a run recorded with --record-dynamics -----------------------------------------------


def diagnose_dynamics(run: str | Path) -> Any:
    """`debug labels RUN`: the run's recorded dynamics as a queue, least confident first (then least variable)."""
    import numpy as np

    from bertcli.core.config import CONFIG_FILE, read_config
    from bertcli.core.evaluation import snippet
    from bertcli.core.training.dynamics import DYNAMICS_FILE, read_dynamics

    started = time.perf_counter()
    run = Path(run)
    path = run / DYNAMICS_FILE
    if not path.is_file():
        raise UsageError(
            f"{run} holds no {DYNAMICS_FILE}: train with --record-dynamics, cross-fit with --folds K, "
            f"or score another split with --model {run / 'final'} --split test"
        )
    d = read_dynamics(path)
    recipe = read_config(run / CONFIG_FILE) if (run / CONFIG_FILE).is_file() else {}
    names = [str(n) for n in d["label_names"]]
    labels, rows = d["labels"], d["rows"]
    multi = labels.ndim == 2  # 0/1 label rows: a multi-label run
    m = data_map(d["probabilities"], labels)
    seen = m["seen"] > 0
    order = sorted(np.flatnonzero(seen), key=lambda i: (m["confidence"][i], m["variability"][i]))
    texts: dict[int, str] = {}
    split = recipe.get("train_split", "train")
    if recipe.get("dataset"):
        options = {k: recipe[k] for k in ("multi_label", "delimiter", "header") if recipe.get(k) is not None}
        ds = load_split_with_rows(str(recipe["dataset"]), split, None, 42, recipe.get("text_column", "text"),
                                  recipe.get("label_column", "label"), **options).eval
        texts = dict(zip(ds["row"], ds["text"]))
    epochs = len(d["epochs"])
    evidence = f"training dynamics ({epochs} epoch{'s' if epochs != 1 else ''}, in-sample)"
    mean_probs = np.nan_to_num(m["mean_probabilities"])
    believed = predicted_sets(mean_probs, None) if multi else mean_probs.argmax(axis=1)
    issues = []
    for i in order:
        if (believed[i] == labels[i]).all():
            continue
        issues.append(LabelIssue(
            rank=len(issues) + 1, row=int(rows[i]),
            given=names_of(labels[i], names) if multi else names[labels[i]],
            suggested=names_of(believed[i], names) if multi else names[believed[i]],
            self_confidence=float(m["confidence"][i]), quality=float(m["confidence"][i]),
            snippet=snippet(texts.get(int(rows[i]), ""), SNIPPET), evidence=evidence,
        ))
    notes = []
    if epochs < 2:
        notes.append("one epoch recorded: variability needs two or more (train with --epochs 2 or more)")
    diagnosis = LabelDiagnosis(
        source=str(recipe.get("dataset", run)), split=split, model=None, evidence=evidence,
        ranked_by="confidence_then_variability", label_names=names, examples=int(seen.sum()), issues=issues,
        notes=notes, seconds=time.perf_counter() - started,
        scores={"rows": rows, "labels": labels, "quality": m["confidence"],
                **{k: m[k] for k in ("confidence", "variability", "correctness")}},
        multi_label=multi,
    )
    if texts:
        def named(label: Any) -> str:
            return names_of(label, names) if multi else names[label]

        join_copies(diagnosis, [int(r) for r in rows[seen]], [texts.get(int(r), "") for r in rows[seen]],
                    [named(y) for y in labels[seen]], [named(b) for b in believed[seen]],
                    m["confidence"][seen], m["confidence"][seen])
    weigh_evidence(diagnosis, labels, mean_probs)
    diagnosis.findings = sort_findings(label_findings(diagnosis))
    return diagnosis


def given_confidence(probabilities: Any, labels: Any) -> Any:
    """(epochs, examples): each epoch's probability of the given label; for multi-label data (0/1 label rows)
    cleanlab's multi-label self-confidence of the given label set. NaN where an epoch did not see the example."""
    import numpy as np

    if labels.ndim == 1:
        return probabilities[:, np.arange(len(labels)), labels]
    given = np.full(probabilities.shape[:2], np.nan)
    for e, probs in enumerate(probabilities):
        seen = ~np.isnan(probs).any(axis=1)
        if seen.any():
            given[e, seen] = label_quality(labels[seen], probs[seen].astype(float), "self_confidence")
    return given


def data_map(probabilities: Any, labels: Any) -> dict[str, Any]:
    """Confidence, variability and correctness of each example over the recorded epochs (NaN epochs skipped)."""
    import numpy as np

    given = given_confidence(probabilities, labels)  # (epochs, examples)
    seen = ~np.isnan(given)
    counts = seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.nanmean(np.where(seen, given, np.nan), axis=0)
        variability = np.nanstd(np.where(seen, given, np.nan), axis=0)
        if labels.ndim == 1:
            right = (np.nan_to_num(probabilities, nan=-1).argmax(axis=2) == labels[None, :]) & seen
        else:
            right = ((np.nan_to_num(probabilities, nan=-1) >= 0.5) == (labels[None] == 1)).all(axis=2) & seen
        correctness = right.sum(axis=0) / np.maximum(counts, 1)
        mean_probs = np.nanmean(probabilities, axis=0)
    return {"confidence": confidence, "variability": variability, "correctness": correctness, "seen": counts,
            "mean_probabilities": mean_probs}


def refuse_other_labels(model_names: list[str], data_names: list[str], model: str, split: str) -> None:
    """A model whose label set is not the data's cannot say which of the data's labels is wrong."""
    from bertcli.core.evaluation import _is_generic

    if _is_generic(model_names) and len(model_names) == len(data_names):
        return
    if sorted(n.lower() for n in model_names) != sorted(n.lower() for n in data_names):
        raise DataError(
            f"{model}'s labels ({', '.join(model_names)}) differ from split '{split}''s ({', '.join(data_names)}) — "
            "score data labelled with the model's label set, or a model trained on this data"
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
