"""Moved to bertcli.core.runs.checkpoints; this re-export goes once core/training and core/inference import it from there."""

from bertcli.core.runs.checkpoints import *  # noqa: F401,F403
