"""`bertcli predict` end to end on a tiny model trained on handwritten reviews: texts, files, stdin, bad input."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from refusals import assert_refused

from bertcli.core.cpu import describe_cpu, has_int8_dot_product

GOOD = "a wonderful superb brilliant film with excellent acting"
BAD = "a terrible boring awful film with dreadful acting"


@pytest.fixture(scope="session")
def clf(final):
    from bertcli.core.inference.load import load_for_inference

    return load_for_inference(str(final), precision="fp32")


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_texts_give_a_table_with_labels_and_probabilities(cli, final):
    result = cli("predict", GOOD, BAD, "--model", final)
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│") and line[2:3].isdigit()]
    assert len(rows) == 2
    assert "positive" in rows[0] and "negative" in rows[1]
    assert "p(negative)" in result.stdout and "p(positive)" in result.stdout and "confidence" in result.stdout
    assert "max length 64 (head+tail)" in result.stderr  # the settings saved with the model are reused


def test_json_document_in_input_order(cli, final):
    texts = [GOOD, BAD, "great", "the plot was dull " * 30, GOOD + " " + BAD]
    result = cli("predict", *texts, "--model", final, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [p["text"] for p in doc["predictions"]] == texts
    assert [p["index"] for p in doc["predictions"]] == list(range(len(texts)))
    first = doc["predictions"][0]
    assert first["label"] == "positive" and doc["predictions"][1]["label"] == "negative"
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert first["confidence"] == max(first["probabilities"].values())
    assert doc["summary"]["predicted"] == 5 and doc["labels"] == ["negative", "positive"]
    assert doc["predictions"][3]["truncated"] is True and doc["predictions"][3]["n_tokens"] > 64


def test_length_sorting_keeps_input_order_and_matches_one_at_a_time(clf):
    from factory import make_reviews

    from bertcli.core.inference.stream import predict_texts

    texts = [t for t, _ in make_reviews(40, seed=3)]
    texts = sorted(texts, key=len)[::3] + sorted(texts, key=len, reverse=True)[::4]  # mixed lengths, not sorted
    batched = predict_texts(clf, texts, batch_size=4)
    alone = [predict_texts(clf, [t], batch_size=1)[0] for t in texts]
    assert [p.text for p in batched] == texts
    assert [p.index for p in batched] == list(range(len(texts)))
    for b, a in zip(batched, alone):  # per-batch padding changes nothing
        assert b.label == a.label
        assert b.probabilities == pytest.approx(a.probabilities, abs=1e-5)


def test_windows_restore_order_across_batches(clf):
    from bertcli.core.inference.stream import predict_stream

    texts = [("good " * (i % 7 + 1) + "film") for i in range(50)]
    seen = []
    for chunk in predict_stream(clf, iter(texts), batch_size=3, window_batches=2):
        assert len(chunk) <= 6
        seen.extend(chunk)
    assert [p.text for p in seen] == texts and [p.index for p in seen] == list(range(50))


def test_stream_reads_input_lazily(clf):
    """Memory stays flat: only one window of the input is held at a time."""
    from bertcli.core.inference.stream import predict_stream

    pulled = 0

    def endless():
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield GOOD if i % 2 else BAD

    stream = predict_stream(clf, endless(), batch_size=4, window_batches=2)
    first = next(stream)
    assert len(first) == 8 and pulled <= 9
    next(stream)
    assert pulled <= 17


def test_partial_batch_runs_when_input_pauses():
    """Interactive stdin: lines already typed are classified without waiting for a full batch."""
    from bertcli.core.inference.stream import chunks_as_they_arrive

    release = threading.Event()

    def typed():
        yield "one"
        yield "two"
        release.wait(timeout=10)  # the user stops typing until the first chunk has come out
        yield "three"

    chunks = chunks_as_they_arrive(typed(), size=8, max_wait=0.05)
    started = time.monotonic()
    assert next(chunks) == ["one", "two"]
    assert time.monotonic() - started < 5
    release.set()
    assert next(chunks) == ["three"]
    assert list(chunks) == []


class RecordingSink:
    """A sink that keeps what predict hands it, in order."""

    def __init__(self):
        self.calls: list[str] = []
        self.written = []
        self.run = self.summary = None

    def start(self, run):
        self.calls.append("start")
        self.run = run

    def progress(self, done):
        self.calls.append("progress")

    def write(self, prediction):
        self.calls.append("write")
        self.written.append(prediction)

    def flush(self):
        self.calls.append("flush")

    def close(self, summary):
        self.calls.append("close")
        self.summary = summary


def test_predict_is_a_core_operation_that_feeds_a_sink_and_returns_a_summary(final):
    from bertcli.core.errors import UsageError
    from bertcli.core.inference.predict import PredictOptions, PredictSource, predict

    sink = RecordingSink()
    source = PredictSource.of([GOOD, "  ", BAD], None)
    summary = predict(source, PredictOptions(model=str(final), precision="fp32", flag="NEGATIVE"), sink)
    assert sink.calls[0] == "start" and sink.calls[-2:] == ["flush", "close"] and "progress" in sink.calls
    assert sink.run.flag == "negative" and sink.run.threshold == 0.0 and sink.run.source.kind == "args"
    assert [p.index for p in sink.written] == [0, 1, 2]
    assert [p.flagged for p in sink.written] == [False, False, True]
    assert sink.summary is summary and summary.complete
    assert (summary.texts, summary.predicted, summary.skipped, summary.flagged) == (3, 2, 1, 1)
    assert summary.errors == {"blank text": 1} and summary.texts_per_second > 0
    assert PredictSource.of(["-"], None).kind == "stdin" and PredictSource.of(None, "x.csv").batching(None).window_batches == 16
    with pytest.raises(UsageError, match="not both"):
        PredictSource.of([GOOD], "x.txt")


def test_stdin_stream_writes_jsonl_in_order(cli, final):
    lines = [GOOD, BAD, "", "   ", BAD + " " * 3, GOOD]
    result = cli("predict", "-", "--model", final, "--batch-size", "2", input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["label"] for r in records] == ["positive", "negative", None, None, "negative", "positive"]
    assert records[2]["error"] == "empty text" and records[3]["error"].startswith("blank text")
    assert "skipped line 3: empty text" in result.stderr and "skipped 2:" in result.stderr


def test_stdin_flag_negative_writes_only_flagged_lines(cli, final):
    lines = [GOOD, BAD, GOOD, BAD + " and clumsy", "the plot was bad"]
    result = cli("predict", "--file", "-", "--model", final, "--flag", "negative", "--threshold", "0.5",
                 input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert records and all(r["label"] == "negative" and r["confidence"] >= 0.5 for r in records)
    assert {r["line"] for r in records} >= {2, 4}
    assert 1 not in {r["line"] for r in records}
    assert f"flagged {len(records)} predicted negative" in result.stderr


def test_flag_marks_rows_in_a_table(cli, final):
    result = cli("predict", GOOD, BAD, "--model", final, "--flag", "NEGATIVE")
    assert result.exit_code == 0, result.stderr
    marked = [line for line in result.stdout.splitlines() if "⚑" in line]
    assert len(marked) == 1 and "negative" in marked[0]


def test_flag_and_threshold_are_checked(cli, final):
    wrong = cli("predict", GOOD, "--model", final, "--flag", "angry")
    assert wrong.exit_code == 2 and "negative, positive" in wrong.stderr
    alone = cli("predict", GOOD, "--model", final, "--threshold", "0.9")
    assert alone.exit_code == 2 and "--flag" in alone.stderr
    nothing = cli("predict", "--model", final)
    assert nothing.exit_code == 2 and "--file" in nothing.stderr


def test_files_of_every_kind(cli, final, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [GOOD, BAD, GOOD]
    (tmp_path / "r.txt").write_text("\n".join(texts) + "\n")
    (tmp_path / "r.csv").write_text("id,review\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts)))
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"review": t}) + "\n" for t in texts))
    pq.write_table(pa.table({"review": texts}), tmp_path / "r.parquet")
    for name in ("r.txt", "r.csv", "r.jsonl", "r.parquet"):
        result = cli("predict", "--file", tmp_path / name, "--text-column", "review", "--model", final)
        assert result.exit_code == 0, (name, result.stderr)
        assert [r["label"] for r in jsonl(result.stdout)] == ["positive", "negative", "positive"], name


def test_output_file_as_csv_and_jsonl(cli, final, tmp_path):
    import csv

    (tmp_path / "in.txt").write_text(f"{GOOD}\n{BAD}\n\n")
    out = tmp_path / "out.csv"
    result = cli("predict", "-f", tmp_path / "in.txt", "--model", final, "--output", out)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    rows = list(csv.DictReader(out.open()))
    assert [r["label"] for r in rows] == ["positive", "negative", ""]
    assert rows[2]["error"] == "empty text"
    assert float(rows[0]["p_positive"]) + float(rows[0]["p_negative"]) == pytest.approx(1.0, abs=1e-5)
    out2 = tmp_path / "out.data"
    assert cli("predict", "-f", tmp_path / "in.txt", "-m", final, "-o", out2, "--format", "jsonl").exit_code == 0
    assert [r.get("label") for r in jsonl(out2.read_text())] == ["positive", "negative", None]
    bad = cli("predict", GOOD, "-m", final, "--format", "xml")
    assert bad.exit_code == 2 and "jsonl, csv" in bad.stderr


def test_bad_lines_are_skipped_and_counted_never_fatal(cli, final, tmp_path):
    huge = " ".join(["wonderful"] * 25_000 + ["film"] * 25_000)  # a 50,000-word review
    path = tmp_path / "mixed.txt"
    path.write_bytes(
        GOOD.encode() + b"\n"
        + b"\n"
        + b"   \t \n"
        + b"caf\xe9 latin-1 review\n"
        + huge.encode() + b"\n"
        + BAD.encode() + b"\r\n"
    )
    result = cli("predict", "--file", path, "--model", final)
    assert result.exit_code == 0, result.stderr
    records = jsonl(result.stdout)
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["label"] for r in records] == ["positive", None, None, None, "positive", "negative"]
    assert records[3]["error"].startswith("not valid UTF-8 (byte 0xe9 at position 3)")
    assert records[4]["truncated"] is True and records[4]["n_tokens"] == 50_002
    assert "skipped line 4: not valid UTF-8" in result.stderr
    assert "skipped 3: " in result.stderr and "1 not valid UTF-8" in result.stderr
    assert "1 cut at 64 tokens" in result.stderr


def test_non_utf8_on_stdin_and_in_json_lines(cli, final, tmp_path):
    result = cli("predict", "-", "-m", final, input=GOOD.encode() + b"\n\xff\xfe\n" + BAD.encode() + b"\n")
    assert result.exit_code == 0, result.stderr
    assert [r.get("label") for r in jsonl(result.stdout)] == ["positive", None, "negative"]

    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        json.dumps({"text": GOOD}).encode() + b"\n"
        + b"{not json\n"
        + b'{"other": 1}\n'
        + b'{"text": "caf\xe9"}\n'
        + b'{"text": null}\n'
        + b"\n"
        + json.dumps({"text": BAD}).encode() + b"\n"
    )
    result = cli("predict", "-f", path, "-m", final, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    errors = [p.get("error") for p in doc["predictions"]]
    assert [p["label"] for p in doc["predictions"]] == ["positive", None, None, None, None, "negative"]
    assert errors[1].startswith("not a JSON object") and errors[2] == "no 'text' field"
    assert errors[3].startswith("not valid UTF-8") and errors[4] == "no text"
    assert doc["summary"]["skipped"] == 4 and doc["summary"]["predicted"] == 2


def test_missing_column_and_unreadable_files(cli, final, tmp_path):
    (tmp_path / "r.csv").write_text(f"review,summary,stars\n{GOOD},{BAD},5\n")
    missing = cli("predict", "-f", tmp_path / "r.csv", "-m", final)
    assert missing.exit_code == 1
    assert "2 columns of text (review (" in missing.stderr and "--text-column summary" in missing.stderr
    picked = cli("predict", "-f", tmp_path / "r.csv", "-m", final, "--text-column", "1", "--format", "jsonl")
    assert picked.exit_code == 0 and json.loads(picked.stdout)["text"] == GOOD
    (tmp_path / "r.jsonl").write_text(json.dumps({"review": GOOD, "summary": BAD}) + "\n")
    assert "--text-column summary, or join them" in cli("predict", "-f", tmp_path / "r.jsonl", "-m", final).stderr
    named = cli("predict", "-f", tmp_path / "r.jsonl", "-m", final, "--text-column", "body")
    assert named.exit_code == 1 and "no column 'body'" in named.stderr
    gone = cli("predict", "-f", tmp_path / "nope.txt", "-m", final)
    assert gone.exit_code == 1 and "no such file" in gone.stderr
    folder = cli("predict", "-f", tmp_path, "-m", final)
    assert folder.exit_code == 1 and "is a folder" in folder.stderr
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    broken = cli("predict", "-f", tmp_path / "broken.parquet", "-m", final)
    assert broken.exit_code == 1 and "as Parquet" in broken.stderr
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.txt"
        locked.write_text(GOOD)
        locked.chmod(0)
        denied = cli("predict", "-f", locked, "-m", final)
        assert denied.exit_code == 1 and "permission denied" in denied.stderr


def test_a_bad_csv_row_does_not_lose_the_others(cli, final, tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"text,label\n" + GOOD.encode() + b",1\n" + b"only\xff bytes,0\n" + b",1\n" + BAD.encode() + b",0\n")
    result = cli("predict", "-f", path, "-m", final)
    assert result.exit_code == 0, result.stderr
    assert [r.get("label") for r in jsonl(result.stdout)] == ["positive", None, None, "negative"]


def test_quantized_and_bf16_modes_run(cli, final):
    from bertcli.core.device import cpu_supports_bf16

    result = cli("predict", GOOD, BAD, "-m", final, "--quantize", "int8", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["mode"] == ("int8+bf16" if cpu_supports_bf16() else "int8")
    # where int8 gains less (no VNNI or AMX), the run says so on stderr
    assert ("int8 does not pay off here" in " ".join(result.stderr.split())) == (not has_int8_dot_product())
    assert [p["label"] for p in doc["predictions"]] == ["positive", "negative"]
    result = cli("predict", GOOD, BAD, "-m", final, "--quantize", "int8", "--precision", "fp32", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["mode"] == "int8"
    if cpu_supports_bf16():
        result = cli("predict", GOOD, BAD, "-m", final, "--precision", "bf16", "--json")
        assert result.exit_code == 0, result.stderr
        assert [p["label"] for p in json.loads(result.stdout)["predictions"]] == ["positive", "negative"]
    assert cli("predict", GOOD, "-m", final, "--quantize", "int4").exit_code == 2


def test_default_model_is_the_newest_under_results(cli, run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    none = cli("predict", GOOD)
    assert none.exit_code == 1
    assert "no trained model under results/" in none.stderr and "bertcli train" in none.stderr

    shutil.copytree(run_dir, tmp_path / "results")
    result = cli("predict", GOOD)
    assert result.exit_code == 0, result.stderr
    assert "results/final (final of results), the newest trained model" in " ".join(result.stderr.split())
    assert "positive" in result.stdout


def test_default_model_falls_back_to_the_best_then_newest_checkpoint(run_dir, tmp_path):
    from bertcli.core.errors import ModelError
    from bertcli.core.inference.resolve import find_trained_model, resolve_model

    results = tmp_path / "results"
    shutil.copytree(run_dir, results, ignore=shutil.ignore_patterns("final"))
    steps = sorted(int(p.name.split("-")[1]) for p in results.glob("checkpoint-*"))
    state = json.loads((results / f"checkpoint-{steps[-1]}" / "trainer_state.json").read_text())
    best = Path(state["best_model_checkpoint"]).name
    found = find_trained_model(results)
    assert (Path(found.path).name, found.chosen_as) == (best, "best checkpoint")

    for ckpt in results.glob("checkpoint-*"):  # no best recorded: the newest complete checkpoint
        state_file = ckpt / "trainer_state.json"
        data = json.loads(state_file.read_text())
        data["best_model_checkpoint"] = None
        state_file.write_text(json.dumps(data))
    (results / "checkpoint-999").mkdir()  # half-written: no trainer_state.json, skipped
    found = find_trained_model(results)
    assert (Path(found.path).name, found.chosen_as) == (f"checkpoint-{steps[-1]}", "newest checkpoint")

    assert resolve_model(str(results)).chosen_as == "newest checkpoint"  # a run folder given as --model
    assert resolve_model("some/hub-name").path == "some/hub-name"
    with pytest.raises(ModelError, match="bertcli train"):
        find_trained_model(tmp_path / "empty")


def test_newest_run_wins_among_runs_in_results(run_dir, tmp_path):
    from bertcli.core.inference.resolve import find_trained_model

    results = tmp_path / "results"
    for name in ("older", "newer"):
        shutil.copytree(run_dir / "final", results / name / "final")
    old_time = time.time() - 3600
    os.utime(results / "older" / "final" / "model.safetensors", (old_time, old_time))
    found = find_trained_model(results)
    assert found.path == str(results / "newer" / "final") and found.chosen_as == "final"


def test_int8_quantizes_qkv_and_ffn_input_only(final):
    from bertcli.core.inference.load import load_for_inference

    clf = load_for_inference(str(final), quantize="int8", precision="fp32")
    layer = clf.model.bert.encoder.layer[0]
    int8 = [layer.attention.self.query, layer.attention.self.key, layer.attention.self.value, layer.intermediate.dense]
    assert {m._get_name() for m in int8} == {"Int8Linear"}
    kept = [layer.attention.output.dense, layer.output.dense, clf.model.classifier, clf.model.bert.pooler.dense]
    assert {m._get_name() for m in kept} == {"Linear"}


def test_int8_probabilities_stay_close_to_fp32(final):
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.stream import predict_texts

    texts = [GOOD, BAD, "an ordinary film with a few good scenes", "dull, slow and far too long", "x"]
    exact = predict_texts(load_for_inference(str(final), precision="fp32"), texts)
    int8 = predict_texts(load_for_inference(str(final), precision="fp32", quantize="int8"), texts)
    deltas = [abs(a.probabilities[0] - b.probabilities[0]) for a, b in zip(exact, int8)]
    assert max(deltas) < 0.05, deltas


def test_int8_linear_matches_float_and_qkv_share_one_quantization(monkeypatch):
    import torch

    from bertcli.core.inference import int8

    torch.manual_seed(0)
    linears = [torch.nn.Linear(64, 96) for _ in range(3)]
    shared = int8.SharedInput(3)
    weight_max = int8.weight_range()  # 8-bit weights with VNNI or AMX, 7-bit without
    layers = [int8._int8_linear_class()(lin, torch.float32, shared, weight_max) for lin in linears]
    calls = []
    real = int8.quantize_activations
    monkeypatch.setattr(int8, "quantize_activations", lambda x: calls.append(1) or real(x))
    x = torch.randn(2, 7, 64)
    with torch.inference_mode():
        outs = [layer(x) for layer in layers]
        assert len(calls) == 1
        for lin, out in zip(linears, outs):
            ref = lin(x)
            assert out.shape == ref.shape and ((out - ref).norm() / ref.norm()) < 0.02
        # a different input of the same shape is quantized afresh, never served from the cache
        y = torch.randn(2, 7, 64)
        assert torch.allclose(layers[0](y), linears[0](y), atol=0.05, rtol=0.05)
        assert len(calls) == 2


def test_bf16_keeps_linear_weights_in_bf16_where_the_cpu_has_it(final):
    import torch

    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.device import cpu_supports_bf16

    if not cpu_supports_bf16():
        pytest.skip("this CPU has no bf16 instructions")
    clf = load_for_inference(str(final))
    assert clf.mode == "bf16" and clf.model.classifier.weight.dtype == torch.bfloat16
    # embeddings and LayerNorm stay fp32 under autocast
    assert clf.model.bert.embeddings.word_embeddings.weight.dtype == torch.float32
    assert clf.model.bert.embeddings.LayerNorm.weight.dtype == torch.float32


def test_batches_respect_the_token_budget_and_cover_every_text():
    from bertcli.core.inference.classify import length_sorted_batches

    lengths = [512, 20, 300, 20, 600, 45, 45, 45, 512, 8] * 3
    batches = length_sorted_batches(lengths, batch_size=4, max_tokens=1024)
    assert sorted(p for b in batches for p in b) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= 4
        longest = max(lengths[p] for p in batch)
        assert len(batch) == 1 or len(batch) * longest <= 1024
        assert [lengths[p] for p in batch] == sorted((lengths[p] for p in batch), reverse=True)
    assert len(length_sorted_batches(lengths, batch_size=4)) == -(-len(lengths) // 4)


def broken_int8(monkeypatch, how: str) -> None:
    """oneDNN int8 kernels that fail or give wrong numbers, as on a torch build or CPU whose kernels differ."""
    import torch

    from bertcli.core.inference import int8

    if how == "fail":
        real = torch.ops.onednn

        class Failing:
            def __getattr__(self, name):
                if name != "qlinear_pointwise":
                    return getattr(real, name)

                def fail(*args):
                    raise RuntimeError("could not create a primitive descriptor")

                return fail

        monkeypatch.setattr(torch.ops, "onednn", Failing())
        return
    real_class = int8._int8_linear_class()

    class Wrong(real_class):
        def forward(self, x):
            out = real_class.forward(self, x)
            probe = (self.in_features, self.out_features) == (64, 16)  # the shape of int8.limit_probe()
            wrong = {"clip-8-bit": self.weight_max == int8.FULL_RANGE, "clip-always": True, "model-shapes": not probe}[how]
            return out * 0.5 if wrong else out

    monkeypatch.setattr(int8, "_int8_linear_class", lambda: Wrong)


@pytest.mark.parametrize(
    "how, needles",
    [
        ("fail", ("--quantize int8", "oneDNN int8 kernels failed", "could not create a primitive", "drop --quantize")),
        ("clip-always", ("--quantize int8", "wrong on this CPU (", "even with 7-bit weights", "drop --quantize")),
        ("model-shapes", ("--quantize int8", "gave wrong results (50% off fp32 on this CPU:", "drop --quantize")),
    ],
)
def test_int8_kernels_that_fail_or_are_wrong_are_refused(cli, final, monkeypatch, how, needles):
    broken_int8(monkeypatch, how)
    assert_refused(cli("predict", GOOD, "-m", final, "--quantize", "int8"), 2, *needles)


def test_int8_falls_back_to_7_bit_weights_where_8_bit_sums_clip(final, monkeypatch):
    """A CPU whose flags claim VNNI but whose kernels clip 8-bit pair sums anyway is caught by the limit probe."""
    from bertcli.core.inference import int8
    from bertcli.core.inference.load import load_for_inference
    from bertcli.core.inference.stream import predict_texts

    monkeypatch.setattr(int8, "weight_range", lambda: int8.FULL_RANGE)
    broken_int8(monkeypatch, "clip-8-bit")
    clf = load_for_inference(str(final), precision="fp32", quantize="int8")
    assert clf.model.bert.encoder.layer[0].attention.self.query.weight_max == int8.REDUCED_RANGE
    exact = predict_texts(load_for_inference(str(final), precision="fp32"), [GOOD, BAD])
    assert [p.label for p in predict_texts(clf, [GOOD, BAD])] == [p.label for p in exact] == ["positive", "negative"]


def test_seven_bit_weights_agree_with_fp32_on_every_cpu():
    """Weight codes within ±63 keep every pair of u8 x s8 products within 16 bits (2 x 255 x 63 = 32,130), so
    this holds with or without VNNI."""
    import torch

    from bertcli.core.inference import int8

    seven = int8.REDUCED_RANGE
    int8_linear = int8._int8_linear_class()
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 96)
    x = int8.large_activations(linear)
    assert int(int8.quantize_activations(x)[0].max()) == 255  # the activations reach the top code
    layer = int8_linear(linear, torch.float32, weight_max=seven)
    assert "7-bit weights" in repr(layer)
    codes = torch.round(linear.weight.detach() / layer.weight_scale[:, None])
    assert codes.abs().amax(dim=1).eq(seven).all()  # each channel's largest weight at the top code, never past
    assert int8._relative_error(int8_linear, linear, x, torch.float32, seven) < 0.015
    assert int8._relative_error(int8_linear, *int8.limit_probe(), torch.float32, seven) < 0.005


@pytest.mark.skipif(
    not has_int8_dot_product(), reason=f"needs VNNI or AMX, which this CPU lacks ({describe_cpu()}): int8 uses 7-bit weights here"
)
def test_full_range_weights_are_exact_where_the_cpu_has_vnni_or_amx():
    import torch

    from bertcli.core.inference import int8

    assert int8.weight_range() == int8.FULL_RANGE
    for out_dtype in (torch.float32, torch.bfloat16):
        assert int8._relative_error(int8._int8_linear_class(), *int8.limit_probe(), out_dtype, int8.FULL_RANGE) < 0.005


AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
ON_AVX2_ONLY = """
import json, sys
import torch
from bertcli.core.inference import int8
from bertcli.core.cpu import describe_cpu
from bertcli.core.inference.load import load_for_inference
from bertcli.core.inference.stream import predict_texts
path, texts = sys.argv[1], json.loads(sys.argv[2])
probe = {bound: int8._relative_error(int8._int8_linear_class(), *int8.limit_probe(), torch.float32, bound) for bound in (127, 63)}
exact, quantized = load_for_inference(path), load_for_inference(path, quantize="int8")
print(json.dumps({
    "cpu": describe_cpu(), "aten": torch.backends.cpu.get_cpu_capability(), "probe": probe,
    "modes": [exact.mode, quantized.mode], "weight_max": quantized.model.bert.encoder.layer[0].intermediate.dense.weight_max,
    "notes": [exact.notes, quantized.notes],
    "exact": [p.probabilities for p in predict_texts(exact, texts)],
    "int8": [p.probabilities for p in predict_texts(quantized, texts)],
}))
"""


def test_int8_on_an_avx2_only_cpu_agrees_with_fp32(final):
    """oneDNN capped at AVX2 (no VNNI, AMX or bf16), as on an AVX2-only machine: 8-bit sums clip there, the
    load check sees it, and int8 runs with 7-bit weights and gives fp32's labels."""
    import subprocess
    import sys

    from bertcli.core.inference.int8 import CHECK_TOLERANCE

    texts = [GOOD, BAD, "an ordinary film with a few good scenes", "dull, slow and far too long", "x"]
    out = subprocess.run(
        [sys.executable, "-c", ON_AVX2_ONLY, str(final), json.dumps(texts)],
        env={**os.environ, **AVX2_ONLY}, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.splitlines()[-1])
    assert doc["cpu"] == "AVX2, no VNNI, no bf16, no AMX (ONEDNN_MAX_CPU_ISA=AVX2)" and doc["aten"] == "AVX2"
    assert doc["probe"]["127"] > 10 * CHECK_TOLERANCE and doc["probe"]["63"] < 0.005, doc["probe"]
    assert doc["modes"] == ["fp32", "int8"] and doc["weight_max"] == 63
    assert doc["notes"][0] == [] and "7-bit weights, and int8 does not pay off here" in doc["notes"][1][0]
    labels = [[max(range(len(p)), key=p.__getitem__) for p in doc[mode]] for mode in ("exact", "int8")]
    assert labels[0] == labels[1] and labels[0][:2] == [1, 0]
    assert max(abs(a[0] - b[0]) for a, b in zip(doc["exact"], doc["int8"])) < 0.05


