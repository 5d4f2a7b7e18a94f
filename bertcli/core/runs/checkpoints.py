"""Checkpoint folders: find them in step order, tell complete from half-written, keep disk bounded."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from bertcli.core.errors import CheckpointError

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
# What Trainer writes beside the weights and trainer_state.json when it saves the whole training state
# (save_only_model=False), and what a resume reads back: without any of them the resume is not exact.
RESUME_FILES = ("config.json", "optimizer.pt", "scheduler.pt")
RNG_FILE = "rng_state.pth"
RNG_FILE_RE = re.compile(r"^rng_state_(\d+)\.pth$")  # one per process in a distributed run
# The pickles a resume unpickles (torch.load with weights_only=True).
PICKLED_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt")
# A folder being deleted is renamed first, so a kill halfway leaves no half-deleted checkpoint-N behind.
DELETING_PREFIX = ".deleting-"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    complete: bool
    resumable: bool = False

    @property
    def name(self) -> str:
        return self.path.name


def _state_is_readable(path: Path) -> bool:
    try:
        state = json.loads((path / STATE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and isinstance(state.get("global_step"), int)


def _weights_present(path: Path) -> bool:
    if (path / WEIGHT_FILES[0]).is_file():
        return True
    try:
        index = json.loads((path / WEIGHT_FILES[1]).read_text())
        shards = set(index["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(shards) and all((path / shard).is_file() for shard in shards)


def checkpoint_is_complete(path: Path) -> bool:
    """Trainer writes trainer_state.json last: a checkpoint is complete when it parses and weights exist."""
    state = path / STATE_FILE
    if not state.is_file():
        return False
    try:
        json.loads(state.read_text())
    except (OSError, ValueError):
        return False
    return any((path / name).is_file() for name in WEIGHT_FILES)


def missing_for_resume(path: Path) -> list[str]:
    """The files a resume from `path` needs that are missing or unreadable; empty when it can resume.

    A save killed halfway lacks trainer_state.json (Trainer writes it last); a folder half-deleted by a kill
    during pruning may still hold trainer_state.json and the weights but lack the optimizer or RNG state.
    """
    missing = []
    if not (path / STATE_FILE).is_file():
        missing.append(STATE_FILE)
    elif not _state_is_readable(path):
        missing.append(f"a readable {STATE_FILE}")
    if not _weights_present(path):
        missing.append(WEIGHT_FILES[0])
    missing += [name for name in RESUME_FILES if not (path / name).is_file()]
    if not (path / RNG_FILE).is_file():
        try:
            ranks = sorted(int(m.group(1)) for m in map(RNG_FILE_RE.match, os.listdir(path)) if m)
        except OSError:
            ranks = []
        if not ranks:
            missing.append(RNG_FILE)
        else:
            missing += [f"rng_state_{r}.pth" for r in range(ranks[-1] + 1) if r not in ranks]
    return missing


def checkpoint_is_resumable(path: Path) -> bool:
    return not missing_for_resume(path)


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Every checkpoint-N folder, sorted by N as a number (checkpoint-100 after checkpoint-90)."""
    run = Path(run_dir)
    if not run.is_dir():
        return []
    found = []
    for child in run.iterdir():
        match = CHECKPOINT_RE.match(child.name)
        if match and child.is_dir():
            complete = checkpoint_is_complete(child)
            found.append(Checkpoint(child, int(match.group(1)), complete, complete and checkpoint_is_resumable(child)))
    return sorted(found, key=lambda c: c.step)


def newest_complete_checkpoint(run_dir: str | Path) -> Checkpoint | None:
    complete = [c for c in list_checkpoints(run_dir) if c.complete]
    return complete[-1] if complete else None


def newest_resumable_checkpoint(run_dir: str | Path) -> Checkpoint | None:
    """The newest checkpoint that holds everything a resume reads (see missing_for_resume)."""
    resumable = [c for c in list_checkpoints(run_dir) if c.resumable]
    return resumable[-1] if resumable else None


