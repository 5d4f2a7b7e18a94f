"""Long texts: sliding windows that cover every token, pooled predictions, bounded memory, the override flags,
and accuracy by token-length bucket."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertcli.core.encoding import check_stride, window_spans, window_weights

GOOD = "a wonderful superb brilliant film with excellent acting"
BAD = "a terrible boring awful film with dreadful acting"


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 5000), budget=st.integers(1, 600), share=st.floats(0, 0.99))
def test_windows_cover_every_token_in_order_within_the_budget(n, budget, share):
    stride = min(int(budget * share), budget - 1)
    spans = window_spans(n, budget, stride)
    covered = set()
    for start, end in spans:
        assert 0 <= start < end <= n or (n == 0 and (start, end) == (0, 0))
        assert end - start == min(budget, n)  # every window is full unless the text is shorter
        covered.update(range(start, end))
    assert covered == set(range(n))
    assert spans[0][0] == 0 and spans[-1][1] == n
    for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
        assert s1 < s2 and e1 < e2
        assert e1 - s2 >= stride  # consecutive windows share at least the stride (the last may share more)
    assert sum(window_weights(spans)) == n
    if n > budget:  # no more windows than needed
        assert len(spans) == -(-(n - stride) // (budget - stride)) or len(spans) == -(-(n - budget) // (budget - stride)) + 1


def test_stride_must_leave_room_to_move():
    from bertcli.core.errors import UsageError

    assert check_stride(None, 512) == 127
    with pytest.raises(UsageError, match="--stride 510"):
        check_stride(510, 512)


@pytest.fixture(scope="module")
def sliding(final):
    from bertcli.core.inference.load import load_for_inference

    return load_for_inference(str(final), precision="fp32", truncation="sliding", stride=8)


def test_a_short_text_pooled_equals_the_plain_path(final, sliding):
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.stream import predict_texts

    plain = load_for_inference(str(final), precision="fp32", truncation="head")
    texts = [GOOD, BAD, "fine", GOOD + " " + BAD]
    for pooling in ("mean", "max", "weighted"):
        sliding.pooling = pooling
        for a, b in zip(predict_texts(plain, texts), predict_texts(sliding, texts)):
            assert b.windows == 1 and b.truncated is False
            assert b.label == a.label
            assert b.probabilities == pytest.approx(a.probabilities, abs=1e-6)
    sliding.pooling = "mean"


def test_a_long_text_is_read_in_windows_and_pooled(sliding):
    from bertcli.core.encoding import tokenize_bodies
    from bertcli.core.inference.classify import logits_of_token_ids, softmax
    from bertcli.core.inference.stream import predict_texts

    text = " ".join([GOOD] * 40 + [BAD] * 10)
    [pred] = predict_texts(sliding, [text])
    body = tokenize_bodies(sliding.tokenizer, [text])[0]
    spans = window_spans(len(body), sliding.max_length - 2, sliding.stride)
    assert pred.windows == len(spans) > 3 and pred.n_tokens == len(body) + 2 and not pred.truncated
    cls, sep = sliding.tokenizer.cls_token_id, sliding.tokenizer.sep_token_id
    logits = logits_of_token_ids(sliding, [[cls, *body[s:e], sep] for s, e in spans])
    expected = softmax(logits.mean(axis=0, keepdims=True))[0]
    assert pred.probabilities == pytest.approx(list(expected), abs=1e-6)


def test_a_100000_token_text_stays_within_a_memory_bound(sliding):
    import tracemalloc

    from bertcli.core.inference.stream import predict_stream

    words = "good bad film acting plot".split()
    text = " ".join(words[i % 5] for i in range(100_000))
    done = []
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        [chunk] = list(predict_stream(sliding, [text], batch_size=32, on_batch=done.append))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    [pred] = chunk
    assert pred.ok and pred.n_tokens >= 100_002 and pred.windows > 1000
    assert set(done) <= {0, 1} and done[-1] == 1  # progress counts texts, not windows
    # the text and its ids (~100k Python ints) plus one bounded batch: tens of MB, never all windows as tensors
    assert peak < 150 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_predict_and_evaluate_take_truncation_overrides(cli, final, tmp_path):
    long = " ".join([GOOD] * 20)
    result = cli("predict", long, "--model", final, "--json", "--truncation", "sliding", "--stride", "4")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    [row] = doc["predictions"]
    assert row["truncated"] is False and row["windows"] > 1
    assert (doc["truncation"], doc["stride"], doc["max_length"]) == ("sliding", 4, 64)
    result = cli("predict", long, "--model", final, "--json", "--truncation", "head", "--max-length", "32")
    doc = json.loads(result.stdout)
    [row] = doc["predictions"]
    assert row["truncated"] is True and "windows" not in row and doc["max_length"] == 32
    result = cli("predict", long, "--model", final, "--stride", "4")
    assert result.exit_code == 2 and "--truncation sliding" in result.stderr


def test_training_with_sliding_saves_it_and_predict_applies_it(tiny_model, reviews_csv, tmp_path, cli):
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.training import TrainConfig, train

    out = tmp_path / "run"
    train(TrainConfig(model=str(tiny_model), dataset=str(reviews_csv), output_dir=out, epochs=1, batch_size=8,
                      max_length=16, truncation="sliding", stride=4, train_size=None, eval_size=None, save_steps=100,
                      tensorboard=False))
    saved = json.loads((out / "final" / "bertcli.json").read_text())
    assert saved["truncation"] == "sliding" and saved["stride"] == 4 and saved["max_length"] == 16
    clf = load_for_inference(str(out / "final"))
    assert (clf.truncation, clf.stride, clf.max_length) == ("sliding", 4, 16)
    assert load_for_inference(str(out / "final"), truncation="head+tail").stride is None


# --- accuracy by length ----------------------------------------------------------------------------------


def _predictions(rows):
    """Predictions from (n_tokens, predicted id, truncated) rows."""
    from bertcli.core.inference.classify import Prediction

    return [Prediction(index=i, text="x", label_id=p, n_tokens=n, truncated=cut) for i, (n, p, cut) in enumerate(rows)]


def test_by_length_buckets_count_score_and_cut_correctly():
    import numpy as np

    from bertcli.core.length_buckets import score_by_length
    from bertcli.core.significance import MIN_EXAMPLES_FOR_INTERVAL

    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 1500, 400)
    gold = rng.integers(0, 2, 400)
    # right on short texts, right half the time on long ones
    pred = [g if n <= 256 or rng.random() < 0.5 else 1 - g for n, g in zip(lengths, gold)]
    rows = [(int(n), int(p), bool(n > 300)) for n, p in zip(lengths, pred)]
    report = score_by_length(_predictions(rows), gold.tolist(), 2, max_length=300, truncation="head+tail", seed=1)
    assert report.edges == [128, 256, 512] and report.edges_from == "default" and report.metric == "accuracy"
    assert [b.name for b in report.buckets] == ["≤128", "129–256", "257–512", ">512"]
    for b, (lo, hi) in zip(report.buckets, [(0, 128), (128, 256), (256, 512), (512, 10**9)]):
        inside = (lengths > lo) & (lengths <= hi)
        assert b.count == inside.sum()
        assert b.accuracy == pytest.approx(np.mean(np.array(pred)[inside] == gold[inside]))
        assert b.truncated == (inside & (lengths > 300)).sum()
        if b.count >= MIN_EXAMPLES_FOR_INTERVAL:
            assert b.interval["low"] <= b.score <= b.interval["high"]
        else:  # too few to resample: no interval rather than a degenerate one
            assert b.interval is None
    assert sum(b.count for b in report.buckets) == 400
    assert report.buckets[0].score == 1.0 and report.buckets[-1].score < 0.7


def test_short_data_gets_quartile_buckets_and_k_classes_macro_f1():
    from bertcli.core.length_buckets import score_by_length

    rows = [(10 + i % 40, i % 3, False) for i in range(120)]
    report = score_by_length(_predictions(rows), [i % 3 for i in range(120)], 3, max_length=128, truncation="head")
    assert report.edges_from == "quartiles" and len(report.buckets) == len(report.edges) + 1 >= 3
    assert report.metric == "macro F1" and all(b.score == 1.0 for b in report.buckets)
    assert sum(b.count for b in report.buckets) == 120


def test_a_large_weak_cut_bucket_is_a_finding_with_the_sliding_fix():
    from bertcli.core.length_buckets import length_findings, score_by_length

    rows = [(100, i % 2, False) for i in range(200)] + [(900, 0, True) for _ in range(200)]
    gold = [i % 2 for i in range(200)] + [i % 2 for i in range(200)]
    report = score_by_length(_predictions(rows), gold, 2, max_length=512, truncation="head+tail")
    [finding] = length_findings(report, {"--model": "m", "--dataset": "d"}, {"--model": "m", "--dataset": "d"})
    assert finding.code == "weak-length-bucket" and ">512" in finding.summary
    assert "--truncation sliding" in finding.fix and "--by-length" in finding.fix and "--model m" in finding.fix
    assert any("bertcli debug data" in line for line in finding.evidence)


def test_evaluate_by_length_json_and_overrides(cli, final, tmp_path_factory):
    from trained import held_out_csv

    data = held_out_csv(tmp_path_factory)
    result = cli("evaluate", "-m", final, "--dataset", data, "--by-length", "--json", "--truncation", "sliding",
                 "--stride", "8", "--pooling", "max")
    assert result.exit_code == 0, result.stderr
    [model] = json.loads(result.stdout)["models"]
    assert (model["truncation"], model["stride"], model["pooling"]) == ("sliding", 8, "max")
    buckets = model["by_length"]["buckets"]
    assert sum(b["count"] for b in buckets) == model["examples"] and all(b["truncated"] == 0 for b in buckets)
    assert model["by_length"]["findings"]
    result = cli("evaluate", "-m", final, "--dataset", data, "--by-length", "--max-length", "16")
    assert result.exit_code == 0, result.stderr
    assert "By length in tokens" in result.stdout and "max length 16, head+tail" in result.stdout
