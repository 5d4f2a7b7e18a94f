"""Data files as they are published: one formats table, headerless tables, tabs in a .csv, text in several
columns, and the columns saved with a model reused by predict and evaluate."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from bertcli.core.data import DataSpec, select_examples
from bertcli.core.data.files import FORMATS, suffixes_text
from bertcli.core.data.tables import SAMPLE_BYTES, TEXT_JOIN, table_layout
from bertcli.core.errors import DataError, UsageError
from bertcli.core.inference.texts import check_text_source, read_texts

SHARED = Path(os.environ.get("BERTCLI_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

TOPICS = {
    "World": "the minister said talks between the two governments would resume after the summit next week",
    "Sports": "the striker scored twice in the second half as the home side won the cup final on sunday",
    "Business": "shares in the bank fell sharply after it reported lower quarterly profit than analysts expected",
}


def topic_rows(n: int) -> list[tuple[str, str]]:
    names = list(TOPICS)
    return [(f"{TOPICS[names[i % 3]]} (report {i})", names[i % 3]) for i in range(n)]


def write_rows(path: Path, rows, delimiter: str, header=None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def shared_slice(name: str, lines: int, to: Path) -> Path:
    """The first `lines` lines of a file in ../shared/data, copied at test time (skipped when it is absent)."""
    source = SHARED / name
    if not source.is_file():
        pytest.skip(f"{source} not found (the real data beside the project; set BERTCLI_SHARED_DATA)")
    to.parent.mkdir(parents=True, exist_ok=True)
    with source.open(encoding="utf-8", newline="") as fh:
        to.write_text("".join(line for _, line in zip(range(lines), fh)), encoding="utf-8", newline="")
    return to


# --- one table of formats ---------------------------------------------------------------------------------


def test_ndjson_is_read_by_train_and_predict_alike(tmp_path):
    path = tmp_path / "topics.ndjson"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in topic_rows(30)))
    data = select_examples(DataSpec(str(path), train_size=None, eval_size=None))
    assert sorted(data.label_names) == sorted(TOPICS) and len(data.train) + len(data.eval) == 30
    items = list(read_texts(path))
    assert [i.text for i in items] == [t for t, _ in topic_rows(30)]


def test_the_formats_table_drives_the_help_and_the_refusals(cli, tmp_path):
    suffixes = [s for fmt in FORMATS for s in fmt.suffixes if s]
    predict_help = " ".join(cli("predict", "--help").stdout.split())
    train_help = " ".join(cli("train", "--help").stdout.split())
    for suffix in suffixes:
        assert suffix in predict_help, suffix
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            if suffix and fmt.labelled:
                assert suffix in train_help, suffix
    with pytest.raises(UsageError) as refused:
        check_text_source(tmp_path / "sheet.xlsx")
    assert suffixes_text(labelled=False) in str(refused.value)
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"use a \.csv, \.tsv, \.jsonl, \.ndjson, \.json or \.parquet file"):
        select_examples(DataSpec(str(sheet)))


# --- headerless tables, tabs in a .csv, text in several columns ------------------------------------------


def test_a_headerless_tsv_is_found_and_its_columns_picked(tmp_path):
    path = write_rows(tmp_path / "train.tsv", topic_rows(40), "\t")
    data = select_examples(DataSpec(str(path), train_size=None, eval_size=None))
    assert (data.text_column, data.label_column) == ("1", "2")
    assert sorted(data.label_names) == sorted(TOPICS) and len(data.train) + len(data.eval) == 40
    assert any("no header row" in note and "--header" in note for note in data.notes)
    assert any("text from column 1, label from column 2" in note for note in data.notes)
    # said on the command line: by position, 1 = the first column
    named = select_examples(DataSpec(str(path), text_column="1", label_column="2", header=False))
    assert list(named.train["text"])[0] in {t for t, _ in topic_rows(40)}


def test_a_header_is_kept_when_the_first_row_names_columns(tmp_path):
    path = write_rows(tmp_path / "train.csv", topic_rows(20), ",", header=["sentence", "topic"])
    layout = table_layout(path, str(path))
    assert layout.header and layout.columns == ["sentence", "topic"]
    data = select_examples(DataSpec(str(path), train_size=None, eval_size=None))
    assert (data.text_column, data.label_column) == ("sentence", "topic")


def test_tabs_in_a_csv_are_found(tmp_path):
    rows = [(i, f"{text}, and more, with commas", y) for i, (text, y) in enumerate(topic_rows(30))]
    path = write_rows(tmp_path / "questions.csv", rows, "\t", header=["id", "question", "label"])
    data = select_examples(DataSpec(str(path), train_size=None, eval_size=None))
    assert data.text_column == "question" and sorted(data.label_names) == sorted(TOPICS)
    assert any("tab-separated despite the .csv suffix" in note for note in data.notes)
    with pytest.raises(DataError, match=r"line \d+ has \d+ field\(s\).*--delimiter"):
        select_examples(DataSpec(str(path), delimiter="comma", text_column="question"))


def test_two_text_columns_name_the_flags_and_join_when_asked(tmp_path):
    rows = [(i % 3 + 1, f"headline number {i} about the topic", text) for i, (text, _) in enumerate(topic_rows(30))]
    path = write_rows(tmp_path / "train.csv", rows, ",")
    with pytest.raises(DataError, match=r"2 columns of text .*--text-column 3, or join them with --text-column 2,3"):
        select_examples(DataSpec(str(path)))
    data = select_examples(DataSpec(str(path), text_column="2,3", train_size=None, eval_size=None), for_training=False)
    assert data.label_column == "1"
    first = list(data.train["text"])[0]
    title, body = first.split(TEXT_JOIN)
    assert title.startswith("headline number") and body in {t for t, _ in topic_rows(30)}
    named = write_rows(tmp_path / "named.csv", rows, ",", header=["class", "title", "description"])
    by_name = select_examples(DataSpec(str(named), text_column="title,description", label_column="class"), for_training=False)
    assert sorted(by_name.train["text"]) == sorted(data.train["text"])


def test_the_layout_is_found_from_a_bounded_sample(tmp_path):
    path = write_rows(tmp_path / "big.csv", topic_rows(SAMPLE_BYTES // 50), ",", header=["text", "label"])
    assert path.stat().st_size > SAMPLE_BYTES
    with path.open("a") as fh:  # past the sample: rows that would change every guess if they were read
        fh.write(("1\t2\t3\t4\n" * (2 * SAMPLE_BYTES // 8)))
    layout = table_layout(path, str(path))
    assert (layout.delimiter, layout.header, layout.columns) == (",", True, ["text", "label"])


def test_predict_reads_a_headerless_table_by_position(tmp_path):
    path = write_rows(tmp_path / "new.tsv", topic_rows(12), "\t")
    texts = [item.text for item in read_texts(path)]
    assert texts == [t for t, _ in topic_rows(12)]
    joined = write_rows(tmp_path / "two.csv", [(y, t, t) for t, y in topic_rows(5)], ",")
    from bertcli.core.inference.texts import TableOptions

    items = list(read_texts(joined, TableOptions("2,3")))
    assert [i.text for i in items] == [f"{t}{TEXT_JOIN}{t}" for t, _ in topic_rows(5)]
    assert items[0].fields == {"1": topic_rows(5)[0][1]}
    records = tmp_path / "two.jsonl"
    records.write_text("".join(json.dumps({"id": i, "review": t}) + "\n" for i, (t, _) in enumerate(topic_rows(4))))
    options = TableOptions()
    assert [i.text for i in read_texts(records, options)] == [t for t, _ in topic_rows(4)]
    assert any("text from column review" in note for note in options.notes)


# --- the columns saved with a model ---------------------------------------------------------------------


@pytest.fixture
def review_model(final, tmp_path):
    """The trained tiny model, recorded as trained on a 'review' column (as a run on such a file records it)."""
    model = tmp_path / "model"
    shutil.copytree(final, model)
    manifest = json.loads((model / "bertcli.json").read_text())
    manifest["training"]["text_column"] = "review"
    (model / "bertcli.json").write_text(json.dumps(manifest))
    return model


def test_predict_and_evaluate_reuse_the_saved_text_column(cli, review_model, final, tmp_path):
    from factory import make_reviews

    rows = [(text, f"summary {i} of this one", label) for i, (text, label) in enumerate(make_reviews(12))]
    path = write_rows(tmp_path / "new.csv", rows, ",", header=["review", "summary", "label"])
    result = cli("predict", "-m", review_model, "--file", path, "--format", "jsonl", "-q")
    assert result.exit_code == 0, result.stderr
    predicted = [json.loads(line) for line in result.stdout.splitlines()]
    assert [p["text"] for p in predicted] == [text for text, _, _ in rows]
    result = cli("evaluate", "-m", review_model, "--dataset", path, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["examples"] == 12 and report["split"] == "new.csv"
    # a model trained on a 'text' column: the file's two text columns are named, with the flag
    result = cli("evaluate", "-m", final, "--dataset", path, "--json")
    assert result.exit_code == 1 and "--text-column summary, or join them with --text-column review,summary" in result.stderr


# --- slices of the real files ------------------------------------------------------------------------------


def test_agnews_folder_loads_as_train_and_test_without_flags(tmp_path):
    folder = tmp_path / "agnews"
    shared_slice("agnews/train.tsv", 60, folder / "train.tsv")
    shared_slice("agnews/test.tsv", 30, folder / "test.tsv")
    data = select_examples(DataSpec(str(folder), train_size=None, eval_size=None))
    assert data.eval_split == "test" and len(data.train) == 60 and len(data.eval) == 30
    assert (data.text_column, data.label_column) == ("1", "2")
    assert set(data.label_names) <= {"World", "Sports", "Business", "Sci/Tech"} and len(data.label_names) >= 2


def test_trec_tabs_in_csv_load_as_train_and_test(tmp_path):
    folder = tmp_path / "trec"
    train = shared_slice("trec/train.csv", 200, folder / "train.csv")
    shared_slice("trec/test.csv", 60, folder / "test.csv")
    data = select_examples(DataSpec(str(folder), train_size=None, eval_size=None), for_training=False)
    assert data.eval_split == "test" and data.text_column == "question" and data.label_column == "label"
    assert len(data.train) == 199 and set(data.label_names) <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    questions = [line.split("\t")[1] for line in train.read_text(encoding="utf-8").splitlines()[1:]]
    assert list(data.train["text"]) == questions


def test_agnews_csv_names_the_text_flags_then_joins_title_and_description(tmp_path):
    path = shared_slice("agnews-csv/train.csv", 40, tmp_path / "train.csv")
    with pytest.raises(DataError, match=r"--text-column 3, or join them with --text-column 2,3"):
        select_examples(DataSpec(str(path)))
    data = select_examples(DataSpec(str(path), text_column="2,3", train_size=None, eval_size=None), for_training=False)
    assert data.label_column == "1" and all(TEXT_JOIN in text for text in data.train["text"])


def test_goemotions_layout_picks_text_and_label_columns(tmp_path):
    from bertcli.core.data.tables import choose_columns, sample_columns

    path = shared_slice("goemotions-ekman/train.tsv", 100, tmp_path / "train.tsv")
    layout = table_layout(path, str(path))
    assert (layout.delimiter, layout.header, layout.columns) == ("\t", False, ["1", "2", "3"])
    choice = choose_columns(sample_columns(path, layout), "text", "label", "'train.tsv'")
    assert (choice.text, choice.label) == (["1"], "2")
