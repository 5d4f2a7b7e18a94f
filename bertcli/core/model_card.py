"""What a run leaves in final/ to explain itself: a model card in the hub's format and metrics.json.

The metrics are those of the weights actually saved as final (the best checkpoint by default, scored
again after loading it), not the last epoch's: Trainer's own cards report the last evaluation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertcli.core.data.labels import LabelSet

METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
# Metric names as the hub's model-index spells them, with their display names.
CARD_METRICS = {
    "accuracy": "Accuracy", "f1": "F1", "f1_macro": "Macro F1", "f1_weighted": "Weighted F1", "precision": "Precision",
    "recall": "Recall", "loss": "Loss",
}
# How long the card's example text may be (an example from the eval split, cut at a word)
EXAMPLE_CHARS = 120


@dataclass
class FinalModelFacts:
    """What the card states: the run's recipe (bertcli.json's training block) and how it ended."""

    training: dict[str, Any]
    max_length: int
    truncation: str
    label_names: list[str]
    metrics: dict[str, float]
    eval_split: str | None
    final_from: str
    global_step: int
    train_seconds: float
    hardware: str
    multi_label: bool = False  # a text may carry several labels: 'accuracy' is subset accuracy, 'f1' macro F1
    thresholds: list[float] | None = None  # multi-label: per label, tuned on the eval split
    example_text: str | None = None  # a text of the eval split, for the card's usage example
    label_values: list[str] | None = None  # the data's value of each label id, where it is not the name


def example_of(text: str | None) -> str:
    """A text for the card's usage example: its first words, at most EXAMPLE_CHARS characters."""
    flat = " ".join((text or "").split())
    if len(flat) <= EXAMPLE_CHARS:
        return flat
    return flat[:EXAMPLE_CHARS].rsplit(" ", 1)[0]


def _base_model_name(model: str) -> str:
    """A hub name as it is; the packaged MiniLM by its hub name; another local folder by its own name
    (no machine paths in the card)."""
    from bertcli.core.defaults import PACKAGED_MODEL_HUB_ID, packaged_model

    path = Path(model).expanduser()
    if not path.exists():
        return model
    packaged = packaged_model()
    if packaged is not None and path.resolve() == packaged.resolve():
        return PACKAGED_MODEL_HUB_ID
    return path.resolve().name


def metrics_document(facts: FinalModelFacts) -> dict[str, Any]:
    return {
        "final_from": facts.final_from,
        "eval_split": facts.eval_split,
        "eval_examples": facts.training.get("eval_size"),
        "metrics": facts.metrics,
        "global_step": facts.global_step,
        "train_seconds": round(facts.train_seconds, 1),
        "hardware": facts.hardware,
    }


def _card_text(facts: FinalModelFacts, name: str) -> str:
    from huggingface_hub import ModelCard

    base = _base_model_name(str(facts.training.get("model", "")))
    dataset = _base_model_name(str(facts.training.get("dataset", "")))
    data = _card_data(facts, name, base, dataset)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{_card_body(facts, name, base, dataset)}").content


def _metric_name(key: str, label_names: list[str]) -> str:
    """A metric's name on the card, saying which class precision, recall and F1 are of."""
    from bertcli.core.metrics import training_scores_of

    if key in ("f1", "precision", "recall"):
        return f"{CARD_METRICS[key]} ({training_scores_of(label_names)})"
    return CARD_METRICS[key]