def test_last_layer_for_cls_only_gives_the_full_models_probabilities(final):
    import torch

    from bertcli.core.inference.cls_only import run_last_layer_for_cls_only
    from bertcli.core.encoding import encode_texts
    from bertcli.core.inference.classify import classify_token_ids
    from bertcli.core.inference.load import load_for_inference

    clf = load_for_inference(str(final), precision="fp32")
    assert type(clf.model.bert.encoder.layer[-1]).__name__ == "LastLayerClsOnly"
    full = load_for_inference(str(final), precision="fp32")
    full.model.bert.encoder.layer[-1] = full.model.bert.encoder.layer[-1].layer
    texts = [GOOD, BAD, "fine", "a long, slow and muddled story " * 8]
    ids = encode_texts(clf.tokenizer, texts, clf.max_length, clf.truncation)["input_ids"]
    for batch in (ids, ids[:1], [ids[0]] * 3):  # padded, one text, equal lengths (no mask)
        assert classify_token_ids(clf, batch) == pytest.approx(classify_token_ids(full, batch), abs=1e-6)
    # wrapping twice is a no-op; models of other families are left alone
    assert run_last_layer_for_cls_only(clf.model) and type(clf.model.bert.encoder.layer[-1].layer).__name__ == "BertLayer"
    assert not run_last_layer_for_cls_only(torch.nn.Linear(2, 2))


