"""bertcli.json as RunManifest: typed fields for what bertcli reads, the rest kept, written back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertcli.core.model import InputSettings, load_input_settings, save_input_settings
from bertcli.core.runs.manifest import MANIFEST_FILE, RunManifest

REPO = Path(__file__).resolve().parents[1]
COMMITTED = sorted((REPO / "results").rglob(MANIFEST_FILE))


@pytest.mark.skipif(not COMMITTED, reason="no example runs in the repository")
def test_committed_manifests_read_and_write_back_byte_for_byte(tmp_path):
    for path in COMMITTED:
        manifest = RunManifest.read(path.parent)
        recorded = json.loads(path.read_text())
        assert manifest is not None and manifest.max_length == recorded["max_length"]
        assert manifest.recorded.eval_size == recorded["training"]["eval_size"]
        assert manifest.write(tmp_path).read_text() == path.read_text(), path


def test_what_train_writes_is_what_it_wrote_before(tmp_path):
    """save_input_settings writes the input settings, then the hyperparameters as given, in their order."""
    training = {"model": "m", "dataset": None, "train_size": 64, "learning_rate": 3e-5, "num_train_epochs": 2.0,
                "label_names": ["neg", "pos"], "class_weights": None, "stopped_early_at": None, "new_key": {"a": [1]}}
    save_input_settings(tmp_path, InputSettings(128, "head"), training)
    expected = {"max_length": 128, "truncation": "head", "training": training}
    assert (tmp_path / MANIFEST_FILE).read_text() == json.dumps(expected, indent=2) + "\n"
    assert load_input_settings(tmp_path) == InputSettings(128, "head")
    save_input_settings(tmp_path, InputSettings(64, "tail"), {})
    assert json.loads((tmp_path / MANIFEST_FILE).read_text()) == {"max_length": 64, "truncation": "tail"}


def test_unknown_keys_and_values_of_another_type_are_kept_aside():
    data = {"truncation": "head", "weight_decay": 0.05, "max_length": "256",
            "training": {"eval_size": 2.5, "grad_accum": True, "seed": 7, "mine": 1}}
    manifest = RunManifest.from_json(data)
    assert manifest.max_length is None and manifest.truncation == "head"
    assert manifest.extra == {"weight_decay": 0.05, "max_length": "256"}
    assert manifest.recorded.eval_size is None and manifest.recorded.grad_accum is None and manifest.recorded.seed == 7
    assert manifest.recorded.extra == {"eval_size": 2.5, "grad_accum": True, "mine": 1}
    assert json.dumps(manifest.to_json()) == json.dumps(data)
    manifest.recorded.stopped_early_at = 30
    assert list(manifest.to_json()["training"])[-1] == "stopped_early_at"


def test_a_missing_or_broken_manifest_reads_as_none(tmp_path):
    assert RunManifest.read(tmp_path) is None
    (tmp_path / MANIFEST_FILE).write_text("[1, 2]")
    assert RunManifest.read(tmp_path) is None
    (tmp_path / MANIFEST_FILE).write_text('{"max_length": 512')
    assert RunManifest.read(tmp_path) is None
    assert RunManifest().recorded.eval_size is None
