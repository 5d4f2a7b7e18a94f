"""The disk a run's checkpoints take, and a safe plan to prune them (the best and the newest always stay)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bertcli.core.errors import UsageError
from bertcli.core.runs.checkpoints import (
    STATE_FILE,
    WEIGHT_FILES,
    Checkpoint,
    checkpoints_to_remove,
    folder_bytes,
    list_checkpoints,
    remove_checkpoints,
)
from bertcli.core.runs.state import RunState, state_file_is_readable


@dataclass
class CheckpointSize:
    name: str
    path: str
    step: int
    complete: bool  # a readable trainer_state.json and weights: a checkpoint to resume from
    has_weights: bool
    has_state: bool  # a readable trainer_state.json (Trainer writes it last; without it, a save was cut off)
    bytes: int
    best: bool
    newest: bool


@dataclass
class DiskUsage:
    run_dir: str
    checkpoints: list[CheckpointSize]
    total_bytes: int
    final_bytes: int | None
    freed_by_keeping: dict[int, int]  # newest N kept (plus the best) -> bytes freed
    save_steps: int | None
    unbounded_saves: int | None  # checkpoints a run without a limit writes
    unbounded_bytes: int | None


@dataclass
class PrunePlan:
    run_dir: str
    keep_newest: int
    best: str | None
    remove: list[CheckpointSize]
    keep: list[CheckpointSize]
    bytes_to_free: int
    applied: bool = False
    freed_bytes: int = 0


def measure_disk(run_dir: Path, state: RunState) -> DiskUsage:
    """Size of every checkpoint, the total, and what keeping fewer (plus the best) would free."""
    checkpoints = list_checkpoints(run_dir)
    best = best_checkpoint_path(run_dir, state.best_model_checkpoint)
    sizes = describe_checkpoints(checkpoints, best)
    final = run_dir / "final"
    usage = DiskUsage(
        run_dir=str(run_dir),
        checkpoints=sizes,
        total_bytes=sum(c.bytes for c in sizes),
        final_bytes=folder_bytes(final) if final.is_dir() else None,
        freed_by_keeping={},
        save_steps=state.save_steps,
        unbounded_saves=None,
        unbounded_bytes=None,
    )
    by_path = {c.path: c.bytes for c in sizes}
    for keep in (1, 2, 3):
        usage.freed_by_keeping[keep] = sum(by_path[str(c.path)] for c in checkpoints_to_remove(checkpoints, keep, best))
    weighted = [c.bytes for c in sizes if c.complete and c.has_weights]
    if state.save_steps and state.save_steps > 0 and weighted:
        total_steps = max(state.global_step, state.max_steps or 0)
        usage.unbounded_saves = total_steps // state.save_steps
        usage.unbounded_bytes = int(statistics.median(weighted) * usage.unbounded_saves)
    return usage


def describe_checkpoints(checkpoints: Sequence[Checkpoint], best: Path | None) -> list[CheckpointSize]:
    """Size and state of every checkpoint; `newest` marks the newest complete one (else the newest with a state)."""
    states = {c.path: state_file_is_readable(c.path / STATE_FILE) for c in checkpoints}
    complete = [c for c in checkpoints if c.complete] or [c for c in checkpoints if states[c.path]]
    newest = complete[-1].path if complete else None
    best_resolved = best.resolve() if best is not None else None
    return [
        CheckpointSize(
            name=c.name,
            path=str(c.path),
            step=c.step,
            complete=c.complete,
            has_weights=any((c.path / name).is_file() for name in WEIGHT_FILES),
            has_state=states[c.path],
            bytes=folder_bytes(c.path),
            best=best_resolved is not None and c.path.resolve() == best_resolved,
            newest=c.path == newest,
        )
        for c in checkpoints
    ]


def best_checkpoint_path(run_dir: Path, recorded: str | None) -> Path | None:
    """The best checkpoint Trainer recorded, found in `run_dir` by name (runs move between machines)."""
    if not recorded:
        return None
    candidate = run_dir / Path(recorded).name
    return candidate if candidate.is_dir() else None


def plan_prune(run_dir: str | Path, best: str | None = None, keep_newest: int = 1) -> PrunePlan:
    """Which checkpoints go so that only the best and the newest `keep_newest` complete ones stay.

    Numeric step order; half-written folders older than the newest complete checkpoint go too; the
    newest complete checkpoint is never removed, and nothing is removed when none is complete.
    """
    if keep_newest < 1:
        raise UsageError(f"--keep takes 1 or more (the newest complete checkpoint always stays), not {keep_newest}")
    run = Path(run_dir)
    checkpoints = list_checkpoints(run)
    best_path = best_checkpoint_path(run, best)
    sizes = describe_checkpoints(checkpoints, best_path)
    doomed = {str(c.path) for c in checkpoints_to_remove(checkpoints, keep_newest, best_path)}
    remove = [c for c in sizes if c.path in doomed]
    return PrunePlan(
        run_dir=str(run),
        keep_newest=keep_newest,
        best=str(best_path) if best_path else None,
        remove=remove,
        keep=[c for c in sizes if c.path not in doomed],
        bytes_to_free=sum(c.bytes for c in remove),
    )


def apply_prune(plan: PrunePlan) -> PrunePlan:
    """Delete the folders the plan lists (checked again against the folder as it is now)."""
    fresh = plan_prune(plan.run_dir, plan.best, plan.keep_newest)
    allowed = {c.path for c in fresh.remove}
    doomed = [Checkpoint(Path(c.path), c.step, c.complete) for c in plan.remove if c.path in allowed]
    plan.freed_bytes = remove_checkpoints(doomed)
    plan.applied = True
    return plan
