"""`debug data`'s token lengths: how long the train texts are under a model's tokenizer, and the --max-length
that keeps most of them whole. Texts are tokenized in batches, so 25,000 reviews take seconds."""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core.diagnose.stats import percentile
from bertcli.core.errors import BertCliError, DataError

# A long step's progress for the caller to show: (phase, done, total or None, detail).
OnProgress = Callable[[str, int, "int | None", str], None]

LENGTH_EDGES = (32, 64, 128, 256, 384, 512, 1024, 2048)
SUGGESTED_LENGTHS = (64, 128, 256, 384, 512)
COVERAGE_TARGET = 0.95
TOKENIZE_BATCH = 1000


@dataclass
class TokenLengths:
    split: str
    tokenizer: str
    texts: int
    max_length: int
    model_limit: int | None
    mean: float
    median: int
    p90: int
    p95: int
    p99: int
    longest: int
    histogram: list[dict[str, Any]]  # {"low", "high", "count"}; high None for the open last bin
    truncated: int
    truncated_share: float
    suggested_max_length: int
    suggested_coverage: float
    markup_tokens: int  # tokens spent on markup in this split
    markup_token_share: float


def phase_progress(on_progress: OnProgress | None, phase: str, total: int) -> Callable[[int], None] | None:
    """`on_progress` bound to one phase: called with the count done so far."""
    if on_progress is None:
        return None
    return lambda done: on_progress(phase, done, total, "")


def measure_token_lengths(
    split: str,
    texts: Sequence[str],
    tokenizer: Any,
    *,
    tokenizer_name: str,
    max_length: int,
    model_limit: int | None,
    markup: dict[str, int] | None = None,
    on_progress: OnProgress | None = None,
) -> TokenLengths:
    """Token counts (specials included, nothing cut) of the non-empty `texts` of a split, tokenized in batches."""
    from bertcli.core.encoding import encode_texts

    if not texts:
        raise DataError(f"split '{split}' has no non-empty text to tokenize")
    lengths: list[int] = []
    on_done = phase_progress(on_progress, f"tokenizing {split}", len(texts))
    for start in range(0, len(texts), TOKENIZE_BATCH):
        if on_done is not None:
            on_done(start)
        lengths += encode_texts(tokenizer, texts[start : start + TOKENIZE_BATCH], max_length, "head")["n_tokens"]
    if on_done is not None:
        on_done(len(texts))
    ordered = sorted(lengths)
    truncated = sum(1 for n in lengths if n > max_length)
    suggested = suggest_max_length(ordered, model_limit)
    markup_tokens = count_markup_tokens(tokenizer, markup or {})
    total_tokens = sum(lengths)
    return TokenLengths(
        split=split,
        tokenizer=short_name(tokenizer_name) if tokenizer_name else type(tokenizer).__name__,
        texts=len(lengths),
        max_length=max_length,
        model_limit=model_limit,
        mean=statistics.fmean(lengths),
        median=int(statistics.median_low(ordered)),
        p90=percentile(ordered, 0.90),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        longest=ordered[-1],
        histogram=length_histogram(lengths),
        truncated=truncated,
        truncated_share=truncated / len(lengths),
        suggested_max_length=suggested,
        suggested_coverage=share_within(ordered, suggested),
        markup_tokens=markup_tokens,
        markup_token_share=markup_tokens / total_tokens if total_tokens else 0.0,
    )


def length_histogram(lengths: Sequence[int]) -> list[dict[str, Any]]:
    """Texts per token-length bin (LENGTH_EDGES, then one open bin), empty bins at the top left out."""
    histogram = []
    low = 0
    for high in (*LENGTH_EDGES, None):
        count = sum(1 for n in lengths if n > low and (high is None or n <= high))
        histogram.append({"low": low + 1, "high": high, "count": count})
        if high is None:
            break
        low = high
    while histogram and histogram[-1]["count"] == 0 and len(histogram) > 1:
        histogram.pop()
    return histogram


def suggest_max_length(ordered: Sequence[int], model_limit: int | None) -> int:
    """The shortest usual --max-length (within the model's limit) that keeps COVERAGE_TARGET of the texts whole."""
    limit = model_limit or max(SUGGESTED_LENGTHS)
    candidates = [c for c in SUGGESTED_LENGTHS if c <= limit] or [limit]
    return next((c for c in candidates if share_within(ordered, c) >= COVERAGE_TARGET), candidates[-1])


def count_markup_tokens(tokenizer: Any, markup: dict[str, int]) -> int:
    """The tokens the markup found (form → occurrences) costs under `tokenizer`."""
    total = 0
    for form, occurrences in markup.items():
        probe = form.replace(" …>", ">")
        pieces = tokenizer(probe, add_special_tokens=False, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        total += len(pieces) * occurrences
    return total


def share_within(ordered: Sequence[int], limit: int) -> float:
    """The share of the (sorted) lengths at most `limit`."""
    return bisect.bisect_right(ordered, limit) / len(ordered)


def short_name(name_or_path: str) -> str:
    """A model named for people: the hub name, or the last two parts of a local path."""
    path = Path(name_or_path)
    if path.exists() and len(path.parts) > 2:
        return "/".join(path.parts[-2:])
    return name_or_path


def model_position_limit(name_or_path: str, tokenizer: Any = None) -> int | None:
    """The longest input the model takes: max_position_embeddings from its config, else the tokenizer's limit.

    Called after the tokenizer loaded from `name_or_path`, so a hub name has already been looked up."""
    try:
        from transformers import AutoConfig

        from bertcli.core.model import model_source

        target, _ = model_source(name_or_path)
        limit = getattr(AutoConfig.from_pretrained(target, trust_remote_code=False), "max_position_embeddings", None)
        if isinstance(limit, int) and limit > 0:
            return limit
    except (OSError, ValueError, KeyError, BertCliError):  # the tokenizer's limit is the fallback
        pass
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 100_000 else None