def test_activation_quantization_without_quantized_tensors_gives_the_same_bytes(monkeypatch):
    import torch

    from bertcli.core.inference.int8 import quantize_activations

    x = torch.randn(37, 64, generator=torch.Generator().manual_seed(1)) * 3 + 0.5
    values, scale, zero_point = quantize_activations(x)
    monkeypatch.delattr(torch, "quantize_per_tensor")
    plain, plain_scale, plain_zero_point = quantize_activations(x)
    assert (scale, zero_point) == (plain_scale, plain_zero_point) and values.dtype == plain.dtype == torch.uint8
    assert (values.int() - plain.int()).abs().max() <= 1  # rounding of exact halves may differ
    restored = (values.float() - zero_point) * scale
    assert (restored - x).abs().max() <= scale  # every value within one step of the original


def test_a_table_shows_control_characters_in_texts_instead_of_sending_them(cli, final):
    hostile = "clear \x1b[2J then \x1b]0;a new title and \u202eright-to-left \x9b31m end"
    result = cli("predict", hostile, GOOD, "--model", final)
    assert result.exit_code == 0, result.stderr
    for raw in ("\x1b", "\x9b", "\u202e"):
        assert raw not in result.stdout
    flat = "".join(result.stdout.split())  # the text column folds long texts over lines
    for shown in (r"\x1b[2J", r"\x1b]0;", r"\u202e", r"\x9b31m"):
        assert shown in flat, result.stdout
