"""What `bertcli debug model` found: the diagnosis it returns and the findings read from it, each with the
numbers behind it and the command that fixes it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from bertcli.core.commands import bertcli_command
from bertcli.core.findings import Finding
from bertcli.core.formatting import sci

GENERIC_LABEL_RE = re.compile(r"^LABEL_\d+$")


@dataclass
class OverfitCheck:
    """Training on one fixed batch: the loss by step, and whether it fell below the target."""

    examples: int
    steps_run: int
    max_steps: int
    learning_rate: float
    target_loss: float
    losses: list[float]
    first_loss: float
    final_loss: float
    reached_at: int | None  # step where the loss first fell below the target
    accuracy: float  # on the batch, after the last step
    seconds: float
    source: str  # where the batch came from


@dataclass
class GradientCheck:
    """One backward pass: which trainable parameters got no gradient, and which are frozen."""

    trainable: int
    frozen: list[str]
    no_gradient: list[str]  # trainable parameters whose gradient is missing or all zero after one backward pass
    head: list[str]  # the classification head's parameters


@dataclass
class ModelDiagnosis:
    """A model and its tokenizer as `bertcli train` would load them, the active checks, and the findings."""

    model: str
    architecture: str | None
    model_type: str | None
    parameters: int
    head_is_new: bool
    tokenizer_class: str
    tokenizer_vocab: int
    embedding_rows: int
    config_vocab: int | None
    special_tokens: dict[str, int | None]
    num_labels: int
    id2label: dict[str, str]
    label2id: dict[str, int]
    problem_type: str | None
    max_position_embeddings: int | None
    tokenizer_max_length: int | None
    max_length: int
    gradients: GradientCheck | None
    overfit: OverfitCheck | None
    findings: list[Finding] = field(default_factory=list)
    # the dataset options the check's batch came from (--dataset, --text-column, ...): the fixes keep them
    data_flags: dict[str, Any] = field(default_factory=dict)


def model_findings(d: ModelDiagnosis, labels: Sequence[str] | None) -> list[Finding]:
    """Every finding about `d`, in check order (the caller sorts them); `labels` are the --labels given."""
    findings = vocab_findings(d) + label_findings(d, labels) + length_findings(d, labels)
    if d.gradients is not None:
        findings += gradient_findings(d.gradients)
    if d.overfit is not None:
        findings += overfit_findings(d, d.overfit, labels)
    return findings


def _model_flags(d: ModelDiagnosis, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The model, --max-length (when not the default 512) and --labels the user gave, as flags."""
    return {
        "--model": d.model,
        **{flag: value for flag, value in d.data_flags.items() if flag != "--model"},
        "--max-length": d.max_length if d.max_length != 512 else None,
        "--labels": ",".join(labels) if labels else None,
    }


def _train_with_labels(d: ModelDiagnosis, labels: Sequence[str] | None, comment: str) -> str:
    """`bertcli train` on the model with the --labels the user gave; without them, none is guessed: names
    that are not the data's would leave no labelled example, and train takes the data's own."""
    if labels and len(labels) < 2:  # train refuses one label: propose the command it runs
        labels, comment = None, comment + f"; --labels {','.join(labels)} names one label, a classifier needs two or more"
    if not labels:
        comment += "; bertcli train takes the label names from the data (--labels sets them, in id order)"
    return f"{bertcli_command('train', _model_flags(d, labels))}  # {comment}"


def vocab_findings(d: ModelDiagnosis) -> list[Finding]:
    findings = []
    sizes = f"tokenizer {d.tokenizer_class} has {d.tokenizer_vocab:,} tokens; the model's embedding has {d.embedding_rows:,} rows"
    if d.tokenizer_vocab > d.embedding_rows:
        findings.append(
            Finding(
                "vocab_mismatch",
                "error",
                f"the tokenizer has {d.tokenizer_vocab - d.embedding_rows:,} more tokens than the model has embeddings: "
                "ids past the end crash the forward pass (index out of range)",
                [sizes],
                "use the tokenizer saved with the model (same --model folder), or resize the embeddings "
                "(model.resize_token_embeddings(len(tokenizer))) and save",
            )
        )
    elif d.embedding_rows - d.tokenizer_vocab > max(128, 0.01 * d.embedding_rows):
        findings.append(
            Finding(
                "vocab_mismatch",
                "warning",
                f"the model has {d.embedding_rows - d.tokenizer_vocab:,} more embedding rows than the tokenizer has tokens: "
                "the tokenizer may belong to another model",
                [sizes],
                "use the tokenizer saved with the model (the same --model folder)",
            )
        )
    else:
        findings.append(Finding("vocab", "info", f"vocabularies match: {sizes}"))
    missing = [name for name in ("cls", "sep", "pad") if d.special_tokens.get(name) is None]
    out_of_range = [
        f"{name} = {tid}" for name, tid in d.special_tokens.items() if tid is not None and not 0 <= tid < d.embedding_rows
    ]
    if missing or out_of_range:
        findings.append(
            Finding(
                "special_tokens",
                "error",
                "special tokens bertcli needs are missing or outside the embedding",
                [f"missing: {', '.join(f'[{m.upper()}]' for m in missing)}" if missing else "", *out_of_range],
                "use a BERT-family model and its own tokenizer (--model)",
            )
        )
    return findings


