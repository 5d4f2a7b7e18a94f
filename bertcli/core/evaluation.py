"""`evaluate`: score one or more trained models on a labelled dataset split, with error analysis.

Beyond accuracy and F1: the chance rate beside accuracy (and whether the model is near it), ROC-AUC,
log loss, calibration (ECE and a reliability table), accuracy for texts that were truncated versus not,
the most confident mistakes, and throughput.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.errors import DataError, UsageError
from bertcli.core.formatting import snippet
from bertcli.core.jsondata import plain

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction, RunStats
    from bertcli.core.inference.load import Classifier

SNIPPET_CHARS = 160


@dataclass
class EvalConfig:
    models: list[str | None] = field(default_factory=lambda: [None])
    dataset: str = "imdb"
    split: str = "test"
    size: int | None = None
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    delimiter: str | None = None  # of a table; None: found from its first rows
    header: bool | None = None  # whether a table has a header row; None: found
    batch_size: int = 32
    precision: str = "auto"
    quantize: str = "none"
    mistakes: int = 5
    bins: int = 10
    results_dir: Path = Path("results")
    allow_untrained_head: bool = False
    threshold: float | None = None  # multi-label models: one decision threshold for every label (else their saved ones)
    # how long texts are read, when not as saved with each model
    truncation: str | None = None
    max_length: int | None = None
    stride: int | None = None
    pooling: str | None = None
    by_length: bool = False  # score per token-length bucket (bertcli.core.length_buckets)


@dataclass
class EvalData:
    texts: list[str]
    labels: list[Any]
    label_names: list[str]
    split: str
    notes: list[str] = field(default_factory=list)
    multi_label: bool = False  # the labels are lists (core/data/multilabel.py)


@dataclass
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class SliceScore:
    """Accuracy on a subset of the examples (e.g. the texts that were truncated)."""

    count: int
    accuracy: float | None


@dataclass
class ChanceLevel:
    """What always answering the majority class of the evaluated labels scores, and the model against it."""

    majority_rate: float
    majority_label: str | None
    majority_count: int | None
    examples: int  # the labels counted
    uniform_rate: float  # 1/k
    margin: float  # accuracy - majority_rate
    p_value: float | None  # one-sided binomial test: P(this many correct or more | the majority rate)
    near_chance: bool  # within 0.05 of the majority rate, or not significantly above it (p >= 0.05)
    reason: str


@dataclass
class Confusion:
    """One cell off the diagonal of a confusion matrix: examples of `true_label` predicted as `predicted`."""

    true_label: str
    predicted: str
    count: int
    share: float  # of the examples of `true_label`


@dataclass
class Mistake:
    index: int
    snippet: str
    true_label: str
    predicted: str
    confidence: float
    truncated: bool


@dataclass
class ModelEvaluation:
    model: str
    chosen_as: str
    mode: str
    max_length: int
    truncation: str
    label_names: list[str]
    examples: int
    skipped: int
    accuracy: float
    per_class: list[ClassScores]
    macro: dict[str, float]
    confusion: list[list[int]]
    roc_auc: float | None
    log_loss: float
    ece: float
    reliability: list[Any]
    truncated: SliceScore
    not_truncated: SliceScore
    mistakes: list[Mistake]
    seconds: float
    load_seconds: float
    examples_per_second: float | None
    tokens_per_second: float | None
    chance: ChanceLevel | None = None
    # the labels without an example among those evaluated: left out of the macro averages (and of ROC-AUC)
    absent_labels: list[str] = field(default_factory=list)
    f1_weighted: float | None = None  # per-class F1 weighted by support
    roc_auc_note: str | None = None  # why ROC-AUC is not given, where it is not
    # 95% bootstrap intervals over the examples (seeded by --seed): accuracy, f1 (macro), roc_auc
    intervals: dict[str, Any] = field(default_factory=dict)
    # with several models: the exact McNemar test of this model against the first, on the same examples
    versus_first: Any = None
    stride: int | None = None  # sliding truncation only
    pooling: str | None = None
    by_length: Any = None  # a LengthReport with --by-length
    predictions: list["Prediction"] = field(default_factory=list, repr=False)
    gold: list[int] = field(default_factory=list, repr=False)


@dataclass
class EvaluationReport:
    dataset: str
    split: str
    examples: int
    models: list[ModelEvaluation]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a model near chance, one line each


def load_eval_data(
    source: str, split: str, size: int | None, seed: int, text_column: str, label_column: str, *,
    delimiter: str | None = None, header: bool | None = None, model_columns: tuple[str | None, str | None] = (None, None),
) -> EvalData:
    """A labelled split: `split` of a dataset, or all rows of a single labelled file; `size` drawn with `seed`.
    Columns left at their defaults are looked for first under the names saved with the model (`model_columns`)."""
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.data.labels import label_values
    from bertcli.core.data.multilabel import stored_lists

    spec = DataSpec(
        source, text_column=text_column, label_column=label_column, train_split=None, eval_split=split,
        eval_size=size, seed=seed, delimiter=delimiter, header=header, model_columns=model_columns,
    )
    data = select_examples(spec, for_training=False)
    ds = data.eval
    return EvalData(
        texts=list(ds["text"]), labels=stored_lists(ds) if data.multi_label else label_values(ds),
        label_names=data.label_names, split=data.eval_split, notes=data.notes, multi_label=data.multi_label,
    )


def _is_generic(names: Sequence[str]) -> bool:
    return all(name == f"LABEL_{i}" for i, name in enumerate(names))


def label_ids_for_model(
    labels: Sequence[Any], data_names: list[str], model_names: list[str], model_values: Sequence[str] | None = None
) -> list[int]:
    """Map the data's labels to the model's label ids: names, the values the model was trained on (saved with it:
    a model trained on labels 1–4 reads 1–4), or ids 0..k-1; refuse labels the model does not know."""
    names = data_names if _is_generic(model_names) and len(data_names) == len(model_names) else model_names
    from bertcli.core.data.labels import LabelSet, map_labels

    ids, bad = map_labels(labels, names, model_values)
    if bad:
        shown = ", ".join(f"row {r}: {v!r}" for r, v in bad[:3])
        known = f"[{LabelSet(model_names, list(model_values)).describe()}]" if model_values else model_names
        also = "" if model_values else f" (or their ids 0..{len(model_names) - 1})"
        raise DataError(
            f"{len(bad)} label(s) are not among the model's labels {known} ({shown}) — evaluate on data "
            f"labelled with those names{also}, or name the column with --label-column"
        )
    return ids


def score_predictions(
    predictions: Sequence["Prediction"], gold: Sequence[int], label_names: list[str], *, mistakes: int = 5, bins: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric of the report from predictions and gold label ids (skipped predictions left out)."""
    import numpy as np

    from bertcli.core import metrics

    kept = [(p, g) for p, g in zip(predictions, gold) if p.error is None]
    n = len(label_names)
    y = np.array([g for _, g in kept], dtype=np.int64)
    if y.size == 0:
        raise DataError("no text could be classified — every example was empty or unreadable")
    probs = np.array([p.probabilities for p, _ in kept], dtype=float)
    pred = probs.argmax(axis=1)
    prf = metrics.precision_recall_f1(y, pred, n)
    per_class = [
        ClassScores(label_names[k], prf["per_class"]["precision"][k], prf["per_class"]["recall"][k],
                    prf["per_class"]["f1"][k], prf["per_class"]["support"][k])
        for k in range(n)
    ]
    correct = pred == y
    cut = np.array([bool(p.truncated) for p, _ in kept])

    def slice_score(mask: Any) -> SliceScore:
        count = int(mask.sum())
        return SliceScore(count, float(correct[mask].mean()) if count else None)

    wrong = [(p, g) for (p, g), ok in zip(kept, correct) if not ok]
    wrong.sort(key=lambda pg: -pg[0].confidence)
    from bertcli.core.significance import bootstrap_intervals

    intervals = bootstrap_intervals(y, pred, probs, n, seed=seed)
    absent = [label_names[k] for k in prf["absent"]]
    auc = metrics.roc_auc(y, probs)
    return dict(
        absent_labels=absent,
        f1_weighted=prf["f1_weighted"],
        roc_auc_note=None if auc is not None else roc_auc_missing(absent, label_names),
        accuracy=float(correct.mean()),
        intervals={k: None if v is None else {"low": v.low, "high": v.high} for k, v in intervals.items()},
        chance=chance_level(float(correct.mean()), np.bincount(y, minlength=n).tolist(), label_names),
        per_class=per_class,
        macro=prf["macro"],
        confusion=metrics.confusion_matrix(y, pred, n).tolist(),
        roc_auc=auc,
        log_loss=metrics.log_loss(y, probs),
        ece=metrics.expected_calibration_error(y, probs, bins),
        reliability=metrics.reliability_bins(y, probs, bins),
        truncated=slice_score(cut),
        not_truncated=slice_score(~cut),
        mistakes=[
            Mistake(p.index, snippet(p.text, SNIPPET_CHARS), label_names[g], p.label, p.confidence, bool(p.truncated))
            for p, g in wrong[:mistakes]
        ],
    )


