"""No output overwrites an input (real paths, symlinks, `..` and hard links included), and outputs land whole."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from factory import make_reviews, write_csv
from refusals import assert_refused, error_lines


def texts_file(folder: Path) -> Path:
    path = folder / "b.txt"
    path.write_text("".join(f"a fine film number {i}\n" for i in range(30)), encoding="utf-8")
    return path


def same_file_spellings(path: Path) -> list[Path]:
    """`path` as given, through a `..` detour, through a symlink to it and through a hard link."""
    (path.parent / "dl").mkdir(exist_ok=True)
    link = path.parent / "link-to-input"
    link.symlink_to(path)
    hard = path.parent / "hard-link-to-input"
    os.link(path, hard)
    return [path, path.parent / "dl" / ".." / path.name, link, hard]


def test_predict_refuses_an_output_that_is_its_input_file(cli, final, tmp_path):
    source = texts_file(tmp_path)
    before = source.read_bytes()
    for spelling in same_file_spellings(source):
        result = cli("predict", "-m", final, "--file", source, "--output", spelling, "-q")
        assert_refused(result, 2, "--output", "is the input given to --file", "pick another path")
        assert source.read_bytes() == before


def test_predict_refuses_an_output_inside_the_model_folder(cli, final, tmp_path):
    source = texts_file(tmp_path)
    files = {p.name: p.read_bytes() for p in final.iterdir() if p.is_file()}
    result = cli("predict", "-m", final, "--file", source, "--output", final / "config.json", "-q")
    assert_refused(result, 2, "--output", "--model")
    assert {p.name: p.read_bytes() for p in final.iterdir() if p.is_file()} == files


def test_evaluate_refuses_predictions_or_a_plot_over_its_dataset(cli, final, tmp_path):
    data = write_csv(tmp_path / "a.csv", make_reviews(40))
    before = data.read_bytes()
    for spelling in same_file_spellings(data):
        for flag in ("--predictions", "--plot"):
            result = cli("evaluate", "-m", final, "--dataset", data, flag, spelling, "-q")
            assert result.exit_code == 2, result.stderr
            assert "is the input given to --dataset" in result.stderr
    assert data.read_bytes() == before


def test_evaluate_refuses_predictions_written_into_its_dataset_folder(cli, final, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(40))
    write_csv(folder / "test.csv", make_reviews(20, seed=1))
    result = cli("evaluate", "-m", final, "--dataset", folder, "--predictions", folder / "preds.jsonl", "-q")
    assert_refused(result, 2, "lies inside --dataset")
    assert sorted(p.name for p in folder.iterdir()) == ["test.csv", "train.csv"]


def test_train_refuses_an_output_dir_that_holds_its_model_or_data(cli, tiny_model, tmp_path):
    (tmp_path / "run").mkdir()
    data = write_csv(tmp_path / "run" / "a.csv", make_reviews(40))
    result = cli("train", "--model", tiny_model, "--dataset", data, "-o", tmp_path / "run", "--overwrite", "--max-steps", "1")
    assert_refused(result, 2, "--output-dir", "holds --dataset")
    assert data.is_file()
    result = cli("train", "--model", tiny_model, "--dataset", data, "-o", tiny_model / "inside", "--max-steps", "1")
    assert_refused(result, 2, "--output-dir", "lies inside --model")


def test_debug_data_refuses_a_clean_copy_into_its_dataset(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_csv(folder / "train.csv", make_reviews(40))
    result = cli("debug", "data", "--dataset", folder, "--clean-to", folder / "clean")
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert "--clean-to" in line and "lies inside --dataset" in line
    assert not (folder / "clean").exists()


def test_inspect_refuses_a_plot_over_a_trainer_state(cli, reference_run, tmp_path):
    state = next(reference_run.rglob("trainer_state.json"))
    before = state.read_bytes()
    pytest.importorskip("matplotlib")
    result = cli("inspect-checkpoint", reference_run, "--plot", state)
    assert_refused(result, 2, "--plot", "is the input given to PATH")
    assert state.read_bytes() == before


def test_an_interrupted_write_leaves_the_earlier_file_untouched(cli, final, tmp_path, monkeypatch):
    """A write that fails part-way keeps the good file at its path and the partial one beside it as .partial."""
    from bertcli.core.inference import records

    source = texts_file(tmp_path)
    out = tmp_path / "scored.jsonl"
    out.write_text("an earlier, good file\n", encoding="utf-8")
    real, seen = records.OutputFile.write, {"n": 0}

    def write(self, text):
        seen["n"] += 1
        if seen["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, text)

    monkeypatch.setattr(records.OutputFile, "write", write)
    result = cli("predict", "--file", source, "-m", final, "--output", out, "-q")
    assert result.exit_code == 1
    assert out.read_text(encoding="utf-8") == "an earlier, good file\n"
    partial = tmp_path / "scored.jsonl.partial"
    assert partial.is_file() and str(partial) in result.stderr
    assert len(partial.read_text(encoding="utf-8").splitlines()) == 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".scored.jsonl.")]


def test_a_complete_write_replaces_the_earlier_file_and_leaves_no_temporary_file(cli, final, tmp_path):
    source = texts_file(tmp_path)
    out = tmp_path / "scored.jsonl"
    out.write_text("old\n", encoding="utf-8")
    result = cli("predict", "--file", source, "-m", final, "--output", out, "-q")
    assert result.exit_code == 0, result.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.txt", "scored.jsonl"]
