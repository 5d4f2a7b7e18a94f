"""The diagnoses' order statistics: a nearest-rank percentile (numpy's inverted_cdf) and Spearman's rank
correlation, against their definitions and scipy."""

import json
import math
import random

import pytest

from bertcli.core.diagnose.stats import percentile, rank_correlation


def nearest_rank(sorted_values, share):
    return sorted_values[min(max(1, math.ceil(share * len(sorted_values))), len(sorted_values)) - 1]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 20, 30, 99, 100, 1001])
def test_percentile_is_the_nearest_rank(n):
    rng = random.Random(n)
    floats = sorted(rng.random() for _ in range(n))
    ints = sorted(rng.randrange(0, 2000) for _ in range(n))
    for share in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0, rng.random()):
        assert percentile(floats, share) == nearest_rank(floats, share)
        assert percentile(ints, share) == nearest_rank(ints, share)


def test_percentile_of_token_counts_is_a_plain_int():
    p95 = percentile([3, 5, 8, 13, 21], 0.95)
    assert p95 == 21 and type(p95) is int
    assert json.dumps(p95) == "21"
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_rank_correlation_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for n in (3, 5, 17, 40):
        xs = [rng.random() for _ in range(n)]
        ys = [round(x + rng.random(), 1) for x in xs]  # rounding makes ties
        assert rank_correlation(xs, ys) == pytest.approx(stats.spearmanr(xs, ys).statistic, abs=1e-12)
    assert rank_correlation([1, 2], [2, 1]) is None
