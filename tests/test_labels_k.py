"""k classes from files as they are published: labels numbered from 1 named in classes.txt (AG News's CSV),
the value → id → name mapping saved with the model and read back by evaluate. Small slices of the real files
in ../shared/data are read at test time (skipped with the reason where the folder is absent)."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BERTCLI_SHARED_DATA", REPO.parent / "shared" / "data"))
AG_NAMES = ["World", "Sports", "Business", "Sci/Tech"]


@pytest.fixture(scope="session")
def agnews_csv() -> Path:
    folder = SHARED / "agnews-csv"
    if not (folder / "train.csv").is_file():
        pytest.skip(f"AG News CSV not found at {folder} (set BERTCLI_SHARED_DATA)")
    return folder


def ag_slice(folder: Path, name: str, out: Path, per_class: int) -> tuple[Path, Counter]:
    """The first `per_class` rows of each class of AG News's `name` (labels 1–4), with a header row."""
    taken: Counter = Counter()
    rows = []
    with (folder / name).open(newline="", encoding="utf-8") as fh:
        for label, title, description in csv.reader(fh):
            if taken[label] < per_class:
                taken[label] += 1
                rows.append((f"{title} {description}", label))
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return out, taken


def test_labels_from_one_are_four_classes_named_by_classes_txt(agnews_csv, tmp_path):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.data.labels import read_label_names

    path, taken = ag_slice(agnews_csv, "train.csv", tmp_path / "ag.csv", 10)
    plain = select_examples(DataSpec(str(path), eval_size=8), for_training=True)
    assert plain.label_names == ["1", "2", "3", "4"]  # no phantom class 0
    names = read_label_names(agnews_csv / "classes.txt")
    data = select_examples(DataSpec(str(path), eval_size=8, label_names=names), for_training=True)
    assert data.label_names == AG_NAMES
    assert data.label_values == ["1", "2", "3", "4"]
    assert data.labels.describe() == "1 → World, 2 → Sports, 3 → Business, 4 → Sci/Tech"
    counts = Counter(data.train["label"]) + Counter(data.eval["label"])
    assert {AG_NAMES[i]: n for i, n in counts.items()} == {AG_NAMES[int(k) - 1]: n for k, n in taken.items()}


def test_wrong_number_of_names_is_refused(agnews_csv, tmp_path):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.errors import UsageError

    path, _ = ag_slice(agnews_csv, "train.csv", tmp_path / "ag.csv", 5)
    with pytest.raises(UsageError, match="3 label name.*4 class"):
        select_examples(DataSpec(str(path), label_names=["a", "b", "c"]), for_training=True)


def test_a_folders_own_classes_txt_names_the_labels(agnews_csv, tmp_path):
    """AG News as published: class index 1-4 in the tables, the names in the folder's classes.txt."""
    from bertcli.core.data import DataSpec, select_examples

    data = select_examples(DataSpec(str(agnews_csv), text_column="2,3", eval_size=8), for_training=True)
    assert data.label_names == AG_NAMES and data.label_values == ["1", "2", "3", "4"]
    assert any("label names from classes.txt in the dataset folder" in n for n in data.notes)


def test_a_names_file_that_does_not_fit_is_refused_in_one_line(cli, tmp_path):
    from bertcli.core.data import DataSpec, select_examples
    from bertcli.core.errors import UsageError

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(f"text number {i},{i % 3}\n" for i in range(30)))
    (folder / "labels.txt").write_text("red\ngreen\n")
    with pytest.raises(UsageError, match="labels.txt in the dataset folder does not fit the data") as err:
        select_examples(DataSpec(str(folder)), for_training=True)
    assert "\n" not in str(err.value)
    (folder / "labels.txt").write_text("red\ngreen\nblue\n")
    assert select_examples(DataSpec(str(folder)), for_training=True).label_names == ["red", "green", "blue"]
    # names given on the command line win over the folder's file; two names files in one folder: neither is read
    assert select_examples(DataSpec(str(folder), label_names=["a", "b", "c"]), for_training=True).label_names == ["a", "b", "c"]
    (folder / "classes.txt").write_text("x\ny\nz\n")
    assert select_examples(DataSpec(str(folder)), for_training=True).label_names == ["0", "1", "2"]


