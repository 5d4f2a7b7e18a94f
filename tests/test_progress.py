"""Long jobs show they are alive: with stderr in a file, train writes a plain line per logging step."""

from __future__ import annotations

import re
import subprocess
import sys


def test_train_to_a_file_logs_every_logging_step(tiny_model, reviews_csv, tmp_path):
    err = tmp_path / "train.log"
    with err.open("w") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "bertcli", "train", "--model", str(tiny_model), "--dataset", str(reviews_csv),
             "-o", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "8", "--lr", "5e-3", "--max-length", "64",
             "--save-steps", "50", "--logging-steps", "4", "--train-size", "all", "--eval-size", "all",
             "--no-tensorboard"],
            stdout=subprocess.PIPE, stderr=fh, text=True, timeout=300,
        )
    log = err.read_text()
    assert done.returncode == 0, log
    # 86 train reviews, batch 8 → 11 steps an epoch, 22 in all; a line at every 4th step
    steps = [int(m) for m in re.findall(r"^step (\d+)/22  epoch [\d.]+  loss [\d.]+  lr \S+  grad [\d.]+  "
                                        r"elapsed .+  eta .+$", log, flags=re.M)]
    assert steps == [4, 8, 12, 16, 20], log
    assert len(re.findall(r"^epoch [12]\.00  step (11|22)  train loss", log, flags=re.M)) == 2, log
    assert "\x1b[" not in log  # no terminal control codes in a file
    assert "step 4/22" not in done.stdout  # progress never goes to stdout


# --- every other long job: plain lines on stderr when it is not a terminal -------------------------

import json  # noqa: E402

import pytest  # noqa: E402
from trained import held_out_csv  # noqa: E402


@pytest.fixture
def every_update(monkeypatch):
    """Each progress update prints a line (normally at most one every 10 s)."""
    import bertcli.render.activity as progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)


PLAIN_LINE = r"^{label}: ([\d,]+)(?:/([\d,]+))? {unit}, [\d.,]+ {unit}/s, elapsed \S+ s(?:, eta \S+ s)?"


def progress_lines(text: str, label: str, unit: str = "texts") -> list[tuple[int, int | None]]:
    found = re.findall(PLAIN_LINE.format(label=re.escape(label), unit=unit), text, flags=re.M)
    return [(int(done.replace(",", "")), int(total.replace(",", "")) if total else None) for done, total in found]


@pytest.mark.parametrize("json_out", [False, True])
def test_evaluate_prints_a_line_per_batch_on_stderr(cli, final, tmp_path_factory, every_update, json_out):
    data = held_out_csv(tmp_path_factory)
    result = cli("evaluate", "-m", str(final), "--dataset", str(data), "--split", "train", "--batch-size", "8",
                 *(["--json"] if json_out else []))
    assert result.exit_code == 0, result.stderr
    lines = progress_lines(result.stderr, "evaluate")
    assert len(lines) >= 7, result.stderr  # 60 texts in batches of 8: 8 batches
    assert all(total == 60 for _, total in lines)
    done = [d for d, _ in lines]
    assert done == sorted(done) and done[-1] == 60 and done[0] < 60, result.stderr
    assert "texts/s" not in result.stdout
    if json_out:
        json.loads(result.stdout)


def test_evaluate_quiet_prints_no_progress(cli, final, tmp_path_factory, every_update):
    result = cli("evaluate", "-m", str(final), "--dataset", str(held_out_csv(tmp_path_factory)), "--split", "train",
                 "--batch-size", "8", "--quiet", "--json")
    assert result.exit_code == 0, result.stderr
    assert progress_lines(result.stderr, "evaluate") == []
    json.loads(result.stdout)


