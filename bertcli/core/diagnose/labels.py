"""`bertcli debug labels`: which examples probably carry a wrong label — a review queue, never a verdict.

The evidence is a model's probabilities for examples it did not train on: a trained model scoring another
split (here: one inference pass, refused on a split the model trained on), K models cross-fitted on the
training split (`label_folds`), or the training dynamics a run recorded (`label_dynamics`). The queue, its
cleanlab ranking and its findings are `label_queue`'s. Nothing here changes data: the queue goes to the
user, who decides in a decisions file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertcli.core.diagnose.label_queue import (
    LabelDiagnosis,
    OnProgress,
    Scored,
    check_ranking,
    join_scored_duplicates,
    label_findings,
    rank_scored,
    weigh_evidence,
)
from bertcli.core.errors import DataError, UsageError
from bertcli.core.findings import sort_findings


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

