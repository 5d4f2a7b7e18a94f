"""What `bertcli debug` reports: findings with a severity, the evidence and the command that fixes them.

The diagnoses themselves live beside this module: `diagnose_run` (a trainer state and its checkpoints),
`diagnose_data` (a dataset under a tokenizer) and `diagnose_model` (a model and its tokenizer).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Sequence

LEVELS = ("error", "warning", "info")


@dataclass
class Diagnosis:
    """One finding: what is wrong (or fine), the numbers that show it, and what to run about it."""

    code: str
    level: str  # error / warning / info
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: str | None = None


def has_errors(findings: Sequence[Diagnosis]) -> bool:
    return any(f.level == "error" for f in findings)


def count_levels(findings: Sequence[Diagnosis]) -> dict[str, int]:
    return {level: sum(1 for f in findings if f.level == level) for level in LEVELS}


def sort_findings(findings: Sequence[Diagnosis]) -> list[Diagnosis]:
    """Errors first, then warnings, then information; the order within a level is kept."""
    return sorted(findings, key=lambda f: LEVELS.index(f.level) if f.level in LEVELS else len(LEVELS))


def json_safe(value: Any) -> Any:
    """Plain JSON data: non-finite floats become null, tuples lists, paths strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """The value below which `share` of the (already sorted) values lie; nearest-rank, no interpolation."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None with fewer than 3 pairs or no spread."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        for i in range(start, end + 1):
            ranks[order[i]] = mean_rank
        start = end + 1
    return ranks


def size_text(n: int | float | None) -> str:
    """Bytes as people read them in a finding: 1.3 GB, 440.2 MB, 16 B (decimal units)."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
