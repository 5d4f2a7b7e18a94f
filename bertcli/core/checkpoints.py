"""Checkpoint folders: find them in step order, tell complete from half-written, keep disk bounded."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    complete: bool

    @property
    def name(self) -> str:
        return self.path.name


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


def list_checkpoints(run_dir: str | Path) -> list[Checkpoint]:
    """Every checkpoint-N folder, sorted by N as a number (checkpoint-100 after checkpoint-90)."""
    run = Path(run_dir)
    if not run.is_dir():
        return []
    found = []
    for child in run.iterdir():
        match = CHECKPOINT_RE.match(child.name)
        if match and child.is_dir():
            found.append(Checkpoint(child, int(match.group(1)), checkpoint_is_complete(child)))
    return sorted(found, key=lambda c: c.step)


def newest_complete_checkpoint(run_dir: str | Path) -> Checkpoint | None:
    complete = [c for c in list_checkpoints(run_dir) if c.complete]
    return complete[-1] if complete else None


def folder_bytes(path: str | Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def checkpoints_to_remove(checkpoints: list[Checkpoint], keep: int, best: str | Path | None) -> list[Checkpoint]:
    """Which checkpoints to delete to keep the best plus the newest `keep` complete ones.

    Half-written checkpoints older than the newest complete one go too; the newest complete
    checkpoint is never removed, so a run always has one to resume from.
    """
    complete = [c for c in checkpoints if c.complete]
    if not complete:
        return []
    newest = complete[-1]
    keep_paths = {c.path.resolve() for c in complete[-max(keep, 1) :]}
    if best:
        keep_paths.add(Path(best).resolve())
    doomed = [c for c in complete if c.path.resolve() not in keep_paths]
    doomed += [c for c in checkpoints if not c.complete and c.step < newest.step]
    return sorted(doomed, key=lambda c: c.step)


def remove_checkpoints(checkpoints: list[Checkpoint]) -> int:
    """Delete the folders; returns the bytes freed."""
    freed = 0
    for ckpt in checkpoints:
        freed += folder_bytes(ckpt.path)
        shutil.rmtree(ckpt.path, ignore_errors=True)
    return freed
