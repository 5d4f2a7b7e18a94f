"""bertcli debug run: each diagnosis on a trainer state built to show it, and no false alarms."""

from __future__ import annotations

import json
import math

import pytest

from bertcli.core.diagnose.run import diagnose_run
from bertcli.core.diagnose.stats import rank_correlation
from bertcli.core.runs.checkpoints import folder_bytes, list_checkpoints
from bertcli.core.runs.disk import plan_prune
from examples import EXAMPLE_RUNS, REPO
from states import (
    BINARY_CONFIG,
    HEALTHY_EVALS,
    LN2,
    RUN_FILES,
    by_code,
    codes,
    decaying,
    fluctuating_run,
    linear_lr,
    reference_state,
    run_with,
    trainer_state,
    write_checkpoint,
)


# --- debug run -----------------------------------------------------------------------------------------------------


def test_healthy_run_has_no_warnings(tmp_path, cli):
    total = 300
    state = trainer_state(
        decaying(30), evals=HEALTHY_EVALS, lr=lambda s: linear_lr(s, total, warmup=30), best="results/checkpoint-300"
    )
    run = run_with(tmp_path, state)
    write_checkpoint(run / "checkpoint-290", trainer_state(decaying(29)), files=RUN_FILES)
    d = diagnose_run(run)
    assert [f for f in d.findings if f.level != "info"] == []
    assert {"loss", "no_overfitting", "fluctuation", "grad_norm", "lr_schedule", "disk"} <= set(codes(d))
    assert d.loss_trend.verdict == "decreasing"
    assert not d.fluctuation.fluctuating
    result = cli("debug", "run", run)
    assert result.exit_code == 0, result.stderr
    assert "0 errors" in result.stdout and "0 warnings" in result.stdout


