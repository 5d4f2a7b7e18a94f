"""Early stopping, class weights, label smoothing and gradient accumulation, each tested for the effect it should
have on the tiny model; and the bad-input suite for config files and --class-weights."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

from refusals import assert_refused
from states import decaying, logged_losses, read_state, run_with, trainer_state

# 96 reviews, 10 carved for eval → 86 train; batch 8 → 11 steps per epoch.
FAST = ["--batch-size", "8", "--lr", "5e-3", "--max-length", "32", "--train-size", "all", "--eval-size", "all",
        "--save-steps", "100", "--logging-steps", "1", "--no-tensorboard", "-q"]


def _newest(run: Path) -> Path:
    from bertcli.core.runs.checkpoints import newest_complete_checkpoint

    return newest_complete_checkpoint(run).path


# --- the bad-input suite -----------------------------------------------------------------------------------------

BAD_CONFIGS = [
    ("bach-size = 8\n", ["unknown key 'bach-size'", "did you mean 'batch-size'?"]),
    ("learning_rate = 3e-5\n", ["unknown key 'learning_rate'", "did you mean 'lr'?"]),
    ("zzqx = 1\n", ["unknown key 'zzqx'", "(the keys are the options of bertcli train --help)"]),
    ('epochs = "three"\n', ["epochs in", "takes a number, not a string ('three')"]),
    ('compile = "yes"\n', ["compile in", "takes true or false, not a string"]),
    ("labels = 3\n", ["labels in", "takes a list of strings", "not an integer"]),
    ("class-weights = true\n", ["class-weights in", "\"auto\" or a list of numbers", "not a boolean"]),
    ("lr = 2\n", ["lr in", "must be in (0, 1], got 2"]),
    ("batch_size = 2.5\n", ["batch-size in", "must be a whole number in [1, 4096], got 2.5"]),
    ("early-stopping = 0\n", ["early-stopping in", "must be a whole number in [1, 1000], got 0"]),
    ("label-smoothing = 1.0\n", ["label-smoothing in", "must be in [0, 1), got 1"]),
    ('scheduler = "cosine_warm"\n', ["scheduler in", "takes one of linear, cosine", "not 'cosine_warm'"]),
    ('train-size = "most"\n', ["train-size in", "a whole number or \"all\""]),
    ("class-weights = [1, -2]\n", ["class-weights in", "(the weight of label 1) must be in (0, 1000], got -2"]),
    ("epochs = \n", ["is not valid TOML", "line 1", "'key = value'"]),
    ("epochs = 2\nepochs = 3\n", ["is not valid TOML"]),
    ("batch-size = 8\nbatch_size = 16\n", ["sets batch-size twice", "keep one"]),
    ("resume = true\n", ["resume in", "is not a run setting", "pass --resume on the command line"]),
]


@pytest.mark.parametrize("text, needles", BAD_CONFIGS, ids=[t.strip().replace("\n", "; ") for t, _ in BAD_CONFIGS])
def test_bad_config_is_one_line(cli, tmp_path, text, needles):
    path = tmp_path / "run.toml"
    path.write_text(text)
    assert_refused(cli("train", "--config", path, "-o", tmp_path / "out"), 2, str(path), *needles)
    assert not (tmp_path / "out").exists()


def test_a_key_close_to_none_gets_no_guess(cli, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("zzqx = 1\n")
    line = assert_refused(cli("train", "--config", path), 2, "unknown key 'zzqx'")
    assert "did you mean" not in line


def test_config_missing_or_a_folder(cli, tmp_path):
    assert_refused(cli("train", "--config", tmp_path / "nope.toml"), 2, "nope.toml: no such file", "check the path")
    assert_refused(cli("train", "--config", tmp_path), 2, f"--config {tmp_path} is a folder, not a TOML file")


@pytest.mark.parametrize(
    "weights, needles",
    [
        ("1,-1", ["--class-weights (the weight of label 1) must be in (0, 1000], got -1"]),
        ("nan,1", ["--class-weights (the weight of label 0) must be in (0, 1000], got nan"]),
        ("1,inf", ["--class-weights (the weight of label 1) must be in (0, 1000], got inf"]),
        ("0,1", ["(the weight of label 0) must be in (0, 1000], got 0"]),
        ("heavy", ["--class-weights takes 'auto' or numbers, not 'heavy'", "e.g. 1,3"]),
        ("1,,2", ["--class-weights takes 'auto' or comma-separated weights, not '1,,2'"]),
        ("", ["--class-weights takes 'auto' or comma-separated weights"]),
    ],
)
def test_bad_class_weights_are_refused_while_parsing(cli, weights, needles):
    assert_refused(cli("train", "--class-weights", weights), 2, *needles)


def test_class_weights_of_the_wrong_count(cli, tiny_model, reviews_csv, tmp_path):
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", tmp_path / "r", *FAST, "--class-weights", "1,2,3")
    assert_refused(result, 2, "--class-weights gives 3 weight(s) but the data has 2 labels (negative, positive)",
                   "--class-weights 1,1")
    assert not list((tmp_path / "r").glob("checkpoint-*"))


# --- early stopping ------------------------------------------------------------------------------------------------

# Evaluations every 2 steps on eval loss, which cannot fall by 0.5 from ~0.69: the first evaluation (step 2) stays
# the best, and the third evaluation after it (step 8) ends the run.
STOPPING = dict(eval_steps=2, early_stopping=3, best_metric="loss", min_delta=0.5)


def _config(model: Path, data: Path, out: Path, **overrides):
    from bertcli.core.training import TrainConfig

    values = dict(model=str(model), dataset=str(data), output_dir=out, epochs=2, batch_size=8, lr=5e-3, max_length=32,
                  train_size=None, eval_size=None, save_steps=100, logging_steps=1, keep_checkpoints=100,
                  tensorboard=False, **STOPPING)
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, tiny_model, reviews_csv):
    """(run folder, --json report) of a CLI run that early stopping ends at step 8 of 22."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    out = tmp_path_factory.mktemp("stopped") / "run"
    args = ["train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--epochs", "2", *FAST,
            "--keep-checkpoints", "100", "--eval-steps", "2", "--early-stopping", "3", "--best-metric", "loss",
            "--min-delta", "0.5", "--json"]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "early stopping after 3 evaluation(s) without loss improving by more than 0.5" in result.stderr  # the plan
    return out, json.loads(result.stdout)