@pytest.mark.parametrize("json_out", [False, True])
def test_predict_file_prints_progress_on_stderr_only(cli, final, tmp_path, every_update, json_out):
    from trained import held_out_rows

    path = tmp_path / "texts.txt"
    path.write_text("".join(text + "\n" for text, _ in held_out_rows()))
    result = cli("predict", "--file", str(path), "--model", str(final), "--batch-size", "8",
                 *(["--json"] if json_out else []))
    assert result.exit_code == 0, result.stderr
    lines = progress_lines(result.stderr, "predict")
    assert len(lines) >= 7, result.stderr  # a line a batch, and a last one
    assert lines[-1] == (60, None), result.stderr
    if json_out:
        assert len(json.loads(result.stdout)["predictions"]) == 60
    else:
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(records) == 60 and all("label" in r for r in records)


def test_predict_stdin_and_quiet_show_no_progress(cli, final, tmp_path, every_update):
    path = tmp_path / "texts.txt"
    path.write_text("a wonderful film\nthe worst movie\n")
    piped = cli("predict", "-", "--model", str(final), input="a wonderful film\nthe worst movie\n")
    quiet = cli("predict", "--file", str(path), "--model", str(final), "--quiet")
    for result in (piped, quiet):
        assert result.exit_code == 0, result.stderr
        assert progress_lines(result.stderr, "predict") == []
        assert len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize("json_out", [False, True])
def test_debug_data_prints_its_phases_on_stderr(cli, tiny_model, reviews_csv, every_update, json_out):
    result = cli("debug", "data", "--dataset", str(reviews_csv), "--model", str(tiny_model), "--max-length", "64",
                 *(["--json"] if json_out else []))
    assert result.exit_code in (0, 1), result.stderr
    assert progress_lines(result.stderr, "debug data: loading")[-1][0] == 96, result.stderr
    hashed = [done for name in ("train", "test", "validation", "carved from train") for done, _ in progress_lines(result.stderr, f"debug data: hashing {name}")]
    assert sum(set(hashed)) >= 96 - 1, result.stderr  # every row of the used splits hashed
    tokenized = progress_lines(result.stderr, "debug data: tokenizing train")
    assert tokenized and tokenized[-1][0] == tokenized[-1][1], result.stderr
    assert "debug data:" not in result.stdout
    if json_out:
        json.loads(result.stdout)


@pytest.mark.parametrize("json_out", [False, True])
def test_debug_model_prints_overfit_steps_on_stderr(cli, tiny_model, every_update, json_out):
    result = cli("debug", "model", "--model", str(tiny_model), "--max-length", "64", "--overfit-steps", "5",
                 "--target-loss", "0.0001", *(["--json"] if json_out else []))
    assert result.exit_code in (0, 1), result.stderr
    assert re.search(r"^debug model: loading the model, elapsed \S+ s$", result.stderr, flags=re.M), result.stderr
    steps = re.findall(r"^debug model: overfit: (\d)/5 steps, .*, loss [\d.]+$", result.stderr, flags=re.M)
    assert [int(s) for s in steps[:5]] == [1, 2, 3, 4, 5], result.stderr
    assert "debug model:" not in result.stdout
    if json_out:
        json.loads(result.stdout)


def test_the_first_estimate_leaves_the_warm_up_steps_out(monkeypatch):
    """Two slow warm-up steps (30 s each, kernels picked) then 1 s steps: the estimate is ~60 s + 98 × 1 s, not 100 × 30 s."""
    from types import SimpleNamespace

    from rich.console import Console

    import bertcli.render.progress as progress

    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    console = Console(record=True, force_terminal=False, width=200)
    callback = progress.RichProgressCallback(console)
    state = SimpleNamespace(is_world_process_zero=True, global_step=0, max_steps=100, epoch=0.0)
    callback.on_train_begin(None, state, None)
    for step in range(1, 11):
        clock[0] += 30.0 if step <= progress.WARMUP_STEPS else 1.0
        state.global_step = step
        callback.on_step_end(None, state, None)
    said = [line for line in console.export_text().splitlines() if line.startswith("estimated time")]
    assert len(said) == 1, console.export_text()
    # printed after 3 timed steps (step 5): 60 s of warm-up + 3 s, then 95 steps at 1 s
    assert said[0].startswith("estimated time: 2m 38s for 100 steps (at the pace of steps 3-5, after 2 warm-up steps"), said
