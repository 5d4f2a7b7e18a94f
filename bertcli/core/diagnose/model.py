"""`bertcli debug model`: does this model fit its tokenizer, its labels and its inputs — and can it learn at all?

Static checks (vocabulary, label maps, position embeddings) and two active ones: one backward pass
to find parameters that receive no gradient, and the classic sanity test of overfitting one small
batch — a pipeline that cannot drive the loss on 8 examples to near zero cannot learn a dataset.
The findings read from the results are in `model_findings`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Sequence

from bertcli.core.diagnose.model_findings import GradientCheck, ModelDiagnosis, OverfitCheck, model_findings
from bertcli.core.errors import UsageError
from bertcli.core.findings import sort_findings
from bertcli.core.jsondata import plain

# A long step's progress for the caller to show: (phase, done, total or None, detail).
OnProgress = Callable[[str, int, "int | None", str], None]

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
    data_flags: dict[str, Any] | None = None,
) -> ModelDiagnosis:
    """Load the tokenizer and classifier as `bertcli train` would and check they fit together and can learn."""
    if overfit_steps < 1:
        raise UsageError(f"--overfit-steps takes 1 or more, not {overfit_steps}")
    if not (overfit_lr > 0 and math.isfinite(overfit_lr)):
        raise UsageError(f"--overfit-lr must be above 0, not {overfit_lr}")
    if batch_size < 2:
        raise UsageError(f"--batch-size takes 2 or more for the overfit check, not {batch_size}")
    from bertcli.core.model import load_classifier, load_tokenizer

    if on_progress is not None:
        on_progress("loading the model", 0, None, "")
    tokenizer = load_tokenizer(name_or_path)
    model = load_classifier(name_or_path, list(labels) if labels else None)
    d = describe_model(name_or_path, model, tokenizer, max_length)
    d.data_flags = dict(data_flags or {})
    if active and d.tokenizer_vocab <= d.embedding_rows and d.num_labels >= 2:
        import torch

        length = min(max_length, d.max_position_embeddings or max_length)
        batch = list(texts)[: max(batch_size, len(texts))] if texts else list(SANITY_TEXTS)[:batch_size]
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
    d.findings = sort_findings(model_findings(d, labels))
    return d


def describe_model(name_or_path: str, model: Any, tokenizer: Any, max_length: int) -> ModelDiagnosis:
    """What the static checks read: sizes, special tokens, label maps and length limits (no checks run yet)."""
    from bertcli.core.model import count_parameters

    config = model.config
    architectures = getattr(config, "architectures", None) or []
    tok_limit = getattr(tokenizer, "model_max_length", None)
    return ModelDiagnosis(
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
        max_position_embeddings=getattr(config, "max_position_embeddings", None),
        tokenizer_max_length=tok_limit if isinstance(tok_limit, int) and tok_limit < 100_000 else None,
        max_length=max_length,
        gradients=None,
        overfit=None,
    )


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


def recorded_data(model: str | None, text_column: str, label_column: str) -> tuple[str | None, str, str, list[str] | None]:
    """The dataset (its columns and label names) a trained model's bertcli.json names, where it is here to read:
    a local path that exists, or the bundled sample; (None, the columns given, None) otherwise. Columns given win."""
    from pathlib import Path

    from bertcli.core.defaults import SAMPLE_DATASET
    from bertcli.core.runs.manifest import RunManifest

    manifest = RunManifest.read(Path(model).expanduser()) if model and Path(model).expanduser().is_dir() else None
    record = manifest.recorded if manifest is not None else None
    dataset = record.dataset if record is not None else None
    if not dataset or not (dataset == SAMPLE_DATASET or Path(dataset).expanduser().exists()):
        return None, text_column, label_column, None
    return (
        dataset,
        text_column if text_column != "text" else record.text_column or text_column,
        label_column if label_column != "label" else record.label_column or label_column,
        record.label_names,
    )


# The most examples the one-batch check takes to show every class once.
MAX_CHECK_BATCH = 128


def sample_batch(
    source: str, text_column: str, label_column: str, size: int, seed: int, label_names: Sequence[str] | None = None
) -> tuple[list[tuple[str, int]], list[str]]:
    """`size` labelled examples from the train split of a dataset, one of every class first (the batch grows to
    the number of classes, up to MAX_CHECK_BATCH), then alternating labels."""
    from bertcli.core.data import load_labelled_data

    data = load_labelled_data(
        source, train_size=None, eval_size=2, seed=seed, text_column=text_column, label_column=label_column,
        label_names=list(label_names) if label_names else None,
    )
    size = max(size, min(len(data.label_names), MAX_CHECK_BATCH))
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



def model_diagnosis_to_dict(d: ModelDiagnosis) -> dict[str, Any]:
    return plain(d)
