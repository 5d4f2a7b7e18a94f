"""Resume after a crash gives the same model: the same batches and losses after the resume point (also in epoch 2
and later, with length-grouped batches), the keep limit at every moment, half-written and half-deleted folders
never resumed from and cleared."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertcli.core.runs.checkpoints import (
    list_checkpoints,
    missing_for_resume,
    newest_complete_checkpoint,
    newest_resumable_checkpoint,
    remove_folder,
)
from states import logged_losses

# --- in process: an uninterrupted run kept whole, and runs "killed" at a chosen checkpoint ----------------------
# 96 reviews, 10 carved for eval → 86 train, batch 8 → 11 steps per epoch; epoch 2 is steps 12-22.
STEPS_PER_EPOCH = 11
TOTAL = 22


def _config(model: Path, data: Path, out: Path, **overrides):
    from bertcli.core.training import TrainConfig

    values = dict(model=str(model), dataset=str(data), output_dir=out, epochs=2, batch_size=8, lr=5e-3,
                  max_length=64, train_size=None, eval_size=None, save_steps=3, logging_steps=1,
                  keep_checkpoints=100, tensorboard=False)
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny_model, reviews_csv) -> Path:
    """A 2-epoch run that kept every checkpoint (3, 6, 9, 11, 12, ..., 21, 22) with length-grouped batches."""
    from bertcli.core.training import train

    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    train(_config(tiny_model, reviews_csv, out))
    return out


def _killed_copy(run: Path, dest: Path, steps) -> Path:
    """The run folder as a kill would have left it: only the checkpoints in `steps`, no final/.

    The copies' trainer_state.json name the best checkpoint by its path in the copy, as the killed run would have.
    """
    dest.mkdir(parents=True)
    for step in steps:
        shutil.copytree(run / f"checkpoint-{step}", dest / f"checkpoint-{step}")
        state = dest / f"checkpoint-{step}" / "trainer_state.json"
        state.write_text(state.read_text().replace(str(run), str(dest)))
    return dest


@pytest.mark.parametrize("killed_at", [12, 18])  # both in epoch 2: 12 is its first step, 18 the middle
def test_resume_in_epoch_2_logs_the_same_losses(uninterrupted, tiny_model, reviews_csv, tmp_path, killed_at):
    from bertcli.core.training import train

    assert killed_at > STEPS_PER_EPOCH
    expected = logged_losses(uninterrupted / f"checkpoint-{TOTAL}")
    assert sorted(expected) == list(range(1, TOTAL + 1))
    out = _killed_copy(uninterrupted, tmp_path / "run", [s for s in (3, 6, 9, 11, 12, 15, 18) if s <= killed_at])

    report = train(_config(tiny_model, reviews_csv, out, resume=True))
    assert report.global_step == TOTAL
    got = logged_losses(out / f"checkpoint-{TOTAL}")
    assert sorted(got) == sorted(expected)
    after = [s for s in expected if s > killed_at]
    assert after, "nothing trained after the resume point"
    differ = [(s, expected[s], got[s]) for s in after if got[s] != pytest.approx(expected[s], rel=1e-5)]
    assert not differ, f"losses after the resume point at step {killed_at} differ: {differ}"


def test_length_grouped_order_depends_only_on_seed_and_epoch(tiny_model):
    """The batch order of an epoch is the same whatever the global RNG did before (what resume relies on)."""
    import torch

    from bertcli.core.training.trainer import BertCliTrainer as trainer_cls

    lengths = [(i * 37) % 60 + 5 for i in range(86)]

    class Args:
        train_sampling_strategy = "group_by_length"
        length_column_name = "length"
        train_batch_size = 8
        gradient_accumulation_steps = 1
        world_size = 1

    class Data(list):
        column_names = ["length"]

        def __getitem__(self, key):
            return lengths if key == "length" else super().__getitem__(key)

    fake = trainer_cls.__new__(trainer_cls)
    fake.args, fake.train_dataset, fake.sampler_seed = Args(), Data(lengths), 42
    sampler = trainer_cls._get_train_sampler(fake)
    orders = {}
    for epoch in (0, 1, 2):
        sampler.set_epoch(epoch)
        torch.manual_seed(epoch * 1000 + 1)  # whatever the global RNG holds
        first = list(sampler)
        torch.rand(1000)
        sampler.set_epoch(epoch)
        assert list(sampler) == first
        assert sorted(first) == list(range(86))
        orders[epoch] = first
    assert orders[0] != orders[1] != orders[2]
    state = torch.random.get_rng_state()
    list(sampler)
    assert torch.equal(state, torch.random.get_rng_state()), "the sampler must not draw from the global RNG"


def test_resume_prunes_before_the_first_save(uninterrupted, tiny_model, reviews_csv, tmp_path):
    """Killed after a save but before pruning: 4 complete checkpoints with --keep-checkpoints 2. The resumed
    run prunes first, so no more than the 2 newest plus the best are on disk at any step."""
    from transformers import TrainerCallback

    from bertcli.core.training import train

    out = _killed_copy(uninterrupted, tmp_path / "run", [6, 9, 11, 12, 15])
    best = Path(json.loads((out / "checkpoint-15" / "trainer_state.json").read_text())["best_model_checkpoint"])
    assert best.parent == out and best.name == "checkpoint-11"
    counts = []

    class CountCheckpoints(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            counts.append(("begin", [c.step for c in list_checkpoints(out)]))

        def on_step_begin(self, args, state, control, **kwargs):
            counts.append((state.global_step, [c.step for c in list_checkpoints(out)]))

    notes = []
    train(_config(tiny_model, reviews_csv, out, resume=True, keep_checkpoints=2), callbacks=[CountCheckpoints()],
          on_plan=lambda plan: notes.extend(plan.notes))
    assert counts[0] == ("begin", [11, 12, 15]), counts[0]
    too_many = [(step, held) for step, held in counts if len(held) > 3]
    assert not too_many, too_many
    assert any("checkpoint-6, checkpoint-9" in n and "--keep-checkpoints 2" in n for n in notes), notes


def test_half_deleted_and_stray_folders_are_never_resumed_and_are_cleared(
    uninterrupted, tiny_model, reviews_csv, tmp_path
):
    """A folder a kill left half-deleted keeps trainer_state.json and the weights but lost its optimizer and RNG
    state; a stray checkpoint-999 holds a half-written save. Resume starts from the newest folder holding every
    file a resume reads, clears both, and says so."""
    from bertcli.core.training import train

    out = _killed_copy(uninterrupted, tmp_path / "run", [12, 15, 18])
    for name in ("optimizer.pt", "rng_state.pth"):
        (out / "checkpoint-18" / name).unlink()
    stray = out / "checkpoint-999"
    stray.mkdir()
    (stray / "config.json").write_text("{}")
    (stray / "model.safetensors").write_bytes(b"\0" * 64)
    leftover = out / ".deleting-checkpoint-9"  # a deletion a kill interrupted
    shutil.copytree(uninterrupted / "checkpoint-9", leftover)

    by_step = {c.step: c for c in list_checkpoints(out)}
    assert by_step[18].complete and not by_step[18].resumable  # what the old test of completeness accepted
    assert not by_step[999].resumable
    assert newest_resumable_checkpoint(out).step == 15

    plans = []
    report = train(_config(tiny_model, reviews_csv, out, resume=True), on_plan=plans.append)
    assert plans[0].resume_from == str(out / "checkpoint-15")
    notes = " | ".join(plans[0].notes)
    assert "checkpoint-18" in notes and "optimizer.pt" in notes, notes
    assert "checkpoint-999" in notes and "trainer_state.json" in notes, notes
    assert not stray.exists() and not leftover.exists()
    assert report.global_step == TOTAL
    assert all(c.resumable for c in list_checkpoints(out))
    # resumed from 15, so steps 16-22 match the uninterrupted run
    expected, got = logged_losses(uninterrupted / f"checkpoint-{TOTAL}"), logged_losses(out / f"checkpoint-{TOTAL}")
    assert [got[s] for s in range(16, TOTAL + 1)] == pytest.approx([expected[s] for s in range(16, TOTAL + 1)], rel=1e-5)


@pytest.mark.parametrize(
    "damage, missing",
    [
        ("optimizer.pt", "optimizer.pt"),
        ("scheduler.pt", "scheduler.pt"),
        ("rng_state.pth", "rng_state.pth"),
        ("model.safetensors", "model.safetensors"),
        ("config.json", "config.json"),
        ("trainer_state.json", "trainer_state.json"),
        ("trainer_state.json:garbage", "a readable trainer_state.json"),
    ],
)
def test_completeness_is_every_file_a_resume_reads(uninterrupted, tmp_path, damage, missing):
    folder = tmp_path / "checkpoint-3"
    shutil.copytree(uninterrupted / "checkpoint-3", folder)
    assert missing_for_resume(folder) == []
    name, _, garbage = damage.partition(":")
    if garbage:
        (folder / name).write_text('{"global_step": 3, "log_hist')
    else:
        (folder / name).unlink()
    assert missing_for_resume(folder) == [missing]
    assert not list_checkpoints(tmp_path)[0].resumable


def test_a_deletion_leaves_no_half_deleted_checkpoint(uninterrupted, tmp_path, monkeypatch):
    """Deleting renames the folder out of the checkpoint-N namespace first: a kill in the middle leaves a
    `.deleting-` folder that no listing counts as a checkpoint."""
    run = tmp_path / "run"
    shutil.copytree(uninterrupted / "checkpoint-3", run / "checkpoint-3")

    def killed(path, *args, **kwargs):
        (Path(path) / "optimizer.pt").unlink()
        raise KeyboardInterrupt  # the kill, halfway through the deletion

    monkeypatch.setattr(shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        remove_folder(run / "checkpoint-3")
    assert list_checkpoints(run) == []
    assert (run / ".deleting-checkpoint-3").is_dir()


# --- a real SIGKILL in epoch 2, through the CLI -----------------------------------------------------------------
# batch 4: 86 / 4 → 22 steps per epoch; the kill comes once a checkpoint at step 24 or later exists (epoch 2).
MAX_STEPS = 44
KILL_AFTER = 24


def _train_cmd(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bertcli", "train", "--model", str(model), "--dataset", str(data), "-o", str(out),
            "--max-steps", str(MAX_STEPS), "--batch-size", "4", "--save-steps", "2", "--logging-steps", "1",
            "--max-length", "64", "--keep-checkpoints", "3", "--no-tensorboard", "-q", *extra]


# The child stops itself at a chosen point of a save (SIGSTOP, after writing a marker), so the kill lands exactly
# there however loaded the machine is: no polling race with a training that may finish first.
STOPPING_CHILD = """
import os, runpy, signal, sys
marker, mode, min_step, sys.argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), ["bertcli", *sys.argv[4:]]
import transformers

