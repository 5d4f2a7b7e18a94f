"""Bad inputs for `train` around the disk: output dirs that cannot hold a run, a full disk before and during
the run, checkpoints that a resume must not trust, and --overwrite that must lose nothing when the new run
cannot start. Each refusal is one line naming the path and the fix; nothing is lost, no pickle runs."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import shutil
from collections import namedtuple
from pathlib import Path

import pytest
from refusals import assert_refused, error_lines

from bertcli.core.runs.checkpoints import list_checkpoints, newest_resumable_checkpoint

MARKER = "PICKLE-RAN"


class Planted:
    """Unpickled by anything less careful than a safe load, it creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_model, reviews_csv) -> Path:
    """A finished 4-step run: checkpoint-2, checkpoint-4 and final/."""
    from bertcli.core.training import TrainConfig, train

    out = tmp_path_factory.mktemp("small") / "run"
    train(TrainConfig(model=str(tiny_model), dataset=str(reviews_csv), output_dir=out, max_steps=4, batch_size=8,
                      max_length=32, save_steps=2, logging_steps=1, train_size=None, eval_size=None, tensorboard=False))
    assert [c.step for c in list_checkpoints(out)] == [2, 4]
    return out


def _args(model, data, out, *extra):
    return ["train", "--model", model, "--dataset", data, "-o", out, "--max-steps", "4", "--batch-size", "8",
            "--max-length", "32", "--save-steps", "2", "--train-size", "all", "--eval-size", "all",
            "--no-tensorboard", "-q", *extra]


def _plant(path: Path, marker: Path, kind: str) -> None:
    import torch

    if kind == "pickle":
        torch.save({"state": Planted(marker)}, path)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:100])


def _usage(free: int):
    usage = namedtuple("usage", "total used free")
    return lambda _path: usage(10**12, 10**12 - free, free)


# Each case: (what it sets up, exit code, needles of the one error line). The setup returns the CLI arguments.
def _setup(case: str, tmp_path: Path, run: Path, model: Path, data: Path, monkeypatch) -> list:
    out = tmp_path / "run"
    if case in ("output-is-a-file", "output-under-a-file"):
        (tmp_path / "taken").write_text("not a folder")
        out = tmp_path / "taken" if case == "output-is-a-file" else tmp_path / "taken" / "run"
        return _args(model, data, out)
    if case == "output-read-only":
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path else real(p, mode, **kw))
        return _args(model, data, out)
    if case == "disk-full-before-the-run":
        monkeypatch.setattr(shutil, "disk_usage", _usage(0))
        return _args(model, data, out)
    shutil.copytree(run, out)
    if case == "resume-disk-short-beyond-its-checkpoints":
        monkeypatch.setattr(shutil, "disk_usage", _usage(0))
        return _args(model, data, out, "--resume")
    if case.startswith(("pickle-in-", "truncated-")):
        kind, _, name = case.partition("-in-") if case.startswith("pickle") else ("truncated", "", case[10:])
        _plant(out / "checkpoint-4" / name, tmp_path / MARKER, "pickle" if kind == "pickle" else "truncated")
        return _args(model, data, out, "--resume")
    if case == "resume-without-training-state":
        for ckpt in list_checkpoints(out):
            (ckpt.path / "optimizer.pt").unlink()
        return _args(model, data, out, "--resume")
    if case == "overwrite-with-a-missing-dataset":
        return _args(model, tmp_path / "no-such-reviews.csv", out, "--overwrite")
    if case == "overwrite-with-a-missing-model":
        return _args(tmp_path / "no-such-model", data, out, "--overwrite")
    if case == "overwrite-on-a-disk-too-small":
        monkeypatch.setattr(shutil, "disk_usage", _usage(0))
        return _args(model, data, out, "--overwrite")
    raise AssertionError(case)


CASES = [
    pytest.param("output-is-a-file", 2, ("taken", "is a file", "--output-dir"), id="output-is-a-file"),
    pytest.param("output-under-a-file", 2, ("taken", "is a file", "--output-dir"), id="output-under-a-file"),
    pytest.param("output-read-only", 1, ("run", "not writable", "--output-dir"), id="output-read-only"),
    pytest.param("disk-full-before-the-run", 1, ("0 B is free", "--output-dir"), id="disk-full-before-the-run"),
    pytest.param("resume-disk-short-beyond-its-checkpoints", 1, ("earlier files hold", "free"), id="resume-disk-short"),
    pytest.param("pickle-in-optimizer.pt", 1, ("checkpoint-4/optimizer.pt", "not trusted", "--overwrite"), id="pickle-optimizer"),
    pytest.param("pickle-in-scheduler.pt", 1, ("checkpoint-4/scheduler.pt", "not trusted"), id="pickle-scheduler"),
    pytest.param("pickle-in-rng_state.pth", 1, ("checkpoint-4/rng_state.pth", "not trusted"), id="pickle-rng-state"),
    pytest.param("truncated-optimizer.pt", 1, ("checkpoint-4/optimizer.pt", "cannot be read", "delete"), id="truncated-optimizer"),
    pytest.param("resume-without-training-state", 1, ("checkpoint-4", "optimizer.pt", "--overwrite"), id="resume-no-optimizer"),
    pytest.param("overwrite-with-a-missing-dataset", 1, ("no-such-reviews.csv",), id="overwrite-missing-dataset"),
    pytest.param("overwrite-with-a-missing-model", 1, ("no-such-model",), id="overwrite-missing-model"),
    pytest.param("overwrite-on-a-disk-too-small", 1, ("free", "--output-dir"), id="overwrite-disk-too-small"),
]


