"""Every report reads at 80 columns: no line wider, no number cut or marked with '…'."""

from __future__ import annotations

import re

import pytest
from examples import EXAMPLE_RUNS
from rich.cells import cell_len
from trained import held_out_csv

CUT_NUMBER = re.compile(r"\d…|…\d|\d\.…")


def _check(text: str, *whole: str) -> None:
    assert text.strip(), "nothing printed"
    # a fix command is printed whole on its own line, so that it pastes: the terminal wraps it, not bertcli
    wide = [line for line in text.splitlines() if cell_len(line) > 80 and not line.startswith("    fix: ")]
    assert not wide, "\n".join(wide)
    assert not CUT_NUMBER.search(text), text
    flat = " ".join(text.split())
    for number in whole:
        assert number in flat, f"{number!r} not printed whole:\n{text}"


@pytest.fixture
def narrow(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")

    def run(*args):
        result = cli(*args)
        assert result.exit_code in (0, 1), result.stderr
        return result.stdout

    return run


def test_inspect_one_run(narrow):
    _check(narrow("inspect-checkpoint", EXAMPLE_RUNS[0], "--every", "50"), "0.6933", "1.95e-05", "32.96", "0.8840")


def test_inspect_compares_runs_by_their_names(narrow):
    out = narrow("inspect-checkpoint", *EXAMPLE_RUNS)
    _check(out, "0.1820 @ 370", "0.4027 @ 370", "minilm-imdb-3ep", "minilm-imdb-original-recipe")


def test_debug_run(narrow):
    _check(narrow("debug", "run", EXAMPLE_RUNS[0]), "-0.1789", "0.6719", "0.9012", "0.8884")


def test_debug_data(narrow, reviews_csv, tiny_model):
    _check(narrow("debug", "data", "--dataset", reviews_csv, "--model", tiny_model, "--max-length", "64"))


def test_debug_model(narrow, final):
    _check(narrow("debug", "model", "--model", final, "--max-length", "64"))


def test_evaluate_one_and_several_models(narrow, run_dir, tmp_path_factory):
    data = held_out_csv(tmp_path_factory)
    _check(narrow("evaluate", "-m", run_dir / "final", "--dataset", data))
    first = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[0]
    _check(narrow("evaluate", "-m", first, "-m", run_dir / "final", "--dataset", data))


def test_predict(narrow, final):
    _check(narrow("predict", "-m", final, "a wonderful superb film", "a dull boring and painful plot"))


def test_train_report(narrow, tiny_model, reviews_csv, tmp_path):
    out = narrow("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", tmp_path / "r", "--epochs", "1",
                 "--batch-size", "16", "--lr", "5e-3", "--max-length", "64", "--train-size", "all", "--eval-size", "all",
                 "--no-tensorboard", "-q")
    _check(out)
