"""`debug labels RUN --folds K`: out-of-sample probabilities for a run's own training examples by cross-fitting.

The run's training examples (as its bertcli.toml picks them) are cut into K stratified folds (multi-label data:
stratified by the rarest label each example carries, so every fold holds examples of each label); for each fold a
model is trained on the other K-1 with the run's own recipe (`core.training.train`, same model, epochs, lr,
length, eval set) and scores the fold it did not see. Each fold keeps its scores in
`<RUN>/label-folds-K/fold-N/scores.npz`, so a stopped cross-fit resumes where it stopped; a fold's model is
deleted once it has scored its fold. The cost, about K-1 times the run's training time, is stated before it starts.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field, replace
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

SCORES_FILE = "scores.npz"
LOAD_SECONDS = 5.0  # a fold's model, tokenizer and data loaded, its final model saved (MiniLM on a 2-core CPU)


@dataclass
class FoldPlan:
    run: Path
    folds: int
    cfg: Any  # the run's TrainConfig, read back from its bertcli.toml
    data: Any  # LabelledData of the run's training examples, with row ids
    folder: Path
    done: list[int] = field(default_factory=list)  # folds already scored (resumed)
    run_seconds: float | None = None  # the run's own time from its start to final/ (file times), else its training time

    @property
    def estimate_seconds(self) -> float | None:
        """Each fold trains on (K-1)/K of the examples, then scores the other 1/K (a forward pass: about a third of
        a training step's work), after loading its model and data: per fold run x ((K-1)/K + 1/(3K)) + LOAD_SECONDS."""
        if self.run_seconds is None:
            return None
        k = self.folds
        per_fold = self.run_seconds * ((k - 1) / k + 1 / (3 * k)) + LOAD_SECONDS
        return per_fold * (k - len(self.done))

    def describe(self) -> str:
        left = self.folds - len(self.done)
        cost = (f"about {human_seconds(self.estimate_seconds)} (each fold about (K-1)/K of the run's "
                f"{human_seconds(self.run_seconds)}, plus scoring its part; on this machine)") if self.estimate_seconds is not None else (
            "unknown: the run records no training time (final/metrics.json)")
        resumed = f"; {len(self.done)} fold(s) already scored in {self.folder}, resumed" if self.done else ""
        return (f"cross-fitting {len(self.data.train):,} training examples of {self.cfg.dataset}: {left} of {self.folds} "
                f"models to train on the run's recipe ({self.cfg.model}, {self.cfg.epochs:g} epoch(s), max length "
                f"{self.cfg.max_length}); estimated {cost}{resumed}")


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def plan_folds(run: str | Path, folds: int) -> FoldPlan:
    """The run's recipe and training examples, refused when K is larger than the smallest class."""
    import numpy as np

    from bertcli.core.config import CONFIG_FILE, read_config
    from bertcli.core.data import load_labelled_data
    from bertcli.core.data.decisions import train_decisions
    from bertcli.core.training import TrainConfig

    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise UsageError(f"{run} has no {CONFIG_FILE}: --folds retrains the run's recipe — give a folder bertcli train wrote")
    cfg = TrainConfig(**read_config(run / CONFIG_FILE))
    data = load_labelled_data(
        cfg.dataset, train_size=cfg.train_size, eval_size=cfg.eval_size, seed=cfg.seed, text_column=cfg.text_column,
        label_column=cfg.label_column, train_split=cfg.train_split, eval_split=cfg.eval_split, label_names=cfg.labels,
        multi_label=cfg.multi_label, delimiter=cfg.delimiter, header=cfg.header,
        decisions=train_decisions(cfg.relabel, cfg.exclude), row_ids=True,
    )
    labels = given_labels(data)
    counts = labels.sum(axis=0) if data.multi_label else np.bincount(labels, minlength=len(data.label_names))
    smallest = int(counts.argmin())
    if folds > counts[smallest]:
        what = "label" if data.multi_label else "class"
        fix = (f"use --folds {int(counts[smallest])} or fewer" if counts[smallest] >= 2 else
               f"cross-fitting needs 2 or more of each {what}: train on more examples (--train-size)")
        raise DataError(
            f"--folds {folds} is larger than the smallest {what} ({data.label_names[smallest]}: {int(counts[smallest])} "
            f"training examples) — every fold needs an example of each {what}; {fix}"
        )
    folder = run / f"label-folds-{folds}"
    rows = list(data.train["row"])
    done = [k for k in range(folds) if _scores(folder, k, rows) is not None]
    return FoldPlan(run, folds, cfg, data, folder, done, _run_seconds(run))


def _run_seconds(run: Path) -> float | None:
    """How long the run took from writing its bertcli.toml to writing final/metrics.json; else its training time."""
    from bertcli.core.config import CONFIG_FILE
    from bertcli.core.runs.jsonfile import read_json_object

    metrics_file = run / "final" / "metrics.json"
    metrics = read_json_object(metrics_file)
    value = (metrics or {}).get("train_seconds")
    trained = float(value) if isinstance(value, (int, float)) and value > 0 else None
    try:
        wall = metrics_file.stat().st_mtime - (run / CONFIG_FILE).stat().st_mtime
    except OSError:
        return trained
    return wall if trained is not None and trained <= wall < 10 * trained else trained


def given_labels(data: Any) -> Any:
    """The training examples' given labels: ids, or for multi-label data (examples, labels) 0/1 rows."""
    import numpy as np

    labels = np.asarray(data.train["label"])
    return np.rint(labels).astype(np.int64) if data.multi_label else labels.astype(np.int64)


def fold_of(labels: Any, folds: int, seed: int) -> Any:
    """Each example's fold: stratified by label, drawn with the run's seed; 0/1 label rows are stratified by the
    rarest label each example carries (those with none as one more group), so every label's examples spread."""
    import warnings

    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    if labels.ndim == 2:
        counts = labels.sum(axis=0)
        rarity = np.where(labels == 1, counts[None, :], np.iinfo(np.int64).max)
        labels = np.where(labels.any(axis=1), rarity.argmin(axis=1), labels.shape[1])
    which = np.zeros(len(labels), dtype=np.int64)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed % (2**32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a group smaller than K: its examples go to fewer folds
        for k, (_, held) in enumerate(split.split(np.zeros(len(labels)), labels)):
            which[held] = k
    return which


def _scores(folder: Path, k: int, rows: list[int]) -> Any:
    import numpy as np

    path = folder / f"fold-{k}" / SCORES_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            scored_rows, probs = f["rows"], f["probabilities"]
    except (OSError, ValueError, KeyError):
        return None
    return (scored_rows, probs) if set(scored_rows.tolist()) <= set(rows) else None


def _write_jsonl(path: Path, texts: list[str], labels: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for text, label in zip(texts, labels):
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def _progress_callback(on_progress: OnProgress | None, phase: str) -> list[Any]:
    if on_progress is None:
        return []
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            on_progress(phase, state.global_step, state.max_steps or None, "")

    return [Steps()]


def train_fold(plan: FoldPlan, k: int, which: Any, batch_size: int, on_progress: OnProgress | None) -> None:
    """Train fold k's model on the other folds with the run's recipe, score fold k, keep only the scores."""
    import numpy as np

    from bertcli.core.diagnose.labels import score_texts
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.training import train

    data, names = plan.data, plan.data.label_names
    texts, rows = list(data.train["text"]), list(data.train["row"])

    def named(label: Any) -> Any:  # a label id as its name; a 0/1 label row as the list of its names
        return [n for n, on in zip(names, label) if on >= 0.5] if data.multi_label else names[label]

    labels = [named(y) for y in data.train["label"]]
    folder = plan.folder / f"fold-{k}"
    source = folder / "data"
    keep = [i for i in range(len(texts)) if which[i] != k]
    _write_jsonl(source / "train.jsonl", [texts[i] for i in keep], [labels[i] for i in keep])
    eval_split = None
    if data.eval is not None:
        _write_jsonl(source / "validation.jsonl", list(data.eval["text"]), [named(y) for y in data.eval["label"]])
        eval_split = "validation"
    cfg = replace(
        plan.cfg, dataset=str(source), train_split="train", eval_split=eval_split, train_size=None, eval_size=None,
        output_dir=folder / "run", overwrite=True, resume=False, labels=list(names), text_column="text",
        label_column="label", relabel=None, exclude=None, record_dynamics=False, tensorboard=False, keep_checkpoints=1,
        multi_label=data.multi_label, delimiter=None, header=None,
    )
    phase = f"fold {k + 1}/{plan.folds}"
    train(cfg, callbacks=_progress_callback(on_progress, f"{phase} training"))
    held = [i for i in range(len(texts)) if which[i] == k]
    clf = load_for_inference(str(folder / "run" / "final"))
    predictions, _ = score_texts(clf, [texts[i] for i in held], batch_size,
                                 (lambda p, d, t, x: on_progress(f"{phase} scoring", d, t, x)) if on_progress else None)
    ok = [(i, p) for i, p in zip(held, predictions) if p.error is None]
    tmp = folder / "scores.tmp.npz"
    np.savez(tmp, rows=np.asarray([rows[i] for i, _ in ok], dtype=np.int64),
             probabilities=np.asarray([p.probabilities for _, p in ok], dtype=np.float32))
    tmp.replace(folder / SCORES_FILE)
    shutil.rmtree(folder / "run", ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)


def cross_fit_labels(plan: FoldPlan, ranked_by: str, *, batch_size: int = 32, on_progress: OnProgress | None = None) -> LabelDiagnosis:
    """Train the folds not yet scored, then rank the whole training split's issues with cleanlab."""
    import numpy as np

    check_ranking(ranked_by)
    started = time.perf_counter()
    data = plan.data
    labels = given_labels(data)
    rows, texts = list(data.train["row"]), list(data.train["text"])
    which = fold_of(labels, plan.folds, plan.cfg.seed)
    estimate = plan.estimate_seconds
    for k in range(plan.folds):
        if k not in plan.done:
            train_fold(plan, k, which, batch_size, on_progress)
    by_row: dict[int, Any] = {}
    for k in range(plan.folds):
        found = _scores(plan.folder, k, rows)
        if found is None:
            raise DataError(f"fold {k} of {plan.folder} left no scores — run the same command again to redo it")
        by_row.update(zip(found[0].tolist(), found[1]))
    position = {r: i for i, r in enumerate(rows)}
    kept = [r for r in rows if r in by_row]
    scored = Scored(rows=kept, texts=[texts[position[r]] for r in kept], labels=labels[[position[r] for r in kept]],
                    probabilities=np.stack([by_row[r] for r in kept]))
    evidence = f"cross-fitting ({plan.folds} folds)"
    issues, quality = rank_scored(scored, data.label_names, ranked_by, evidence)
    seconds = time.perf_counter() - started
    notes = []
    if estimate is not None and len(plan.done) < plan.folds:
        notes.append(f"cross-fitting took {human_seconds(seconds)}, estimated {human_seconds(estimate)} "
                     f"({seconds / estimate:.0%} of the estimate)")
    d = LabelDiagnosis(
        source=str(plan.cfg.dataset), split=plan.cfg.train_split, model=None, evidence=evidence, ranked_by=ranked_by,
        label_names=data.label_names, examples=len(kept), issues=issues, notes=notes, seconds=seconds,
        scores={"rows": kept, "quality": quality}, multi_label=data.multi_label,
    )
    join_scored_duplicates(d, scored, data.label_names, quality)
    weigh_evidence(d, scored.labels, scored.probabilities)
    d.findings = sort_findings(label_findings(d))
    return d