def test_train_then_evaluate_labels_from_one(cli, tiny_model, agnews_csv, tmp_path):
    train_csv, _ = ag_slice(agnews_csv, "train.csv", tmp_path / "train.csv", 8)
    test_csv, test_counts = ag_slice(agnews_csv, "test.csv", tmp_path / "test.csv", 3)
    out = tmp_path / "run"
    result = cli("train", "--model", tiny_model, "--dataset", train_csv, "--label-names", agnews_csv / "classes.txt",
                 "-o", out, "--max-steps", "2", "--batch-size", "8", "--max-length", "32", "--eval-size", "8",
                 "--train-size", "all", "--no-tensorboard", "-q")
    assert result.exit_code == 0, result.stderr
    assert "4 labels 1 → World, 2 → Sports, 3 → Business, 4 → Sci/Tech" in " ".join(result.stderr.split())
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(AG_NAMES)}
    assert config["label2id"] == {name: i for i, name in enumerate(AG_NAMES)}
    manifest = json.loads((out / "final" / "bertcli.json").read_text())["training"]
    assert manifest["label_names"] == AG_NAMES and manifest["label_values"] == ["1", "2", "3", "4"]
    card = (out / "final" / "README.md").read_text()
    assert "| labels | 1 → World, 2 → Sports, 3 → Business, 4 → Sci/Tech |" in card
    assert "| F1 (macro) |" in card and "wonderful" not in card and "sarcasm" not in card
    example = card.split("bertcli predict --model <this folder> ")[1].split("\n")[0].strip("'\"")
    texts = [row[0] for row in csv.reader(train_csv.open(encoding="utf-8"))]
    assert len(example) > 20 and any(" ".join(t.split()).startswith(example) for t in texts)  # a text of the data

    result = cli("evaluate", "--model", out / "final", "--dataset", test_csv, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)["models"][0]
    support = {c["label"]: c["support"] for c in report["per_class"]}
    assert support == {AG_NAMES[int(k) - 1]: n for k, n in test_counts.items()}
    result = cli("predict", "--model", out / "final", "Oil prices rise as markets fall", "--json")
    assert result.exit_code == 0, result.stderr
    predicted = json.loads(result.stdout)
    assert predicted["labels"] == AG_NAMES and predicted["label_values"] == dict(zip(AG_NAMES, ["1", "2", "3", "4"]))
    assert predicted["predictions"][0]["label"] in AG_NAMES
    result = cli("evaluate", "--model", out / "final", "--dataset", test_csv, "--confusion-csv", test_csv)
    assert result.exit_code == 2 and "is the input given to --dataset" in result.stderr
    matrix = tmp_path / "confusion.csv"
    result = cli("evaluate", "--model", out / "final", "--dataset", test_csv, "--confusion-csv", matrix, "--json")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(matrix.open()))
    assert rows[0][2:] == AG_NAMES and [r[1] for r in rows[1:]] == AG_NAMES
    assert [[int(n) for n in r[2:]] for r in rows[1:]] == json.loads(result.stdout)["models"][0]["confusion"]


@pytest.fixture(scope="session")
def trec() -> Path:
    folder = SHARED / "trec"
    if not (folder / "train.csv").is_file():
        pytest.skip(f"TREC not found at {folder} (set BERTCLI_SHARED_DATA)")
    return folder


def trec_rows(folder: Path, name: str, n: int) -> list[tuple[str, str]]:
    """The first `n` questions of TREC's `name` (tab-separated despite its .csv name) as (text, label)."""
    with (folder / name).open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t")
        next(reader)
        return [(question, label) for _, question, label in (next(reader) for _ in range(n))]


