"""A sweep's summary: each variant's mean ± spread over seeds, and an exact McNemar test against the first
variant on the pooled (review, seed) pairs — within a seed both runs saw the same eval reviews."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bertcli.core.jsondata import plain
from bertcli.core.significance import exact_mcnemar, p_text
from bertcli.core.sweep.plan import SweepPlan
from bertcli.core.sweep.records import RunResult

SUMMARY_FILE = "sweep.json"  # in the sweep folder: the table's data


@dataclass
class Spread:
    mean: float
    std: float | None  # sample standard deviation over seeds; None with one seed
    low: float
    high: float
    values: list[float]


@dataclass
class Comparison:
    """A variant against the baseline: exact McNemar over the (review, seed) pairs both scored."""

    verdict: str
    p_value: float
    pairs: int
    only_baseline_right: int
    only_variant_right: int
    delta_accuracy: float  # variant - baseline, on those pairs

    def describe(self) -> str:
        p = p_text(self.p_value)
        return f"{self.verdict} (p {p})" if p.startswith("<") else f"{self.verdict} (p = {p})"


@dataclass
class VariantSummary:
    index: int
    name: str
    values: dict[str, Any]
    runs: list[RunResult]
    accuracy: Spread | None
    f1: Spread | None
    train_seconds: Spread | None
    versus_baseline: Comparison | None


@dataclass
class SweepReport:
    output_dir: Path
    base: dict[str, Any]
    axes: dict[str, list[Any]]
    seeds: list[int]
    variants: list[VariantSummary]
    eval_split: str | None
    eval_examples: int | None
    trained: int
    skipped: int
    resumed: int
    wall_seconds: float
    notes: list[str] = field(default_factory=list)


def spread(values: Sequence[float | None]) -> Spread | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else None
    return Spread(mean, std, min(vals), max(vals), vals)


def _by_review(result: RunResult) -> dict[tuple[int, str], bool]:
    return {(i, h): c for i, (h, c) in enumerate(zip(result.reviews, result.correct)) if c is not None}


def compare(baseline: Sequence[RunResult], variant: Sequence[RunResult]) -> Comparison | None:
    """Exact McNemar of `variant` against `baseline`, pooled over the seeds both have: within a seed, both runs
    were scored on the same eval reviews (the same draw), so each (review, seed) is one pair."""
    ref_right: list[bool] = []
    new_right: list[bool] = []
    base_by_seed = {r.seed: r for r in baseline}
    for result in variant:
        ref = base_by_seed.get(result.seed)
        if ref is None:
            continue
        a, b = _by_review(ref), _by_review(result)
        for key in sorted(a.keys() & b.keys()):
            ref_right.append(a[key])
            new_right.append(b[key])
    if not ref_right:
        return None
    test = exact_mcnemar(ref_right, new_right)
    delta = (sum(new_right) - sum(ref_right)) / len(ref_right)
    return Comparison(test.verdict, test.p_value, len(ref_right), test.only_reference_right, test.only_model_right, delta)


def summarize(plan: SweepPlan, results: Sequence[RunResult], *, wall_seconds: float = 0.0) -> SweepReport:
    variants = []
    baseline = [r for r in results if r.variant == 0]
    for index, (name, values) in enumerate(plan.variants):
        runs = sorted((r for r in results if r.variant == index), key=lambda r: plan.seeds.index(r.seed))
        variants.append(
            VariantSummary(
                index=index, name=name, values=values, runs=runs,
                accuracy=spread([r.accuracy for r in runs]), f1=spread([r.f1 for r in runs]),
                train_seconds=spread([r.train_seconds for r in runs]),
                versus_baseline=compare(baseline, runs) if index > 0 else None,
            )
        )
    examples = sorted({r.examples for r in results})
    notes = list(plan.notes)
    if len(examples) > 1:
        notes.append(f"runs were scored on {', '.join(map(str, examples))} eval examples: their seeds drew different sizes")
    return SweepReport(
        output_dir=plan.output_dir, base=plan.base, axes=plan.axes, seeds=plan.seeds, variants=variants,
        eval_split=next((r.eval_split for r in results), None), eval_examples=examples[0] if examples else None,
        trained=sum(not r.skipped for r in results), skipped=sum(r.skipped for r in results),
        resumed=sum(r.resumed and not r.skipped for r in results), wall_seconds=wall_seconds, notes=notes,
    )


def report_as_dict(report: SweepReport) -> dict[str, Any]:
    """The summary as plain JSON: folders relative to the sweep folder, no per-review data."""
    return {
        "output_dir": str(report.output_dir),
        "base": plain(report.base),
        "axes": report.axes,
        "seeds": report.seeds,
        "eval_split": report.eval_split,
        "eval_examples": report.eval_examples,
        "spread": "std is the sample standard deviation over seeds",
        "test": "exact McNemar against the first variant, pooled over (example, seed) pairs; p < 0.05",
        "variants": [_variant_dict(v, report.output_dir) for v in report.variants],
        "runs": {"total": sum(len(v.runs) for v in report.variants), "trained": report.trained,
                 "skipped": report.skipped, "resumed": report.resumed},
        "wall_seconds": round(report.wall_seconds, 1),
        "notes": report.notes,
    }


def _variant_dict(v: VariantSummary, out: Path) -> dict[str, Any]:
    return {
        "name": v.name,
        "values": v.values,
        "accuracy": _spread_dict(v.accuracy),
        "f1": _spread_dict(v.f1),
        "train_seconds": _spread_dict(v.train_seconds),
        "versus_baseline": None if v.versus_baseline is None else {
            **asdict(v.versus_baseline), "describe": v.versus_baseline.describe()},
        "runs": [
            {"seed": r.seed, "folder": _relative(r.folder, out), "accuracy": r.accuracy, "f1": r.f1,
             "examples": r.examples, "train_seconds": r.train_seconds, "global_step": r.global_step,
             "resumed": r.resumed}
            for r in v.runs
        ],
    }


def _spread_dict(s: Spread | None) -> dict[str, Any] | None:
    return None if s is None else {"mean": s.mean, "std": s.std, "min": s.low, "max": s.high, "values": s.values}


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()
