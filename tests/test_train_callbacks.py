"""The run's Trainer callbacks on their own: retention after each save, early stopping from the log history."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from bertcli.core.runs.checkpoints import list_checkpoints
from bertcli.core.training import TrainConfig

RESUMABLE_FILES = ("model.safetensors", "config.json", "optimizer.pt", "scheduler.pt", "rng_state.pth")


def _checkpoint(out: Path, step: int) -> Path:
    folder = out / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name in RESUMABLE_FILES:
        (folder / name).write_bytes(b"\0")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    return folder


def _save(callback, out: Path, step: int, best: Path | None) -> None:
    _checkpoint(out, step)
    args = SimpleNamespace(output_dir=str(out))
    state = SimpleNamespace(is_world_process_zero=True, global_step=step, best_model_checkpoint=str(best) if best else None)
    callback.on_save(args, state, SimpleNamespace())


def test_each_run_counts_its_own_removals_and_keeps_the_best_and_newest(tmp_path):
    from bertcli.core.model import InputSettings
    from bertcli.core.training.callbacks import KeepBestAndNewest

    first, second = tmp_path / "first", tmp_path / "second"
    cfg = TrainConfig(output_dir=first, keep_checkpoints=2)
    settings = InputSettings(max_length=64, truncation="head")
    one = KeepBestAndNewest(cfg, settings, {"seed": 1})
    other = KeepBestAndNewest(TrainConfig(output_dir=second, keep_checkpoints=1), settings, {"seed": 2})
    for step in (2, 4, 6, 8):
        _save(one, first, step, best=first / "checkpoint-2")
    _save(other, second, 2, best=None)
    assert [c.step for c in list_checkpoints(first)] == [2, 6, 8]
    assert (one.removed, other.removed) == (1, 0)  # counted per run, not on the class
    saved = json.loads((first / "checkpoint-8" / "bertcli.json").read_text())
    assert saved == {"max_length": 64, "truncation": "head", "training": {"seed": 1}}
    assert (first / "checkpoint-8" / "bertcli.toml").is_file()


def test_early_stopping_counts_from_the_history_and_records_the_step():
    from bertcli.core.training.callbacks import StopWithoutImprovement

    record = {"stopped_early_at": None}
    stop = StopWithoutImprovement(TrainConfig(best_metric="loss", early_stopping=2, min_delta=0.01), record)
    history = [{"eval_loss": 0.5, "step": 10}, {"eval_loss": 0.495, "step": 20}]
    state = SimpleNamespace(log_history=history, global_step=20, max_steps=100)
    control = SimpleNamespace(should_training_stop=False)
    stop.on_evaluate(None, state, control)  # before training begins: the final evaluation counts for nothing
    assert not control.should_training_stop
    stop.on_train_begin(None, state, control)
    stop.on_evaluate(None, state, control)
    assert not control.should_training_stop  # one evaluation without improving by more than 0.01
    history.append({"eval_loss": 0.6, "step": 30})
    state.global_step = 30
    stop.on_evaluate(None, state, control)
    assert control.should_training_stop and record["stopped_early_at"] == 30
