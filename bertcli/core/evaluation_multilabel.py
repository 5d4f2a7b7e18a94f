"""`evaluate` on a multi-label model: each label decided by its own threshold, scored as a set per example.

Micro and macro F1, per-label P/R/F1 with support and threshold, subset accuracy, Hamming loss, labels per
example predicted vs true, bootstrap intervals, and the majority-per-label baseline as chance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.core.errors import DataError

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction, RunStats
    from bertcli.core.inference.load import Classifier


@dataclass
class LabelScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # examples carrying the label
    predicted: int  # examples predicted to carry it
    threshold: float


@dataclass
class MultiLabelEvaluation:
    model: str
    chosen_as: str
    mode: str
    max_length: int
    truncation: str
    label_names: list[str]
    examples: int
    skipped: int
    thresholds_from: str  # "saved with the model (tuned on its eval split)", "--threshold 0.4", "0.5 (none saved)"
    micro: dict[str, float]
    macro: dict[str, float]
    per_label: list[LabelScores]
    subset_accuracy: float  # every label of an example right
    hamming_loss: float  # the share of (example, label) decisions that are wrong
    labels_per_example: dict[str, float]  # "true" and "predicted" means
    no_label: dict[str, int]  # examples with no label: "true" and "predicted"
    # always each label's majority value (no label at all, mostly): what it scores on the same metrics
    chance: dict[str, float]
    intervals: dict[str, Any]  # 95% bootstrap: macro_f1, micro_f1, subset_accuracy
    seconds: float
    load_seconds: float
    examples_per_second: float | None
    tokens_per_second: float | None
    multi_label: bool = True
    # with several models: exact McNemar on exact-match (every label right) against the first
    versus_first: Any = None
    by_length: Any = None  # as ModelEvaluation's; evaluate --by-length is refused for multi-label models
    predictions: list["Prediction"] = field(default_factory=list, repr=False)
    gold: list[list[int]] = field(default_factory=list, repr=False)


def gold_label_ids(labels: Sequence[Any], label_names: list[str]) -> list[list[int]]:
    """Each example's labels (a list, `0,5`, `["joy"]`, one id or name) as ids of the model's labels;
    labels the model does not know refused in one line."""
    from bertcli.core.data.multilabel import map_rows, parse_label_list

    lists = [value if isinstance(value, list) else parse_label_list(value) for value in labels]
    out, bad, shown = map_rows(lists, label_names)
    if bad:
        raise DataError(
            f"{bad} label(s) are not among the model's labels {label_names} ({shown}) — evaluate on data "
            f"labelled with those names (or their ids 0..{len(label_names) - 1}), or name the column with --label-column"
        )
    return out


def score_multi_label(
    predictions: Sequence["Prediction"], gold: Sequence[Sequence[int]], label_names: list[str], thresholds: Sequence[float],
    *, seed: int = 0,
) -> dict[str, Any]:
    """Every metric of a multi-label report from predictions (their per-label probabilities) and gold ids."""
    import numpy as np

    from bertcli.core import metrics
    from bertcli.core.data.multilabel import multi_hot
    from bertcli.core.significance import multilabel_bootstrap_intervals

    kept = [(p, g) for p, g in zip(predictions, gold) if p.error is None]
    if not kept:
        raise DataError("no text could be classified — every example was empty or unreadable")
    y = np.array(multi_hot([g for _, g in kept], len(label_names)), dtype=np.int64)
    probs = np.array([p.probabilities for p, _ in kept], dtype=float)
    pred = metrics.apply_thresholds(probs, thresholds)
    scores = metrics.multilabel_scores(y, pred)
    baseline = metrics.multilabel_scores(y, metrics.majority_per_label(y))
    per = scores["per_label"]
    intervals = multilabel_bootstrap_intervals(y, pred, seed=seed)
    return dict(
        micro=scores["micro"],
        macro=scores["macro"],
        per_label=[
            LabelScores(name, per["precision"][k], per["recall"][k], per["f1"][k], per["support"][k], int(pred[:, k].sum()),
                        float(thresholds[k]))
            for k, name in enumerate(label_names)
        ],
        subset_accuracy=scores["subset_accuracy"],
        hamming_loss=scores["hamming_loss"],
        labels_per_example={"true": scores["cardinality_true"], "predicted": scores["cardinality_pred"]},
        no_label={"true": int((y.sum(axis=1) == 0).sum()), "predicted": int((pred.sum(axis=1) == 0).sum())},
        chance={"macro_f1": baseline["macro"]["f1"], "micro_f1": baseline["micro"]["f1"],
                "subset_accuracy": baseline["subset_accuracy"], "hamming_loss": baseline["hamming_loss"]},
        intervals={k: None if v is None else {"low": v.low, "high": v.high} for k, v in intervals.items()},
    )


def thresholds_source(clf: "Classifier", threshold: float | None) -> str:
    """Where the thresholds in use come from, as the report says it."""
    from bertcli.core.runs.manifest import RunManifest

    if threshold is not None:
        return f"--threshold {threshold:g} for every label"
    from pathlib import Path

    folder = Path(clf.name).expanduser()
    manifest = RunManifest.read(folder) if folder.is_dir() else None
    if manifest is not None and manifest.thresholds is not None and len(manifest.thresholds) == len(clf.label_names):
        return "saved with the model (tuned on its eval split)"
    return "0.5 for every label (none saved with the model)"


def evaluate_multi_label_model(
    clf: "Classifier",
    texts: Sequence[str],
    labels: Sequence[Any],
    *,
    chosen_as: str = "given",
    batch_size: int = 32,
    seed: int = 0,
    threshold: float | None = None,
    on_progress: Callable[["RunStats"], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> MultiLabelEvaluation:
    """Classify `texts` with a multi-label model and score its label sets against `labels`."""
    from bertcli.core.inference.classify import RunStats
    from bertcli.core.inference.predict import override_thresholds
    from bertcli.core.inference.stream import predict_stream

    source = thresholds_source(clf, threshold)
    override_thresholds(clf, threshold)
    gold = gold_label_ids(labels, clf.label_names)
    stats = RunStats()
    predictions: list[Prediction] = []
    for chunk in predict_stream(clf, list(texts), batch_size=batch_size, window_batches=64, stats=stats,
                                on_window=on_progress, on_batch=on_batch):
        predictions.extend(chunk)
    scores = score_multi_label(predictions, gold, clf.label_names, clf.thresholds or [], seed=seed)
    return MultiLabelEvaluation(
        model=clf.name, chosen_as=chosen_as, mode=clf.mode, max_length=clf.max_length, truncation=clf.truncation,
        label_names=clf.label_names, examples=stats.predicted, skipped=stats.skipped, thresholds_from=source,
        seconds=stats.seconds, load_seconds=clf.load_seconds, examples_per_second=stats.texts_per_second,
        tokens_per_second=stats.tokens_per_second, predictions=predictions, gold=gold, **scores,
    )


def exact_match_by_example(model: MultiLabelEvaluation) -> dict[int, bool]:
    """Whether each classified example got exactly its label set: what the paired test compares."""
    names = model.label_names
    return {p.index: set(p.labels or []) == {names[i] for i in g} for p, g in zip(model.predictions, model.gold) if p.error is None}


def prediction_row(pred: "Prediction", gold: Sequence[int], label_names: Sequence[str]) -> dict[str, Any]:
    """One example of `evaluate --predictions`: the prediction record, the true labels, and whether all match."""
    from bertcli.core.inference.records import prediction_record

    record = prediction_record(pred, label_names)
    record["true_labels"] = [label_names[i] for i in gold]
    record["correct"] = None if pred.error else set(pred.labels or []) == set(record["true_labels"])
    return record