def largest_confusions(confusion: Sequence[Sequence[int]], label_names: Sequence[str], limit: int | None = None) -> list[Confusion]:
    """The off-diagonal cells of a confusion matrix (rows true, columns predicted), largest first."""
    cells = []
    for i, row in enumerate(confusion):
        total = sum(row)
        cells += [Confusion(label_names[i], label_names[j], n, n / total) for j, n in enumerate(row) if j != i and n]
    cells.sort(key=lambda c: (-c.count, -c.share, c.true_label, c.predicted))
    return cells[:limit] if limit is not None else cells


def write_confusion_csv(report: "EvaluationReport", path: Path) -> Path:
    """Each model's full confusion matrix as CSV: model, true label, then one count column per predicted label."""
    import csv

    from bertcli.core.outputs import written_whole

    with written_whole(path) as partial, partial.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "true \\ predicted", *report.models[0].label_names])
        for model in report.models:
            for name, row in zip(model.label_names, model.confusion):
                writer.writerow([model.model, name, *row])
    return path


def roc_auc_missing(absent: Sequence[str], label_names: Sequence[str]) -> str:
    """Why ROC-AUC cannot be given: it ranks each class's examples against the rest, and some have none."""
    if len(label_names) == 2:
        present = [name for name in label_names if name not in absent]
        return f"not defined: the examples are all '{present[0]}'" if len(present) == 1 else "not defined"
    shown = ", ".join(f"'{name}'" for name in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    return f"not defined: one-vs-rest needs an example of every label, and {shown} {'has' if len(absent) == 1 else 'have'} none"


def chance_level(accuracy: float, counts: Sequence[int], label_names: Sequence[str]) -> ChanceLevel:
    """The majority-class rate of labels with these counts, 1/k, and whether `accuracy` is near chance."""
    from bertcli.core.diagnose.chance import chance_from_counts, check_chance

    rate = chance_from_counts(counts, label_names)
    check = check_chance(accuracy, rate, sum(counts))
    return ChanceLevel(
        majority_rate=rate.rate,
        majority_label=rate.label,
        majority_count=rate.count,
        examples=sum(counts),
        uniform_rate=1 / max(1, len(label_names)),
        margin=check.margin,
        p_value=check.p_value,
        near_chance=check.near_chance,
        reason=check.reason(),
    )


def evaluate_model(
    clf: "Classifier",
    data: EvalData,
    *,
    chosen_as: str = "given",
    batch_size: int = 32,
    mistakes: int = 5,
    bins: int = 10,
    seed: int = 0,
    on_progress: Callable[["RunStats"], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> ModelEvaluation:
    from bertcli.core.inference.classify import RunStats
    from bertcli.core.inference.stream import predict_stream

    gold = label_ids_for_model(data.labels, data.label_names, clf.label_names, clf.label_values)
    stats = RunStats()
    predictions: list[Prediction] = []
    for chunk in predict_stream(clf, data.texts, batch_size=batch_size, window_batches=64, stats=stats, on_window=on_progress,
                                on_batch=on_batch):
        predictions.extend(chunk)
    scores = score_predictions(predictions, gold, clf.label_names, mistakes=mistakes, bins=bins, seed=seed)
    return ModelEvaluation(
        model=clf.name,
        chosen_as=chosen_as,
        mode=clf.mode,
        max_length=clf.max_length,
        truncation=clf.truncation,
        stride=clf.stride,
        pooling=clf.pooling if clf.truncation == "sliding" else None,
        label_names=clf.label_names,
        examples=stats.predicted,
        skipped=stats.skipped,
        seconds=stats.seconds,
        load_seconds=clf.load_seconds,
        examples_per_second=stats.texts_per_second,
        tokens_per_second=stats.tokens_per_second,
        predictions=predictions,
        gold=gold,
        **scores,
    )


def evaluate(
    cfg: EvalConfig,
    *,
    on_model: Callable[[str, int], None] | None = None,
    on_progress: Callable[["RunStats"], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EvaluationReport:
    """Evaluate each of `cfg.models` (None: the newest trained model under results/) on the same examples."""
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.resolve import resolve_model

    if cfg.mistakes < 0:
        raise UsageError("--mistakes must be 0 or more")
    if cfg.bins < 1:
        raise UsageError("--bins must be at least 1")
    resolved = [resolve_model(m, cfg.results_dir) for m in (cfg.models or [None])]
    from bertcli.core.inference.predict import saved_columns

    data = load_eval_data(cfg.dataset, cfg.split, cfg.size, cfg.seed, cfg.text_column, cfg.label_column,
                          delimiter=cfg.delimiter, header=cfg.header, model_columns=saved_columns(resolved[0].path))
    notes = list(data.notes)
    evaluations = []
    for r in resolved:
        if on_model is not None:
            on_model(r.describe() + (", the newest trained model (--model to pick another)" if r.automatic else ""), len(data.texts))
        clf = load_for_inference(r.path, precision=cfg.precision, quantize=cfg.quantize, allow_untrained_head=cfg.allow_untrained_head,
                                 max_length=cfg.max_length, truncation=cfg.truncation, stride=cfg.stride, pooling=cfg.pooling)
        notes += [note for note in clf.notes if note not in notes]
        if clf.multi_label:
            from bertcli.core.evaluation_multilabel import evaluate_multi_label_model

            if cfg.by_length:
                raise UsageError(f"--by-length scores single-label models; {r.path} is multi-label — drop --by-length")
            evaluations.append(
                evaluate_multi_label_model(clf, data.texts, data.labels, chosen_as=r.chosen_as, batch_size=cfg.batch_size,
                                           seed=cfg.seed, threshold=cfg.threshold, on_progress=on_progress, on_batch=on_batch)
            )
            continue
        refuse_for_single_label(r.path, data, cfg.threshold)
        evaluation = evaluate_model(clf, data, chosen_as=r.chosen_as, batch_size=cfg.batch_size, mistakes=cfg.mistakes,
                                    bins=cfg.bins, seed=cfg.seed, on_progress=on_progress, on_batch=on_batch)
        if cfg.by_length:
            evaluation.by_length = by_length_of(evaluation, cfg, r.path)
        evaluations.append(evaluation)
    if len({getattr(e, "multi_label", False) for e in evaluations}) > 1:
        raise UsageError("some of these models are multi-label and some are not: compare models of one kind")
    for other in evaluations[1:]:
        other.versus_first = paired_test(evaluations[0], other)
    if any(getattr(e, "multi_label", False) for e in evaluations) and len(evaluations) > 1:
        notes.append("multi-label models are compared on exact matches (every label of an example right)")
    skipped = max((e.skipped for e in evaluations), default=0)
    if skipped:
        notes.append(f"{skipped} empty or unreadable text(s) left out of the metrics")
    warnings = [near_chance_warning(e) for e in evaluations if isinstance(e, ModelEvaluation) and e.chance is not None
                and e.chance.near_chance]
    return EvaluationReport(
        dataset=cfg.dataset, split=data.split, examples=len(data.texts), models=evaluations, notes=notes, warnings=warnings
    )


def refuse_for_single_label(model: str, data: EvalData, threshold: float | None) -> None:
    """What a single-label model cannot be scored with: label lists, or --threshold (a multi-label setting)."""
    if threshold is not None:
        raise UsageError(f"--threshold sets the decision threshold of multi-label models; {model} is single-label — drop --threshold")
    if data.multi_label:
        raise DataError(
            f"the labels of [{data.split}] are lists (multi-label) but {model} is a single-label model — evaluate a model "
            "trained on this data (bertcli train --multi-label), or give a column with one label per example"
        )


def by_length_of(model: ModelEvaluation, cfg: EvalConfig, path: str) -> Any:
    """The model's score per token-length bucket, with its findings and the commands they point to."""
    from bertcli.core.commands import data_flags
    from bertcli.core.length_buckets import length_findings, score_by_length

    report = score_by_length(model.predictions, model.gold, len(model.label_names), max_length=model.max_length,
                             truncation=model.truncation, seed=cfg.seed)
    flags = data_flags(cfg.dataset, model=path, text_column=cfg.text_column, label_column=cfg.label_column)
    evaluate_flags = {**flags, "--split": cfg.split if cfg.split != "test" else None,
                      "--size": cfg.size, "--max-length": cfg.max_length}
    debug_flags = {**flags, "--max-length": model.max_length}
    report.findings = length_findings(report, evaluate_flags, debug_flags)
    return report


def _right_by_example(model: Any) -> dict[int, bool]:
    if getattr(model, "multi_label", False):
        from bertcli.core.evaluation_multilabel import exact_match_by_example

        return exact_match_by_example(model)
    return {p.index: p.label_id == g for p, g in zip(model.predictions, model.gold) if p.error is None}


def paired_test(reference: ModelEvaluation, model: ModelEvaluation) -> Any:
    """Exact McNemar of `model` against `reference` on the examples both classified."""
    from bertcli.core.significance import exact_mcnemar

    ref, new = _right_by_example(reference), _right_by_example(model)
    shared = sorted(ref.keys() & new.keys())
    return exact_mcnemar([ref[i] for i in shared], [new[i] for i in shared])


def near_chance_warning(model: ModelEvaluation) -> str:
    """One line: the model scores about what always answering the majority class scores, and where to look."""
    from bertcli.core.diagnose.chance import CHANCE_MARGIN
    from bertcli.core.diagnose.run_underfitting import run_folder_of_model

    c = model.chance
    always = f"always answering '{c.majority_label}' scores {c.majority_rate:.4f}" if c.majority_label is not None else (
        f"the chance rate is {c.majority_rate:.4f}"
    )
    k = len(model.label_names)
    if c.margin < -CHANCE_MARGIN:
        verdict = "it does worse than that: are its labels in another order than the data's?"
    else:
        verdict = "its predictions are close to guesses"
    run = run_folder_of_model(model.model)
    see = f"; see bertcli debug run {run}" if run is not None else ""
    return (
        f"{model.model} scores {model.accuracy:.4f} accuracy on {model.examples:,} examples, {c.reason}: {always} "
        f"(1/{k} = {c.uniform_rate:.4f}) — {verdict}{see}"
    )


def report_as_dict(report: EvaluationReport) -> dict[str, Any]:
    """The report as plain JSON-able data (without the per-example predictions)."""
    return plain(report, drop=("predictions", "gold"))


def prediction_rows(report: EvaluationReport) -> list[dict[str, Any]]:
    """One record per model and example: text, true label, prediction, confidence, probabilities."""
    from bertcli.core.inference.records import prediction_record

    rows = []
    several = len(report.models) > 1
    for model in report.models:
        for pred, gold in zip(model.predictions, model.gold):
            if getattr(model, "multi_label", False):
                from bertcli.core.evaluation_multilabel import prediction_row

                record = prediction_row(pred, gold, model.label_names)
                rows.append({"model": model.model, **record} if several else record)
                continue
            record = prediction_record(pred, model.label_names)
            record["true_label"] = model.label_names[gold]
            record["correct"] = None if pred.error else pred.label_id == gold
            if several:
                record = {"model": model.model, **record}
            rows.append(record)
    return rows
