"""The one shape of what `inspect-checkpoint` and `debug` report: a finding with a level, a sentence with the
numbers, the evidence behind it and the command that fixes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

LEVELS = ("error", "warning", "info")


@dataclass
class Finding:
    """One finding: what is wrong (or fine), the numbers that show it, and what to run about it.

    Every command's --json writes a finding as this object, its fields as they are named here:
    {"code": "overfitting", "level": "warning", "summary": "<one sentence>", "evidence": ["<line>", ...],
    "fix": "<a command to paste>" or null}.
    """

    code: str
    level: str  # error / warning / info
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: str | None = None


def has_errors(findings: Sequence[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


def count_levels(findings: Sequence[Finding]) -> dict[str, int]:
    return {level: sum(1 for f in findings if f.level == level) for level in LEVELS}


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; the order within a level is kept."""
    return sorted(findings, key=lambda f: LEVELS.index(f.level) if f.level in LEVELS else len(LEVELS))