def label_findings(d: ModelDiagnosis, labels: Sequence[str] | None) -> list[Finding]:
    findings = []
    names = [d.id2label.get(str(i)) for i in range(d.num_labels)]
    shown = f"num_labels {d.num_labels}; id2label {d.id2label}; label2id {d.label2id}"
    if d.num_labels < 2:
        findings.append(
            Finding(
                "num_labels",
                "error",
                f"num_labels is {d.num_labels}: with one output the model does regression (MSE loss), not classification",
                [shown],
                _train_with_labels(d, labels, "replaces the head"),
            )
        )
    problems = []
    if len(d.id2label) != d.num_labels or any(n is None for n in names):
        problems.append(f"id2label has {len(d.id2label)} entries for {d.num_labels} labels")
    if len(d.label2id) != len(d.id2label) or any(d.label2id.get(str(name)) != i for i, name in enumerate(names) if name is not None):
        problems.append("label2id is not the inverse of id2label")
    if problems:
        findings.append(
            Finding(
                "label_maps",
                "error",
                "the label maps do not agree: " + "; ".join(problems),
                [shown],
                _train_with_labels(d, labels, "writes consistent label maps"),
            )
        )
    if d.problem_type == "multi_label_classification":
        findings.append(
            Finding(
                "problem_type",
                "warning",
                "problem_type is multi_label_classification: the loss is per-label BCE, and integer labels fail",
                [shown],
                "remove problem_type from config.json (or set single_label_classification) for one label per text",
            )
        )
    generic = [n for n in names if n is not None and GENERIC_LABEL_RE.match(n)]
    if d.num_labels >= 2 and generic and len(generic) == len(names):
        level = "info" if d.head_is_new else "warning"
        findings.append(
            Finding(
                "generic_labels",
                level,
                f"labels are the placeholders {', '.join(names)}: predictions will read {names[0]} / {names[1]} instead of names"
                + (" (the head is new, so training sets them)" if d.head_is_new else ""),
                [shown],
                _train_with_labels(d, labels, "the head learns with named labels"),
            )
        )
    elif d.num_labels >= 2 and not problems:
        findings.append(Finding("labels", "info", f"{d.num_labels} labels: {', '.join(str(n) for n in names)}"))
    if d.head_is_new:
        findings.append(
            Finding(
                "new_head",
                "info",
                f"{d.architecture or d.model_type} has no trained classification head: bertcli adds a randomly initialised one",
                ["fine to fine-tune; its predictions are chance until then"],
            )
        )
    if labels and not d.head_is_new and d.architecture and len(labels) != d.num_labels:
        findings.append(
            Finding(
                "head_replaced",
                "warning",
                f"--labels names {len(labels)} labels but the trained head has {d.num_labels}: training replaces the head",
                [shown],
            )
        )
    return findings


def length_findings(d: ModelDiagnosis, labels: Sequence[str] | None = None) -> list[Finding]:
    findings = []
    limit = d.max_position_embeddings
    if limit is None:
        return [Finding("positions", "info", "the config has no max_position_embeddings: no length limit to check")]
    if d.max_length > limit:
        findings.append(
            Finding(
                "max_length",
                "error",
                f"--max-length {d.max_length} is longer than the model's {limit} position embeddings: longer inputs crash",
                [f"max_position_embeddings {limit}"],
                bertcli_command("train", _model_flags(d, labels), max_length=limit) + "  # the longest input its positions take",
            )
        )
    else:
        findings.append(
            Finding("max_length", "info", f"--max-length {d.max_length} fits the model's {limit} position embeddings")
        )
    if d.tokenizer_max_length is not None and d.tokenizer_max_length > limit:
        findings.append(
            Finding(
                "tokenizer_max_length",
                "warning",
                f"the tokenizer allows {d.tokenizer_max_length} tokens but the model has {limit} positions: "
                "code that trusts tokenizer.model_max_length will crash on long texts",
                [],
                bertcli_command("train", _model_flags(d, labels), max_length=min(d.max_length, limit))
                + "  # bertcli checks --max-length against the model",
            )
        )
    return findings


