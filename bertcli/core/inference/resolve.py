"""Which trained model to load: --model as given, a run folder's model, or the newest under results/."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bertcli.core.runs.checkpoints import (
    STATE_FILE,
    WEIGHT_FILES,
    checkpoint_is_complete,
    newest_complete_checkpoint,
)
from bertcli.core.errors import ModelError

DEFAULT_RESULTS = Path("results")


@dataclass
class ResolvedModel:
    """Which model to load and how it was chosen ('given', 'final', 'best checkpoint', 'newest checkpoint')."""

    path: str
    chosen_as: str = "given"
    run_dir: Path | None = None

    @property
    def automatic(self) -> bool:
        return self.chosen_as != "given"

    def describe(self) -> str:
        if not self.automatic:
            return self.path
        return f"{self.path} ({self.chosen_as} of {self.run_dir})"


def _has_weights(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in WEIGHT_FILES)


# Files that hold weights in some format: a folder without any of them cannot be a model, whatever loads it.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".h5", ".msgpack", ".pt", ".pth", ".ckpt", ".onnx", ".gguf")


def _weights_or_other_format(folder: Path) -> bool:
    """Whether `folder` holds anything a model's weights could be in (the loaders say which formats they take)."""
    try:
        return any(item.name.endswith(WEIGHT_SUFFIXES) for item in folder.iterdir())
    except OSError:
        return True  # unreadable: the loader says so


def _best_checkpoint(run_dir: Path, newest: Path) -> Path | None:
    """The best checkpoint trainer_state.json names, looked up by name inside this run folder."""
    try:
        best = json.loads((newest / STATE_FILE).read_text()).get("best_model_checkpoint")
    except (OSError, ValueError):
        return None
    if not best:
        return None
    candidate = run_dir / Path(best).name
    return candidate if candidate.is_dir() and checkpoint_is_complete(candidate) else None


def trained_model_in_run(run_dir: str | Path) -> ResolvedModel | None:
    """A run folder's model: final/, else the best checkpoint, else the newest complete checkpoint."""
    run = Path(run_dir)
    if _has_weights(run / "final"):
        return ResolvedModel(str(run / "final"), "final", run)
    newest = newest_complete_checkpoint(run)
    if newest is None:
        return None
    best = _best_checkpoint(run, newest.path)
    if best is not None:
        return ResolvedModel(str(best), "best checkpoint", run)
    return ResolvedModel(str(newest.path), "newest checkpoint", run)


def _weights_mtime(folder: Path) -> float:
    times = [(folder / name).stat().st_mtime for name in WEIGHT_FILES if (folder / name).is_file()]
    return max(times, default=0.0)


def find_trained_model(results_dir: str | Path = DEFAULT_RESULTS) -> ResolvedModel:
    """The newest trained model in `results_dir` or in a run folder directly inside it."""
    root = Path(results_dir)
    runs = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
    found = [m for m in (trained_model_in_run(r) for r in runs) if m is not None]
    if not found:
        raise ModelError(
            f"no trained model under {root}/ (no final/ folder or complete checkpoint) — train one with "
            f"`bertcli train --epochs 3` (or `bertcli train --model PATH --dataset PATH`), or pass --model PATH or a hub name"
        )
    return max(found, key=lambda m: _weights_mtime(Path(m.path)))


def resolve_model(model: str | None, results_dir: str | Path = DEFAULT_RESULTS) -> ResolvedModel:
    """--model as given (a model folder or hub name), a run folder's model, or the newest under results/."""
    if not model:
        return find_trained_model(results_dir)
    path = Path(model).expanduser()
    if path.is_dir() and not (path / "config.json").is_file():
        inside = trained_model_in_run(path)
        if inside is not None:
            return inside
        if (path / "final").is_dir() or any(path.glob("checkpoint-*")):
            if (path / "sweep_run.json").is_file():
                raise ModelError(
                    f"'{model}' is a sweep's run folder without weights (a sweep keeps none unless --keep-weights) — "
                    f"inspect it with bertcli inspect-checkpoint {model}, or rerun the sweep into a new --output-dir "
                    f"with --keep-weights"
                )
            raise ModelError(
                f"'{model}' is a run folder whose checkpoints hold trainer states but no weights (like the example runs "
                f"under results/) — read it with bertcli inspect-checkpoint {model} or bertcli debug run {model}; to "
                f"predict, give --model a folder with model.safetensors (a run's final/ or a complete checkpoint)"
            )
    elif path.is_dir() and not _weights_or_other_format(path):  # before any tokenizer is loaded: seconds saved
        what = "a checkpoint with trainer state" if (path / STATE_FILE).is_file() else "a model folder with config.json"
        raise ModelError(
            f"'{model}' is {what} but no weights (no model.safetensors) — give --model a folder with its weights "
            f"(a run's final/ or a complete checkpoint); bertcli inspect-checkpoint reads this one"
        )
    return ResolvedModel(model)


def model_inputs(models: list[str | None], results_dir: str | Path = DEFAULT_RESULTS) -> list[tuple[str, Path]]:
    """("--model", the folder each model loads from) for the local ones: what an output must never write into.

    A run folder counts by the model inside it (so a file written beside it in the run folder is fine); a model
    that cannot be resolved yet counts as given (its own error comes when it loads)."""
    from bertcli.core.errors import BertCliError

    found = []
    for model in models:
        try:
            resolved = resolve_model(model, results_dir).path
        except BertCliError:
            resolved = model
        if resolved and Path(resolved).expanduser().exists():
            found.append(("--model", Path(resolved).expanduser()))
    return found