def write_rows(path: Path, rows) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_weighted_loss_is_the_weighted_mean_torch_defines(tiny_model, trec, tmp_path):
    """compute_loss with --class-weights equals F.cross_entropy(weight=…), for one batch and accumulated over two."""
    import torch
    from transformers import AutoTokenizer, TrainingArguments

    from bertcli.core.model import load_classifier
    from bertcli.core.training.trainer import BertCliTrainer, padding_collator

    rows = trec_rows(trec, "train.csv", 24)
    names = sorted({label for _, label in rows})
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = load_classifier(str(tiny_model), names)
    model.config.hidden_dropout_prob = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    weights = [0.5 + i for i in range(len(names))]
    trainer = BertCliTrainer(
        model=model, args=TrainingArguments(output_dir=str(tmp_path / "out"), report_to="none", use_cpu=True),
        sampler_seed=0, class_weights=weights,
    )
    collate = padding_collator(tokenizer, None)
    features = [{"input_ids": tokenizer(text)["input_ids"], "label": names.index(label)} for text, label in rows]
    batches = [collate(features[:10]), collate(features[10:])]
    model.train()

    def reference(batch_list) -> float:
        with torch.no_grad():
            logits = torch.cat([model(**{k: v for k, v in b.items() if k != "labels"}).logits for b in batch_list])
            labels = torch.cat([b["labels"] for b in batch_list])
            return float(torch.nn.functional.cross_entropy(logits, labels, weight=torch.tensor(weights)))

    with torch.no_grad():
        one = float(trainer.compute_loss(model, batches[0]))
        assert one == pytest.approx(reference(batches[:1]), rel=1e-5)
        samples, items = trainer.get_batch_samples(iter(batches), 2, torch.device("cpu"))
        accumulated = sum(float(trainer.compute_loss(model, b, num_items_in_batch=items)) for b in samples)
    assert accumulated == pytest.approx(reference(batches), rel=1e-5)
    plain = float(torch.nn.functional.cross_entropy(
        torch.cat([model(**{k: v for k, v in b.items() if k != "labels"}).logits for b in batches]).detach(),
        torch.cat([b["labels"] for b in batches])))
    assert accumulated != pytest.approx(plain * sum(weights) / len(weights), rel=1e-3)  # not Σ wᵢℓᵢ / n


