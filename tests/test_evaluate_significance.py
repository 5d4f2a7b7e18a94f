"""evaluate says which differences are real: intervals per metric, and a paired test between models."""

from __future__ import annotations

import json

from trained import held_out_csv


def test_intervals_and_paired_verdicts_in_json_and_tables(cli, run_dir, tmp_path_factory):
    data = held_out_csv(tmp_path_factory)
    first = sorted(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))[0]
    args = ["evaluate", "-m", first, "-m", run_dir / "final", "--dataset", data]
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    models = json.loads(result.stdout)["models"]
    for m in models:
        ci = m["intervals"]["accuracy"]
        assert ci["low"] <= m["accuracy"] <= ci["high"] and ci["high"] - ci["low"] > 0
        assert m["intervals"]["f1"]["low"] <= m["macro"]["f1"] <= m["intervals"]["f1"]["high"]
    assert models[0]["versus_first"] is None
    test = models[1]["versus_first"]
    assert test["verdict"] in ("better", "worse", "within noise") and 0 <= test["p_value"] <= 1
    # the counts of disagreements are what the two models' correctness says
    gap = round((models[1]["accuracy"] - models[0]["accuracy"]) * models[0]["examples"])
    assert test["only_model_right"] - test["only_reference_right"] == gap
    # seeded: the same command gives the same intervals
    assert json.loads(cli(*args, "--json").stdout)["models"][1]["intervals"] == models[1]["intervals"]

    table = cli(*args).stdout
    assert "exact McNemar" in table and test["verdict"] in table


def test_one_model_shows_its_intervals(cli, final, tmp_path_factory):
    result = cli("evaluate", "-m", final, "--dataset", held_out_csv(tmp_path_factory))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("95% CI") >= 3  # accuracy, macro F1, ROC-AUC
