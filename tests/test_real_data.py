"""A short run on real weights (the packaged MiniLM) and the real IMDb corpus: the loss moves."""

from __future__ import annotations

import json
import math


def test_real_minilm_on_imdb_a_few_steps(cli, minilm, imdb, tmp_path):
    out = tmp_path / "real"
    result = cli("train", "--model", minilm, "--dataset", imdb, "-o", out, "--train-size", "48", "--eval-size", "16",
                 "--max-steps", "6", "--batch-size", "8", "--lr", "1e-4", "--max-length", "128",
                 "--logging-steps", "1", "--save-steps", "3", "--no-tensorboard", "-q")
    assert result.exit_code == 0, result.stderr
    assert "48 train / 16 eval (test)" in result.stderr.replace("\n", " ")
    state = json.loads((out / "checkpoint-6" / "trainer_state.json").read_text())
    losses = [e["loss"] for e in state["log_history"] if "loss" in e]
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert len({round(x, 4) for x in losses}) > 1, "the loss did not move"
    assert abs(losses[-1] - losses[0]) > 1e-3
    config = json.loads((out / "final" / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
