"""`bertcli sweep`: the grid, run folders other commands read, resuming, bounded disk, the table and its verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from refusals import assert_refused
from rich.cells import cell_len

from bertcli.core import sweep as core_sweep
from bertcli.core.sweep import run as sweep_run

HEAVY_FILES = ("optimizer.pt", "model.safetensors", "scheduler.pt", "rng_state.pth", "training_args.bin")


def tiny_args(tiny_model, reviews_csv, out, *extra):
    """A sweep of the tiny model on the handwritten reviews: 80 train / 16 eval, a few steps a run."""
    return ["sweep", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--train-size", "all",
            "--eval-size", "16", "--max-length", "64", "--save-steps", "100", "--logging-steps", "2", "-q", *extra]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, tiny_model, reviews_csv):
    """One sweep, run once for the module: epochs 1,2 × lr 1e-3,5e-3 would be 4 variants; epochs 1,2 × 2 seeds."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    out = tmp_path_factory.mktemp("sweep") / "results-sweep"
    plot = out.parent / "curves.png"
    args = tiny_args(tiny_model, reviews_csv, out, "--epochs", "1,2", "--batch-size", "16", "--lr", "5e-3",
                     "--seeds", "1,2", "--json", "--plot", plot)
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return out, result, plot, args


# --- the grid ---------------------------------------------------------------------------------------------------


def test_the_grid_expands_from_flags_into_named_folders(tmp_path):
    plan = core_sweep.plan_sweep(
        lists={"batch_size": "8,16", "epochs": "2,3", "weight_decay": "0.01,0.05"}, seeds="1,2", output_dir=tmp_path / "s"
    )
    assert len(plan.variants) == 8 and len(plan.runs) == 16
    names = [name for name, _ in plan.variants]
    assert names[0] == "epochs=2,weight_decay=0.01,batch_size=8"  # the baseline: each axis's first value
    assert "epochs=3,weight_decay=0.05,batch_size=16" in names and len(set(names)) == 8
    first = plan.runs[0]
    assert first.folder == tmp_path / "s" / "epochs=2,weight_decay=0.01,batch_size=8" / "seed-1"
    assert (first.config.epochs, first.config.weight_decay, first.config.batch_size, first.config.seed) == (2.0, 0.01, 8, 1)
    assert plan.runs[1].seed == 2 and plan.runs[1].variant == 0
    assert {r.config.seed for r in plan.runs} == {1, 2}


def test_the_grid_from_a_sweep_table_keeps_the_files_order_and_flags_override(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        'dataset = "reviews.csv"\ntrain-size = 256\nmax_length = 128\n'
        "[sweep]\nbatch-size = [8, 16]\nlr = [2e-5, 3e-5, 5e-5]\nseeds = [4, 5]\n"
    )
    plan = core_sweep.plan_sweep(config=config, output_dir=tmp_path / "s")
    assert len(plan.runs) == 2 * 3 * 2 and plan.seeds == [4, 5]
    assert plan.variants[0][0] == "batch_size=8,lr=2e-05"
    cfg = plan.runs[0].config
    assert (cfg.dataset, cfg.train_size, cfg.max_length) == ("reviews.csv", 256, 128)
    # a flag wins over the file: one value is no longer an axis
    plan = core_sweep.plan_sweep(config=config, lists={"lr": "1e-5"}, seeds="7", output_dir=tmp_path / "s")
    assert [name for name, _ in plan.variants] == ["batch_size=8", "batch_size=16"]
    assert plan.runs[0].config.lr == 1e-5 and plan.seeds == [7]


def test_no_axis_is_one_variant_called_base(tmp_path):
    plan = core_sweep.plan_sweep(seeds="3", output_dir=tmp_path / "s")
    assert [r.folder.relative_to(tmp_path / "s").as_posix() for r in plan.runs] == ["base/seed-3"]


# --- one real sweep ---------------------------------------------------------------------------------------------


