"""The bertcli commands that findings print as fixes: built from what the user gave, quoted to paste."""

from __future__ import annotations

import shlex
from typing import Any, Mapping


def bertcli_command(subcommand: str, flags: Mapping[str, Any] | None = None, **more: Any) -> str:
    """`bertcli <subcommand> --flag value ...`, values shell-quoted; None and False flags are left out.

    `flags` carries what the user gave (model, dataset, columns, paths); `more` adds or replaces flags,
    spelled as Python names (max_length → --max-length).
    """
    merged: dict[str, Any] = dict(flags or {})
    merged.update({"--" + name.replace("_", "-"): value for name, value in more.items()})
    parts = ["bertcli", *subcommand.split()]
    for flag, value in merged.items():
        if value is None or value is False:
            continue
        parts.append(flag)
        if value is not True:
            parts.append(shlex.quote(str(value)))
    return " ".join(parts)


def data_flags(
    dataset: str | None,
    *,
    model: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    train_split: str = "train",
    eval_split: str | None = None,
) -> dict[str, Any]:
    """The dataset options a user gave, as flags for a printed command (defaults left out; no dataset: the default)."""
    return {
        "--dataset": dataset,
        "--model": model or None,
        "--text-column": text_column if text_column != "text" else None,
        "--label-column": label_column if label_column != "label" else None,
        "--train-split": train_split if train_split != "train" else None,
        "--eval-split": eval_split,
    }
