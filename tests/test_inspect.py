"""bertcli inspect-checkpoint: the reference run's findings, exactly; any Trainer state; clean errors."""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertcli.core.errors import CheckpointError
from bertcli.core.runs.inspect import analyze_run, inspect_runs
from bertcli.core.runs.log import sample_rows
from bertcli.core.runs.lr_schedule import describe_lr_schedule
from bertcli.core.runs.state import load_trainer_state, parse_trainer_state
from examples import EXAMPLE_STATES, REPO
from refusals import one_line_error
from states import REFERENCE_GRAD_NORM, REFERENCE_LOSS, TOTAL, reference_state, trainer_state, write_checkpoint


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")


# --- the reference run's numbers --------------------------------------------------------------------------------


def test_reference_run_findings_are_exact(reference_run):
    run = inspect_runs([reference_run / "checkpoint-375"])[0]

    low = run.lowest_loss
    assert (low.value, low.step, low.epoch) == (0.0843, 280, 2.24)
    assert (low.first, low.first_step, low.final, low.final_step) == (0.6997, 10, 0.1228, 370)
    assert (low.after_min, low.after_max, low.after_points) == (0.1093, 0.1964, 9)

    lr = run.lr_schedule
    assert lr.shape == "linear" and lr.warmup_steps == 0 and lr.total_steps == 375 and lr.logged_before_step is True
    assert lr.peak == pytest.approx(2e-5, rel=1e-9)
    assert lr.first == pytest.approx(1.952e-5) and lr.first_step == 10
    assert lr.last == pytest.approx(3.2e-7) and lr.last_step == 370

    grads = run.grad_norms
    assert [(s.step, s.value) for s in grads.spikes] == [(70, 15.03)]
    spike = grads.spikes[0]
    assert spike.times_median == pytest.approx(15.03 / grads.median)
    assert (spike.loss_before, spike.loss_at, spike.loss_after) == (0.4610, 0.5132, 0.4025)
    assert grads.median == pytest.approx(3.09) and grads.threshold < 15.03

    assert run.non_finite == [] and run.evals.count == 0
    assert run.summary["steps_per_epoch"] == 125 and run.summary["examples_per_epoch"] == 2000
    assert run.summary["finished"] is True and run.summary["logging_every"] == 10

    messages = {f.code: f for f in run.findings}
    assert "loss fell from 0.6997 at step 10 to a low of 0.0843 at step 280 (epoch 2.24)" in messages["loss"].summary
    assert "ranged 0.1093–0.1964" in messages["loss"].summary
    assert "linear decay from 1.95e-5 at step 10 to 3.2e-7 at step 370" in messages["lr_schedule"].summary
    assert "peak 2e-5 inferred, no warmup" in messages["lr_schedule"].summary
    assert "15.03 at step 70" in messages["grad_norm"].summary and messages["grad_norm"].level == "warning"
    assert messages["no_eval"].level == "warning" and "evaluation was off" in messages["no_eval"].summary
    assert messages["nan_filter"].level == "warning" and "logging_nan_inf_filter" in messages["nan_filter"].summary


def test_cli_shows_the_reference_analysis(cli, reference_run, wide):
    result = cli("inspect-checkpoint", reference_run / "checkpoint-375")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for needle in (
        "step 375 of 375, epoch 3.00 of 3, 125 steps/epoch",
        "16 (≈ 2,000 examples/epoch)",
        "logging every 10 steps, saving every 10, no evaluation",
        "lowest loss",
        "spike 4.9× median",
        "Grad-norm spikes",
        "0.4610 → 0.5132 → 0.4025",
        "loss fell from 0.6997 at step 10 to a low of 0.0843 at step 280",
        "no evaluation in the log",
    ):
        assert needle in out, needle
    for chart_line in ("loss ", "learning rate ", "grad norm "):
        assert any(line.startswith(chart_line) and "▁" in line for line in out.splitlines()), chart_line
    assert out.count("\n│ ") >= 37  # every logged step in a short run


def test_every_samples_the_table_like_the_writeup(reference_run):
    run = inspect_runs([reference_run / "checkpoint-375"])[0]
    rows, every = sample_rows(run.rows, 50)
    assert every == 50
    assert [r.step for r in rows] == [10, 50, 70, 100, 150, 200, 250, 280, 300, 350, 370]  # 70: the spike
    assert [r.step for r in rows if r.lowest] == [280]