def test_overfitting_gap_per_epoch_and_recommended_epochs(tmp_path, cli):
    losses = decaying(30, start=0.69, end=0.05)
    evals = {
        100: {"loss": 0.30, "accuracy": 0.88},
        200: {"loss": 0.27, "accuracy": 0.90},
        300: {"loss": 0.41, "accuracy": 0.89},
    }
    run = run_with(tmp_path, trainer_state(losses, evals=evals, best="/elsewhere/results/checkpoint-200"))
    d = diagnose_run(run)
    o = d.overfitting
    assert o.overfitting and o.recommended_epochs == 2
    assert o.lowest_eval_loss == 0.27 and o.lowest_eval_loss_step == 200
    assert o.eval_loss_rise == pytest.approx(0.14)
    assert (o.headline_metric, o.headline_value, o.headline_step) == ("accuracy", 0.90, 200)
    assert [e.step for e in d.epochs] == [100, 200, 300]
    first_epoch_train = sum(losses[:10]) / 10
    assert d.epochs[0].train_loss == pytest.approx(first_epoch_train)
    assert d.epochs[0].gap == pytest.approx(0.30 - first_epoch_train)
    assert d.epochs[2].gap == pytest.approx(0.41 - sum(losses[20:]) / 10)
    finding = by_code(d, "overfitting")
    assert finding.level == "warning"
    assert finding.fix.startswith(f"bertcli train --epochs 2 -o {run}-2  # ")  # a new folder: the run's own is taken
    assert "checkpoint-200" in finding.fix
    result = cli("debug", "run", run, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["overfitting"]["recommended_epochs"] == 2
    assert any(f["code"] == "overfitting" and f["fix"] for f in data["findings"])


def test_eval_loss_rising_while_accuracy_still_improves_is_not_a_reason_to_stop(tmp_path):
    evals = {100: {"loss": 0.30, "accuracy": 0.86}, 200: {"loss": 0.28, "accuracy": 0.88}, 300: {"loss": 0.35, "accuracy": 0.90}}
    d = diagnose_run(run_with(tmp_path, trainer_state(decaying(30, end=0.05), evals=evals)))
    assert d.overfitting.overfitting and d.overfitting.recommended_epochs is None
    assert codes(d)["overconfident"] == "info"


def test_epochs_that_did_not_improve_accuracy(tmp_path):
    evals = {100: {"loss": 0.45, "accuracy": 0.798}, 200: {"loss": 0.313, "accuracy": 0.884}, 300: {"loss": 0.300, "accuracy": 0.880}}
    run = run_with(tmp_path, trainer_state(decaying(30), evals=evals))
    (run / "checkpoint-300" / "bertcli.json").write_text(
        json.dumps({"max_length": 512, "truncation": "head+tail", "training": {"eval_size": 500, "num_train_epochs": 3}})
    )
    d = diagnose_run(run)
    assert not d.overfitting.overfitting
    finding = by_code(d, "extra_epochs")
    assert finding.level == "info" and finding.fix == f"bertcli train --epochs 2 -o {run}-2"
    assert "a difference of 2 of 500 eval examples: within noise at this size" in finding.evidence


def test_no_evaluation_cannot_tell_overfitting_from_noise(tmp_path):
    d = diagnose_run(run_with(tmp_path, trainer_state(decaying(30))))
    finding = by_code(d, "no_eval")
    assert finding.level == "warning"
    assert "eval_strategy='epoch'" in finding.fix
    assert d.overfitting is None


def test_fluctuation_with_aligned_spikes(tmp_path, cli):
    # the late jumps up are at logs 22 (0.20), 25 (0.22), 28 (0.21), 31 (0.20), 34 (0.22): spike at three of them
    spikes = {250: 14.0, 280: 12.5, 340: 15.0}
    losses, grads = fluctuating_run(spikes, follow=True)
    d = diagnose_run(run_with(tmp_path, trainer_state(losses, grads, steps_per_epoch=120, evals=HEALTHY_EVALS)))
    f = d.fluctuation
    assert f.fluctuating
    assert f.late_cv > 1.5 * f.early_cv and f.late_cv >= 0.15
    assert f.spike_steps == sorted(spikes)
    assert f.aligned_spike_steps == sorted(spikes)
    assert f.spike_correlation is not None and f.spike_correlation > 0.3
    finding = by_code(d, "fluctuation")
    assert finding.level == "warning"
    assert "line up" in " ".join(finding.evidence)
    assert "bertcli debug data" in finding.fix and "250, 280, 340" in finding.fix
    result = cli("debug", "run", run_with(tmp_path, trainer_state(losses, grads, steps_per_epoch=120, evals=HEALTHY_EVALS)), "--json")
    assert json.loads(result.stdout)["fluctuation"]["aligned_spike_steps"] == [250, 280, 340]


def test_fluctuation_without_spikes_is_batch_noise(tmp_path):
    losses, grads = fluctuating_run({})
    d = diagnose_run(run_with(tmp_path, trainer_state(losses, grads, evals=HEALTHY_EVALS)))
    finding = by_code(d, "fluctuation")
    assert finding.level == "warning"
    assert d.fluctuation.aligned_spike_steps == []
    assert "bertcli train --batch-size 32" in finding.fix


def test_reference_run_spike_is_early_and_does_not_explain_the_late_fluctuation(tmp_path):
    run = tmp_path / "results"
    write_checkpoint(run / "checkpoint-375", reference_state(), files={"config.json": BINARY_CONFIG})
    d = diagnose_run(run)
    assert d.fluctuation.fluctuating
    assert d.fluctuation.aligned_spike_steps == [70]
    finding = by_code(d, "fluctuation")
    assert "no spike falls in the fluctuating stretch" in " ".join(finding.evidence)
    spikes = by_code(d, "grad_spikes")
    assert spikes.level == "info" and "recovered" in spikes.summary
    assert {"no_eval", "nan_filter"} <= {f.code for f in d.findings if f.level == "warning"}
    assert not [f for f in d.findings if f.level == "error"]


def test_nan_is_an_error_and_fails_the_exit_code(tmp_path, cli):
    losses = decaying(30)
    losses[17] = float("nan")
    run = run_with(tmp_path, trainer_state(losses, evals=HEALTHY_EVALS))
    d = diagnose_run(run)
    finding = by_code(d, "non_finite")
    assert finding.level == "error" and "step 180" in finding.summary
    assert "--lr 1e-5" in finding.fix
    result = cli("debug", "run", run)
    assert result.exit_code == 1
    assert "NaN/inf" in result.stdout


def test_nan_averaged_away_by_the_logging_filter_is_named(tmp_path):
    grads = [1.0] * 30
    grads[12] = float("nan")
    run = run_with(tmp_path, trainer_state(decaying(30), grads, evals=HEALTHY_EVALS), files={"config.json": BINARY_CONFIG})
    finding = by_code(diagnose_run(run), "non_finite")
    assert "grad_norm = nan at step 130" in finding.evidence
    assert any("logging_nan_inf_filter replaced the non-finite loss" in line for line in finding.evidence)


def test_loss_stuck_at_ln2_is_not_learning(tmp_path, cli):
    losses = [LN2 + 0.004 * math.sin(i) for i in range(40)]
    run = run_with(tmp_path, trainer_state(losses, evals={200: {"loss": 0.6932, "accuracy": 0.5}, 400: {"loss": 0.6931, "accuracy": 0.5}}))
    d = diagnose_run(run)
    assert d.loss_trend.verdict == "stuck_at_chance"
    finding = by_code(d, "stuck_at_chance")
    assert finding.level == "error" and "ln 2 = 0.6931" in finding.summary
    assert "bertcli debug data" in finding.fix and "bertcli debug model" in finding.fix
    assert "loss_not_decreasing" not in codes(d)
    assert cli("debug", "run", run).exit_code == 1


def test_three_labels_are_judged_against_ln3(tmp_path):
    run = tmp_path / "results"
    state = trainer_state([math.log(3) + 0.003 * (-1) ** i for i in range(40)])
    folder = write_checkpoint(run / "checkpoint-400", state, files=RUN_FILES)
    (folder / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b", "2": "c"}}))
    d = diagnose_run(run)
    assert d.loss_trend.num_labels == 3 and d.loss_trend.verdict == "stuck_at_chance"


@pytest.mark.parametrize(
    "losses, verdict, code",
    [
        ([0.45 + 0.01 * (-1) ** i for i in range(30)], "flat", "loss_not_decreasing"),
        ([0.6 + 0.05 * i for i in range(30)], "rising", "diverged"),
        ([0.69 * math.exp(-i / 4) + 0.02 for i in range(15)] + [0.6 + 0.01 * i for i in range(15)], "learned_then_diverged", "diverged"),
    ],
)
def test_loss_that_does_not_fall_or_diverges_is_an_error(tmp_path, losses, verdict, code):
    d = diagnose_run(run_with(tmp_path, trainer_state(losses, evals=HEALTHY_EVALS)))
    assert d.loss_trend.verdict == verdict
    assert codes(d)[code] == "error"


def test_exploding_gradients(tmp_path):
    grads = [1.0 * 1.25**i for i in range(30)]
    d = diagnose_run(run_with(tmp_path, trainer_state(decaying(30), grads, evals=HEALTHY_EVALS)))
    assert codes(d)["grad_explosion"] == "error"


def test_lr_anomalies_constant_large_no_warmup(tmp_path):
    run = run_with(tmp_path, trainer_state(decaying(30), lr=lambda s: 1e-4, evals=HEALTHY_EVALS))
    d = diagnose_run(run)
    found = codes(d)
    assert found["lr_no_decay"] == "warning"
    assert found["lr_no_warmup"] == "warning"
    assert found["lr_too_high"] == "warning"
    assert by_code(d, "lr_no_decay").fix == f"bertcli train --scheduler linear -o {run}-2  # the fine-tuning default: decay to 0 by the last step"
    assert by_code(d, "lr_no_warmup").fix == f"bertcli train --warmup-ratio 0.1 -o {run}-2"


def test_learning_rate_zero_trains_nothing(tmp_path):
    d = diagnose_run(run_with(tmp_path, trainer_state(decaying(30), lr=lambda s: 0.0, evals=HEALTHY_EVALS)))
    assert codes(d)["lr_zero"] == "error"


def test_rank_correlation():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 1, 1], [1, 2, 3]) is None