def test_early_stopping_ends_the_run_and_says_why(stopped):
    from bertcli.core.training import EarlyStop
    from bertcli.render.train import early_stop_line

    out, report = stopped
    assert report["global_step"] == 8
    stop = report["early_stop"]
    assert (stop["step"], stop["patience"], stop["best_step"], stop["metric"]) == (8, 3, 2, "loss")
    evals = [e for e in read_state(out / "checkpoint-8")["log_history"] if "eval_loss" in e]
    assert [e["step"] for e in evals] == [2, 4, 6, 8]  # every --eval-steps, each with its checkpoint
    assert {f"checkpoint-{s}" for s in (2, 4, 6, 8)} <= {p.name for p in out.glob("checkpoint-*")}
    assert stop["best_value"] == pytest.approx(evals[0]["eval_loss"])
    line = early_stop_line(EarlyStop(**stop))
    assert line == (f"stopped early at step 8 (epoch {round(8 / 11, 2):g}): loss did not improve by more than 0.5 "
                    f"for 3 evaluations after its best {evals[0]['eval_loss']:.4g} at step 2")
    # recorded where inspect-checkpoint and debug run read it: the training block of every later bertcli.json
    for folder in (out / "checkpoint-8", out / "final"):
        training = json.loads((folder / "bertcli.json").read_text())["training"]
        assert (training["stopped_early_at"], training["early_stopping"], training["min_delta"], training["eval_steps"]) == (8, 3, 0.5, 2)
    assert json.loads((out / "checkpoint-6" / "bertcli.json").read_text())["training"]["stopped_early_at"] is None