def _card_data(facts: FinalModelFacts, name: str, base: str, dataset: str) -> Any:
    """The card's metadata block: the hub's model-index with the final model's metrics."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split=facts.eval_split,
            metric_type=key,
            metric_name=_metric_names(facts)[key],
            metric_value=round(float(value), 4),
        )
        for key, value in facts.metrics.items()
        if key in CARD_METRICS
    ]
    return ModelCardData(
        model_name=name,
        base_model=base or None,
        datasets=[dataset] if dataset else None,
        language=["en"],
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["bertcli", "text-classification"],
        metrics=[r.metric_type for r in results] or None,
        eval_results=results or None,
    )


def _training_settings(facts: FinalModelFacts, base: str, dataset: str) -> list[tuple[str, Any]]:
    """The rows of the card's Training table."""
    t = facts.training
    return [
        ("base model", base),
        ("dataset", f"{dataset}: {t.get('train_size')} train / {t.get('eval_size')} eval examples (seed {t.get('seed')})"),
        ("labels", LabelSet(facts.label_names, facts.label_values).describe(limit=len(facts.label_names))),
        *_multi_label_settings(facts),
        ("max length", f"{facts.max_length} tokens, truncation {facts.truncation}"),
        ("epochs", t.get("num_train_epochs")),
        ("batch size", t.get("train_batch_size")),
        ("learning rate", f"{t.get('learning_rate')} ({t.get('lr_scheduler_type')}, warmup ratio {t.get('warmup_ratio')})"),
        ("weight decay", t.get("weight_decay")),
        ("precision", t.get("precision")),
        ("steps", facts.global_step),
        ("training time", f"{facts.train_seconds / 60:.1f} min on {facts.hardware}"),
    ]


# What the card calls a multi-label run's metrics.
MULTI_LABEL_METRICS = {"accuracy": "Subset accuracy", "f1": "Macro F1", "precision": "Macro precision",
                       "recall": "Macro recall", "loss": "BCE loss"}


def _metric_names(facts: FinalModelFacts) -> dict[str, str]:
    """What the card calls each metric of this model."""
    if facts.multi_label:
        return MULTI_LABEL_METRICS
    return {key: _metric_name(key, facts.label_names) for key in CARD_METRICS}


def _multi_label_settings(facts: FinalModelFacts) -> list[tuple[str, Any]]:
    if not facts.multi_label:
        return []
    thresholds = ", ".join(f"{n} {t:.3f}" for n, t in zip(facts.label_names, facts.thresholds or [])) or "0.5 each"
    return [("task", "multi-label: a sigmoid per label, binary cross-entropy; every label over its threshold is predicted"),
            ("thresholds", f"{thresholds} (each tuned on the eval split for that label's F1; in bertcli.json)")]


def _card_body(facts: FinalModelFacts, name: str, base: str, dataset: str) -> str:
    """The card's Markdown under its metadata: results, training settings, intended use."""
    import shlex

    rows = "\n".join(
        f"| {_metric_names(facts)[k]} | {float(v):.4f} |" for k, v in facts.metrics.items() if k in CARD_METRICS
    )
    example = example_of(facts.example_text) or "some text to classify"
    shown = ", ".join(facts.label_names[:12]) + (f" and {len(facts.label_names) - 12} more" if len(facts.label_names) > 12 else "")
    return "\n".join(
        [
            f"# {name}",
            "",
            f"A text classifier fine-tuned from `{base}` with bertcli. The weights are those of "
            f"{'the best checkpoint, ' + facts.final_from if facts.final_from != 'last' else 'the last step'}; "
            f"the metrics below were measured on them, on the {facts.eval_split or 'evaluation'} split.",
            "",
            "## Results",
            "",
            "| metric | value |",
            "|---|---:|",
            rows or "| (no evaluation split) | - |",
            "",
            "## Training",
            "",
            "| setting | value |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in _training_settings(facts, base, dataset)),
            "",
            "## Intended use and limits",
            "",
            f"Classifying English text like its training data ({dataset}) into {shown}. "
            "Expect lower accuracy on text unlike it (other domains, languages, very short texts); texts "
            + (f"longer than {facts.max_length} tokens are read whole, in overlapping windows whose predictions are pooled. "
               if facts.truncation == "sliding" else f"longer than {facts.max_length} tokens are cut ({facts.truncation}). ")
            + "With a small evaluation split, "
            "a difference of a point or two between two models may be noise.",
            "",
            "## Use",
            "",
            "```bash",
            f"bertcli predict --model <this folder> {shlex.quote(example)}",
            "```",
            "",
        ]
    )


def write_model_card(final_dir: str | Path, facts: FinalModelFacts, name: str) -> None:
    """final/README.md (hub model card with model-index metrics) and final/metrics.json, the same numbers."""
    from bertcli.core.outputs import write_text_whole

    folder = Path(final_dir)
    write_text_whole(folder / METRICS_FILE, json.dumps(metrics_document(facts), indent=2) + "\n")
    write_text_whole(folder / CARD_FILE, _card_text(facts, name))
