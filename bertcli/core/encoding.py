"""Turn texts into token ids once, without padding, keeping the head, the tail or both of long texts, or
reading all of a long text as overlapping windows (`sliding`) whose logits are pooled at inference."""

from __future__ import annotations

from typing import Any, Sequence

from bertcli.core.errors import ModelError, UsageError

TRUNCATIONS = ("head", "tail", "head+tail", "sliding")
# Sun et al. (2019): at 512 tokens, the first 128 and the last 382 work best on IMDb.
HEAD_SHARE = 128 / 510
# How the logits of a text's windows become one: their mean, their maximum per label, or a mean weighted by the
# tokens each window adds to those before it (every token counted once).
POOLINGS = ("mean", "max", "weighted")
DEFAULT_POOLING = "mean"
# Without --stride, consecutive windows share a quarter of their length.
STRIDE_SHARE = 1 / 4


def check_truncation(truncation: str) -> str:
    value = truncation.strip().lower().replace(" ", "")
    if value not in TRUNCATIONS:
        raise UsageError(f"--truncation takes one of {', '.join(TRUNCATIONS)}, not '{truncation}'")
    return value


def default_stride(max_length: int) -> int:
    return int((max_length - 2) * STRIDE_SHARE)


def check_stride(stride: int | None, max_length: int) -> int:
    """The tokens consecutive windows share: --stride, or a quarter of a window; refused unless 0 <= stride < the window's text."""
    budget = max_length - 2
    value = default_stride(max_length) if stride is None else stride
    if not 0 <= value < budget:
        raise UsageError(
            f"--stride {value} must be at least 0 and less than the {budget} text tokens of a --max-length {max_length} "
            f"window — try --stride {default_stride(max_length)}"
        )
    return value


def check_pooling(pooling: str) -> str:
    value = pooling.strip().lower()
    if value not in POOLINGS:
        raise UsageError(f"--pooling takes one of {', '.join(POOLINGS)}, not '{pooling}'")
    return value


def window_spans(n: int, budget: int, stride: int) -> list[tuple[int, int]]:
    """(start, end) of the windows over a text of `n` tokens (specials not counted): each `budget` long, each
    sharing `stride` tokens with the one before, the last ending at the text's end; one window when it fits."""
    if n <= budget:
        return [(0, n)]
    step = budget - stride
    spans = []
    start = 0
    while start + budget < n:
        spans.append((start, start + budget))
        start += step
    spans.append((n - budget, n))
    return spans


def window_weights(spans: Sequence[tuple[int, int]]) -> list[int]:
    """The tokens each window adds to those before it (they sum to the text's length)."""
    weights, covered = [], 0
    for start, end in spans:
        weights.append(end - max(start, covered))
        covered = end
    return weights


def tokenize_bodies(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, whole, without specials."""
    return tokenizer(
        [str(t) for t in texts],
        add_special_tokens=False,
        truncation=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]


def keep_tokens(ids: Sequence[int], budget: int, truncation: str) -> list[int]:
    """The tokens of one text that fit in `budget`, chosen by the truncation strategy; all of them for `sliding`,
    whose windows are cut where the text is classified (bertcli.core.inference.classify)."""
    if len(ids) <= budget or truncation == "sliding":
        return list(ids)
    if truncation == "head":
        return list(ids[:budget])
    if truncation == "tail":
        return list(ids[len(ids) - budget :])
    head = round(budget * HEAD_SHARE)
    tail = budget - head
    return list(ids[:head]) + list(ids[len(ids) - tail :])


def special_ids(tokenizer: Any) -> tuple[int, int]:
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ModelError(
            f"tokenizer {type(tokenizer).__name__} has no [CLS]/[SEP] tokens — bertcli needs a BERT-family model"
        )
    return cls_id, sep_id


def encode_texts(
    tokenizer: Any, texts: Sequence[str], max_length: int, truncation: str = "head+tail"
) -> dict[str, list]:
    """Token ids for each text (specials added, no padding) and each text's full length in tokens.

    `n_tokens` is the untruncated length with specials, so callers can tell which texts were cut.
    """
    cls_id, sep_id = special_ids(tokenizer)
    budget = max_length - 2
    if budget < 1:
        raise UsageError(f"--max-length {max_length} leaves no room for text after [CLS] and [SEP]")
    input_ids, n_tokens = [], []
    for ids in tokenize_bodies(tokenizer, texts):
        n_tokens.append(len(ids) + 2)
        input_ids.append([cls_id, *keep_tokens(ids, budget, truncation), sep_id])
    return {"input_ids": input_ids, "n_tokens": n_tokens}


def encode_windows(tokenizer: Any, texts: Sequence[str], max_length: int, stride: int) -> dict[str, list]:
    """Every window of every text as one row: its token ids (specials added), the text it comes from (`text_index`)
    and that text's full length in tokens (`n_tokens`)."""
    cls_id, sep_id = special_ids(tokenizer)
    budget = max_length - 2
    stride = check_stride(stride, max_length)
    out: dict[str, list] = {"input_ids": [], "n_tokens": [], "text_index": []}
    for index, ids in enumerate(tokenize_bodies(tokenizer, texts)):
        for start, end in window_spans(len(ids), budget, stride):
            out["input_ids"].append([cls_id, *ids[start:end], sep_id])
            out["n_tokens"].append(len(ids) + 2)
            out["text_index"].append(index)
    return out


def tokenize_dataset(
    ds: Any, tokenizer: Any, max_length: int, truncation: str, batch_size: int = 1000, stride: int | None = None
) -> Any:
    """A datasets.Dataset with input_ids, length (the kept length) and n_tokens next to its labels.

    `sliding`: one row per window, each carrying its text's label (and other columns).
    """
    if truncation == "sliding":
        columns = list(ds.column_names)

        def _windows(batch: dict[str, list]) -> dict[str, list]:
            out = encode_windows(tokenizer, batch["text"], max_length, check_stride(stride, max_length))
            rows = out.pop("text_index")
            expanded = {name: [batch[name][i] for i in rows] for name in columns}
            return {**expanded, **out, "length": [len(ids) for ids in out["input_ids"]]}

        return ds.map(_windows, batched=True, batch_size=batch_size, remove_columns=columns, desc="Tokenizing windows")

    def _batch(batch: dict[str, list]) -> dict[str, list]:
        out = encode_texts(tokenizer, batch["text"], max_length, truncation)
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    return ds.map(_batch, batched=True, batch_size=batch_size, desc="Tokenizing")
