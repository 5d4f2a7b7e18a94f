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
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert row["truncated"] is False and row["windows"] > 1
    result = cli("predict", long, "--model", final, "--json", "--truncation", "head", "--max-length", "32")
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert row["truncated"] is True and "windows" not in row
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
