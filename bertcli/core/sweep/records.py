"""What a sweep keeps on disk about each run: `sweep_run.json` in its folder holds the configuration it was
asked for, then its scores and whether each eval review was right, so a rerun and the comparison never need
the weights again."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertcli.core.errors import BertCliError, UsageError
from bertcli.core.jsondata import dumps, plain
from bertcli.core.runs.jsonfile import read_json_object
from bertcli.core.training import TrainConfig

if TYPE_CHECKING:
    from bertcli.core.sweep.plan import SweepRun

RUN_FILE = "sweep_run.json"  # in each run folder: the configuration asked for, then the scores


@dataclass
class RunResult:
    variant: int
    name: str
    seed: int
    folder: Path
    accuracy: float
    f1: float
    examples: int
    eval_split: str | None
    train_seconds: float | None
    global_step: int | None
    resumed: bool
    reviews: list[str] = field(repr=False, default_factory=list)  # a short hash of each eval review, in order
    correct: list[bool | None] = field(repr=False, default_factory=list)  # None: the review was skipped
    skipped: bool = False  # finished before this invocation


def requested_config(cfg: TrainConfig) -> dict[str, Any]:
    """The configuration a run was asked for, as plain JSON (without where it goes and how it restarts)."""
    return plain(cfg, drop=("output_dir", "resume", "overwrite"))


def write_json_file(path: Path, data: dict[str, Any]) -> None:
    """Write through a temporary file and rename it: a kill never leaves half a file."""
    from bertcli.core.outputs import write_text_whole

    try:
        write_text_whole(path, dumps(data) + "\n")
    except OSError as err:
        raise BertCliError(f"cannot write {path}: {err.strerror or err} — free some space or make it writable, then rerun") from None


def check_recorded(run: SweepRun) -> None:
    """A run folder from an earlier sweep holds the configuration it was asked for: refuse a different one."""
    recorded = read_json_object(run.folder / RUN_FILE)
    if recorded is None or not isinstance(recorded.get("config"), dict):
        return
    old, new = recorded["config"], requested_config(run.config)
    for key in new:
        if key in old and old[key] != new[key]:
            raise UsageError(
                f"{run.folder} was trained with {key} {old[key]!r}, this sweep asks for {new[key]!r} — "
                f"pick another --output-dir, or delete {run.folder} to train it again"
            )


def result_from_record(run: SweepRun, record: dict[str, Any]) -> RunResult | None:
    """The result a run's record stores (marked as finished earlier), or None while it has none."""
    r = record.get("result")
    if not isinstance(r, dict):
        return None
    try:
        return RunResult(
            variant=run.variant, name=run.name, seed=run.seed, folder=run.folder, accuracy=float(r["accuracy"]),
            f1=float(r["f1"]), examples=int(r["examples"]), eval_split=r.get("eval_split"),
            train_seconds=r.get("train_seconds"), global_step=r.get("global_step"), resumed=bool(r.get("resumed")),
            reviews=list(r["reviews"]), correct=[None if c == "-" else c == "1" for c in r["correct"]], skipped=True,
        )
    except (KeyError, TypeError, ValueError):
        return None


def finished_result(run: SweepRun) -> RunResult | None:
    """The stored result of a run that was trained and scored (final/ and its scores present), else None."""
    record = read_json_object(run.folder / RUN_FILE)
    if record is None or not (run.folder / "final").is_dir():
        return None
    check_recorded(run)  # a folder trained with other settings is never taken for this run
    return result_from_record(run, record)
