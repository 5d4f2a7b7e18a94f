"""`bertcli debug model`: does this model fit its tokenizer, its labels and its inputs — and can it learn at all?

Static checks (vocabulary, label maps, position embeddings) and two active ones: one backward pass
to find parameters that receive no gradient, and the classic sanity test of overfitting one small
batch — a pipeline that cannot drive the loss on 8 examples to near zero cannot learn a dataset.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

# A long step's progress for the caller to show: (phase, done, total or None, detail).
OnProgress = Callable[[str, int, "int | None", str], None]

from bertcli.core.commands import bertcli_command
from bertcli.core.diagnose import Diagnosis, json_safe, sort_findings
from bertcli.core.errors import UsageError

GENERIC_LABEL_RE = re.compile(r"^LABEL_\d+$")
# A batch any English WordPiece vocabulary covers; positive and negative alternate.
SANITY_TEXTS = (
    ("a wonderful film with brilliant acting and a moving story", 1),
    ("a terrible film with awful acting and a boring story", 0),
    ("i thought the music was superb and the ending charming", 1),
    ("i thought the music was dull and the ending painful", 0),
    ("the cast was great and the script really excellent", 1),
    ("the cast was bad and the script really dreadful", 0),
    ("this movie was delightful quite brilliant and very moving", 1),
    ("this movie was clumsy quite boring and very dull", 0),
)


@dataclass
class OverfitCheck:
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
    trainable: int
    frozen: list[str]
    no_gradient: list[str]  # trainable parameters whose gradient is missing or all zero after one backward pass
    head: list[str]  # the classification head's parameters


@dataclass
class ModelDiagnosis:
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
    findings: list[Diagnosis] = field(default_factory=list)


def diagnose_model(
    name_or_path: str,
    *,
    max_length: int = 512,
    labels: Sequence[str] | None = None,
    texts: Sequence[tuple[str, int]] | None = None,
    texts_source: str = "built-in sentences",
    overfit_steps: int = 50,
    overfit_lr: float = 1e-4,
    target_loss: float = 0.05,
    batch_size: int = 8,
    seed: int = 42,
    active: bool = True,
    on_progress: OnProgress | None = None,
) -> ModelDiagnosis:
    """Load the tokenizer and classifier as `bertcli train` would and check they fit together and can learn."""
    if overfit_steps < 1:
        raise UsageError(f"--overfit-steps takes 1 or more, not {overfit_steps}")
    if not (overfit_lr > 0 and math.isfinite(overfit_lr)):
        raise UsageError(f"--overfit-lr must be above 0, not {overfit_lr}")
    if batch_size < 2:
        raise UsageError(f"--batch-size takes 2 or more for the overfit check, not {batch_size}")
    from bertcli.core.model import count_parameters, load_classifier, load_tokenizer

    if on_progress is not None:
        on_progress("loading the model", 0, None, "")
    tokenizer = load_tokenizer(name_or_path)
    model = load_classifier(name_or_path, list(labels) if labels else None)
    config = model.config
    architectures = getattr(config, "architectures", None) or []
    limit = getattr(config, "max_position_embeddings", None)
    tok_limit = getattr(tokenizer, "model_max_length", None)
    d = ModelDiagnosis(
        model=name_or_path,
        architecture=architectures[0] if architectures else None,
        model_type=getattr(config, "model_type", None),
        parameters=count_parameters(model),
        head_is_new=not any("ForSequenceClassification" in a for a in architectures),
        tokenizer_class=type(tokenizer).__name__,
        tokenizer_vocab=len(tokenizer),
        embedding_rows=model.get_input_embeddings().num_embeddings,
        config_vocab=getattr(config, "vocab_size", None),
        special_tokens={
            name: getattr(tokenizer, f"{name}_token_id", None) for name in ("cls", "sep", "pad", "unk", "mask")
        },
        num_labels=config.num_labels,
        id2label={str(k): str(v) for k, v in (config.id2label or {}).items()},
        label2id={str(k): int(v) for k, v in (config.label2id or {}).items()},
        problem_type=getattr(config, "problem_type", None),
        max_position_embeddings=limit,
        tokenizer_max_length=tok_limit if isinstance(tok_limit, int) and tok_limit < 100_000 else None,
        max_length=max_length,
        gradients=None,
        overfit=None,
    )
    vocab_ok = d.tokenizer_vocab <= d.embedding_rows
    if active and vocab_ok and d.num_labels >= 2:
        import torch

        length = min(max_length, limit or max_length)
        batch = list(texts or SANITY_TEXTS)[:batch_size]
        if texts is None:
            batch = [(text, label % d.num_labels) for text, label in batch]
        threads = torch.get_num_threads()
        torch.set_num_threads(threads_for_small_work(threads))
        try:
            if on_progress is not None:
                on_progress("gradient check", 0, None, "")
            d.gradients = check_gradient_flow(model, tokenizer, batch, length, seed)
            d.overfit = overfit_one_batch(
                model, tokenizer, batch, length, steps=overfit_steps, lr=overfit_lr, target=target_loss, seed=seed,
                source=texts_source, on_progress=on_progress,
            )
        finally:
            torch.set_num_threads(threads)
    d.findings = sort_findings(model_diagnoses(d, labels))
    return d


def threads_for_small_work(threads: int) -> int:
    """CPU threads for a few small steps: no more than the cores other processes leave idle.

    On a busy machine, threads that wait for each other make one small step several times slower.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return threads
    idle = int((os.cpu_count() or 1) - load + 0.5)
    return max(1, min(threads, idle))


