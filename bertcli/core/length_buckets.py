"""`evaluate --by-length`: the score of a model per token-length bucket, with its interval, how much of each
bucket truncation cut, and the finding when a bucket that holds many examples is weaker than the rest.

The score is accuracy with two labels and macro F1 with more (a rare label's errors count there). Buckets
are ≤128, 129–256, 257–512 and >512 tokens (specials included, nothing cut) unless most examples fall in one
of them; then the quartiles of the data's lengths are the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.findings import Finding

if TYPE_CHECKING:
    from bertcli.core.inference.classify import Prediction

DEFAULT_EDGES = (128, 256, 512)
# The default buckets give way to quartiles when one of them holds this share of the examples.
ONE_BUCKET_SHARE = 0.8
# A bucket holding this share of the examples is large enough to matter on its own.
LARGE_SHARE = 0.2
# Fewer examples than this in a bucket: no warning is drawn from it, however large its share.
MIN_BUCKET = 20


@dataclass
class LengthBucket:
    low: int  # tokens, inclusive
    high: int | None  # tokens, inclusive; None for the open last bucket
    count: int
    share: float  # of the examples scored
    score: float  # the report's metric on this bucket
    interval: dict[str, float] | None  # 95% bootstrap interval of the score
    accuracy: float
    macro_f1: float
    truncated: int  # examples of this bucket longer than the model's max length and cut
    truncated_share: float
    rest_score: float | None  # the metric on every other bucket together

    @property
    def name(self) -> str:
        if self.high is None:
            return f">{self.low - 1}"
        if self.low <= 1:
            return f"≤{self.high}"
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


@dataclass
class LengthReport:
    metric: str  # accuracy or macro F1
    edges: list[int]
    edges_from: str  # "default" or "quartiles"
    max_length: int
    truncation: str
    buckets: list[LengthBucket]
    findings: list[Finding] = field(default_factory=list)


def bucket_edges(lengths: Sequence[int]) -> tuple[list[int], str]:
    """The upper edges of the buckets (the last bucket is open) and where they come from."""
    import numpy as np

    values = np.asarray(lengths)
    if values.size == 0:
        return list(DEFAULT_EDGES), "default"
    bounds = [0, *DEFAULT_EDGES, None]
    counts = [int(((values > lo) & ((values <= hi) if hi is not None else True)).sum()) for lo, hi in zip(bounds, bounds[1:])]
    if max(counts) < ONE_BUCKET_SHARE * values.size:
        return list(DEFAULT_EDGES), "default"
    quartiles = np.quantile(values, [0.25, 0.5, 0.75], method="inverted_cdf")
    edges = sorted({int(q) for q in quartiles if int(q) < int(values.max())})
    return edges, "quartiles"


def score_by_length(
    predictions: Sequence[Prediction],
    gold: Sequence[int],
    n_labels: int,
    *,
    max_length: int,
    truncation: str,
    seed: int = 0,
    edges: Sequence[int] | None = None,
) -> LengthReport:
    """The metric, its interval and the cut share per length bucket of the classified examples."""
    import numpy as np

    from bertcli.core import metrics
    from bertcli.core.significance import bootstrap_intervals

    kept = [(p, g) for p, g in zip(predictions, gold) if p.error is None]
    lengths = np.array([p.n_tokens or 0 for p, _ in kept], dtype=np.int64)
    y = np.array([g for _, g in kept], dtype=np.int64)
    pred = np.array([p.label_id for p, _ in kept], dtype=np.int64)
    cut = np.array([bool(p.truncated) for p, _ in kept])
    chosen, source = (list(edges), "given") if edges is not None else bucket_edges(lengths.tolist())
    key, metric = ("accuracy", "accuracy") if n_labels == 2 else ("f1", "macro F1")

    def score(mask: Any) -> float:
        if key == "accuracy":
            return float((y[mask] == pred[mask]).mean())
        return float(metrics.precision_recall_f1(y[mask], pred[mask], n_labels)["macro"]["f1"])

    buckets = []
    bounds = [0, *chosen, None]
    for lo, hi in zip(bounds, bounds[1:]):
        mask = (lengths > lo) & ((lengths <= hi) if hi is not None else True)
        count = int(mask.sum())
        if count == 0:
            continue
        ci = bootstrap_intervals(y[mask], pred[mask], None, n_labels, seed=seed)[key]
        rest = ~mask
        buckets.append(
            LengthBucket(
                low=lo + 1, high=hi, count=count, share=count / len(kept), score=score(mask),
                interval=None if ci is None else {"low": ci.low, "high": ci.high},
                accuracy=float((y[mask] == pred[mask]).mean()),
                macro_f1=float(metrics.precision_recall_f1(y[mask], pred[mask], n_labels)["macro"]["f1"]),
                truncated=int(cut[mask].sum()), truncated_share=float(cut[mask].mean()),
                rest_score=score(rest) if rest.any() else None,
            )
        )
    return LengthReport(metric=metric, edges=chosen, edges_from=source, max_length=max_length, truncation=truncation,
                        buckets=buckets)


def length_findings(report: LengthReport, fix_flags: dict[str, Any], debug_flags: dict[str, Any]) -> list[Finding]:
    """A large bucket whose interval lies below the rest's score is a finding, with what to run about it;
    otherwise one line saying which bucket is weakest and that it is within noise of the rest."""
    from bertcli.core.commands import bertcli_command

    scored = [b for b in report.buckets if b.rest_score is not None and b.interval]
    below = [b for b in scored if b.interval["high"] < b.rest_score]
    weak = [b for b in below if b.share >= LARGE_SHARE and b.count >= MIN_BUCKET]
    lengths = "token lengths of the training texts and the --max-length that keeps them whole: " + bertcli_command(
        "debug data", debug_flags
    )
    findings = []
    for b in weak:
        evidence = [
            f"{b.count:,} examples ({b.share:.0%}) are {b.name} tokens long: {report.metric} {b.score:.3f} "
            f"(95% CI {b.interval['low']:.3f}–{b.interval['high']:.3f}) against {b.rest_score:.3f} on the others",
            f"{b.truncated_share:.0%} of them were cut at --max-length {report.max_length} ({report.truncation})",
            lengths,
        ]
        fix = None
        if b.truncated_share >= 0.5 and report.truncation != "sliding":
            fix = bertcli_command("evaluate", fix_flags, truncation="sliding", by_length=True)
            fix += "  # reads all of each long text in windows; if it helps, train with --truncation sliding"
        elif b.truncated_share >= 0.5:
            evidence.append("they are read whole already (sliding windows): more training examples this long are the lever")
        else:
            evidence.append("they are not cut: more training examples of this length are the lever")
        findings.append(
            Finding("weak-length-bucket", "warning",
                    f"texts of {b.name} tokens ({b.share:.0%} of the examples) score {b.score:.3f} {report.metric}, "
                    f"below the {b.rest_score:.3f} of the rest", evidence, fix)
        )
    for b in below:
        if b not in weak:
            findings.append(
                Finding("length", "info",
                        f"texts of {b.name} tokens score {b.score:.3f} {report.metric} (95% CI {b.interval['low']:.3f}–"
                        f"{b.interval['high']:.3f}), below the {b.rest_score:.3f} of the rest, but they are only "
                        f"{b.count:,} examples ({b.share:.0%})", [f"{b.truncated_share:.0%} of them were cut", lengths])
            )
    if not below and scored:
        low = min(scored, key=lambda b: b.score)
        findings.append(
            Finding("length", "info",
                    f"no length bucket is clearly weaker than the rest: the lowest, {low.name} tokens ({low.count:,} examples), "
                    f"scores {low.score:.3f} (95% CI {low.interval['low']:.3f}–{low.interval['high']:.3f}) against "
                    f"{low.rest_score:.3f} on the others", [lengths])
        )
    small = [b for b in report.buckets if b.interval is None]
    if small:
        from bertcli.core.significance import MIN_EXAMPLES_FOR_INTERVAL

        names = ", ".join(f"{b.name} ({b.count:,})" for b in small)
        findings.append(
            Finding("length", "info",
                    f"too few examples for an interval in {len(small)} length bucket(s): {names} — each needs "
                    f"{MIN_EXAMPLES_FOR_INTERVAL}; evaluate more examples (--size all) to compare them", [lengths])
        )
    return findings