def test_every_on_the_command_line(cli, reference_run, wide):
    result = cli("inspect-checkpoint", reference_run / "checkpoint-375", "--every", "100")
    assert result.exit_code == 0
    log_table = result.stdout.split("Training log")[1].split("Grad-norm spikes")[0]
    steps = [line.split("│")[1].strip() for line in log_table.splitlines() if line.startswith("│ ")]
    table_steps = [int(s) for s in steps if s.isdigit()]
    assert table_steps == [10, 70, 100, 200, 280, 300, 370]


def test_run_folder_reads_the_newest_complete_checkpoint(cli, reference_run, wide):
    run = load_trainer_state(reference_run)
    assert run.checkpoint == "checkpoint-375" and run.chosen_from_run and run.skipped == ["checkpoint-380"]
    result = cli("inspect-checkpoint", reference_run)
    assert result.exit_code == 0
    assert "newest complete checkpoint" in result.stdout and "checkpoint-375" in result.stdout
    assert "skipped checkpoint-380" in result.stdout


def test_trainer_state_file_directly(cli, reference_run):
    result = cli("inspect-checkpoint", reference_run / "checkpoint-375" / "trainer_state.json", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["lowest_loss"]["step"] == 280


# --- any Trainer state ------------------------------------------------------------------------------------------


def test_transformers4_state_without_grad_norm(tmp_path, cli, wide):
    evals = {125: {"loss": 0.31, "accuracy": 0.874, "matthews": 0.75}, 250: {"loss": 0.27, "accuracy": 0.902, "matthews": 0.80},
             375: {"loss": 0.29, "accuracy": 0.898, "matthews": 0.79}}
    state = reference_state(grad_norms=None, transformers4=True, evals=evals)
    folder = write_checkpoint(tmp_path / "old" / "checkpoint-375", state)
    run = inspect_runs([folder])[0]

    lr = run.lr_schedule
    assert lr.shape == "linear" and lr.logged_before_step is False and lr.peak == pytest.approx(2e-5, rel=1e-9)
    assert lr.first == pytest.approx(1.9467e-5, rel=1e-4) and lr.last == pytest.approx(2.667e-7, rel=1e-3)
    assert run.grad_norms.points == 0 and run.grad_norms.spikes == []
    assert run.evals.count == 3 and run.evals.metrics == ["loss", "accuracy", "matthews"]
    assert run.evals.best["accuracy"] == {"value": 0.902, "step": 250}
    assert run.evals.best["loss"] == {"value": 0.27, "step": 250}
    assert run.summary["eval_every"] == 125 and run.summary["eval_per_epoch"] is True
    codes = {f.code: f for f in run.findings}
    assert "no grad_norm" in codes["grad_norm"].summary and "no_eval" not in codes
    assert "accuracy best 0.9020 at step 250" in codes["eval"].summary

    result = cli("inspect-checkpoint", folder)
    assert result.exit_code == 0, result.stderr
    assert "evaluation every 125 steps (each epoch)" in result.stdout
    eval_rows = [line for line in result.stdout.splitlines() if "│ eval " in line]
    assert len(eval_rows) == 3 and "0.9020" in eval_rows[1]


def test_nan_loss_is_found(tmp_path, cli, wide):
    losses = list(REFERENCE_LOSS)
    losses[11] = float("nan")  # step 120
    grads = list(REFERENCE_GRAD_NORM)
    grads[11] = float("inf")
    folder = write_checkpoint(tmp_path / "checkpoint-375", reference_state(losses, grads))  # json writes NaN / Infinity
    run = inspect_runs([folder])[0]
    assert [(n.step, n.key, n.value) for n in run.non_finite] == [(120, "grad_norm", "inf"), (120, "loss", "nan")]
    nan = next(f for f in run.findings if f.code == "non_finite")
    assert nan.level == "error" and "diverged at step 120" in nan.summary
    assert run.lowest_loss.value == 0.0843

    result = cli("inspect-checkpoint", folder)
    assert result.exit_code == 0
    assert "non-finite" in result.stdout and "nan" in result.stdout
    data = json.loads(cli("inspect-checkpoint", folder, "--json").stdout)
    row = next(r for r in data["rows"] if r["step"] == 120)
    assert row["loss"] is None and row["non_finite"] is True
    assert {"step": 120, "key": "loss", "value": "nan"} in data["non_finite"]


def test_bertcli_runs_log_nan_unfiltered(tmp_path):
    folder = write_checkpoint(tmp_path / "checkpoint-375", reference_state(), files={"bertcli.json": {"max_length": 512, "truncation": "head+tail"}})
    run = inspect_runs([folder])[0]
    codes = {f.code: f for f in run.findings}
    assert "nan_filter" not in codes and codes["non_finite"].level == "info"
    assert run.settings["max_length"] == 512


def test_intermediate_checkpoint_says_how_far_it_got(tmp_path):
    folder = write_checkpoint(tmp_path / "checkpoint-120", reference_state(REFERENCE_LOSS[:12], REFERENCE_GRAD_NORM[:12], global_step=120))
    run = inspect_runs([folder])[0]
    progress = next(f for f in run.findings if f.code == "progress")
    assert "step 120 of 375 (epoch 0.96 of 3)" in progress.summary
    assert run.lr_schedule.shape == "linear" and run.lr_schedule.peak == pytest.approx(2e-5)


@pytest.mark.parametrize(
    "shape, warmup, before",
    [("linear", 38, True), ("cosine", 0, True), ("cosine", 20, False), ("constant", 30, True), ("linear", 0, False)],
)
def test_lr_schedules_are_recognised(shape, warmup, before):
    import math as m

    def factor(done: int) -> float:
        if done < warmup:
            return done / warmup
        progress = (done - warmup) / (TOTAL - warmup)
        return {"linear": 1 - progress, "cosine": 0.5 * (1 + m.cos(m.pi * progress)), "constant": 1.0}[shape]

    points = [(s, 5e-5 * factor(s - 1 if before else s)) for s in range(10, 375, 10)]
    lr = describe_lr_schedule(points, TOTAL)
    assert (lr.shape, lr.warmup_steps, lr.logged_before_step) == (shape, warmup, before)
    assert lr.peak == pytest.approx(5e-5, rel=1e-9)


def test_unrecognised_schedule_is_other():
    points = [(s, 1e-4 if s < 200 else 1e-5) for s in range(10, 375, 10)]  # a step schedule
    lr = describe_lr_schedule(points, TOTAL)
    assert lr.shape == "other" and lr.peak_logged == 1e-4 and lr.peak_logged_step == 10


def test_two_points_and_a_known_length_are_enough_for_the_schedule():
    lr = describe_lr_schedule([(10, 2.75e-3), (20, 2.5e-4)], 20)
    assert lr.shape == "linear" and lr.peak == pytest.approx(5e-3) and lr.logged_before_step is True


def test_steady_grad_norms_have_no_spikes(tmp_path):
    """Few, steady norms: a MAD near zero must not turn a 1.4x bump into a spike."""
    norms = [0.45, 0.44, 0.64, 0.46, 0.45, 0.37, 0.45, 0.46]
    losses = [0.6956, 0.6940, 0.6921, 0.6900, 0.6885, 0.6870, 0.6831, 0.6882]
    folder = write_checkpoint(tmp_path / "checkpoint-8", trainer_state(losses, norms, every=1, steps_per_epoch=4))
    run = inspect_runs([folder])[0]
    assert run.grad_norms.spikes == [] and run.grad_norms.threshold > 0.64
    loss = next(f for f in run.findings if f.code == "loss")
    assert "to a low of 0.6831 at step 7 (epoch 1.75), then 0.6882 at step 8, the last log" in loss.summary


def test_spike_k_moves_the_threshold(reference_run):
    assert inspect_runs([reference_run / "checkpoint-375"], spike_k=50)[0].grad_norms.spikes == []
    assert len(inspect_runs([reference_run / "checkpoint-375"], spike_k=1)[0].grad_norms.spikes) > 1


# --- JSON and plots ---------------------------------------------------------------------------------------------


def test_json_carries_the_same_findings(cli, reference_run, wide):
    data = json.loads(cli("inspect-checkpoint", reference_run / "checkpoint-375", "--json").stdout)
    run = inspect_runs([reference_run / "checkpoint-375"])[0]
    # one Finding shape in every command's JSON: code, level, summary, evidence, fix
    assert data["findings"] == [
        {"code": f.code, "level": f.level, "summary": f.summary, "evidence": f.evidence, "fix": f.fix} for f in run.findings
    ]
    assert data["lowest_loss"]["value"] == 0.0843 and data["lowest_loss"]["step"] == 280
    assert data["lr_schedule"]["shape"] == "linear" and data["lr_schedule"]["peak"] == pytest.approx(2e-5)
    assert [s["step"] for s in data["grad_norms"]["spikes"]] == [70]
    assert len(data["rows"]) == 37 and data["checkpoint"] == "checkpoint-375"
    text = cli("inspect-checkpoint", reference_run / "checkpoint-375").stdout
    for finding in data["findings"]:
        assert finding["summary"] in text


def test_plot_writes_a_png(cli, reference_run, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "run.png"
    result = cli("inspect-checkpoint", reference_run / "checkpoint-375", "--plot", png, "--json")
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    json.loads(result.stdout)  # the plot note goes to stderr, stdout stays one JSON document
    assert "wrote" in result.stderr


def test_plot_into_a_missing_folder_is_a_clean_error(cli, reference_run, tmp_path):
    pytest.importorskip("matplotlib")
    line = one_line_error(cli("inspect-checkpoint", reference_run, "--plot", tmp_path / "nope" / "x.png"))
    assert "does not exist" in line


# --- comparing runs ---------------------------------------------------------------------------------------------


def test_compare_two_runs(tmp_path, cli, wide):
    three = write_checkpoint(tmp_path / "epochs3" / "checkpoint-375", reference_state(),
                             files={"bertcli.json": {"max_length": 512, "weight_decay": 0.01}})
    losses2 = [round(0.7 - 0.0025 * i, 4) for i in range(50)]
    grads2 = [2.0 + (i % 5) * 0.3 for i in range(50)]
    evals = {250: {"loss": 0.25, "accuracy": 0.91}, 500: {"loss": 0.27, "accuracy": 0.915}}
    two = write_checkpoint(
        tmp_path / "epochs2" / "checkpoint-500",
        trainer_state(losses2, grads2, steps_per_epoch=250, batch=8, evals=evals),
        files={"bertcli.json": {"max_length": 512, "weight_decay": 0.05, "warmup_ratio": 0.1}},
    )
    result = cli("inspect-checkpoint", tmp_path / "epochs3", tmp_path / "epochs2", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {row["run"]: row for row in data["comparison"]["rows"]}
    first, second = rows[str(tmp_path / "epochs3")], rows[str(tmp_path / "epochs2")]
    assert (first["global_step"], first["lowest_loss"], first["lowest_loss_step"], first["spikes"]) == (375, 0.0843, 280, 1)
    assert first["best_eval"] is None and first["final_loss"] == 0.1228
    assert second["global_step"] == 500 and second["best_eval"] == {"metric": "accuracy", "value": 0.915, "step": 500}
    assert second["spikes"] == 0 and second["lowest_loss"] == round(0.7 - 0.0025 * 49, 4)
    differing = data["comparison"]["differing"]
    assert differing["train_batch_size"] == [16, 8] and differing["num_train_epochs"] == [3, 2]
    assert differing["weight_decay"] == [0.01, 0.05] and "max_length" not in differing
    assert "inferred_learning_rate" not in differing  # both 2e-5
    assert "warmup_ratio" not in differing  # recorded by one run only: unknown for the other, not different

    text = cli("inspect-checkpoint", tmp_path / "epochs3", tmp_path / "epochs2").stdout
    assert "Runs compared" in text and "Hyperparameters that differ" in text and "weight_decay" in text
    assert re.search(r"best accuracy\s*│\s*no eval\s*│\s*0\.9150 @ 500", text), text
    assert sum(line.startswith("loss ") for line in text.splitlines()) == 2  # the loss curves, one per run

    pytest.importorskip("matplotlib")
    png = tmp_path / "compare.png"
    assert cli("inspect-checkpoint", three, two, "--plot", png).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


# --- bad input: one line on stderr, non-zero exit, no traceback -------------------------------------------------


def _bad(tmp_path: Path, case: str) -> Path:
    run = tmp_path / "run"
    write_checkpoint(run / "checkpoint-370", reference_state(global_step=370))
    state = reference_state()
    if case == "missing":
        return run / "checkpoint-999"
    if case == "no state folder":
        (tmp_path / "empty").mkdir()
        return tmp_path / "empty"
    if case == "half-written":
        (run / "checkpoint-380").mkdir()
        (run / "checkpoint-380" / "optimizer.pt").write_bytes(b"\0")
        return run / "checkpoint-380"
    if case == "truncated":
        text = json.dumps(state, indent=2)
        return write_checkpoint(run / "checkpoint-375", text[: len(text) // 2])
    if case == "invalid":
        return write_checkpoint(run / "checkpoint-375", "{'log_history': [}")
    if case == "empty file":
        return write_checkpoint(run / "checkpoint-375", "")
    if case == "empty log":
        return write_checkpoint(run / "checkpoint-375", {**state, "log_history": []})
    if case == "non-numeric":
        state["log_history"][3]["loss"] = "abc"
        return write_checkpoint(run / "checkpoint-375", state)
    if case == "nan step":
        state["log_history"][3]["step"] = float("nan")
        return write_checkpoint(run / "checkpoint-375", state)
    if case == "not an object":
        return write_checkpoint(run / "checkpoint-375", "[1, 2, 3]")
    if case == "no log_history":
        return write_checkpoint(run / "checkpoint-375", {"global_step": 3})
    if case == "binary":
        return write_checkpoint(run / "checkpoint-375", b"\x80\x04\x95\xff\xfe")
    if case == "bin file":
        (run / "checkpoint-370" / "training_args.bin").write_bytes(b"\x80\x04N.")
        return run / "checkpoint-370" / "training_args.bin"
    if case == "nested":
        return tmp_path
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case, needles",
    [
        ("missing", ["does not exist", "try", "checkpoint-370"]),
        ("no state folder", ["no trainer_state.json or checkpoint-N folders", "results/checkpoint-375"]),
        ("half-written", ["no trainer_state.json in", "half-written", "try", "checkpoint-370"]),
        ("truncated", ["truncated", "cut off", "try", "checkpoint-370"]),
        ("invalid", ["not valid JSON", "line 1"]),
        ("empty file", ["is empty"]),
        ("empty log", ["empty log_history", "--logging-steps"]),
        ("non-numeric", ["log_history[3] (step 40) loss is 'abc', not a number"]),
        ("nan step", ["step", "finite"]),
        ("not an object", ["JSON array, not a trainer state"]),
        ("no log_history", ["no log_history"]),
        ("binary", ["not UTF-8"]),
        ("bin file", ["never loads pickles", "training_args.bin"]),
        ("nested", ["did you mean", "run"]),
    ],
)
def test_bad_input_is_one_clean_line(cli, tmp_path, case, needles):
    line = one_line_error(cli("inspect-checkpoint", _bad(tmp_path, case)))
    for needle in needles:
        assert needle in line, (needle, line)
    assert cli("inspect-checkpoint", _bad(tmp_path / "json", case), "--json").stdout == ""


def test_run_folder_with_only_half_written_checkpoints(cli, tmp_path):
    for step in (10, 20):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text('{"log_history": [')
    line = one_line_error(cli("inspect-checkpoint", tmp_path))
    assert "none of the 2 checkpoint folders" in line


@pytest.mark.parametrize("args, needle", [(["--spike-k", "0"], "--spike-k"), (["--every", "0"], "--every")])
def test_bad_options_are_usage_errors(cli, reference_run, args, needle):
    result = cli("inspect-checkpoint", reference_run, *args)
    assert result.exit_code == 2
    assert needle in one_line_error(result)


class _Booby:
    """Unpickling this creates a marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_malicious_training_args_is_never_loaded(cli, tmp_path, wide):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Booby(marker))
    run = tmp_path / "results"
    folder = write_checkpoint(run / "checkpoint-375", reference_state())
    (folder / "training_args.bin").write_bytes(payload)
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (folder / name).write_bytes(payload)
    only_pickle = run / "checkpoint-380"
    only_pickle.mkdir()
    (only_pickle / "training_args.bin").write_bytes(payload)
    disguised = write_checkpoint(tmp_path / "disguised" / "checkpoint-5", payload)

    assert cli("inspect-checkpoint", folder).exit_code == 0
    assert cli("inspect-checkpoint", run, "--json").exit_code == 0
    one_line_error(cli("inspect-checkpoint", folder / "training_args.bin"))
    one_line_error(cli("inspect-checkpoint", only_pickle))
    one_line_error(cli("inspect-checkpoint", disguised))
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: loading it would have created the marker
    assert marker.exists()


# --- fuzzing the parser: a result or a CheckpointError, nothing else --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
LOG_KEYS = ["step", "epoch", "loss", "learning_rate", "grad_norm", "eval_loss", "eval_accuracy", "train_runtime", "x"]
STATE_KEYS = ["global_step", "max_steps", "epoch", "train_batch_size", "best_metric", "best_model_checkpoint", "logging_steps"]
REFERENCE_TEXT = json.dumps(reference_state(), indent=2)


def _survives(text: str) -> None:
    try:
        state = parse_trainer_state(text, Path("fuzz/checkpoint-1/trainer_state.json"))
    except CheckpointError:
        return
    run = analyze_run(state, label="fuzz")
    sample_rows(run.rows, None)
    sample_rows(run.rows, 7)
    from bertcli.core.runs.inspect import analysis_to_dict

    json.dumps(analysis_to_dict(run), allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_random_json(value):
    _survives(json.dumps(value))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, 40), st.sampled_from(LOG_KEYS + STATE_KEYS), json_values | st.just("<drop>")),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_mutated_reference_state(mutations):
    state = reference_state()
    for in_log, index, key, value in mutations:
        target = state["log_history"][index % len(state["log_history"])] if in_log else state
        if value == "<drop>":
            target.pop(key, None)
        else:
            target[key] = value
    _survives(json.dumps(state))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, len(REFERENCE_TEXT)), st.text(max_size=6))
def test_fuzz_cut_and_spliced_text(cut, junk):
    _survives(REFERENCE_TEXT[:cut] + junk + REFERENCE_TEXT[cut + len(junk) :])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(LOG_KEYS), st.none() | st.integers(-5, 10**6) | st.floats()),
        min_size=1,
        max_size=6,
    )
)
def test_fuzz_rendering_never_crashes(mutations):
    import contextlib
    import io

    from bertcli.render.inspect import render_run

    state = reference_state(evals={125: {"loss": 0.3, "accuracy": 0.9}})
    for index, key, value in mutations:
        state["log_history"][index % len(state["log_history"])][key] = value
    try:
        run = analyze_run(parse_trainer_state(json.dumps(state), Path("fuzz.json")), label="fuzz")
    except CheckpointError:
        return
    with contextlib.redirect_stdout(io.StringIO()) as out:
        render_run(run, None)
        render_run(run, 25)
    assert "Findings" in out.getvalue()


def test_deeply_nested_json_is_a_clean_error():
    with pytest.raises(CheckpointError):
        parse_trainer_state("[" * 100_000 + "]" * 100_000, Path("deep.json"))


# --- the real example runs, when they are in the repository ------------------------------------------------------

@pytest.mark.parametrize("state_file", EXAMPLE_STATES, ids=lambda p: str(p.relative_to(REPO)))
def test_real_example_states(cli, state_file):
    run = inspect_runs([state_file])[0]
    codes = {f.code for f in run.findings}
    assert {"loss", "lr_schedule", "grad_norm"} <= codes
    assert run.lowest_loss is not None and math.isfinite(run.lowest_loss.value)
    assert run.lr_schedule.shape != "unknown"
    result = cli("inspect-checkpoint", state_file.parent, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["findings"]


def test_examples_per_epoch_counts_accumulated_batches(tmp_path):
    """With --grad-accum 2 an optimizer step takes two batches of 8: 10 steps an epoch are 160 examples."""
    ckpt = tmp_path / "run" / "checkpoint-20"
    ckpt.mkdir(parents=True)
    logs = [{"step": s, "epoch": s / 10, "loss": 0.6, "learning_rate": 1e-5} for s in range(1, 21)]
    (ckpt / "trainer_state.json").write_text(json.dumps(
        {"global_step": 20, "epoch": 2.0, "max_steps": 20, "train_batch_size": 8, "log_history": logs}))
    (ckpt / "bertcli.json").write_text(json.dumps({"max_length": 64, "truncation": "head", "training": {"grad_accum": 2}}))
    run = inspect_runs([ckpt])[0]
    assert run.summary["steps_per_epoch"] == 10 and run.summary["examples_per_epoch"] == 160
    (ckpt / "bertcli.json").write_text(json.dumps({"max_length": 64, "truncation": "head"}))
    assert inspect_runs([ckpt])[0].summary["examples_per_epoch"] == 80


def test_a_bertcli_run_shows_its_training_time_recorded_when_training_ended(run_dir, cli, monkeypatch):
    """Trainer logs train_runtime after the last save, so no checkpoint holds it: bertcli records its own."""
    monkeypatch.setenv("COLUMNS", "160")
    newest = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[-1]
    recorded = json.loads((newest / "bertcli.json").read_text())["training"]["train_seconds"]
    assert recorded > 0
    assert json.loads((run_dir / "final" / "bertcli.json").read_text())["training"]["train_seconds"] == recorded
    result = cli("inspect-checkpoint", run_dir)
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "training time" in line)
    assert "recorded by bertcli" in line and "not recorded" not in line
