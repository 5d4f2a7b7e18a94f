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

    result = cli("evaluate", "--model", out / "final", "--dataset", test_csv, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)["models"][0]
    support = {c["label"]: c["support"] for c in report["per_class"]}
    assert support == {AG_NAMES[int(k) - 1]: n for k, n in test_counts.items()}


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
    from bertcli.core.runs.debug_run import diagnose_run
    from bertcli.core.runs.underfitting import recorded_accuracy
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
