"""predict --file keeps the input's other columns, so an id joins back; messages say rows or lines."""

from __future__ import annotations

import csv
import json


def _reviews_with_ids(path):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label"])
        w.writerow(["r-17", "a wonderful superb film", "pos"])
        w.writerow(["r-18", "a dull\nboring film", "neg"])  # a text over two physical lines
        w.writerow(["r-19", "", "neg"])
        w.writerow(["r-20", "terrible awful plot", "neg"])
    return path


def test_csv_columns_come_along_in_jsonl_and_csv(cli, final, tmp_path):
    source = _reviews_with_ids(tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    result = cli("predict", "-m", final, "--file", source, "--output", out)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["r-17", "r-18", "r-19", "r-20"]
    assert records[0]["input_label"] == "pos" and records[0]["label"] in ("negative", "positive")
    # the empty text is row 3 of the data, on physical line 5 (the header and a two-line text come first)
    assert "row 3 (line 5)" in " ".join(result.stderr.split())

    out_csv = tmp_path / "out.csv"
    assert cli("predict", "-m", final, "--file", source, "--output", out_csv).exit_code == 0
    with out_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["r-17", "r-18", "r-19", "r-20"]
    assert list(rows[0])[:3] == ["index", "line", "id"] and "p_positive" in rows[0] and "input_label" in rows[0]


def test_jsonl_fields_come_along_and_count_lines(cli, final, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "a superb film"}\n\n{"id": 2, "text": ""}\n')
    result = cli("predict", "-m", final, "--file", source, "--json")
    assert result.exit_code == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    assert [p["id"] for p in predictions] == [1, 2]
    assert "line 3" in result.stderr  # JSON Lines count physical lines, the blank one included
