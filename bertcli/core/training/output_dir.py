"""The output dir of a run: what it holds, what --resume/--overwrite do with it, whether the disk has room,
and a failed write told as one line that says how to go on."""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertcli.core.runs.checkpoints import (
    Checkpoint,
    check_resume_pickles,
    checkpoints_to_remove,
    folder_bytes,
    leftover_deletions,
    list_checkpoints,
    missing_for_resume,
    newest_resumable_checkpoint,
    remove_folder,
)
from bertcli.core.errors import BertCliError, CheckpointError, DiskSpaceError, UsageError
from bertcli.core.formatting import size_text
from bertcli.core.outputs import Input, refuse_input_overwrite
from bertcli.core.training.processes import is_main_process

if TYPE_CHECKING:
    from bertcli.core.training.config import TrainConfig

DISK_HEADROOM = 1.1
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


@dataclass
class OutputDirPlan:
    """What the output dir holds and what the run will do with it, decided before anything is deleted."""

    path: Path
    resume_from: str | None = None
    remove: list[Path] = field(default_factory=list)  # deleted only once every check has passed
    reclaimable_bytes: int = 0  # what the run's earlier files hold: kept, overwritten or deleted, never extra
    notes: list[str] = field(default_factory=list)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: Path) -> int:
    """Free space on the disk that holds (or will hold) `path`; 0 when it cannot be read."""
    try:
        return shutil.disk_usage(_existing_ancestor(path)).free
    except OSError:
        return 0


def check_output_dir(out: Path, inputs: Sequence[Input] = (), flag: str = "--output-dir") -> None:
    """The output folder `flag` names is (or can become) a writable folder that neither is, lies in, nor holds one
    of `inputs` (the model folder, the dataset); checked before anything is loaded."""
    refuse_input_overwrite(out, flag, inputs, folder=True)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder — pick another {flag} or move the file away")
    base = _existing_ancestor(out)
    if not base.is_dir():
        raise UsageError(f"{flag} {out} cannot be created: {base} is a file — pick another {flag}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise BertCliError(
            f"{flag} {out} is not writable ({base} is read-only or not yours) — "
            f"pick a writable {flag} or fix the permissions of {base}"
        )


def _recorded_best(out: Path, checkpoint: Path) -> Path | None:
    """The best checkpoint the state in `checkpoint` names, looked up by name in this run folder."""
    try:
        best = json.loads((checkpoint / "trainer_state.json").read_text()).get("best_model_checkpoint")
    except (OSError, ValueError, AttributeError):
        return None
    return out / Path(best).name if best and (out / Path(best).name).is_dir() else None


def _names(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths]
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def inspect_output_dir(cfg: TrainConfig) -> OutputDirPlan:
    """Check the output dir against --resume/--overwrite and decide what to delete; deletes nothing.

    Deleting waits for `clear_output_dir`, once the data, the model and the disk have been checked:
    a typo in --dataset with --overwrite must not cost the earlier run.
    """
    out = Path(cfg.output_dir)
    check_output_dir(out, [("--model", cfg.model), ("--dataset", cfg.dataset)])
    existing = list_checkpoints(out)
    leftovers = leftover_deletions(out)
    plan = OutputDirPlan(out)
    if cfg.resume:
        return _plan_resume(cfg, plan, existing, leftovers)
    if not is_main_process():
        return plan
    earlier = [c.path for c in existing] + [p for p in (out / "final", out / "runs") if p.exists()] + leftovers
    if existing or (out / "final").exists():
        if not cfg.overwrite:
            raise UsageError(
                f"{out} already holds a run ({len(existing)} checkpoint(s)) — continue it with --resume, "
                f"start over with --overwrite, or pick another --output-dir"
            )
        plan.remove = earlier
        plan.reclaimable_bytes = sum(folder_bytes(p) for p in earlier)
        plan.notes.append(
            f"--overwrite: deleting the earlier run in {out} ({len(existing)} checkpoint(s), "
            f"{size_text(plan.reclaimable_bytes)})"
        )
    elif leftovers:
        plan.remove = leftovers
    return plan