def test_chance_is_the_majority_rate_of_the_recorded_counts(trec, tmp_path, cli):
    """TREC's test split: 138 DESC of 500 = 0.276, not 1/6; debug run and predict's warning read bertcli.json's counts."""
    from bertcli.core.diagnose.run import diagnose_run
    from bertcli.core.diagnose.run_underfitting import recorded_accuracy
    from states import plant_run

    with (trec / "test.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    names = sorted({label for *_, label in rows})
    counts = [sum(1 for *_, label in rows if label == name) for name in names]
    config = {"model_type": "bert", "id2label": {str(i): n for i, n in enumerate(names)}}
    training = {"dataset": "trec", "eval_size": len(rows), "label_names": names, "eval_label_counts": counts,
                "num_train_epochs": 2}
    evals = {25: {"eval_loss": 1.70, "eval_accuracy": 0.27}, 50: {"eval_loss": 1.69, "eval_accuracy": 0.28}}
    run = plant_run(tmp_path, [1.79, 1.78, 1.76, 1.75, 1.74], total=50, evals=evals, config=config, training=training)
    d = diagnose_run(run)
    chance = d.underfitting.chance
    assert chance.source == "counts" and chance.label == "DESC"
    assert (chance.count, chance.examples) == (max(counts), 500) and chance.rate == pytest.approx(max(counts) / 500)
    assert "always 'DESC': 138 of 500 = 0.2760; 1/6 = 0.1667" in "\n".join(d.findings[0].evidence)
    assert "ln 6 = 1.7918" in d.findings[0].summary
    check = recorded_accuracy(run / "checkpoint-50")
    assert check.chance.rate == pytest.approx(0.276) and check.near_chance


def fake_evaluation(k: int = 77, per_class: int = 6, absent: int = 2):
    """A ModelEvaluation of k intent-like labels, scored from made-up predictions: most right, some confused
    with the next label, the last `absent` labels without an example."""
    import random

    from bertcli.core.evaluation import ModelEvaluation, score_predictions
    from bertcli.core.inference.classify import Prediction

    names = [f"intent_{i:02d}_{'card' if i % 3 else 'transfer'}_request" if k > 10 else f"label {i}" for i in range(k)]
    rng = random.Random(0)
    preds, gold = [], []
    for c in range(k - absent):
        for j in range(per_class):
            guess = c if j < per_class - 2 or c % 4 else (c + 1) % k
            probs = [0.1 / (k - 1)] * k
            probs[guess] = 0.9
            preds.append(Prediction(len(preds), f"text {rng.random():.3f}", label=names[guess], label_id=guess,
                                    confidence=0.9, probabilities=probs, truncated=False))
            gold.append(c)
    scores = score_predictions(preds, gold, names, mistakes=0)
    return ModelEvaluation(
        model="results/final", chosen_as="given", mode="fp32", max_length=64, truncation="head", label_names=names,
        examples=len(preds), skipped=0, seconds=1.0, load_seconds=0.1, examples_per_second=None, tokens_per_second=None,
        predictions=preds, gold=gold, **scores,
    ), names


@pytest.mark.parametrize("width", [80, 200])
def test_77_labels_read_at_80_and_200_columns(width, monkeypatch, capsys):
    from bertcli.core.evaluation import EvaluationReport
    from bertcli.render.evaluate import render_evaluation

    model, names = fake_evaluation()
    monkeypatch.setenv("COLUMNS", str(width))
    render_evaluation(EvaluationReport("intents.csv", "test", model.examples, [model]))
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "Largest confusions" in out and "Per class, sorted by F1 (worst first)" in out
    # the worst confusion by count: 2 of intent_00's 6 examples went to intent_01
    row = next(line for line in out.splitlines() if "intent_00_transfer_request" in line and "33.3%" in line)
    assert "intent_01_card_request" in row and " 2 " in row
    assert model.absent_labels == ["intent_75_transfer_request", "intent_76_card_request"]
    assert "(left out)" in out and "over the 75 labels with" in out and "not defined: one-vs-rest" in out
    assert model.roc_auc is None and "have none" in model.roc_auc_note
    assert model.macro["f1"] == pytest.approx(sum(c.f1 for c in model.per_class if c.support) / 75)


def test_two_labels_keep_the_matrix(monkeypatch, capsys):
    from bertcli.core.evaluation import EvaluationReport
    from bertcli.render.evaluate import render_evaluation

    model, names = fake_evaluation(k=2, per_class=8, absent=0)
    monkeypatch.setenv("COLUMNS", "80")
    render_evaluation(EvaluationReport("pairs.csv", "test", model.examples, [model]))
    out = capsys.readouterr().out
    assert "Confusion matrix (rows: true" in out and "Largest confusions" not in out
    assert "Per class\n" in out or "Per class " in out


def test_confusion_csv_holds_the_full_matrix_and_never_an_input(tmp_path):
    from bertcli.core.evaluation import EvaluationReport, write_confusion_csv
    from bertcli.core.errors import UsageError
    from bertcli.core.outputs import check_output_path

    model, names = fake_evaluation()
    path = write_confusion_csv(EvaluationReport("intents.csv", "test", model.examples, [model]), tmp_path / "c.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0][2:] == names and len(rows) == 78
    assert [int(n) for n in rows[1][2:]] == model.confusion[0]
    data = tmp_path / "intents.csv"
    data.write_text("text,label\n")
    with pytest.raises(UsageError, match="is the input given to --dataset"):
        check_output_path(data, "--confusion-csv", inputs=[("--dataset", data)])
    with pytest.raises(UsageError, match="lies inside --dataset"):
        check_output_path(tmp_path / "c.csv", "--confusion-csv", inputs=[("--dataset", tmp_path)])


@pytest.mark.parametrize("width", [80, 200])
def test_predict_table_with_77_labels_shows_the_text_and_top_labels(width, monkeypatch, capsys):
    from bertcli.render.predict import TableOutput

    model, names = fake_evaluation()
    monkeypatch.setenv("COLUMNS", str(width))
    table = TableOutput(names)
    for pred in model.predictions[:5]:
        table.write(pred)
    table.close({})
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    first = model.predictions[0]
    assert first.text in out and "p(intent_00" not in out
    assert "0.900" in out and "intent_00_transfer_request" in out and "intent_01_card_request" in out
    assert "top 3 labels (probability)" in out


@pytest.mark.parametrize("width", [80, 200])
def test_debug_data_with_77_labels_lists_them(width, cli, tmp_path, monkeypatch):
    names = [f"intent_{i:02d}_{'card' if i % 3 else 'transfer'}_request" for i in range(77)]
    rows = [(f"question {i} about {name.replace('_', ' ')} number {j}", name)
            for i, name in enumerate(names) for j in range(2 + i % 5)]
    path = write_rows(tmp_path / "intents.csv", rows)
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("debug", "data", "--dataset", path, "--no-lengths")
    out = result.stdout
    # every line fits, but the fix commands: they stay whole, to paste
    assert max(len(line) for line in out.splitlines() if not line.lstrip().startswith("fix:")) <= width
    assert "Labels (77), rarest in 'train' first" in out
    table = out[out.index("Labels (77)"):]
    first_row = next(line for line in table.splitlines() if "intent_" in line)
    assert "intent_00_transfer_request" in first_row  # 2 examples in all: the rarest, first
    assert "--class-weights auto --best-metric f1_macro" in " ".join(out.split())


def test_debug_model_trains_on_every_class_of_the_data(tiny_model, trec, cli, tmp_path):
    """The one-batch check takes a question of each TREC class (not built-in movie sentences), and its fix
    command keeps --dataset and --text-column."""
    rows = trec_rows(trec, "train.csv", 400)
    path = tmp_path / "questions.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "label"])
        writer.writerows(rows)
    classes = sorted({label for _, label in rows})
    assert len(classes) == 6
    result = cli("debug", "model", "--model", tiny_model, "--dataset", path, "--text-column", "question",
                 "--max-length", "32", "--overfit-steps", "2", "--batch-size", "4", "--json")
    data = json.loads(result.stdout)
    assert data["overfit"]["examples"] == 6  # grown from 4 to one of each class
    assert list(data["id2label"].values()) == classes
    fix = next(f["fix"] for f in data["findings"] if f["code"] == "overfit_one_batch")
    assert f"--dataset {path}" in fix and "--text-column question" in fix


def test_debug_run_reads_a_weighted_loss_like_with_like(tmp_path):
    """A weighted run that learned nothing: its loss (Σwℓ/Σw) sits at ln 6 and is called underfitting; a run logged
    before the weighted mean (Σwℓ/n, shrunk) is judged by eval accuracy, its loss left out."""
    from bertcli.core.diagnose.run import diagnose_run
    from states import plant_run

    names = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    config = {"model_type": "bert", "id2label": {str(i): n for i, n in enumerate(names)}}
    counts = [9, 138, 94, 65, 81, 113]
    evals = {25: {"eval_loss": 1.7902, "eval_accuracy": 0.18}, 50: {"eval_loss": 1.7903, "eval_accuracy": 0.19}}
    base = {"dataset": "trec", "eval_size": 500, "label_names": names, "eval_label_counts": counts,
            "class_weights": "auto", "class_weight_values": "3.1,0.2,0.3,0.4,0.35,0.25", "num_train_epochs": 2}
    now = plant_run(tmp_path / "now", [1.80, 1.79, 1.79, 1.79, 1.79], total=50, evals=evals, config=config,
                    training={**base, "training_loss": "weighted mean"})
    d = diagnose_run(now)
    assert d.underfitting.verdict == "underfitting" and d.underfitting.loss_near_chance
    assert "ln 6 = 1.7918" in d.findings[0].summary and "lr" not in d.findings[0].summary
    before = plant_run(tmp_path / "before", [0.50, 0.49, 0.48, 0.48, 0.48], total=50, evals=evals, config=config,
                       training=base)
    d = diagnose_run(before)
    assert d.underfitting.verdict == "underfitting" and d.underfitting.loss_left_out
    finding = next(f for f in d.findings if f.code == "underfitting")
    assert "the training loss fell" not in finding.summary and "eval accuracy never rose clearly above chance" in finding.summary
    assert any("Σ wᵢℓᵢ / n" in line for line in finding.evidence)