# mid-save: inside the save of the first checkpoint after `min_step`, once the weights and the optimizer are
# written and before the RNG and trainer states are; else: right after checkpoint `min_step` or later is whole
name = "_save_rng_state" if mode == "mid-save" else "_save_checkpoint"
original = getattr(transformers.Trainer, name)

def pause(step):
    with open(marker, "w") as out:
        out.write(str(step))
    os.kill(os.getpid(), signal.SIGSTOP)

def stopping(self, *args, **kwargs):
    if mode == "mid-save" and self.state.global_step > min_step:
        pause(self.state.global_step)
    result = original(self, *args, **kwargs)
    if mode != "mid-save" and self.state.global_step >= min_step:
        pause(self.state.global_step)
    return result

setattr(transformers.Trainer, name, stopping)
runpy.run_module("bertcli", run_name="__main__")
"""


def _kill_during_training(cmd: list[str], out: Path, min_step: int, mid_save: bool, timeout: float = 600) -> None:
    """Run `cmd` (a `python -m bertcli train ...` line) until it stops itself at the chosen point, then SIGKILL it."""
    assert cmd[1:3] == ["-m", "bertcli"]
    marker = out.parent / f".{out.name}-stopped"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    child = [cmd[0], "-c", STOPPING_CHILD, str(marker), "mid-save" if mid_save else "saved", str(min_step), *cmd[3:]]
    proc = subprocess.Popen(child, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + timeout  # a bound for a hung child only: the stop point itself is exact
    try:
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"training never reached the stop point: {proc.stderr.read().decode()[-500:]}"
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    if mid_save:  # the kill came inside a save: its folder has weights but no trainer state
        assert any(not c.complete for c in list_checkpoints(out))


@pytest.fixture(scope="module")
def uninterrupted_cli(tmp_path_factory, tiny_model, reviews_csv) -> dict[int, float]:
    """The losses of the same command run to the end without a kill."""
    out = tmp_path_factory.mktemp("uninterrupted-cli") / "run"
    done = subprocess.run(_train_cmd(tiny_model, reviews_csv, out), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return logged_losses(newest_complete_checkpoint(out).path)


def test_resume_after_sigkill_in_epoch_2_reaches_the_same_losses(tiny_model, reviews_csv, tmp_path, uninterrupted_cli):
    out = tmp_path / "run"
    _kill_during_training(_train_cmd(tiny_model, reviews_csv, out), out, min_step=KILL_AFTER, mid_save=False)
    killed_at = newest_complete_checkpoint(out).step
    assert KILL_AFTER <= killed_at < MAX_STEPS

    # a crash in the middle of a save leaves a folder with weights but no trainer_state.json
    half = out / f"checkpoint-{killed_at + 1}"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"\0" * 16)
    (half / "config.json").write_text("{}")

    done = subprocess.run(_train_cmd(tiny_model, reviews_csv, out, "--resume"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming from {out / f'checkpoint-{killed_at}'}" in done.stderr.replace("\n", "")
    assert not half.exists(), "the stale half-written checkpoint should be cleared before the run writes"
    state = json.loads((newest_complete_checkpoint(out).path / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS
    # the history continues where the killed run stopped: every step logged exactly once, with the same loss
    got = logged_losses(newest_complete_checkpoint(out).path)
    assert sorted(got) == list(range(1, MAX_STEPS + 1))
    after = list(range(killed_at + 1, MAX_STEPS + 1))
    assert [got[s] for s in after] == pytest.approx([uninterrupted_cli[s] for s in after], rel=1e-5)
    assert (out / "final" / "model.safetensors").is_file()


def test_resume_after_sigkill_during_a_save(tiny_model, reviews_csv, tmp_path, uninterrupted_cli):
    out = tmp_path / "midsave"
    _kill_during_training(_train_cmd(tiny_model, reviews_csv, out), out, min_step=KILL_AFTER, mid_save=True)
    resumed_from = newest_resumable_checkpoint(out).step
    done = subprocess.run(_train_cmd(tiny_model, reviews_csv, out, "--resume"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    newest = newest_complete_checkpoint(out)
    assert newest.step == MAX_STEPS
    assert all(c.resumable for c in list_checkpoints(out))
    got = logged_losses(newest.path)
    after = list(range(resumed_from + 1, MAX_STEPS + 1))
    assert [got[s] for s in after] == pytest.approx([uninterrupted_cli[s] for s in after], rel=1e-5)


def test_the_resume_note_on_the_keep_limit_says_what_happens_during_a_save(tmp_path):
    """Older checkpoints go only once a new one is complete: the note says there is one more while it is written."""
    from states import RUN_FILES, trainer_state, write_checkpoint

    from bertcli.core.training import TrainConfig
    from bertcli.core.training.output_dir import inspect_output_dir

    import torch

    out = tmp_path / "run"
    for step in (10, 20, 30, 40):
        folder = write_checkpoint(out / f"checkpoint-{step}", trainer_state([0.6] * (step // 10)), weights=64, files=RUN_FILES)
        for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
            torch.save({}, folder / name)
    plan = inspect_output_dir(TrainConfig(output_dir=out, resume=True, keep_checkpoints=2))
    note = next(n for n in plan.notes if "--keep-checkpoints 2" in n)
    assert "after each save no more than --keep-checkpoints 2 (plus the best) are kept" in note
    assert "while a checkpoint is being written there is one more" in note and "at any time" not in note