def folder_bytes(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    total = 0
    for f in path.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink():
                total += f.stat().st_size
        except OSError:  # deleted while we looked
            pass
    return total


def checkpoints_to_remove(
    checkpoints: list[Checkpoint], keep: int, best: str | Path | None, *, resumable: bool = False
) -> list[Checkpoint]:
    """Which checkpoints to delete to keep the best plus the newest `keep` complete ones.

    Half-written checkpoints older than the newest complete one go too; the newest complete
    checkpoint is never removed, so a run always has one to resume from. With `resumable`, a checkpoint
    counts as complete only when a resume could start from it (see missing_for_resume).
    """
    complete = [c for c in checkpoints if (c.resumable if resumable else c.complete)]
    if not complete:
        return []
    newest = complete[-1]
    keep_paths = {c.path.resolve() for c in complete[-max(keep, 1) :]}
    if best:
        keep_paths.add(Path(best).resolve())
    doomed = [c for c in complete if c.path.resolve() not in keep_paths]
    doomed += [c for c in checkpoints if c not in complete and c.step < newest.step]
    return sorted(doomed, key=lambda c: c.step)


def leftover_deletions(run_dir: str | Path) -> list[Path]:
    """Folders a deletion renamed but did not finish removing (the process was killed halfway)."""
    run = Path(run_dir)
    if not run.is_dir():
        return []
    return sorted(p for p in run.iterdir() if p.name.startswith(DELETING_PREFIX) and p.is_dir())


def remove_folder(path: Path) -> int:
    """Delete a folder so that a kill halfway never leaves a half-deleted one under its old name:
    rename it out of the way (atomic), then delete. Returns the bytes freed."""
    size = folder_bytes(path)
    doomed = path
    if not path.name.startswith(DELETING_PREFIX):
        doomed = path.with_name(f"{DELETING_PREFIX}{path.name}")
        try:
            if doomed.exists():
                shutil.rmtree(doomed, ignore_errors=True)
            path.rename(doomed)
        except OSError:
            doomed = path
    shutil.rmtree(doomed, ignore_errors=True)
    return size if not doomed.exists() else 0


def remove_checkpoints(checkpoints: list[Checkpoint]) -> int:
    """Delete the folders; returns the bytes freed."""
    return sum(remove_folder(ckpt.path) for ckpt in checkpoints)


def check_resume_pickles(path: Path) -> None:
    """Refuse a checkpoint whose pickled training state a safe load (torch.load with weights_only=True) refuses.

    Trainer unpickles these on resume; a refusal there ends in torch's long advice to load the file
    unsafely. Checked before anything else runs: one line naming the file, and never that advice.
    """
    import pickle
    import zipfile

    import torch

    names = [n for n in PICKLED_FILES if (path / n).is_file()]
    names += sorted(n for n in os.listdir(path) if n == RNG_FILE or RNG_FILE_RE.match(n))
    for name in names:
        file = path / name
        try:
            with warnings.catch_warnings(), _numpy_rng_globals():
                warnings.simplefilter("ignore")
                # mmap: tensor data stays on disk, only the pickle is read
                torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
        except pickle.UnpicklingError:
            raise CheckpointError(
                f"{file} holds objects a safe load refuses — this checkpoint is not trusted; "
                f"delete {path} or start over with --overwrite"
            ) from None
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            detail = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
            raise CheckpointError(
                f"{file} cannot be read ({detail[:100]}) — the checkpoint is damaged; "
                f"delete {path} to resume from the one before, or start over with --overwrite"
            ) from None


def _numpy_rng_globals():
    """The numpy types an RNG state file legitimately holds, allowed for the safe load (as Trainer does)."""
    import numpy as np
    import torch

    core = getattr(np, "_core", None) or np.core
    return torch.serialization.safe_globals(
        [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    )
