"""`bertcli debug labels`: which examples probably carry a wrong label — a review queue, never a verdict.

The evidence is a model's probabilities for examples it did not train on: a trained model scoring another
split (one inference pass), K models cross-fitted on the training split (`label_folds`), or the training
dynamics a run recorded (`bertcli.core.training.dynamics`). Confident learning (cleanlab's
`find_label_issues`, per-class thresholds) picks the issues; cleanlab's label quality score ranks them.
Nothing here changes data: the queue goes to the user, who decides in a decisions file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.errors import DataError, ModelError, UsageError
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
    given: str
    suggested: str
    self_confidence: float  # the model's probability of the given label
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
    # every example's row and score ('rows', 'quality'; dynamics add theirs), for ranked_rows and --plot (not in the JSON)
    scores: Any = field(default=None, repr=False)


@dataclass
class Scored:
    """Out-of-sample evidence for a set of examples: rows, texts, given label ids and probabilities."""

    rows: list[int]
    texts: list[str]
    labels: Any  # np.ndarray of label ids
    probabilities: Any  # np.ndarray (examples, classes)


# --- ranking -----------------------------------------------------------------------------------------------------


def check_ranking(ranked_by: str) -> str:
    if ranked_by not in RANKINGS:
        raise UsageError(f"--rank-by takes one of {', '.join(RANKINGS)}, not '{ranked_by}'")
    return ranked_by


def label_quality(labels: "np.ndarray", probabilities: "np.ndarray", ranked_by: str) -> "np.ndarray":
    """cleanlab's label quality score of every example (lower: the label is more likely wrong)."""
    from cleanlab.rank import get_label_quality_scores

    return get_label_quality_scores(labels, probabilities, method=ranked_by)


def find_issues(labels: "np.ndarray", probabilities: "np.ndarray", ranked_by: str) -> list[int]:
    """The examples confident learning finds mislabelled, most likely first (cleanlab.filter.find_label_issues)."""
    import warnings

    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = find_label_issues(labels, probabilities, return_indices_ranked_by=ranked_by, n_jobs=1)
    return [int(i) for i in found]


def rank_scored(scored: Scored, label_names: list[str], ranked_by: str, evidence: str) -> tuple[list[LabelIssue], Any]:
    """The queue of issues from out-of-sample probabilities, and every example's quality score."""
    import numpy as np

    from bertcli.core.evaluation import snippet

    labels = np.asarray(scored.labels, dtype=np.int64)
    probs = np.asarray(scored.probabilities, dtype=float)
    check_class_counts(labels, label_names)
    quality = label_quality(labels, probs, ranked_by)
    issues = []
    for rank, i in enumerate(find_issues(labels, probs, ranked_by), 1):
        issues.append(LabelIssue(
            rank=rank, row=scored.rows[i], given=label_names[labels[i]], suggested=label_names[int(probs[i].argmax())],
            self_confidence=float(probs[i, labels[i]]), quality=float(quality[i]), snippet=snippet(scored.texts[i], SNIPPET),
            evidence=evidence,
        ))
    return issues, quality


def join_copies(d: "LabelDiagnosis", rows, texts, given, believed, confidence, quality) -> int:
    """Examples whose words match another's under another label join the queue (`label_duplicates`)."""
    from bertcli.core.diagnose.label_duplicates import join_duplicates
    from bertcli.core.formatting import snippet

    def new_issue(text: str, **fields: Any) -> LabelIssue:
        return LabelIssue(snippet=snippet(text, SNIPPET), **fields)

    return join_duplicates(d, new_issue, rows, texts, given, believed, confidence, quality)


def join_scored_duplicates(d: "LabelDiagnosis", scored: Scored, label_names: Sequence[str], quality: Any) -> int:
    """`join_copies` for out-of-sample evidence (a model scoring a split, or cross-fitted folds)."""
    import numpy as np

    labels = np.asarray(scored.labels, dtype=np.int64)
    probs = np.asarray(scored.probabilities, dtype=float)
    return join_copies(
        d, scored.rows, scored.texts, [label_names[y] for y in labels], [label_names[int(p.argmax())] for p in probs],
        probs[np.arange(len(labels)), labels], quality,
    )


def check_class_counts(labels: "np.ndarray", label_names: Sequence[str]) -> None:
    """Confident learning estimates a threshold per class: each class needs examples in the scored set."""
    import numpy as np

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


def refuse_multi_label(config: Any) -> None:
    if getattr(config, "problem_type", None) == "multi_label_classification":
        raise ModelError(
            "this model is multi-label (problem_type multi_label_classification): debug labels handles single-label "
            "models so far"
        )


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


