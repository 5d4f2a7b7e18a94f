"""`bertcli debug labels RUN`: the queue from the training dynamics a run recorded with `--record-dynamics`
(each example's probability of its given label at every evaluation: confidence, variability, correctness)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bertcli.core.diagnose.label_queue import (
    SNIPPET,
    LabelDiagnosis,
    LabelIssue,
    join_copies,
    label_findings,
    label_quality,
    names_of,
    predicted_sets,
    weigh_evidence,
)
from bertcli.core.diagnose.labels import load_split_with_rows
from bertcli.core.errors import UsageError
from bertcli.core.findings import sort_findings


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