def test_patience_survives_a_kill_and_resume(stopped, tiny_model, reviews_csv, tmp_path):
    """Killed after step 6 (two evaluations without improvement), the resumed run stops at step 8 as the
    uninterrupted one did; a count kept in memory (transformers #10290) would start from zero and run to step 12."""
    from bertcli.core.training import train

    run, _ = stopped
    out = tmp_path / "run"
    out.mkdir()
    for step in (2, 4, 6):  # what a kill -9 after the save of step 6 leaves: checkpoints, no final/
        shutil.copytree(run / f"checkpoint-{step}", out / f"checkpoint-{step}")
        state = out / f"checkpoint-{step}" / "trainer_state.json"
        state.write_text(state.read_text().replace(str(run), str(out)))
    report = train(_config(tiny_model, reviews_csv, out, resume=True))
    assert report.global_step == 8
    assert report.early_stop is not None and (report.early_stop.step, report.early_stop.best_step) == (8, 2)
    expected = logged_losses(run / "checkpoint-8")
    got = logged_losses(out / "checkpoint-8")
    assert [pytest.approx(got[s], abs=1e-6) for s in (7, 8)] == [expected[7], expected[8]]


def test_resuming_a_run_early_stopping_ended_is_refused(cli, stopped, tiny_model, reviews_csv, tmp_path):
    run, _ = stopped
    out = tmp_path / "run"
    shutil.copytree(run, out)
    args = ["train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, "--epochs", "2", *FAST,
            "--keep-checkpoints", "100", "--eval-steps", "2", "--best-metric", "loss", "--min-delta", "0.5", "--resume"]
    assert_refused(cli(*args, "--early-stopping", "3"), 2, f"--resume: early stopping already ended the run in {out} at step 8",
                   "for 3 evaluations", "raise --early-stopping above 3 to train on, or start over with --overwrite")
    assert sorted(p.name for p in out.glob("checkpoint-*")) == sorted(p.name for p in run.glob("checkpoint-*"))