def _batch_tensors(tokenizer: Any, batch: Sequence[tuple[str, int]], max_length: int) -> dict[str, Any]:
    import torch

    from bertcli.core.encoding import encode_texts

    ids = encode_texts(tokenizer, [t for t, _ in batch], max_length, "head")["input_ids"]
    padded = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    padded["labels"] = torch.tensor([label for _, label in batch], dtype=torch.long)
    return dict(padded)


def check_gradient_flow(model: Any, tokenizer: Any, batch: Sequence[tuple[str, int]], max_length: int, seed: int) -> GradientCheck:
    """One forward and backward pass; which trainable parameters got no gradient, and which are frozen."""
    import torch

    torch.manual_seed(seed)
    model.train()
    model.zero_grad(set_to_none=True)
    out = model(**_batch_tensors(tokenizer, batch, max_length))
    out.loss.backward()
    frozen, missing, trainable = [], [], 0
    for name, param in model.named_parameters():
        if not param.requires_grad:
            frozen.append(name)
            continue
        trainable += 1
        if param.grad is None or not bool(torch.any(param.grad != 0)):
            missing.append(name)
    model.zero_grad(set_to_none=True)
    head = [name for name, _ in model.named_parameters() if _is_head(model, name)]
    return GradientCheck(trainable, frozen, missing, head)


def _is_head(model: Any, name: str) -> bool:
    prefix = getattr(model, "base_model_prefix", "")
    return not (prefix and name.startswith(prefix + "."))


def overfit_one_batch(
    model: Any,
    tokenizer: Any,
    batch: Sequence[tuple[str, int]],
    max_length: int,
    *,
    steps: int,
    lr: float,
    target: float,
    seed: int,
    source: str,
    on_progress: OnProgress | None = None,
) -> OverfitCheck:
    """Train on one fixed batch until the loss is below `target` or `steps` run out (AdamW, no decay)."""
    import torch

    torch.manual_seed(seed)
    started = time.perf_counter()
    inputs = _batch_tensors(tokenizer, batch, max_length)
    trainable = [p for p in model.parameters() if p.requires_grad]
    try:  # the fused kernel is many times faster on CPU; older builds and some devices lack it
        optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0, fused=True)
    except (RuntimeError, TypeError, ValueError):
        optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    model.train()
    losses: list[float] = []
    reached = None
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = model(**inputs).loss
        value = float(loss.detach())
        losses.append(value)
        if on_progress is not None:
            on_progress("overfit", step, steps, f"loss {value:.4f}")
        if not math.isfinite(value):
            break
        if value < target:
            reached = step
            break
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}).logits
    accuracy = float((logits.argmax(-1) == inputs["labels"]).float().mean())
    return OverfitCheck(
        examples=len(batch),
        steps_run=len(losses),
        max_steps=steps,
        learning_rate=lr,
        target_loss=target,
        losses=losses,
        first_loss=losses[0],
        final_loss=losses[-1],
        reached_at=reached,
        accuracy=accuracy,
        seconds=time.perf_counter() - started,
        source=source,
    )