def test_each_run_is_a_folder_inspect_and_debug_read(swept, cli):
    out, _, _, _ = swept
    runs = sorted(p for p in out.glob("*/seed-*") if p.is_dir())
    assert [p.relative_to(out).as_posix() for p in runs] == ["epochs=1/seed-1", "epochs=1/seed-2", "epochs=2/seed-1", "epochs=2/seed-2"]
    for run in runs:
        inspected = cli("inspect-checkpoint", run)
        assert inspected.exit_code == 0, inspected.stderr
        assert "lowest loss" in inspected.stdout
        debugged = cli("debug", "run", run)
        assert debugged.exit_code in (0, 1) and "Traceback" not in debugged.stderr, debugged.stderr
        assert debugged.stdout.strip()


def test_disk_stays_bounded(swept):
    out, _, _, _ = swept
    for run in out.glob("*/seed-*"):
        checkpoints = sorted(run.glob("checkpoint-*"))
        assert len(checkpoints) == 1, checkpoints  # the newest, stripped to what inspect and debug read
        kept = {p.name for p in checkpoints[0].iterdir()}
        assert {"bertcli.json", "config.json", "trainer_state.json"} <= kept <= set(core_sweep.KEEP_IN_CHECKPOINT), kept
        left = [p for p in run.rglob("*") if p.name in HEAVY_FILES]
        assert not left, left
        assert (run / "final" / "metrics.json").is_file()  # final/ keeps what explains it
        record = json.loads((run / core_sweep.RUN_FILE).read_text())
        assert len(record["result"]["correct"]) == 16 and len(record["result"]["reviews"]) == 16


def test_json_and_summary_hold_mean_spread_and_a_verdict(swept):
    out, result, _, _ = swept
    doc = json.loads(result.stdout)
    assert doc == json.loads((out / "sweep.json").read_text())
    assert [v["name"] for v in doc["variants"]] == ["epochs=1", "epochs=2"]
    base, other = doc["variants"]
    for v in doc["variants"]:
        acc = v["accuracy"]
        assert len(acc["values"]) == 2 and acc["min"] <= acc["mean"] <= acc["max"] and acc["std"] is not None
        assert v["f1"]["mean"] is not None and v["train_seconds"]["mean"] > 0
    assert base["versus_baseline"] is None
    test = other["versus_baseline"]
    assert test["pairs"] == 32  # 16 eval reviews × 2 seeds, paired
    assert test["verdict"] in ("better", "worse", "within noise") and 0 <= test["p_value"] <= 1
    assert re.fullmatch(r"(better|worse|within noise) \(p = [<\d. ]+\)", test["describe"])
    assert doc["runs"] == {"total": 4, "trained": 4, "skipped": 0, "resumed": 0}


