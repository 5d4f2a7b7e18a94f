"""Turn texts into token ids once, without padding, keeping the head, the tail or both of long texts."""

from __future__ import annotations

from typing import Any, Sequence

from bertcli.core.errors import ModelError, UsageError

TRUNCATIONS = ("head", "tail", "head+tail")
# Sun et al. (2019): at 512 tokens, the first 128 and the last 382 work best on IMDb.
HEAD_SHARE = 128 / 510


def check_truncation(truncation: str) -> str:
    value = truncation.strip().lower().replace(" ", "")
    if value not in TRUNCATIONS:
        raise UsageError(f"--truncation takes one of {', '.join(TRUNCATIONS)}, not '{truncation}'")
    return value


def keep_tokens(ids: Sequence[int], budget: int, truncation: str) -> list[int]:
    """The tokens of one text that fit in `budget`, chosen by the truncation strategy."""
    if len(ids) <= budget:
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
    encoded = tokenizer(
        [str(t) for t in texts],
        add_special_tokens=False,
        truncation=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )["input_ids"]
    input_ids, n_tokens = [], []
    for ids in encoded:
        n_tokens.append(len(ids) + 2)
        input_ids.append([cls_id, *keep_tokens(ids, budget, truncation), sep_id])
    return {"input_ids": input_ids, "n_tokens": n_tokens}


def tokenize_dataset(ds: Any, tokenizer: Any, max_length: int, truncation: str, batch_size: int = 1000) -> Any:
    """A datasets.Dataset with input_ids, length (the kept length) and n_tokens next to its labels."""

    def _batch(batch: dict[str, list]) -> dict[str, list]:
        out = encode_texts(tokenizer, batch["text"], max_length, truncation)
        out["length"] = [len(ids) for ids in out["input_ids"]]
        return out

    return ds.map(_batch, batched=True, batch_size=batch_size, desc="Tokenizing")
