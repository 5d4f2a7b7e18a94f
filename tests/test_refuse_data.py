"""Bad input, refused in one line: data files that cannot be read, mistyped paths, one-class training data,
evaluate/predict output files that cannot be written (checked before any work; a late failure keeps the report)."""

from __future__ import annotations

import errno
import json
import random
from pathlib import Path

import pytest
from refusals import assert_refused

from bertcli.core.inference import records
from factory import make_reviews, write_csv
from trained import held_out_csv

LATIN1 = "text,label\nun film très réussi,1\nune catastrophe,0\n".encode("latin-1")
NOISE = random.Random(0).randbytes(4096)
ROWS = b'{"text": "a fine film", "label": 1}\n'


def _parquet(cut: bool) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": ["good", "bad"] * 50, "label": [1, 0] * 50}), buffer)
    data = buffer.getvalue()
    return data[: len(data) // 2] if cut else data


# file name, its bytes, what the one error line must say
BAD_FILES = [
    ("empty.csv", b"", ["empty.csv' is empty", "header row"]),
    ("blank.csv", b"\n  \n\n", ["is empty"]),
    ("header.csv", b"text,label\n", ["has a header (text, label) but no rows"]),
    ("header.tsv", b"text\tlabel\n", ["has a header (text, label) but no rows"]),
    ("latin1.csv", LATIN1, ["not UTF-8", "byte 0xe8 at byte 21 (line 2)", "iconv -f latin1 -t utf-8", "latin1.utf8.csv"]),
    ("utf16.csv", "text,label\nok,1\n".encode("utf-16"), ["UTF-16", "iconv -f utf-16"]),
    ("random.csv", NOISE, ["not a CSV file", "binary data"]),
    ("excel.csv", b"PK\x03\x04" + NOISE, ["not a CSV file", "zip archive"]),
    ("random.jsonl", NOISE, ["not a JSON Lines file", "binary data"]),
    ("empty.jsonl", b"", ["empty.jsonl' is empty", "one JSON object per line"]),
    ("badline.jsonl", ROWS + b'{"text": "b", label: 0}\n' + ROWS, ["line 2 is not valid JSON", "column 15"]),
    ("list.jsonl", ROWS + b"[1, 2]\n", ["line 2 is a JSON list, not an object"]),
    ("badarray.json", b'[{"text": "a", "label": 1},\n {"text": "b" "label": 0}]\n', ["not valid JSON", "line 2, column 15"]),
    ("text.parquet", b"text,label\nfine,1\n", ["not a Parquet file"]),
    ("cut.parquet", None, ["incomplete Parquet file"]),
]


def _command(name: str, data: Path, tiny_model: Path, out: Path) -> list:
    if name == "train":
        return ["train", "--model", tiny_model, "--dataset", data, "-o", out, "-q"]
    if name == "evaluate":
        return ["evaluate", "--model", tiny_model, "--dataset", data, "-q"]
    return ["debug", "data", "--dataset", data, "--no-lengths"]


@pytest.mark.parametrize("command", ["train", "evaluate", "debug data"])
@pytest.mark.parametrize("name, content, needles", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_unreadable_data_file_names_the_cause(cli, tiny_model, tmp_path, command, name, content, needles):
    path = tmp_path / name
    path.write_bytes(content if content is not None else _parquet(cut=True))
    result = cli(*_command(command, path, tiny_model, tmp_path / "run"))
    line = assert_refused(result, 1, *needles)
    assert "An error occurred while generating the dataset" not in line
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_latin1_deep_in_a_large_file_is_found_after_datasets_fails(tmp_path):
    """Past the first chunk only a failed load pays for the full scan; it still names the byte and the line."""
    from bertcli.core.data import load_raw
    from bertcli.core.data.files import CHUNK_BYTES
    from bertcli.core.errors import DataError

    rows = make_reviews(96)
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("text,label\n")
        lines = 1
        while fh.tell() <= CHUNK_BYTES * 1.5:
            text, label = rows[lines % len(rows)]
            fh.write(f'"{text} — fine",{label}\n')
            lines += 1
    size = path.stat().st_size
    with path.open("ab") as fh:
        fh.write("caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=rf"not UTF-8: byte 0xe9 at byte {size + 3:,} \(line {lines + 1:,}\)"):
        load_raw(str(path))


# --dataset values meant as local paths: (value, what the line must add to "no such file or folder: <value>")
MISTYPED = [
    ("data/goood", "did you mean data/good?"),
    ("data/good/trian.csv", "did you mean data/good/train.csv?"),
    ("./reviews.csv", "check it for typos"),
    ("reviews.csv", "check it for typos"),
    ("data/unrelated", "check it for typos"),
    ("nothing/here.jsonl", "check it for typos"),
]


@pytest.mark.parametrize("command", ["train", "evaluate", "debug data"])
@pytest.mark.parametrize("value, hint", MISTYPED, ids=[case[0] for case in MISTYPED])
def test_mistyped_local_path_is_no_such_file_not_a_hub_lookup(cli, tiny_model, tmp_path, monkeypatch, command, value, hint):
    import bertcli.core.data.loading as data

    def no_hub():
        raise AssertionError("a local path went to the hub")

    monkeypatch.setattr(data, "prepare_hub_access", no_hub)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "good").mkdir(parents=True)
    write_csv(tmp_path / "data" / "good" / "train.csv", make_reviews(8))
    assert_refused(cli(*_command(command, value, tiny_model, tmp_path / "run")), 1, f"no such file or folder: {value}", hint)


@pytest.mark.parametrize(
    "rows, labels, needles",
    [
        ([(t, 1) for t, _ in make_reviews(96)], None, ["only one class (1: 96)", "--label-column"]),
        ([(t, "pos") for t, _ in make_reviews(40)], ["neg", "pos"], ["only one class (pos: 40)"]),
        ([(t, "great") for t, _ in make_reviews(30)], None, ["only one class (great: 30)", "at least two"]),
    ],
    ids=["int-labels", "named-labels-with-labels-flag", "one-string-label"],
)
def test_one_class_training_data_is_refused_before_the_model_loads(cli, tiny_model, tmp_path, monkeypatch, rows, labels, needles):
    import bertcli.core.model as model

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the data was checked")

    monkeypatch.setattr(model, "load_classifier", no_loading)
    monkeypatch.setattr(model, "load_tokenizer", no_loading)
    path = tmp_path / "one.csv"
    write_csv(path, rows)
    extra = ["--labels", ",".join(labels)] if labels else []
    result = cli("train", "--model", tiny_model, "--dataset", path, "-o", tmp_path / "run", "-q", *extra)
    assert_refused(result, 1, *needles)


def test_one_class_in_the_drawn_sample_says_to_raise_the_train_size(tmp_path):
    from bertcli.core.data import load_labelled_data
    from bertcli.core.errors import DataError

    rows = [(t, 1) for t, _ in make_reviews(200)] + [("the only bad one", 0)]
    path = write_csv(tmp_path / "skewed.csv", rows)
    with pytest.raises(DataError, match=r"only one class \(1: 8\).*--train-size"):
        load_labelled_data(str(path), train_size=8, eval_size=4, seed=1)


def test_eval_labels_the_training_data_lacks_are_a_note(tmp_path):
    from bertcli.core.data import load_labelled_data

    folder = tmp_path / "hub"
    folder.mkdir()
    reviews = make_reviews(40)
    write_csv(folder / "train.csv", [(t, "good" if i % 2 else "bad") for i, (t, _) in enumerate(reviews[:30])])
    write_csv(folder / "test.csv", [(t, ["good", "bad", "meh"][i % 3]) for i, (t, _) in enumerate(reviews[30:])])
    data = load_labelled_data(str(folder), train_size=None, eval_size=None)
    assert any("never shows: meh (3)" in note for note in data.notes), data.notes


def test_evaluate_on_one_class_data_is_allowed(cli, final, tmp_path):
    path = write_csv(tmp_path / "positive.csv", [(t, 1) for t, _ in make_reviews(12, seed=3)])
    result = cli("evaluate", "-m", final, "--dataset", path, "--json", "-q")
    assert result.exit_code == 0, result.stderr
    assert 0.0 <= json.loads(result.stdout)["models"][0]["accuracy"] <= 1.0


# --- output files of evaluate and predict ---------------------------------------------------------------------


def _bad_output(tmp_path: Path, kind: str, name: str) -> Path:
    if kind == "parent-is-a-file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / name
    if kind == "grandparent-is-a-file":
        (tmp_path / "afile").write_text("x")
        return tmp_path / "afile" / "sub" / name
    (tmp_path / "adir").mkdir()
    return tmp_path / "adir"


# flag, file name, how the path is bad, what the line must say
BAD_OUTPUTS = [
    ("--predictions", "preds.jsonl", "parent-is-a-file", ["cannot write --predictions", "is a file, not a folder"]),
    ("--predictions", "preds.csv", "grandparent-is-a-file", ["cannot write --predictions", "afile is a file"]),
    ("--predictions", "preds.jsonl", "a-folder", ["--predictions", "is a folder", "give a file path"]),
    ("--plot", "eval.png", "parent-is-a-file", ["cannot write --plot", "is a file, not a folder"]),
    ("--plot", "eval.png", "a-folder", ["--plot", "is a folder", "eval.png"]),
]


@pytest.mark.parametrize("flag, name, kind, needles", BAD_OUTPUTS, ids=[f"{c[0]}-{c[2]}" for c in BAD_OUTPUTS])
def test_evaluate_output_path_is_checked_before_anything_loads(cli, tmp_path, flag, name, kind, needles):
    if flag == "--plot":
        pytest.importorskip("matplotlib")
    target = _bad_output(tmp_path, kind, name)
    # neither the model nor the data exists: the output path must be the first thing refused
    result = cli("evaluate", "-m", tmp_path / "no-model", "--dataset", tmp_path / "no-data.csv", flag, target, "-q")
    line = assert_refused(result, 1, *needles)
    assert "--output" not in line


def test_predict_output_path_is_checked_before_the_model_loads(cli, tmp_path):
    target = _bad_output(tmp_path, "parent-is-a-file", "out.jsonl")
    result = cli("predict", "a fine film", "-m", tmp_path / "no-model", "--output", target, "-q")
    assert_refused(result, 1, "cannot write --output", "is a file, not a folder")


def full_disk_after(monkeypatch, writes: int) -> None:
    """Every output file takes `writes` writes, then half of the next and the disk is full."""
    real = records.OutputFile.write
    seen = {"n": 0}

    def write(self, text):
        seen["n"] += 1
        if seen["n"] > writes:
            real(self, text[: len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text)

    monkeypatch.setattr(records.OutputFile, "write", write)


@pytest.mark.parametrize("suffix, header", [(".jsonl", 0), (".csv", 1)])
def test_predict_output_on_a_full_disk_says_how_many_rows_are_whole(cli, final, tmp_path, monkeypatch, suffix, header):
    texts = tmp_path / "texts.txt"
    texts.write_text("".join(f"review {i}: a café, a fine film\n" for i in range(40)), encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    full_disk_after(monkeypatch, 7 + header)
    result = cli("predict", "--file", texts, "-m", final, "--output", out, "-q")
    assert_refused(result, 1, f"wrote 7 complete rows to {out}", "before the disk filled", "last row may be cut", "free space")
    body = out.read_text(encoding="utf-8")
    lines = body.split("\n")
    assert len(lines) == header + 7 + 1 and lines[-1]  # seven whole rows, then the cut one
    if suffix == ".jsonl":
        assert [json.loads(line)["index"] for line in lines[:7]] == list(range(7))


def test_evaluate_keeps_the_report_when_predictions_hit_a_full_disk(cli, final, tmp_path_factory, tmp_path, monkeypatch):
    out = tmp_path / "preds.jsonl"
    full_disk_after(monkeypatch, 10)
    result = cli("evaluate", "-m", final, "--dataset", held_out_csv(tmp_path_factory), "--predictions", out, "--json", "-q")
    assert_refused(result, 1, "wrote 10 complete rows", "(--predictions)", "the report above is complete")
    assert json.loads(result.stdout)["models"][0]["examples"] == 60
    assert len(out.read_text(encoding="utf-8").split("\n")) == 11


def test_evaluate_keeps_the_report_when_the_plot_cannot_be_saved(cli, final, tmp_path_factory, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", no_space)
    result = cli("evaluate", "-m", final, "--dataset", held_out_csv(tmp_path_factory), "--plot", tmp_path / "e.png", "-q")
    assert_refused(result, 1, "--plot", "e.png", "No space left on device", "the report above is complete")
    assert "accuracy" in result.stdout


def test_evaluate_plot_into_a_missing_folder_creates_it(cli, final, tmp_path_factory, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "new" / "deeper" / "eval.png"
    result = cli("evaluate", "-m", final, "--dataset", held_out_csv(tmp_path_factory), "--plot", target, "-q")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "name, content, needles",
    [("train.csv", LATIN1, ["train.csv' is not UTF-8", "line 2"]), ("test.parquet", b"not parquet", ["test.parquet' is not a Parquet file"])],
    ids=["latin1-csv", "fake-parquet"],
)
def test_a_bad_file_inside_a_hub_layout_folder_is_named(cli, tmp_path, name, content, needles):
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_csv(folder / "validation.csv", make_reviews(8))
    (folder / name).write_bytes(content)
    assert_refused(cli("debug", "data", "--dataset", folder, "--no-lengths"), 1, *needles)