def test_inspect_checkpoint_says_early_stopping_ended_the_run(cli, stopped):
    run, _ = stopped
    result = cli("inspect-checkpoint", run, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    messages = [f["summary"] for f in data["findings"]]
    assert any("this state is at step 8 of 22" in m and "early stopping ended it: loss did not improve by more than 0.5 "
               "for 3 evaluations" in m for m in messages), messages
    assert any(m.startswith("training controls: early stopping after 3 evaluations (every 2 steps, min delta 0.5)")
               for m in messages), messages


def test_debug_run_does_not_suggest_fewer_epochs_after_early_stopping(tmp_path):
    from bertcli.core.diagnose.run import diagnose_run

    evals = {100: {"loss": 0.45, "accuracy": 0.798}, 200: {"loss": 0.313, "accuracy": 0.884}, 300: {"loss": 0.300, "accuracy": 0.880}}
    run = run_with(tmp_path, trainer_state(decaying(30), evals=evals))
    training = {"eval_size": 500, "num_train_epochs": 3}
    settings = run / "checkpoint-300" / "bertcli.json"
    settings.write_text(json.dumps({"max_length": 512, "truncation": "head+tail", "training": training}))
    assert "extra_epochs" in {f.code for f in diagnose_run(run).findings}  # without early stopping: 2 epochs would do
    settings.write_text(json.dumps({"max_length": 512, "truncation": "head+tail",
                                    "training": {**training, "early_stopping": 1, "stopped_early_at": 300}}))
    assert "extra_epochs" not in {f.code for f in diagnose_run(run).findings}


def test_evaluations_since_best_counts_from_the_log():
    from bertcli.core.training import evaluations_since_best

    log = [{"step": s, "eval_accuracy": a} for s, a in ((10, 0.70), (20, 0.80), (30, 0.805), (40, math.nan), (50, 0.79))]
    log.insert(1, {"step": 15, "loss": 0.5})  # training logs do not count
    assert evaluations_since_best(log, "eval_accuracy", True, 0.0) == (2, 0.805, 30)
    assert evaluations_since_best(log, "eval_accuracy", True, 0.01) == (3, 0.80, 20)  # 0.805 is no improvement by > 0.01
    losses = [{"step": s, "eval_loss": v} for s, v in ((1, 0.5), (2, 0.4), (3, 0.45))]
    assert evaluations_since_best(losses, "eval_loss", False) == (1, 0.4, 2)
    assert evaluations_since_best([], "eval_loss", False) == (0, None, None)


# --- the loss: class weights, label smoothing, gradient accumulation -----------------------------------------------


def _batch(tiny_model: Path, n: int = 8):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    texts = ["a wonderful superb film", "a terrible boring film", "great acting", "awful plot"] * (n // 4)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    import torch

    batch["labels"] = torch.tensor([1, 0] * (n // 2))
    return dict(batch)


def test_the_loss_matches_the_trainers_own_and_weights_of_one_change_nothing(tiny_model, tmp_path):
    """bertcli's training loss with no weights, and with weights 1,1, is the Trainer's own (the model's mean
    cross-entropy) for one batch; weights 1,3 weigh the positives three times, in the weighted mean
    Σ wᵢℓᵢ / Σ wᵢ that torch's CrossEntropyLoss(weight=…) computes."""
    import torch
    from transformers import AutoModelForSequenceClassification, Trainer, TrainingArguments

    from bertcli.core.training.trainer import BertCliTrainer

    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_model), num_labels=2, hidden_dropout_prob=0.0,
                                                               attention_probs_dropout_prob=0.0)
    model.train()
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    batch = _batch(tiny_model)
    n = len(batch["labels"])
    stock = Trainer(model=model, args=args).compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(n))
    plain = BertCliTrainer(model=model, args=args, sampler_seed=0)
    assert plain.model_accepts_loss_kwargs  # why the Trainer's own loss is not divided by --grad-accum (see below)
    ours = plain.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(n))
    ones = BertCliTrainer(model=model, args=args, sampler_seed=0, class_weights=[1.0, 1.0]).compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(n))
    assert ours.item() == pytest.approx(stock.item(), rel=1e-6)
    assert ones.item() == pytest.approx(stock.item(), rel=1e-6)
    with torch.no_grad():
        per_example = torch.nn.functional.cross_entropy(model(**{k: v for k, v in batch.items() if k != "labels"}).logits,
                                                        batch["labels"], reduction="none")
    weighted = BertCliTrainer(model=model, args=args, sampler_seed=0, class_weights=[1.0, 3.0]).compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(n))
    w = torch.where(batch["labels"] == 1, 3.0, 1.0)
    expected = (per_example * w).sum() / w.sum()
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-5)
    # half of an accumulated batch of 16: its share of the mean over 16, not a mean of its own
    half = plain.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(2 * n))
    assert half.item() == pytest.approx(stock.item() / 2, rel=1e-6)


def test_class_weights_are_normalised_to_mean_one():
    from bertcli.core.errors import UsageError
    from bertcli.core.training import resolve_class_weights

    weights = resolve_class_weights("auto", [30, 10], ["negative", "positive"])
    assert weights == pytest.approx([0.5, 1.5]) and sum(weights) / 2 == pytest.approx(1.0)
    assert resolve_class_weights([1.0, 3.0], [30, 10], ["negative", "positive"]) == [0.5, 1.5]  # only ratios count
    assert resolve_class_weights(None, [30, 10], ["a", "b"]) is None
    with pytest.raises(UsageError, match="label 'b' has no training example"):
        resolve_class_weights("auto", [30, 0], ["a", "b"])