def test_the_plot_is_written(swept):
    _, _, plot, _ = swept
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_skips_finished_runs_and_prints_the_table(swept, cli, monkeypatch):
    out, _, _, args = swept

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(sweep_run, "train", no_training)
    monkeypatch.setattr(sweep_run, "score_final_model", no_training)
    monkeypatch.setenv("COLUMNS", "80")
    table_args = [a for a in args if a != "--json"]
    result = cli(*table_args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("finished earlier (") == 4 and "run 4/4" in result.stderr
    assert "baseline" in result.stdout and "±" in result.stdout
    assert re.search(r"(better|worse|noise)", result.stdout) and "p =" in result.stdout
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 80


# --- killed runs --------------------------------------------------------------------------------------------------


def test_a_killed_run_resumes_and_a_scored_one_is_not_trained_again(tmp_path, tiny_model, reviews_csv, cli, monkeypatch):
    from transformers import TrainerCallback

    real_train = sweep_run.train
    calls = []

    class KillAfterFirstSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt  # Ctrl-C right after the first checkpoint was saved

    def killed_train(cfg, **kw):
        calls.append(cfg.resume)
        return real_train(cfg, **{**kw, "callbacks": [*kw.get("callbacks", []), KillAfterFirstSave()]})

    out = tmp_path / "s"
    args = tiny_args(tiny_model, reviews_csv, out, "--seeds", "1", "--batch-size", "16", "--max-steps", "4",
                     "--save-steps", "2", "--keep-weights", "--json")
    monkeypatch.setattr(sweep_run, "train", killed_train)
    assert cli(*args).exit_code == 130
    run = out / "base" / "seed-1"
    assert (run / "checkpoint-2" / "optimizer.pt").is_file() and not (run / "final").exists()

    def spied_train(cfg, **kw):
        calls.append(cfg.resume)
        return real_train(cfg, **kw)

    def killed_while_scoring(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_run, "train", spied_train)
    monkeypatch.setattr(sweep_run, "score_final_model", killed_while_scoring)
    assert cli(*args).exit_code == 130
    assert calls == [False, True]  # the second run resumed
    state = json.loads((run / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert (run / "final" / "model.safetensors").is_file()

    monkeypatch.setattr(sweep_run, "score_final_model", real_score)
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert calls == [False, True], "trained again although final/ was complete"
    assert "trained earlier, scoring" in result.stderr
    record = json.loads((run / core_sweep.RUN_FILE).read_text())["result"]
    assert record["resumed"] is True and record["global_step"] == 4
    # --keep-weights: final/ keeps its weights, and evaluate reads the run folder
    assert (run / "final" / "model.safetensors").is_file() and not (run / "checkpoint-4" / "optimizer.pt").exists()
    evaluated = cli("evaluate", "--model", run, "--dataset", reviews_csv, "--split", "train", "--size", "8", "--json")
    assert evaluated.exit_code == 0, evaluated.stderr


real_score = core_sweep.score_final_model


# --- the paired test and the table --------------------------------------------------------------------------------


def _result(variant, seed, correct, train_seconds=10.0):
    return core_sweep.RunResult(
        variant=variant, name=f"v{variant}", seed=seed, folder=Path(f"v{variant}/seed-{seed}"),
        accuracy=sum(correct) / len(correct), f1=sum(correct) / len(correct), examples=len(correct), eval_split="test",
        train_seconds=train_seconds, global_step=10, resumed=False, reviews=[f"r{seed}-{i}" for i in range(len(correct))],
        correct=list(correct),
    )


def test_the_paired_test_pools_reviews_over_seeds():
    # per seed, 5 reviews the variant gets right and the baseline wrong: 5 alone is not significant, 10 pooled is
    base = [_result(0, s, [False] * 5 + [True] * 15) for s in (1, 2)]
    better = [_result(1, s, [True] * 20) for s in (1, 2)]
    one_seed = core_sweep.compare(base[:1], better[:1])
    pooled = core_sweep.compare(base, better)
    assert one_seed.verdict == "within noise" and one_seed.p_value == pytest.approx(2 / 2**5)
    assert pooled.verdict == "better" and pooled.p_value == pytest.approx(2 / 2**10)
    assert pooled.pairs == 40 and pooled.only_variant_right == 10 and pooled.only_baseline_right == 0
    assert pooled.delta_accuracy == pytest.approx(0.25)
    # as many reviews won as lost: no difference
    same = core_sweep.compare(base, [_result(1, s, [True] * 3 + [False] * 2 + [False] * 3 + [True] * 12) for s in (1, 2)])
    assert same.verdict == "within noise" and same.describe() == "within noise (p = 1.00)"
    assert core_sweep.compare(better, base).verdict == "worse"
    # a seed only one side has is left out of the pairs
    assert core_sweep.compare(base[:1], better).pairs == 20


def test_the_table_of_the_write_ups_grid_reads_at_80_columns(tmp_path, monkeypatch, capsys):
    from bertcli.render.sweep import render_sweep

    plan = core_sweep.plan_sweep(
        lists={"epochs": "2,3", "weight_decay": "0.01,0.05", "batch_size": "8,16"}, seeds="1,2", output_dir=tmp_path / "s"
    )
    results = []
    for run in plan.runs:
        right = (4, 5, 0, 10, 12, 14, 16, 20)[run.variant] + 4 * run.seed
        results.append(_result(run.variant, run.seed, [True] * (170 + right) + [False] * (30 - right), 123.4 + run.variant))
    report = core_sweep.summarize(plan, results)
    monkeypatch.setenv("COLUMNS", "80")
    render_sweep(report)
    out = capsys.readouterr().out
    assert max(cell_len(line) for line in out.splitlines()) <= 80, out
    assert "…" not in out
    flat = " ".join(out.split())
    assert re.search(r"0\.01 │ +8 │ 0\.900±0\.014 │", out), out  # the baseline: 178/200 and 182/200
    assert "baseline" in flat and "2m 03s" in flat
    for verdict in ("within noise (p = 0.50)", "worse (p = 0.008)", "better (p < 0.001)"):
        assert verdict in out, out  # whole, on one line


# --- refusals: one line, the flag or key, the fix -------------------------------------------------------------------

BAD_FLAGS = [
    (["--epochs", ""], "--epochs takes a comma-separated list of values"),
    (["--epochs", "2,,3"], "--epochs '2,,3' has an empty value"),
    (["--weight-decay", "0.01,2"], "--weight-decay must be in [0, 1], got 2"),
    (["--batch-size", "8,0"], "--batch-size must be a whole number in [1, 4096], got 0"),
    (["--lr", "2e-5,fast"], "--lr takes a number in (0, 1], not 'fast'"),
    (["--epochs", "2,2"], "--epochs lists 2 twice"),
    (["--scheduler", "linear,bogus"], "--scheduler takes one of linear"),
    (["--seeds", "1,-1"], "--seeds must be a whole number in"),
    (["--seeds", ""], "--seeds takes a comma-separated list of seeds"),
    (["--train-size", "0"], "--train-size must be a whole number in [1,"),
    (["--max-length", "4"], "--max-length must be a whole number in [8,"),
    (["--plot", "curves.txt"], "--plot writes"),
]


@pytest.mark.parametrize("args, needle", BAD_FLAGS, ids=[" ".join(a) or "empty" for a, _ in BAD_FLAGS])
def test_bad_flags_are_one_line(cli, tmp_path, args, needle):
    assert_refused(cli("sweep", "-o", tmp_path / "s", *args), 2, needle)


BAD_FILES = [
    ("[sweep]\nweight_decy = [0.01, 0.05]\n", "unknown key 'weight_decy' in", "did you mean 'weight-decay'?"),
    ("[sweep]\nepochs = []\n", "epochs in", "[sweep] is an empty list"),
    ("[sweep]\nepochs = 2\n", "epochs in", "must be a list, e.g. epochs = [2]"),
    ("[sweep]\nweight-decay = [0.01, 2]\n", "weight-decay in", "must be in [0, 1], got 2"),
    ("[sweep]\nbatch-size = [8, 8]\n", "lists 8 twice"),
    ("[sweep]\nseed = [1, 2]\n", "use seeds = [1, 2, 3]"),
    ("[sweep]\nepochs = [2, 3]\nseeds = []\n", "seeds in", "empty list"),
    ("lerning_rate = 3\n", "unknown key 'lerning_rate' in"),
    ('epochs = "two"\n', "epochs in", "takes a number"),
    ("epochs = [2, 3]\n", "values to vary go in the [sweep] table"),
    ("epochs = 2\n[sweep]\nepochs = [2, 3]\n", "both a single value and a [sweep] list"),
    ("[sweep\nepochs = [2]\n", "is not valid TOML"),
]


@pytest.mark.parametrize("text, needles", [(t, n) for t, *n in BAD_FILES], ids=[t.replace("\n", " ").strip() for t, *_ in BAD_FILES])
def test_bad_sweep_files_are_one_line(cli, tmp_path, text, needles):
    config = tmp_path / "sweep.toml"
    config.write_text(text)
    line = assert_refused(cli("sweep", "--config", config, "-o", tmp_path / "s"), 2, *needles)
    assert "sweep.toml" in line


def test_a_missing_file_an_output_file_and_another_sweeps_folder_are_refused(cli, tmp_path):
    assert_refused(cli("sweep", "--config", tmp_path / "nope.toml"), 2, "nope.toml: no such file", "[sweep] table")
    taken = tmp_path / "taken"
    taken.write_text("")
    assert_refused(cli("sweep", "-o", taken), 2, "is a file, not a folder")
    # a run folder an earlier sweep trained with other settings is never mixed into this one
    run = tmp_path / "s" / "epochs=2" / "seed-1"
    run.mkdir(parents=True)
    plan = core_sweep.plan_sweep(lists={"epochs": "2,3"}, seeds="1", base={"train_size": "256"}, output_dir=tmp_path / "s")
    recorded = core_sweep.requested_config(plan.runs[0].config)
    (run / core_sweep.RUN_FILE).write_text(json.dumps({"config": {**recorded, "train_size": 128}}))
    assert_refused(
        cli("sweep", "-o", tmp_path / "s", "--epochs", "2,3", "--seeds", "1", "--train-size", "256"), 2,
        "was trained with train_size 128, this sweep asks for 256", "pick another --output-dir",
    )


# --- collisions and size ----------------------------------------------------------------------------------------


def test_values_that_differ_get_folders_that_differ_and_a_shared_folder_is_refused(tmp_path, cli):
    plan = core_sweep.plan_sweep(lists={"lr": "2e-5,2.0000001e-5"}, seeds="1", output_dir=tmp_path / "s")
    names = [name for name, _ in plan.variants]
    assert names == ["lr=2e-05", "lr=2.0000001e-05"]
    assert [r.config.lr for r in plan.runs] == [2e-5, 2.0000001e-5]
    # two values a folder name writes alike (not folder-safe characters) are refused before anything runs
    config = tmp_path / "sweep.toml"
    config.write_text('[sweep]\ntext-column = ["a b", "a_b"]\n')
    assert_refused(cli("sweep", "--config", config, "-o", tmp_path / "s"), 2,
                   "two variants would share the folder", "text_column=a_b", "'a b'", "'a_b'")


def test_a_finished_folder_is_skipped_only_when_its_recorded_settings_are_the_variants(tmp_path):
    from bertcli.core.errors import UsageError

    plan = core_sweep.plan_sweep(lists={"lr": "2e-5,3e-5"}, seeds="1", output_dir=tmp_path / "s")
    run = plan.runs[0]
    (run.folder / "final").mkdir(parents=True)
    result = {"accuracy": 0.5, "f1": 0.5, "examples": 2, "reviews": ["a", "b"], "correct": "10"}
    recorded = core_sweep.requested_config(run.config)
    (run.folder / core_sweep.RUN_FILE).write_text(json.dumps({"config": recorded, "result": result}))
    assert core_sweep.finished_result(run).accuracy == 0.5
    (run.folder / core_sweep.RUN_FILE).write_text(json.dumps({"config": {**recorded, "lr": 2.0000001e-5}, "result": result}))
    with pytest.raises(UsageError, match="was trained with lr 2.0000001e-05, this sweep asks for 2e-05"):
        core_sweep.finished_result(run)


def test_a_grid_over_the_limit_is_refused_before_anything_unless_yes(cli, tmp_path):
    limit = core_sweep.MAX_RUNS_UNASKED
    epochs = ",".join(str(e) for e in range(1, limit // 3 + 2))  # (limit // 3 + 1) variants × 3 seeds > limit
    line = assert_refused(cli("sweep", "--epochs", epochs, "-o", tmp_path / "s"), 2, "over the", "add --yes")
    variants = limit // 3 + 1
    assert f"{variants * 3:,} runs ({variants:,} variant(s) × 3 seed(s))" in line
    assert f"{2000 * 3 * sum(range(1, variants + 1)):,} training examples in all" in line
    assert not (tmp_path / "s").exists()
    plan = core_sweep.plan_sweep(lists={"epochs": epochs}, output_dir=tmp_path / "s", yes=True)
    assert len(plan.runs) == variants * 3


def test_the_plan_states_the_run_count_before_training(tiny_model, reviews_csv, tmp_path, cli):
    result = cli(*[a for a in tiny_args(tiny_model, reviews_csv, tmp_path / "s", "--epochs", "1", "--seeds", "1",
                                       "--max-steps", "1") if a != "-q"])
    assert result.exit_code == 0, result.stderr
    assert "sweep plan: 1 run(s) (1 variant(s) × 1 seed(s)), 16 training examples in all" in result.stderr


def test_a_max_length_the_model_cannot_take_is_refused_before_any_run(tiny_model, reviews_csv, tmp_path, cli):
    out = tmp_path / "s"
    line = assert_refused(cli(*tiny_args(tiny_model, reviews_csv, out, "--seeds", "1", "--max-steps", "1"),
                              "--max-length", "64,256"), 2,
                          "--max-length 256 (variant max_length=256) is longer than the model's 128 positions",
                          "nothing was trained")
    assert line and not list(out.glob("*/seed-*/checkpoint-*"))
