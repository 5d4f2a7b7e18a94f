"""A model folder's own Python code never runs: an `auto_map` is refused by every command, whatever stdin answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factory import build_tiny_bert, make_reviews, write_csv

EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("the model folder's code ran")
from transformers import BertConfig, BertForSequenceClassification


class EvilConfig(BertConfig):
    model_type = "evilbert"


class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
"""


@pytest.fixture(scope="module")
def evil(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(a model folder whose config needs its own code, the marker that code writes, a labelled CSV)."""
    root = tmp_path_factory.mktemp("remote-code")
    folder = build_tiny_bert(root / "evil")
    marker = root / "MARKER"
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "evilbert"
    config["architectures"] = ["EvilModel"]
    config["auto_map"] = {
        "AutoConfig": "evil_code.EvilConfig",
        "AutoModel": "evil_code.EvilModel",
        "AutoModelForSequenceClassification": "evil_code.EvilModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    tok = json.loads((folder / "tokenizer_config.json").read_text())
    tok["auto_map"] = {"AutoTokenizer": ["evil_code.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    (folder / "evil_code.py").write_text(EVIL_CODE.format(marker=str(marker)))
    data = write_csv(root / "data.csv", make_reviews(40))
    return folder, marker, data


def commands(model: Path, data: Path, out: Path) -> dict[str, list[str]]:
    m, d = str(model), str(data)
    return {
        "predict": ["predict", "-m", m, "-"],
        "predict-text": ["predict", "-m", m, "good film"],
        "evaluate": ["evaluate", "-m", m, "--dataset", d],
        "train": ["train", "--model", m, "--dataset", d, "--max-steps", "1", "-o", str(out / "train")],
        "debug-model": ["debug", "model", "--model", m],
        "debug-data": ["debug", "data", "--dataset", d, "--model", m],
        "export": ["export", m, "-o", str(out / "export"), "--check-dataset", d],
        "serve": ["serve", m, "--port", "0"],
        "sweep": ["sweep", "--model", m, "--dataset", d, "--lr", "1e-4", "--seeds", "1", "--max-steps", "1",
                  "-o", str(out / "sweep")],
    }


@pytest.mark.parametrize("name", ["predict", "predict-text", "evaluate", "train", "debug-model", "debug-data", "sweep", "export", "serve"])
def test_a_folder_that_names_its_own_code_is_refused_and_the_code_never_runs(evil, tmp_path, name):
    folder, marker, data = evil
    args = commands(folder, data, tmp_path)[name]
    done = subprocess.run(
        [sys.executable, "-m", "bertcli", *args], input="y\n" * 50 + "good film\n", capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
    )
    assert not marker.exists(), f"{name}: the folder's code ran"
    assert done.returncode != 0, done.stdout + done.stderr
    assert "[y/N]" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "auto_map" in errors[0] and "evil_code.py" in errors[0] and "never runs code" in errors[0]
    assert not (tmp_path / "train" / "final").exists()