def gradient_findings(g: GradientCheck) -> list[Finding]:
    findings = []
    head_missing = [n for n in g.no_gradient if n in g.head]
    head_frozen = [n for n in g.frozen if n in g.head]
    if head_frozen or (g.head and len(head_missing) == len([n for n in g.head if n not in g.frozen])):
        findings.append(
            Finding(
                "head_no_gradient",
                "error",
                "the classification head receives no gradient: nothing the loss says reaches it",
                [", ".join((head_frozen + head_missing)[:6])],
                "unfreeze the head (requires_grad=True) and check that labels are passed to the model",
            )
        )
    if g.no_gradient:
        shown = ", ".join(g.no_gradient[:6]) + (f" and {len(g.no_gradient) - 6} more" if len(g.no_gradient) > 6 else "")
        findings.append(
            Finding(
                "no_gradient",
                "warning",
                f"{len(g.no_gradient)} of {g.trainable} trainable parameter tensors got no gradient in a backward pass",
                [shown, "they are not on the path from the input to the loss: weight decay still shrinks them"],
                "harmless when intended (an unused pooler); otherwise check the model class matches the checkpoint",
            )
        )
    else:
        findings.append(
            Finding("gradients", "info", f"all {g.trainable} trainable parameter tensors receive a gradient")
        )
    if g.frozen and not head_frozen:
        findings.append(
            Finding(
                "frozen",
                "info",
                f"{len(g.frozen)} parameter tensors are frozen (requires_grad=False)",
                [", ".join(g.frozen[:6]) + (" …" if len(g.frozen) > 6 else "")],
            )
        )
    return findings


def overfit_findings(d: ModelDiagnosis, o: OverfitCheck, labels: Sequence[str] | None = None) -> list[Finding]:
    curve = ", ".join(f"{v:.3f}" for v in _thin(o.losses, 8))
    evidence = [
        f"{o.examples} examples ({o.source}), AdamW lr {sci(o.learning_rate)}, {o.steps_run} of {o.max_steps} steps, {o.seconds:.1f} s",
        f"loss by step: {curve}",
        f"accuracy on the batch afterwards: {o.accuracy:.0%}",
    ]
    if o.reached_at is not None:
        return [
            Finding(
                "overfit_one_batch",
                "info",
                f"the pipeline learns: loss on one batch of {o.examples} fell from {o.first_loss:.3f} to {o.final_loss:.3f} "
                f"(below {o.target_loss:g}) in {o.reached_at} steps",
                evidence,
            )
        ]
    if not math.isfinite(o.final_loss):
        level, summary = "error", f"the loss became {o.final_loss} after {o.steps_run} steps on one batch"
        fix = _check_again(d, o, labels, overfit_lr=o.learning_rate / 10) + "  # and train in fp32 or bf16"
    elif o.final_loss < 0.5 * o.first_loss:
        level = "warning"
        summary = (
            f"the loss on one batch of {o.examples} fell from {o.first_loss:.3f} to {o.final_loss:.3f} but not below "
            f"{o.target_loss:g} in {o.max_steps} steps: learning, slowly"
        )
        fix = _check_again(d, o, labels, overfit_steps=o.max_steps * 4)
    else:
        level = "error"
        summary = (
            f"the model cannot overfit one batch of {o.examples}: loss {o.first_loss:.3f} → {o.final_loss:.3f} in "
            f"{o.max_steps} steps — this pipeline cannot learn"
        )
        fix = _check_again(d, o, labels, overfit_lr=o.learning_rate * 10, overfit_steps=o.max_steps * 2) + (
            "  # once frozen parameters and labels above check out: a randomly initialised encoder needs a higher "
            "rate than a pretrained one"
        )
    return [Finding("overfit_one_batch", level, summary, evidence, fix)]


def _check_again(
    d: ModelDiagnosis, o: OverfitCheck, labels: Sequence[str] | None, *, overfit_lr: float | None = None,
    overfit_steps: int | None = None,
) -> str:
    """`bertcli debug model` as the user ran it (model, length, labels, batch, steps, rate, target; the defaults
    left out), with a new rate or step count. The CLI's ranges cap them: a rate up to 1, up to 10,000 steps."""
    lr = min(overfit_lr, 1.0) if overfit_lr is not None else o.learning_rate
    steps = min(overfit_steps, 10_000) if overfit_steps is not None else o.max_steps
    flags = {
        **_model_flags(d, labels),
        "--batch-size": o.examples if o.examples != 8 else None,
        "--overfit-steps": steps if overfit_steps is not None or steps != 50 else None,
        "--overfit-lr": sci(lr) if overfit_lr is not None or lr != 1e-4 else None,
        "--target-loss": f"{o.target_loss:g}" if o.target_loss != 0.05 else None,
    }
    return bertcli_command("debug model", flags)


def _thin(values: Sequence[float], n: int) -> list[float]:
    if len(values) <= n:
        return list(values)
    stride = (len(values) - 1) / (n - 1)
    return [values[round(i * stride)] for i in range(n)]