def sample_batch(source: str, text_column: str, label_column: str, size: int, seed: int) -> tuple[list[tuple[str, int]], list[str]]:
    """`size` labelled examples from the train split of a dataset, alternating labels where it can."""
    from bertcli.core.data import load_labelled_data

    data = load_labelled_data(
        source, train_size=max(64, 8 * size), eval_size=2, seed=seed, text_column=text_column, label_column=label_column
    )
    by_label: dict[int, list[str]] = {}
    for text, label in zip(data.train["text"], data.train["label"]):
        bucket = by_label.setdefault(label, [])
        if len(bucket) < size:
            bucket.append(text)
        if len(by_label) >= len(data.label_names) and all(len(v) >= size for v in by_label.values()):
            break
    batch = []
    while len(batch) < size and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(batch) < size:
                batch.append((by_label[label].pop(0), label))
    return batch, data.label_names


# --- the findings ----------------------------------------------------------------------------------------------


def model_diagnoses(d: ModelDiagnosis, labels: Sequence[str] | None) -> list[Diagnosis]:
    findings = _vocab_findings(d) + _label_findings(d, labels) + _length_findings(d, labels)
    if d.gradients is not None:
        findings += _gradient_findings(d.gradients)
    if d.overfit is not None:
        findings += _overfit_findings(d, d.overfit, labels)
    return findings