def _plan_resume(cfg: TrainConfig, plan: OutputDirPlan, existing: list[Checkpoint], leftovers: list[Path]) -> OutputDirPlan:
    """--resume: the newest checkpoint holding everything a resume reads, and what to prune before it starts."""
    out = plan.path
    newest = next((c for c in reversed(existing) if c.resumable), None)
    if newest is not None:
        check_resume_pickles(newest.path)  # before anything unpickles it
        plan.resume_from = str(newest.path)
    stranded = [c for c in existing if c.complete and not c.resumable]
    if newest is None and stranded:  # weights and state, but not what a resume reads: never delete those
        c = stranded[-1]
        raise CheckpointError(
            f"--resume: no checkpoint in {out} holds everything a resume reads ({c.path} has no "
            f"{', '.join(missing_for_resume(c.path))}) — start over with --overwrite or pick another --output-dir"
        )
    if not is_main_process():  # only the main process cleans the output dir
        return plan
    best = _recorded_best(out, newest.path) if newest else None
    pruned = checkpoints_to_remove(existing, cfg.keep_checkpoints, best, resumable=True) if newest else []
    pruned = [c for c in pruned if c.resumable]
    incomplete = [c for c in existing if not c.resumable]
    if pruned:
        plan.notes.append(
            f"--resume: removing {_names([c.path for c in pruned])} first: after each save no more than "
            f"--keep-checkpoints {cfg.keep_checkpoints} (plus the best) are kept; while a checkpoint is being "
            f"written there is one more, as the older ones go only once it is complete"
        )
    for c in incomplete:
        missing = missing_for_resume(c.path)
        plan.notes.append(
            f"--resume: clearing {c.path}, an incomplete checkpoint (no {', '.join(missing[:3])}) that can never "
            f"be resumed from"
        )
    plan.remove = [c.path for c in sorted(pruned + incomplete, key=lambda c: c.step)] + leftovers
    plan.reclaimable_bytes = sum(folder_bytes(c.path) for c in existing) + sum(map(folder_bytes, leftovers))
    if (out / "final").is_dir():
        plan.reclaimable_bytes += folder_bytes(out / "final")  # overwritten at the end
    return plan


def clear_output_dir(plan: OutputDirPlan) -> None:
    """Delete what the plan lists and create the output dir: the last step before the run writes."""
    try:
        for path in plan.remove:
            if path.is_dir():
                remove_folder(path)
        plan.path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_failure(err, plan.path) from None


def check_disk(out: Path, run_bytes: int, free: int, reclaimable: int) -> None:
    """Refuse a run that will not fit; what the run's earlier checkpoints hold counts as space it has."""
    if free + reclaimable >= run_bytes * DISK_HEADROOM:
        return
    held = f" (its earlier files hold {size_text(reclaimable)} of that)" if reclaimable else ""
    raise DiskSpaceError(
        f"the run needs about {size_text(run_bytes * DISK_HEADROOM)} in {out}{held} but only {size_text(free)} is free — "
        f"free some space, use --output-dir on a bigger disk, or lower --keep-checkpoints"
    )


def write_failure(err: OSError, out: Path, trainer: Any = None) -> BertCliError | OSError:
    """A failed write as one line naming the step, the path, the space left and how to go on; other errors as they are.

    A checkpoint half-written when the disk filled is removed (it can never be resumed from) and the
    newest complete checkpoint named, so `--resume` continues once space is freed.
    """
    if err.errno not in DISK_FULL_ERRNOS + NOT_WRITABLE_ERRNOS:
        return err
    saving = getattr(trainer, "saving", None)
    state = getattr(trainer, "state", None)
    step = getattr(state, "global_step", 0) or 0
    if saving is not None and is_main_process():
        remove_folder(saving)
    newest = newest_resumable_checkpoint(out)
    then = (
        f"{newest.path} is intact: rerun with --resume once that is fixed"
        if newest
        else "no checkpoint was saved yet: run again once that is fixed"
    )
    if saving is not None:
        where = f"while saving {saving} at step {step} (the half-written folder was removed)"
    else:
        where = f"while writing {err.filename or out}" + (f" at step {step}" if step else "")
    if err.errno in DISK_FULL_ERRNOS:
        return DiskSpaceError(
            f"no space left on the device {where}: {size_text(free_bytes(out))} free in {out} — free some space; {then}"
        )
    return BertCliError(
        f"cannot write {where.removeprefix('while writing ').removeprefix('while saving ')}: "
        f"{os.strerror(err.errno).lower()} — make {out} writable or pick another --output-dir; {then}"
    )