def load_split_with_rows(dataset: str, split: str, size: int | None, seed: int, text_column: str, label_column: str) -> Any:
    """The split as `evaluate` reads it (drawn to `size` with `seed`), each example with its row id."""
    from bertcli.core.data import DataSpec, select_examples

    spec = DataSpec(dataset, text_column=text_column, label_column=label_column, train_split=None, eval_split=split,
                    eval_size=size, seed=seed, row_ids=True)
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
    from bertcli.core.evaluation import label_ids_for_model
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.resolve import resolve_model

    started = time.perf_counter()
    ranked_by = check_ranking(req.ranked_by)
    resolved = resolve_model(req.model)
    notes = [n for n in [refuse_trained_split(resolved.path, req.dataset, req.split)] if n]
    data = load_split_with_rows(req.dataset, req.split, req.size, req.seed, req.text_column, req.label_column)
    notes += data.notes
    ds = data.eval
    if on_progress is not None:
        on_progress("loading the model", 0, None, "")
    clf = load_for_inference(resolved.path, precision=req.precision, quantize=req.quantize)
    refuse_multi_label(clf.model.config)
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
    )
    evidence = "out-of-sample model"
    issues, quality = rank_scored(scored, clf.label_names, ranked_by, evidence)
    d = LabelDiagnosis(
        source=req.dataset, split=data.eval_split, model=resolved.path, evidence=evidence, ranked_by=ranked_by,
        label_names=clf.label_names, examples=len(kept), issues=issues, notes=notes,
        seconds=time.perf_counter() - started, scores={"rows": scored.rows, "quality": quality},
    )
    join_scored_duplicates(d, scored, clf.label_names, quality)
    weigh_evidence(d, scored.labels, scored.probabilities)
    d.findings = sort_findings(label_findings(d))
    return d


# --- training dynamics: what a run recorded with --record-dynamics -----------------------------------------------


def diagnose_dynamics(run: str | Path) -> Any:
    """`debug labels RUN`: the run's recorded dynamics as a queue, least confident first (then least variable)."""
    import numpy as np

    from bertcli.core.config import CONFIG_FILE, read_config
    from bertcli.core.evaluation import snippet
    from bertcli.core.training.dynamics import DYNAMICS_FILE, data_map, read_dynamics

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
    m = data_map(d["probabilities"], labels)
    seen = m["seen"] > 0
    order = sorted(np.flatnonzero(seen), key=lambda i: (m["confidence"][i], m["variability"][i]))
    texts: dict[int, str] = {}
    split = recipe.get("train_split", "train")
    if recipe.get("dataset"):
        ds = load_split_with_rows(str(recipe["dataset"]), split, None, 42, recipe.get("text_column", "text"),
                                  recipe.get("label_column", "label")).eval
        texts = dict(zip(ds["row"], ds["text"]))
    epochs = len(d["epochs"])
    evidence = f"training dynamics ({epochs} epoch{'s' if epochs != 1 else ''}, in-sample)"
    issues = []
    for i in order:
        suggested = int(np.nanargmax(m["mean_probabilities"][i]))
        if suggested == labels[i]:
            continue
        issues.append(LabelIssue(
            rank=len(issues) + 1, row=int(rows[i]), given=names[labels[i]], suggested=names[suggested],
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
    )
    if texts:
        mean = np.nan_to_num(m["mean_probabilities"])
        join_copies(diagnosis, [int(r) for r in rows[seen]], [texts.get(int(r), "") for r in rows[seen]],
                        [names[y] for y in labels[seen]], [names[int(p.argmax())] for p in mean[seen]],
                        m["confidence"][seen], m["confidence"][seen])
    weigh_evidence(diagnosis, labels, np.nan_to_num(m["mean_probabilities"]))
    diagnosis.findings = sort_findings(label_findings(diagnosis))
    return diagnosis


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


def weigh_evidence(d: LabelDiagnosis, labels: Any, probabilities: Any) -> None:
    """How often the model's top label is the given one, against the commonest label's share (chance)."""
    import numpy as np

    labels = np.asarray(labels)
    d.agreement = float((np.asarray(probabilities).argmax(axis=1) == labels).mean())
    d.majority = float(np.bincount(labels).max() / len(labels))


def label_findings(d: LabelDiagnosis) -> list[Finding]:
    """What the queue says, how sure it is, and what not to do with it."""
    findings_weak = []
    if d.agreement is not None and d.majority is not None and d.agreement < d.majority + 0.1:
        findings_weak.append(Finding(
            "weak_evidence", "warning",
            f"the model's top label is the given one for {d.agreement:.1%} of the examples, close to the "
            f"{d.majority:.1%} the commonest label alone reaches: it learned too little for its doubts to be evidence",
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
             "--decisions FILE writes the queue for review (action keep, relabel:LABEL or drop); "
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


def how_found(ranked_by: str) -> str:
    if ranked_by in RANKINGS:
        return f"found by confident learning (cleanlab), ranked by {ranked_by.replace('_', ' ')}"
    return "the model's mean probability preferred another label; ranked by confidence, then variability"


def label_diagnosis_to_dict(d: LabelDiagnosis) -> dict[str, Any]:
    return plain(d, drop=("scores",))


def decision_records(d: LabelDiagnosis) -> list[dict[str, Any]]:
    """The decisions file's rows: one per issue, action 'keep' for the user to edit."""
    return [
        {"row": i.row, "split": d.split, "given": i.given, "suggested": i.suggested, "action": "keep",
         "self_confidence": round(i.self_confidence, 4), "snippet": i.snippet}
        for i in d.issues
    ]