def _model_flags(d: ModelDiagnosis, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """The model, --max-length (when not the default 512) and --labels the user gave, as flags."""
    return {
        "--model": d.model,
        "--max-length": d.max_length if d.max_length != 512 else None,
        "--labels": ",".join(labels) if labels else None,
    }


def _train_with_labels(d: ModelDiagnosis, labels: Sequence[str] | None, comment: str) -> str:
    """`bertcli train` on the model with the --labels the user gave; without them, none is guessed: names
    that are not the data's would leave no labelled example, and train takes the data's own."""
    if not labels:
        comment += "; bertcli train takes the label names from the data (--labels sets them, in id order)"
    return f"{bertcli_command('train', _model_flags(d, labels))}  # {comment}"


def _vocab_findings(d: ModelDiagnosis) -> list[Diagnosis]:
    findings = []
    sizes = f"tokenizer {d.tokenizer_class} has {d.tokenizer_vocab:,} tokens; the model's embedding has {d.embedding_rows:,} rows"
    if d.tokenizer_vocab > d.embedding_rows:
        findings.append(
            Diagnosis(
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
            Diagnosis(
                "vocab_mismatch",
                "warning",
                f"the model has {d.embedding_rows - d.tokenizer_vocab:,} more embedding rows than the tokenizer has tokens: "
                "the tokenizer may belong to another model",
                [sizes],
                "use the tokenizer saved with the model (the same --model folder)",
            )
        )
    else:
        findings.append(Diagnosis("vocab", "info", f"vocabularies match: {sizes}"))
    missing = [name for name in ("cls", "sep", "pad") if d.special_tokens.get(name) is None]
    out_of_range = [
        f"{name} = {tid}" for name, tid in d.special_tokens.items() if tid is not None and not 0 <= tid < d.embedding_rows
    ]
    if missing or out_of_range:
        findings.append(
            Diagnosis(
                "special_tokens",
                "error",
                "special tokens bertcli needs are missing or outside the embedding",
                [f"missing: {', '.join(f'[{m.upper()}]' for m in missing)}" if missing else "", *out_of_range],
                "use a BERT-family model and its own tokenizer (--model)",
            )
        )
    return findings


def _label_findings(d: ModelDiagnosis, labels: Sequence[str] | None) -> list[Diagnosis]:
    findings = []
    names = [d.id2label.get(str(i)) for i in range(d.num_labels)]
    shown = f"num_labels {d.num_labels}; id2label {d.id2label}; label2id {d.label2id}"
    if d.num_labels < 2:
        findings.append(
            Diagnosis(
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
            Diagnosis(
                "label_maps",
                "error",
                "the label maps do not agree: " + "; ".join(problems),
                [shown],
                _train_with_labels(d, labels, "writes consistent label maps"),
            )
        )
    if d.problem_type == "multi_label_classification":
        findings.append(
            Diagnosis(
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
            Diagnosis(
                "generic_labels",
                level,
                f"labels are the placeholders {', '.join(names)}: predictions will read {names[0]} / {names[1]} instead of names"
                + (" (the head is new, so training sets them)" if d.head_is_new else ""),
                [shown],
                _train_with_labels(d, labels, "the head learns with named labels"),
            )
        )
    elif d.num_labels >= 2 and not problems:
        findings.append(Diagnosis("labels", "info", f"{d.num_labels} labels: {', '.join(str(n) for n in names)}"))
    if d.head_is_new:
        findings.append(
            Diagnosis(
                "new_head",
                "info",
                f"{d.architecture or d.model_type} has no trained classification head: bertcli adds a randomly initialised one",
                ["fine to fine-tune; its predictions are chance until then"],
            )
        )
    if labels and not d.head_is_new and d.architecture and len(labels) != d.num_labels:
        findings.append(
            Diagnosis(
                "head_replaced",
                "warning",
                f"--labels names {len(labels)} labels but the trained head has {d.num_labels}: training replaces the head",
                [shown],
            )
        )
    return findings


def _length_findings(d: ModelDiagnosis, labels: Sequence[str] | None = None) -> list[Diagnosis]:
    findings = []
    limit = d.max_position_embeddings
    if limit is None:
        return [Diagnosis("positions", "info", "the config has no max_position_embeddings: no length limit to check")]
    if d.max_length > limit:
        findings.append(
            Diagnosis(
                "max_length",
                "error",
                f"--max-length {d.max_length} is longer than the model's {limit} position embeddings: longer inputs crash",
                [f"max_position_embeddings {limit}"],
                bertcli_command("train", _model_flags(d, labels), max_length=limit) + "  # the longest input its positions take",
            )
        )
    else:
        findings.append(
            Diagnosis("max_length", "info", f"--max-length {d.max_length} fits the model's {limit} position embeddings")
        )
    if d.tokenizer_max_length is not None and d.tokenizer_max_length > limit:
        findings.append(
            Diagnosis(
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


def _gradient_findings(g: GradientCheck) -> list[Diagnosis]:
    findings = []
    head_missing = [n for n in g.no_gradient if n in g.head]
    head_frozen = [n for n in g.frozen if n in g.head]
    if head_frozen or (g.head and len(head_missing) == len([n for n in g.head if n not in g.frozen])):
        findings.append(
            Diagnosis(
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
            Diagnosis(
                "no_gradient",
                "warning",
                f"{len(g.no_gradient)} of {g.trainable} trainable parameter tensors got no gradient in a backward pass",
                [shown, "they are not on the path from the input to the loss: weight decay still shrinks them"],
                "harmless when intended (an unused pooler); otherwise check the model class matches the checkpoint",
            )
        )
    else:
        findings.append(
            Diagnosis("gradients", "info", f"all {g.trainable} trainable parameter tensors receive a gradient")
        )
    if g.frozen and not head_frozen:
        findings.append(
            Diagnosis(
                "frozen",
                "info",
                f"{len(g.frozen)} parameter tensors are frozen (requires_grad=False)",
                [", ".join(g.frozen[:6]) + (" …" if len(g.frozen) > 6 else "")],
            )
        )
    return findings


def _overfit_findings(d: ModelDiagnosis, o: OverfitCheck, labels: Sequence[str] | None = None) -> list[Diagnosis]:
    curve = ", ".join(f"{v:.3f}" for v in _thin(o.losses, 8))
    evidence = [
        f"{o.examples} examples ({o.source}), AdamW lr {_lr(o.learning_rate)}, {o.steps_run} of {o.max_steps} steps, {o.seconds:.1f} s",
        f"loss by step: {curve}",
        f"accuracy on the batch afterwards: {o.accuracy:.0%}",
    ]
    if o.reached_at is not None:
        return [
            Diagnosis(
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
    return [Diagnosis("overfit_one_batch", level, summary, evidence, fix)]


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
        "--overfit-lr": _lr(lr) if overfit_lr is not None or lr != 1e-4 else None,
        "--target-loss": f"{o.target_loss:g}" if o.target_loss != 0.05 else None,
    }
    return bertcli_command("debug model", flags)


def _lr(value: float) -> str:
    mantissa, _, exponent = f"{value:.2e}".partition("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _thin(values: Sequence[float], n: int) -> list[float]:
    if len(values) <= n:
        return list(values)
    stride = (len(values) - 1) / (n - 1)
    return [values[round(i * stride)] for i in range(n)]


def model_diagnosis_to_dict(d: ModelDiagnosis) -> dict[str, Any]:
    return json_safe(asdict(d))
