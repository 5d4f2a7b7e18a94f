"""The processes of a run: one, or several under torchrun/accelerate, of which the main one writes."""

from __future__ import annotations

import os
from typing import Any


def world_size() -> int:
    """How many processes train together (WORLD_SIZE under torchrun; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main_process() -> bool:
    """Rank 0: the one process that cleans the output dir, writes beside the checkpoints and prints."""
    return int(os.environ.get("RANK", "0")) == 0


def main_process_first() -> Any:
    """A context in which the main process runs first; a no-op outside torchrun/accelerate."""
    import contextlib

    if not is_distributed():
        return contextlib.nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