def _train(cli, tiny_model, reviews_csv, out: Path, *extra: str) -> Path:
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", out, *FAST, *extra)
    assert result.exit_code == 0, result.stderr
    return out


def _positive_probabilities(final: Path, texts: list[str]) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(final))
    model = AutoModelForSequenceClassification.from_pretrained(str(final)).eval()
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, truncation=True, max_length=32, return_tensors="pt")).logits
    return logits.softmax(-1)[:, 1].tolist()


@pytest.fixture(scope="module")
def weighted_runs(tmp_path_factory, tiny_model, reviews_csv):
    """Four 6-step runs alike but for --class-weights: none, 1,1, 1,20 and 20,1."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    base = tmp_path_factory.mktemp("weights")
    runs = {}
    for name, extra in (("none", []), ("ones", ["--class-weights", "1,1"]), ("positive", ["--class-weights", "1,20"]),
                        ("negative", ["--class-weights", "20,1"])):
        args = ["train", "--model", tiny_model, "--dataset", reviews_csv, "-o", base / name, *FAST, "--max-steps", "6",
                "--final", "last", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        runs[name] = base / name
    return runs


def test_class_weights_one_one_train_as_no_weights(weighted_runs):
    assert logged_losses(weighted_runs["ones"] / "checkpoint-6") == logged_losses(weighted_runs["none"] / "checkpoint-6")


def test_class_weights_favouring_a_label_predict_it_more_often(weighted_runs, reviews_csv):
    """Six steps leave the unweighted model near chance (every review about 0.5 positive, just above it); weights
    20 to 1 pull every prediction towards the favoured label: its probability, and how often it is predicted."""
    with open(reviews_csv, newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    p = {name: _positive_probabilities(weighted_runs[name] / "final", texts) for name in ("none", "positive", "negative")}
    mean = {name: sum(v) / len(v) for name, v in p.items()}
    share = {name: sum(x > 0.5 for x in v) / len(v) for name, v in p.items()}
    assert mean["positive"] > mean["none"] + 0.05 and mean["negative"] < mean["none"] - 0.05, mean
    assert share["positive"] >= share["none"] > share["negative"], share
    assert share["positive"] >= 0.9 and share["negative"] <= 0.1, share
    training = json.loads((weighted_runs["positive"] / "final" / "bertcli.json").read_text())["training"]
    assert (training["class_weights"], training["class_weight_values"]) == ("1,20", "0.0952,1.9048")


def test_inspect_checkpoint_compares_the_controls(cli, weighted_runs):
    result = cli("inspect-checkpoint", weighted_runs["none"], weighted_runs["positive"], "--json")
    assert result.exit_code == 0, result.stderr
    differing = json.loads(result.stdout)["comparison"]["differing"]
    assert differing["training.class_weights"] == [None, "1,20"]
    table = cli("inspect-checkpoint", weighted_runs["none"], weighted_runs["positive"])
    assert "training.class_weights" in table.stdout and "1,20" in table.stdout


def test_label_smoothing_keeps_the_loss_above_its_floor(cli, tiny_model, reviews_csv, tmp_path):
    """On 8 memorised reviews the plain loss falls below what smoothing 0.2 allows: the entropy of the smoothed
    target (0.9, 0.1), 0.325; with smoothing every logged loss stays above it."""
    smoothing = 0.2
    q = 1 - smoothing + smoothing / 2
    floor = -(q * math.log(q) + (1 - q) * math.log(1 - q))
    memorise = ["--train-size", "8", "--max-steps", "20", "--lr", "2e-2", "--no-group-by-length"]
    plain = logged_losses(_newest(_train(cli, tiny_model, reviews_csv, tmp_path / "plain", *memorise)))
    smoothed_run = _train(cli, tiny_model, reviews_csv, tmp_path / "smoothed", *memorise, "--label-smoothing", str(smoothing))
    smoothed = logged_losses(_newest(smoothed_run))
    assert min(plain.values()) < floor - 0.05, min(plain.values())  # memorised: the floor is what holds the other back
    assert min(smoothed.values()) >= floor - 1e-4, (min(smoothed.values()), floor)
    assert min(smoothed.values()) < floor + 0.1  # and it did memorise, down to near the floor
    assert json.loads((smoothed_run / "final" / "bertcli.json").read_text())["training"]["label_smoothing"] == smoothing


def test_grad_accum_takes_the_steps_and_losses_of_the_bigger_batch(cli, tiny_model, reviews_csv, tmp_path):
    """Batch 8 x 2 accumulated and batch 16: 6 optimizer steps an epoch either way (86 examples), the same examples
    in each step, about the same losses (dropout masks differ). The Trainer's own loss would be twice as large
    with --grad-accum 2 (a classifier's loss ignores num_items_in_batch)."""
    one = ["--epochs", "1", "--batch-size", "16", "--precision", "fp32"]
    big = _train(cli, tiny_model, reviews_csv, tmp_path / "b16", *FAST, *one)
    result = cli("train", "--model", tiny_model, "--dataset", reviews_csv, "-o", tmp_path / "b8x2", *FAST, *one,
                 "--batch-size", "8", "--grad-accum", "2")
    assert result.exit_code == 0, result.stderr
    assert "6 optimizer steps (6/epoch) of batch 8 x 2 accumulated = effective batch 16" in result.stderr
    accumulated = tmp_path / "b8x2"
    a, b = logged_losses(big / "checkpoint-6"), logged_losses(accumulated / "checkpoint-6")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    for step in a:
        assert b[step] == pytest.approx(a[step], rel=0.05), (step, a, b)
    training = json.loads((accumulated / "final" / "bertcli.json").read_text())["training"]
    assert (training["grad_accum"], training["effective_batch_size"], training["train_batch_size"]) == (2, 16, 8)
    compared = json.loads(cli("inspect-checkpoint", big, accumulated, "--json").stdout)["comparison"]["differing"]
    assert compared["training.grad_accum"] == [1, 2]


def test_plan_counts_optimizer_steps_for_the_disk_estimate(tiny_model, reviews_csv, tmp_path):
    from bertcli.core.training import train

    plans = []

    class Planned(Exception):
        pass

    def stop(plan):
        plans.append(plan)
        raise Planned

    for accum in (1, 4):
        with pytest.raises(Planned):
            train(_config(tiny_model, reviews_csv, tmp_path / f"a{accum}", grad_accum=accum, save_steps=1,
                          eval_steps=None, early_stopping=None), on_plan=stop)
    one, four = plans
    assert (one.steps_per_epoch, one.steps) == (11, 22)
    assert (four.steps_per_epoch, four.steps, four.effective_batch) == (3, 6, 32)
    assert four.unbounded_bytes < one.unbounded_bytes  # a checkpoint every optimizer step: fewer steps, fewer saves


def test_compile_on_cpu_is_noted_with_what_it_measured():
    from bertcli.core.training.config import TrainConfig
    from bertcli.core.training.plan import plan_notes, plan_steps

    cfg = TrainConfig(model="m", dataset="d", compile=True)
    schedule = plan_steps(cfg, 2000, True, 1)
    cpu = plan_notes(cfg, schedule, earlier=[], resume_from=None, attention_dropout=0.0, device="cpu")
    assert any(n.startswith("--compile on CPU") and "no faster" in n for n in cpu)
    gpu = plan_notes(cfg, schedule, earlier=[], resume_from=None, attention_dropout=None, device="cuda")
    assert not any("--compile" in n for n in gpu)
    plain = TrainConfig(model="m", dataset="d")
    assert not any("--compile" in n for n in plan_notes(plain, schedule, earlier=[], resume_from=None, attention_dropout=0.0))
