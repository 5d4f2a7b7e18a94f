"""What `bertcli debug` reports: findings with a severity, the evidence and the command that fixes them.

`chance` (an accuracy against a classifier that learned nothing), `stats` (percentiles, rank correlation)
and `model` (`debug model`: a model and its tokenizer) live in this package; the names below are the ones
the diagnoses of runs and data import from it.
"""

from bertcli.core.diagnose.chance import (
    CHANCE_MARGIN,
    CHANCE_P_VALUE,
    ChanceCheck,
    ChanceRate,
    binomial_tail,
    chance_from_counts,
    check_chance,
    positive_share_from_metrics,
)
from bertcli.core.diagnose.stats import percentile, rank_correlation
from bertcli.core.findings import LEVELS, Finding, count_levels, has_errors, sort_findings
from bertcli.core.formatting import size_text
from bertcli.core.jsondata import plain as json_safe

Diagnosis = Finding  # the name debug used before findings had one shape; goes when every module says Finding
