"""Resume after a crash: SIGKILL part-way (also mid-save), skip half-written checkpoints, same final step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bertcli.core.checkpoints import list_checkpoints, newest_complete_checkpoint

MAX_STEPS = 24


def _train_cmd(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bertcli", "train", "--model", str(model), "--dataset", str(data), "-o", str(out),
            "--max-steps", str(MAX_STEPS), "--batch-size", "4", "--save-steps", "2", "--logging-steps", "1",
            "--max-length", "64", "--keep-checkpoints", "3", "--no-tensorboard", "-q", *extra]


def _kill_during_training(cmd: list[str], out: Path, min_step: int, mid_save: bool, timeout: float = 120) -> None:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            ckpts = list_checkpoints(out)
            done = [c for c in ckpts if c.complete and c.step >= min_step]
            if mid_save and done and any(not c.complete for c in ckpts):
                break  # a checkpoint is being written right now
            if done and (not mid_save or len(done) >= 3):
                break
            time.sleep(0.002 if mid_save else 0.05)
        assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_resume_after_sigkill_reaches_the_same_final_step(tiny_model, reviews_csv, tmp_path):
    out = tmp_path / "run"
    _kill_during_training(_train_cmd(tiny_model, reviews_csv, out), out, min_step=4, mid_save=False)
    killed_at = newest_complete_checkpoint(out).step
    assert killed_at < MAX_STEPS

    # a crash in the middle of a save leaves a folder with weights but no trainer_state.json
    half = out / f"checkpoint-{killed_at + 1}"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\0" * 16)
    (half / "config.json").write_text("{}")

    done = subprocess.run(_train_cmd(tiny_model, reviews_csv, out, "--resume"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {out / f'checkpoint-{killed_at}'}" in done.stderr.replace("\n", "")
    state = json.loads((newest_complete_checkpoint(out).path / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS
    # the history continues where the killed run stopped: every step logged exactly once
    steps = [e["step"] for e in state["log_history"] if "loss" in e]
    assert steps == list(range(1, MAX_STEPS + 1))
    assert (out / "final" / "model.safetensors").is_file()
    assert not half.exists(), "the stale half-written checkpoint should be cleaned up"


def test_resume_after_sigkill_during_a_save(tiny_model, reviews_csv, tmp_path):
    out = tmp_path / "midsave"
    _kill_during_training(_train_cmd(tiny_model, reviews_csv, out), out, min_step=2, mid_save=True)
    done = subprocess.run(_train_cmd(tiny_model, reviews_csv, out, "--resume"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    newest = newest_complete_checkpoint(out)
    assert newest.step == MAX_STEPS
    assert all(c.complete for c in list_checkpoints(out))