@pytest.mark.parametrize("case, code, needles", CASES)
def test_refused_and_nothing_lost(cli, small_run, tiny_model, reviews_csv, tmp_path, monkeypatch, case, code, needles):
    args = _setup(case, tmp_path, small_run, tiny_model, reviews_csv, monkeypatch)
    out = tmp_path / "run"
    before = sorted(p.relative_to(out) for p in out.rglob("*")) if out.is_dir() else None
    result = cli(*args)
    line = assert_refused(result, code, *needles)
    assert "weights_only" not in line and "will likely succeed" not in line
    assert not (tmp_path / MARKER).exists(), "a planted pickle was unpickled"
    if before is not None:  # the earlier run is exactly as it was
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def _fill_the_disk_at(monkeypatch, step: int, name: str = "optimizer.pt", code: int = errno.ENOSPC) -> None:
    """The save of checkpoint-`step` fails after writing part of `name`, as on a full (or read-only) disk."""
    import torch

    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and Path(f).parent.name == f"checkpoint-{step}" and Path(f).name == name:
            Path(f).write_bytes(b"\0" * 100)
            raise OSError(code, os.strerror(code), str(f))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def test_full_disk_during_a_save_stops_cleanly_and_resume_finishes(tiny_model, reviews_csv, tmp_path, monkeypatch):
    """ENOSPC while checkpoint-4 is written: one line naming the step, the folder and the free space; the
    half-written folder goes, checkpoint-2 stays resumable; once space is back, --resume reaches step 8 —
    and its disk check counts what the run's checkpoints already hold."""
    from bertcli.core.errors import DiskSpaceError
    from bertcli.core.training import DISK_HEADROOM, TrainConfig, train

    out = tmp_path / "run"

    def config(**kw):
        return TrainConfig(model=str(tiny_model), dataset=str(reviews_csv), output_dir=out, max_steps=8, batch_size=8,
                           max_length=32, save_steps=2, logging_steps=1, train_size=None, eval_size=None,
                           tensorboard=False, **kw)

    plans = []
    _fill_the_disk_at(monkeypatch, 4)
    with pytest.raises(DiskSpaceError) as refused:
        train(config(), on_plan=plans.append)
    message = str(refused.value)
    assert "\n" not in message
    for needle in ("no space left", f"{out / 'checkpoint-4'}", "step 4", "free in", f"{out / 'checkpoint-2'}",
                   "--resume"):
        assert needle in message, message
    assert [c.step for c in list_checkpoints(out)] == [2]
    assert newest_resumable_checkpoint(out).step == 2
    monkeypatch.undo()

    # space is back, but not a whole run's worth: what checkpoint-2 holds counts as the run's own
    held = sum(f.stat().st_size for c in out.glob("checkpoint-*") for f in c.rglob("*") if f.is_file())
    needed = plans[0].run_bytes * DISK_HEADROOM
    free = int(needed - held) + 1
    assert free < needed
    monkeypatch.setattr(shutil, "disk_usage", _usage(free))
    report = train(config(resume=True))
    assert report.global_step == 8
    logged = [e["step"] for e in json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["log_history"]
              if "loss" in e]
    assert logged == list(range(1, 9))
    assert (out / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize(
    "code, needles",
    [
        (errno.ENOSPC, ("no space left", "checkpoint-4", "step 4", "free", "--resume")),
        (errno.EACCES, ("cannot write", "checkpoint-4", "permission denied", "--output-dir", "--resume")),
        (errno.EROFS, ("cannot write", "checkpoint-4", "read-only file system", "--output-dir")),
    ],
)
def test_a_failed_save_through_the_cli_is_one_error_line(cli, tiny_model, reviews_csv, tmp_path, monkeypatch, code,
                                                         needles):
    out = tmp_path / "run"
    _fill_the_disk_at(monkeypatch, 4, "scheduler.pt", code)
    result = cli(*_args(tiny_model, reviews_csv, out))
    assert result.exit_code == 1
    errors = error_lines(result)
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert [c.step for c in list_checkpoints(out)] == [2]
    assert newest_resumable_checkpoint(out).step == 2


def test_overwrite_deletes_the_earlier_run_only_when_the_new_one_starts(cli, small_run, tiny_model, reviews_csv,
                                                                        tmp_path):
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    (out / "checkpoint-2" / "marker-of-the-old-run").write_text("old")
    result = cli(*_args(tiny_model, reviews_csv, out, "--overwrite"))
    assert result.exit_code == 0, result.stderr
    assert "--overwrite: deleting the earlier run" in result.stderr
    assert not (out / "checkpoint-2" / "marker-of-the-old-run").exists()
    assert [c.step for c in list_checkpoints(out)] == [2, 4]