# --- disk and --prune ----------------------------------------------------------------------------------------------


def test_disk_sizes_every_checkpoint_in_numeric_order(run_folder):
    d = diagnose_run(run_folder)
    names = [c.name for c in d.disk.checkpoints]
    assert names == ["checkpoint-5", "checkpoint-10", "checkpoint-20", "checkpoint-50", "checkpoint-100", "checkpoint-110"]
    sizes = {c.name: c.bytes for c in d.disk.checkpoints}
    assert sizes == {c.name: folder_bytes(c.path) for c in list_checkpoints(run_folder)}
    assert d.disk.total_bytes == sum(sizes.values())
    assert d.disk.final_bytes == 700
    best = [c.name for c in d.disk.checkpoints if c.best]
    newest = [c.name for c in d.disk.checkpoints if c.newest]
    assert best == ["checkpoint-10"] and newest == ["checkpoint-100"]
    # keep 1: -5, -20 and the older half-written -50 go
    assert d.disk.freed_by_keeping[1] == sizes["checkpoint-5"] + sizes["checkpoint-20"] + sizes["checkpoint-50"]
    assert by_code(d, "half_written").level == "warning" and "checkpoint-110" in by_code(d, "half_written").summary


def test_prune_is_a_dry_run_until_yes(run_folder, cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    before = sorted(p.name for p in run_folder.iterdir())
    result = cli("debug", "run", run_folder, "--prune")
    assert result.exit_code == 0, result.stderr
    assert "dry run: nothing deleted" in result.stdout
    assert sorted(p.name for p in run_folder.iterdir()) == before
    data = json.loads(cli("debug", "run", run_folder, "--prune", "--json").stdout)
    assert [c["name"] for c in data["prune"]["remove"]] == ["checkpoint-5", "checkpoint-20", "checkpoint-50"]
    assert data["prune"]["applied"] is False

    result = cli("debug", "run", run_folder, "--prune", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "deleted 3 checkpoint(s)" in result.stdout
    assert sorted(p.name for p in run_folder.iterdir()) == ["checkpoint-10", "checkpoint-100", "checkpoint-110", "final"]
    again = cli("debug", "run", run_folder, "--prune", "--yes")
    assert "nothing to delete" in again.stdout


def test_prune_keep_two_newest(run_folder):
    plan = plan_prune(run_folder, "checkpoint-10", keep_newest=2)
    assert [c.name for c in plan.remove] == ["checkpoint-5", "checkpoint-50"]


def test_prune_never_removes_the_only_complete_checkpoint(tmp_path, cli):
    run = tmp_path / "results"
    write_checkpoint(run / "checkpoint-10", trainer_state(decaying(10), every=1), files=RUN_FILES)
    (run / "checkpoint-20").mkdir()
    (run / "checkpoint-9").mkdir()
    result = cli("debug", "run", run, "--prune", "--yes", "--json")
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["prune"]["remove"]] == ["checkpoint-9"]
    assert (run / "checkpoint-10").is_dir() and (run / "checkpoint-20").is_dir()
    states_only = tmp_path / "states"
    write_checkpoint(states_only / "checkpoint-3", trainer_state(decaying(10), every=1), weights=0, files=RUN_FILES)
    write_checkpoint(states_only / "checkpoint-6", trainer_state(decaying(10), every=1), weights=0, files=RUN_FILES)
    assert plan_prune(states_only, None).remove == []
    d = diagnose_run(states_only)
    assert "half_written" not in codes(d) and "trainer states only" in by_code(d, "disk").summary
    assert [(c.name, c.has_state, c.has_weights, c.newest) for c in d.disk.checkpoints] == [
        ("checkpoint-3", True, False, False),
        ("checkpoint-6", True, False, True),
    ]


@pytest.mark.parametrize(
    "args, needle",
    [(("--yes",), "--yes confirms --prune"), (("--prune", "--keep", "0"), "--keep must be a whole number in [1, 1000]")],
)
def test_prune_usage_errors(run_folder, cli, args, needle):
    result = cli("debug", "run", run_folder, *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert (run_folder / "checkpoint-5").is_dir()


def test_missing_run_is_one_clean_line(tmp_path, cli):
    result = cli("debug", "run", tmp_path / "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


# --- the real example runs, when they are in the repository ------------------------------------------------------

@pytest.mark.parametrize("run", EXAMPLE_RUNS, ids=lambda p: str(p.relative_to(REPO)))
def test_real_example_runs(cli, run):
    result = cli("debug", "run", run, "--json")
    assert result.exit_code in (0, 1), result.stderr
    data = json.loads(result.stdout)
    assert data["findings"] and data["loss_trend"]["verdict"] != "too_few"


def test_fix_for_a_run_that_carved_its_eval_split_carves_again(tmp_path):
    """bertcli.json records a carved eval split by what it is ('carved from train'), which is no split name:
    the printed fix names the train split, which carves again, instead of that phrase."""
    evals = {100: {"loss": 0.30, "accuracy": 0.88}, 200: {"loss": 0.27, "accuracy": 0.90}, 300: {"loss": 0.41, "accuracy": 0.89}}
    training = {"dataset": "reviews.csv", "train_split": "train", "eval_split": "carved from train"}
    files = {**RUN_FILES, "bertcli.json": {**RUN_FILES["bertcli.json"], "training": training}}
    run = run_with(tmp_path, trainer_state(decaying(30, start=0.69, end=0.05), evals=evals), files=files)
    fix = by_code(diagnose_run(run), "overfitting").fix
    assert "--eval-split train " in fix and "carved from train" not in fix


def test_every_command_writes_findings_in_one_shape(cli, reference_run):
    """debug run and inspect-checkpoint (as debug data and debug model) write each finding as core.findings.Finding's
    fields: code, level, summary, evidence, fix."""
    from dataclasses import fields

    from bertcli.core.findings import Finding

    shape = [f.name for f in fields(Finding)]
    for args in (["debug", "run", reference_run], ["inspect-checkpoint", reference_run]):
        result = cli(*args, "--json")
        assert result.exit_code in (0, 1), result.stderr
        found = json.loads(result.stdout)["findings"]
        assert found and all(list(f) == shape for f in found), args


def test_an_eval_loss_rise_the_run_recovered_from_is_named_with_its_spikes(tmp_path):
    """Eval loss 0.55 → 0.62 at epoch 2, lowest at epoch 3: not overfitting, but named, with the spikes in between."""
    losses = decaying(36, start=0.69, end=0.25)
    grads = [2.0 + 0.1 * (i % 4) for i in range(36)]
    grads[15 - 1] = 20.0  # step 150, in epoch 2
    evals = {120: {"loss": 0.55, "accuracy": 0.730}, 240: {"loss": 0.62, "accuracy": 0.732},
             360: {"loss": 0.33, "accuracy": 0.876}}
    d = diagnose_run(run_with(tmp_path, trainer_state(losses, grads, steps_per_epoch=120, evals=evals)))
    assert codes(d)["no_overfitting"] == "info"
    finding = by_code(d, "eval_loss_rise")
    assert finding.summary.startswith("eval loss rose from 0.5500 to 0.6200 between epoch 1 and epoch 2, with "
                                      "grad-norm spikes at step(s) 150 in between, then fell again"), finding.summary
    healthy = diagnose_run(run_with(tmp_path / "healthy", trainer_state(losses, grads, steps_per_epoch=120, evals=HEALTHY_EVALS)))
    assert "eval_loss_rise" not in codes(healthy)
