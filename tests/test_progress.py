"""Long jobs show they are alive: with stderr in a file, train writes a plain line per logging step."""

from __future__ import annotations

import re
import subprocess
import sys


def test_train_to_a_file_logs_every_logging_step(tiny_model, reviews_csv, tmp_path):
    err = tmp_path / "train.log"
    with err.open("w") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "bertcli", "train", "--model", str(tiny_model), "--dataset", str(reviews_csv),
             "-o", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "8", "--lr", "5e-3", "--max-length", "64",
             "--save-steps", "50", "--logging-steps", "4", "--train-size", "all", "--eval-size", "all",
             "--no-tensorboard"],
            stdout=subprocess.PIPE, stderr=fh, text=True, timeout=300,
        )
    log = err.read_text()
    assert done.returncode == 0, log
    # 86 train reviews, batch 8 → 11 steps an epoch, 22 in all; a line at every 4th step
    steps = [int(m) for m in re.findall(r"^step (\d+)/22  epoch [\d.]+  loss [\d.]+  lr \S+  grad [\d.]+  "
                                        r"elapsed .+  eta .+$", log, flags=re.M)]
    assert steps == [4, 8, 12, 16, 20], log
    assert len(re.findall(r"^epoch [12]\.00  step (11|22)  train loss", log, flags=re.M)) == 2, log
    assert "\x1b[" not in log  # no terminal control codes in a file
    assert "step 4/22" not in done.stdout  # progress never goes to stdout
