"""The Trainer callbacks a run adds: saves where it evaluates, bounded retention, early stopping.

Imports transformers at once: only the training run imports this module, never the CLI at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from bertcli.core.runs.checkpoints import checkpoints_to_remove, leftover_deletions, list_checkpoints, remove_checkpoints, remove_folder
from bertcli.core.config import write_config
from bertcli.core.model import save_input_settings
from bertcli.core.training.config import CONFIG_HEADER, TrainConfig, metric_key
from bertcli.core.training.report import evaluations_since_best


class SaveWhereEvaluated(TrainerCallback):
    """Save where evaluation happens (each epoch, and every --eval-steps), so the best model by eval metric
    exists on disk."""

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_save = True
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_evaluate:
            control.should_save = True
        return control


class KeepBestAndNewest(TrainerCallback):
    """After every save: write the run's settings beside the checkpoint, then delete all but the best and the
    --keep-checkpoints newest, in numeric step order. `removed` counts the checkpoints this run deleted."""

    def __init__(self, cfg: TrainConfig, settings: Any, hyperparameters: dict[str, Any]) -> None:
        self.cfg = cfg
        self.settings = settings
        self.hyperparameters = hyperparameters
        self.removed = 0

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if saved.is_dir():
            save_input_settings(saved, self.settings, self.hyperparameters)
            write_config(saved, self.cfg, CONFIG_HEADER)
        doomed = checkpoints_to_remove(
            list_checkpoints(args.output_dir), self.cfg.keep_checkpoints, state.best_model_checkpoint, resumable=True
        )
        if doomed:
            remove_checkpoints(doomed)
            self.removed += len(doomed)
        for leftover in leftover_deletions(args.output_dir):  # a deletion a kill interrupted
            remove_folder(leftover)


class StopWithoutImprovement(TrainerCallback):
    """Stop after --early-stopping evaluations without improving --best-metric by more than --min-delta.

    The count is read from the log history at every evaluation, not kept in the callback: a run resumed
    after a kill restores the history from its checkpoint and goes on counting where it was (transformers'
    EarlyStoppingCallback kept the count in memory and started again from zero). The step it stopped at
    goes into `hyperparameters` (the training block of bertcli.json, the same dict the checkpoints write).
    """

    def __init__(self, cfg: TrainConfig, hyperparameters: dict[str, Any]) -> None:
        self.cfg = cfg
        self.hyperparameters = hyperparameters
        self.key = metric_key(cfg.best_metric)
        self.training = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.training = True

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False  # the final evaluation of the chosen model counts for nothing

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not self.training:
            return control
        cfg = self.cfg
        since, _, _ = evaluations_since_best(state.log_history, self.key, cfg.best_metric != "loss", cfg.min_delta)
        if since >= cfg.early_stopping:
            control.should_training_stop = True
            if state.global_step < state.max_steps:  # a stop at the last step is no early stop
                self.hyperparameters["stopped_early_at"] = state.global_step
        return control


class SaveThresholds(TrainerCallback):
    """Multi-label runs: beside each checkpoint an evaluation scored, the per-label thresholds tuned then
    (in its bertcli.json), so predict and evaluate decide labels on a checkpoint as on final/."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics  # bertcli.core.metrics.MultiLabelMetrics

    def on_save(self, args, state, control, **kwargs):
        from bertcli.core.runs.manifest import record_thresholds

        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        thresholds = self.metrics.thresholds_at.get(state.global_step)
        if state.is_world_process_zero and thresholds is not None and saved.is_dir():
            record_thresholds(saved, thresholds)
