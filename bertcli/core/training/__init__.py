"""Training: `train(TrainConfig)` fine-tunes a classifier and returns a `RunReport`.

Light to import (no torch, transformers or datasets until a run starts): the CLI reads the choices below
while it parses options. Where each part lives:
  config.py          TrainConfig, its choices and validate_config
  output_dir.py      the output dir against --resume/--overwrite, the disk check, failed writes
  plan.py            RunPlan: steps, evaluations, checkpoints on disk, the class weights
  hyperparameters.py the `training` block of bertcli.json
  run.py             train() in its phases: prepare, plan, build
  finish.py          its last phase: train, final/ and its files, the RunReport
  trainer.py         the Trainer subclass: resumable batch order, its own loss (imports torch)
  callbacks.py       saving where it evaluates, retention, early stopping (imports transformers)
  report.py          RunReport and what it reads from the log history
Device and precision choices live in bertcli.core.device, shared with inference.
"""

from __future__ import annotations

from bertcli.core.training.config import BEST_METRICS, CONFIG_HEADER, PRECISIONS, TrainConfig, validate_config
from bertcli.core.training.hyperparameters import run_hyperparameters
from bertcli.core.training.output_dir import DISK_HEADROOM, check_output_dir
from bertcli.core.training.plan import RunPlan, resolve_class_weights
from bertcli.core.training.report import EarlyStop, RunReport, epoch_rows, evaluations_since_best
from bertcli.core.training.run import train

__all__ = [
    "BEST_METRICS",
    "CONFIG_HEADER",
    "DISK_HEADROOM",
    "PRECISIONS",
    "EarlyStop",
    "RunPlan",
    "RunReport",
    "TrainConfig",
    "check_output_dir",
    "epoch_rows",
    "evaluations_since_best",
    "resolve_class_weights",
    "run_hyperparameters",
    "train",
    "validate_config",
]
