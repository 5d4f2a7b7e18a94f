"""A run, a model or a score near chance is called what it is: `debug run` (underfitting), `evaluate` (the
chance rate beside accuracy) and `predict` (one warning on stderr) — on planted run states and a tiny model
trained to chance; and no false alarm on the committed healthy run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bertcli.core.diagnose.chance import (
    ChanceRate,
    binomial_tail,
    chance_from_counts,
    check_chance,
    positive_share_from_metrics,
)
from bertcli.core.diagnose.run import diagnose_run
from bertcli.core.diagnose.run_underfitting import recorded_accuracy
from examples import REPO
from factory import make_reviews, write_csv
from states import EXAMPLE_EVALS, EXAMPLE_LOSSES, LN2, MINILM_CONFIG, binary_eval, by_code, codes, plant_run

BASE_CONFIG = {"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12, "id2label": {"0": "negative", "1": "positive"}}
MINILM_RECIPE = {
    "model": "models/all-MiniLM-L6-v2", "dataset": "data/imdb", "train_size": 400, "eval_size": 500,
    "learning_rate": 2e-5, "num_train_epochs": 3, "train_batch_size": 16,
}


# --- planted run states --------------------------------------------------------------------------------------------


def test_reference_recipe_on_400_reviews_is_underfitting(tmp_path, cli):
    run = plant_run(tmp_path, EXAMPLE_LOSSES, total=75, evals=EXAMPLE_EVALS, training=MINILM_RECIPE)
    d = diagnose_run(run)
    first = d.findings[0]
    assert first.code == "underfitting" and first.level == "warning"  # the first finding, above every note
    assert "training loss stayed near chance" in first.summary and "ln 2 = 0.6931" in first.summary
    # the fixes that apply, on the run's own model and data
    assert first.fix == (
        "bertcli train --model models/all-MiniLM-L6-v2 --dataset data/imdb --train-size 400 --max-length 256 --lr 5e-5 "
        f"--warmup-ratio 0.1 --epochs 12 -o {run}-2  # a higher learning rate and more steps"
    )
    evidence = "\n".join(first.evidence)
    assert (
        "if it still ends near chance, check the data: "
        "bertcli debug data --dataset data/imdb --model models/all-MiniLM-L6-v2 --max-length 256" in evidence
    )
    assert "small models like MiniLM (hidden size 384) are usually fine-tuned at 5e-5 to 1e-4" in evidence
    assert "75 optimizer steps in all (25 per epoch × 3 epochs of 400 examples)" in evidence
    # the chance rate from what the run logged: 253 positives of 500, from accuracy, precision and recall
    assert d.underfitting.chance.source == "derived" and d.underfitting.chance.count == 253
    assert "always 'positive': 253 of 500 = 0.5060" in evidence
    assert "0.164 above the chance rate" in evidence  # 0.670 is above chance: a warning, not an error
    # nothing contradicts it: no "no overfitting" headline, no advice to train fewer epochs
    assert not by_code(d, "no_overfitting").summary.startswith("no overfitting")
    assert "underfitting" in by_code(d, "no_overfitting").summary
    assert "extra_epochs" not in codes(d)

    result = cli("debug", "run", run)
    assert result.exit_code == 0, result.stderr
    assert "0 errors  1 warning" in result.stdout
    findings = result.stdout[result.stdout.index("Findings") :]
    assert findings.splitlines()[1].startswith("! underfitting")
    as_json = json.loads(cli("debug", "run", run, "--json").stdout)
    assert as_json["underfitting"]["verdict"] == "underfitting" and as_json["findings"][0]["code"] == "underfitting"


def test_a_run_that_ends_at_chance_is_an_error(tmp_path, cli):
    evals = {25: binary_eval(253, 0, 253, 247, 0.6934), 50: binary_eval(140, 120, 253, 247, 0.6931)}
    run = plant_run(tmp_path, [0.6941, 0.6929, 0.6937, 0.6925, 0.6933], total=50, evals=evals, training=MINILM_RECIPE)
    d = diagnose_run(run)
    finding = by_code(d, "underfitting")
    assert finding.level == "error" and "the run ended at chance" in finding.summary
    assert "near chance: within 0.05 of the chance rate 0.506" in "\n".join(finding.evidence)
    assert cli("debug", "run", run).exit_code == 1


def test_loss_flat_at_ln2_is_stuck_and_names_the_lr_for_the_model_size(tmp_path):
    losses = [LN2 + 0.003 * math.sin(i) for i in range(40)]
    evals = {200: binary_eval(250, 5, 250, 250, 0.6932), 400: binary_eval(250, 3, 250, 250, 0.6931)}
    d = diagnose_run(plant_run(tmp_path, losses, per_epoch=200, evals=evals, training=MINILM_RECIPE))
    assert d.loss_trend.verdict == "stuck_at_chance"
    finding = by_code(d, "stuck_at_chance")
    assert finding.level == "error" and finding.summary.startswith("underfitting: the loss sits at chance level, ln 2")
    data, model, train = finding.fix.split(" && ")  # the checks first: each stops the chain on an error
    assert data == "bertcli debug data --dataset data/imdb --model models/all-MiniLM-L6-v2 --max-length 256"
    assert model == "bertcli debug model --model models/all-MiniLM-L6-v2 --max-length 256 --dataset data/imdb"
    assert train.startswith("bertcli train --model models/all-MiniLM-L6-v2 --dataset data/imdb ")
    assert "--lr 5e-5" in train  # 2e-5 is below what MiniLM-sized models are tuned at
    assert "underfitting" not in codes(d) and "loss_not_decreasing" not in codes(d)  # one finding, not three


def test_a_learning_rate_above_the_usual_range_is_lowered_not_raised(tmp_path):
    losses = [LN2 + 0.003 * math.sin(i) for i in range(40)]
    run = plant_run(tmp_path, losses, lr=3e-4, config=BASE_CONFIG)
    finding = by_code(diagnose_run(run), "stuck_at_chance")
    # nothing recorded: no --model or --dataset, so the defaults apply
    assert finding.fix.endswith(f" && bertcli train --max-length 256 --lr 2e-5 -o {run}-2  # a lower learning rate, once the data and the model check out")
    assert "--epochs" not in finding.fix
    assert "above the usual range: bert-base-sized models (hidden size 768) are usually fine-tuned at 2e-5 to 5e-5" in "\n".join(
        finding.evidence
    )


def test_three_labels_near_ln3_with_accuracy_near_a_third(tmp_path, cli):
    config = {"model_type": "bert", "hidden_size": 768, "id2label": {"0": "a", "1": "b", "2": "c"}}
    training = {"model": "bert-base-uncased", "dataset": "data/topics", "eval_size": 300, "num_train_epochs": 2}
    evals = {25: {"eval_loss": 1.0990, "eval_accuracy": 0.33}, 50: {"eval_loss": 1.0975, "eval_accuracy": 0.35}}
    run = plant_run(tmp_path, [1.1003, 1.0991, 1.0978, 1.0969, 1.0952], total=50, evals=evals, config=config, training=training)
    d = diagnose_run(run)
    finding = by_code(d, "underfitting")
    assert finding.level == "error" and "ln 3 = 1.0986" in finding.summary
    evidence = "\n".join(finding.evidence)
    assert "1/3 = 0.3333 (class counts not recorded)" in evidence  # macro metrics do not give the class counts
    assert d.underfitting.chance.source == "uniform"
    assert finding.fix.startswith("bertcli train --model bert-base-uncased --dataset data/topics --eval-size 300 --max-length 256 --lr 5e-5 ")
    assert cli("debug", "run", run).exit_code == 1


def test_three_labels_without_evaluation_is_judged_by_the_loss(tmp_path):
    config = {"model_type": "bert", "id2label": {"0": "a", "1": "b", "2": "c"}}
    d = diagnose_run(plant_run(tmp_path, [1.12, 1.10, 1.08, 1.06, 1.04, 1.02], config=config))
    finding = by_code(d, "underfitting")
    assert finding.level == "warning" and "ln 3 = 1.0986" in finding.summary
    assert "no eval accuracy in the log: judged by the training loss alone" in finding.evidence
    assert finding.fix.startswith("bertcli train --max-length 256 ") and "--model" not in finding.fix and "--dataset" not in finding.fix


def test_a_state_saved_mid_run_is_too_early_to_call(tmp_path):
    run = plant_run(tmp_path, EXAMPLE_LOSSES[:3], total=30, max_steps=375, training=MINILM_RECIPE)
    finding = by_code(diagnose_run(run), "underfitting")
    assert finding.level == "info" and "too early to call the run underfitting" in finding.summary


def test_learning_then_falling_back_to_chance_is_divergence_not_underfitting(tmp_path):
    losses = [0.69 * math.exp(-i / 4) + 0.02 for i in range(15)] + [0.66 + 0.005 * i for i in range(15)]
    d = diagnose_run(plant_run(tmp_path, losses, per_epoch=100))
    assert d.underfitting.verdict == "diverged"
    assert "underfitting" not in codes(d) and codes(d)["diverged"] == "error"


def test_training_loss_fell_but_eval_stays_at_chance(tmp_path):
    losses = [0.69 * math.exp(-i / 3) + 0.03 for i in range(12)]
    evals = {40: binary_eval(130, 120, 250, 250, 0.72), 120: binary_eval(128, 125, 250, 250, 0.80)}
    d = diagnose_run(plant_run(tmp_path, losses, per_epoch=40, evals=evals, training={**MINILM_RECIPE, "eval_size": 500}))
    finding = by_code(d, "eval_at_chance")
    assert finding.level == "error" and "does not carry over to the eval set" in finding.summary
    assert "bertcli debug data --dataset data/imdb" in finding.fix and "--lr" not in finding.fix


@pytest.mark.parametrize("run", ["minilm-imdb-3ep", "minilm-imdb-original-recipe"])
def test_committed_example_runs_are_not_underfitting(run):
    d = diagnose_run(REPO / "results" / run)
    assert d.underfitting.verdict == "learned"
    assert not {"underfitting", "stuck_at_chance", "eval_at_chance"} & set(codes(d))
    if run == "minilm-imdb-3ep":  # 0.798 / 0.884 / 0.880, far above the 0.506 of always answering 'positive'
        assert d.underfitting.chance.rate == pytest.approx(0.506) and not d.underfitting.best.near_chance
        assert by_code(d, "no_overfitting").summary.startswith("no overfitting")


# --- the chance arithmetic -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("successes, trials, rate", [(0, 10, 0.5), (7, 10, 0.5), (10, 10, 0.5), (3, 7, 0.2), (12, 19, 0.5)])
def test_binomial_tail_is_exact(successes, trials, rate):
    exact = sum(math.comb(trials, k) * rate**k * (1 - rate) ** (trials - k) for k in range(successes, trials + 1))
    assert binomial_tail(successes, trials, rate) == pytest.approx(exact, rel=1e-9)


def test_binomial_tail_agrees_with_scipy_on_large_counts():
    stats = pytest.importorskip("scipy.stats")
    for successes, trials, rate in [(335, 500, 0.506), (1030, 2000, 0.5), (9000, 25000, 0.36)]:
        expected = stats.binomtest(successes, trials, rate, alternative="greater").pvalue
        assert binomial_tail(successes, trials, rate) == pytest.approx(expected, rel=1e-6)


def test_positive_share_round_trips_through_the_logged_metrics():
    metrics = binary_eval(170, 165, 253, 247, 0.6)
    share = positive_share_from_metrics(metrics["eval_accuracy"], metrics["eval_precision"], metrics["eval_recall"])
    assert share == pytest.approx(253 / 500)
    assert positive_share_from_metrics(0.5, 0.0, 0.0) is None  # no true positive: nothing to solve


def test_near_chance_by_margin_or_by_the_test():
    coin = ChanceRate(0.5, 0.5, 2, "uniform")
    assert check_chance(0.54, coin, 2000).near_chance  # within 0.05
    assert check_chance(0.63, coin, 19).near_chance  # 12 of 19: p = 0.18, not significant
    assert not check_chance(0.63, coin, 2000).near_chance
    assert not check_chance(0.70, coin, None).near_chance
    rate = chance_from_counts([30, 70], ["negative", "positive"])
    assert (rate.rate, rate.label, rate.count) == (0.7, "positive", 70)
    assert check_chance(0.72, rate, 100).near_chance  # always 'positive' scores 0.70


# --- a tiny model trained to chance ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chance_run(tmp_path_factory, tiny_model, reviews_csv) -> Path:
    """One epoch at a learning rate of 1e-7: the head stays where it started."""
    from bertcli.core.training import TrainConfig, train

    run = tmp_path_factory.mktemp("chance") / "run"
    train(
        TrainConfig(
            model=str(tiny_model), dataset=str(reviews_csv), output_dir=run, epochs=1, batch_size=8, lr=1e-7,
            max_length=64, train_size=None, eval_size=None, save_steps=100, logging_steps=2, tensorboard=False,
        )
    )
    return run


@pytest.fixture(scope="module")
def held_out_reviews(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("held") / "held.csv", make_reviews(60, seed=7))


def test_debug_run_calls_the_chance_run_underfitting(cli, chance_run, tiny_model, reviews_csv):
    result = cli("debug", "run", chance_run, "--json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    first = data["findings"][0]
    assert first["code"] == "underfitting" and first["level"] == "error"
    assert f"--model {tiny_model} --dataset {reviews_csv}" in first["fix"] and "--lr 5e-5" in first["fix"]


def test_evaluate_states_the_chance_rate_and_warns_near_it(cli, chance_run, held_out_reviews):
    final = chance_run / "final"
    table = cli("evaluate", "-m", final, "--dataset", held_out_reviews)
    assert table.exit_code == 0, table.stderr
    assert "chance rate" in table.stdout and "(30 of 60); 1/2 = 0.5000" in table.stdout
    warnings = [line for line in table.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert f"{final} scores" in warnings[0] and "chance rate 0.500" in warnings[0]
    assert f"see bertcli debug run {chance_run}" in " ".join(table.stderr.split())
    assert "warning" not in table.stdout

    result = cli("evaluate", "-m", final, "--dataset", held_out_reviews, "--json")
    report = json.loads(result.stdout)
    chance = report["models"][0]["chance"]
    assert chance["majority_rate"] == 0.5 and chance["majority_count"] == 30 and chance["uniform_rate"] == 0.5
    assert chance["near_chance"] is True and 0 <= chance["p_value"] <= 1
    assert len(report["warnings"]) == 1
    quiet = cli("evaluate", "-m", final, "--dataset", held_out_reviews, "--json", "-q")
    assert quiet.stderr == ""  # --quiet: the warning stays in the JSON only


def test_predict_notes_a_near_chance_model_once_on_stderr(cli, chance_run):
    final = chance_run / "final"
    texts = ["a wonderful, moving film", "the worst movie I have seen", "dull"]
    result = cli("predict", "-m", final, *texts, "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "close to guesses" in line]
    assert len(notes) == 1 and notes[0].startswith("warning: this model scored 0.500 accuracy on its eval set")
    assert f"see bertcli debug run {chance_run}" in " ".join(result.stderr.split())
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == texts  # stdout holds the predictions and nothing else
    quiet = cli("predict", "-m", final, *texts, "--format", "jsonl", "-q")
    assert quiet.stdout == result.stdout and quiet.stderr == ""
    assert recorded_accuracy(chance_run / "checkpoint-11").near_chance


def test_a_model_that_learned_gets_no_warning(cli, final, held_out_reviews):
    predicted = cli("predict", "-m", final, "a wonderful film")
    assert predicted.exit_code == 0 and "warning" not in predicted.stderr
    evaluated = cli("evaluate", "-m", final, "--dataset", held_out_reviews, "--json")
    assert evaluated.exit_code == 0 and "warning" not in evaluated.stderr
    model = json.loads(evaluated.stdout)["models"][0]
    assert model["chance"]["near_chance"] is False and model["accuracy"] > model["chance"]["majority_rate"] + 0.2


def test_predict_reads_the_final_folders_metrics_first(tmp_path):
    run = plant_run(tmp_path, EXAMPLE_LOSSES, total=75, evals={75: binary_eval(230, 210, 253, 247, 0.30)}, training=MINILM_RECIPE)
    final = run / "final"
    final.mkdir()
    (final / "config.json").write_text(json.dumps(MINILM_CONFIG))
    assert not recorded_accuracy(final).near_chance  # from the run's state: 0.880
    metrics = {k[5:]: v for k, v in binary_eval(140, 121, 253, 247, 0.69).items()}
    (final / "metrics.json").write_text(json.dumps({"final_from": "last", "eval_examples": 500, "metrics": metrics}))
    check = recorded_accuracy(final)  # the weights saved as final scored 0.522
    assert check.near_chance and check.accuracy == pytest.approx(0.522)
    assert (check.chance.count, check.chance.label, check.examples) == (253, "positive", 500)
    assert recorded_accuracy(tmp_path / "elsewhere") is None
