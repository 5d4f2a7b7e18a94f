"""`train`'s last phase: train, put the chosen model in final/ with its settings, thresholds and card, and the
report the summary and --json show."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertcli.core.config import write_config
from bertcli.core.device import describe_hardware, model_flops_utilization, training_flops
from bertcli.core.metrics import training_scores_of
from bertcli.core.runs.checkpoints import folder_bytes, list_checkpoints, newest_complete_checkpoint
from bertcli.core.training.config import CONFIG_HEADER, input_settings
from bertcli.core.training.output_dir import write_failure
from bertcli.core.training.plan import RunPlan
from bertcli.core.training.processes import destroy_process_group, is_distributed
from bertcli.core.training.report import EarlyStop, RunReport, early_stop, epoch_rows, lowest_loss

if TYPE_CHECKING:
    from bertcli.core.training.run import PreparedRun


@dataclass
class FinishedRun:
    """What training and saving final/ left: the Trainer's state and what the report reads from it."""

    state: Any  # transformers' TrainerState
    metrics: dict[str, float]  # trainer.train's own: samples per second, ...
    train_seconds: float
    epoch_rows: list[dict[str, float]]
    early_stop: EarlyStop | None
    final_dir: Path
    final_from: str = "last"
    final_metrics: dict[str, float] = field(default_factory=dict)


def finish(run: PreparedRun, plan: RunPlan, trainer: Any, hyperparameters: dict[str, Any]) -> FinishedRun:
    """Train, then put the chosen model in final/ with its settings and card; a failed write as one line."""
    out = run.output.path
    train_started = time.time()
    try:
        result = trainer.train(resume_from_checkpoint=run.output.resume_from)
        state = trainer.state
        done = FinishedRun(
            state=state,
            metrics=result.metrics or {},
            train_seconds=time.time() - train_started,
            epoch_rows=epoch_rows(state.log_history),  # before the final evaluation logs its own entry
            early_stop=early_stop(run.cfg, state.log_history, state.epoch, hyperparameters.get("stopped_early_at")),
            final_dir=out / "final",
        )
        hyperparameters["train_seconds"] = round(done.train_seconds, 1)
        if trainer.is_world_process_zero():
            record_train_seconds(out, done.train_seconds)
        best = Path(state.best_model_checkpoint) if state.best_model_checkpoint else None
        if run.cfg.final_from == "best" and best is not None and best.is_dir():
            from bertcli.core.training.trainer import load_safetensors_weights

            load_safetensors_weights(trainer.model, best)
            done.final_from = best.name
        if run.eval_ds is not None:
            scored = best if best is not None and done.final_from == best.name else None
            final_step = int(scored.name.rsplit("-", 1)[1]) if scored else state.global_step
            done.final_metrics = scored_in_this_run(state.log_history, final_step, run.output.resume_from) or {
                k[5:]: v for k, v in trainer.evaluate().items() if k.startswith("eval_")
            }
        trainer.save_model(str(done.final_dir))  # writes on the main process only
        # every process predicts when a pass is needed (a collective under torchrun); the main one writes
        thresholds = tuned_thresholds(run, trainer, final_step) if run.data.multi_label and run.eval_ds is not None else None
        if trainer.is_world_process_zero():
            write_final_files(run, plan, done, hyperparameters, thresholds)
    except OSError as err:
        failure = write_failure(err, out, trainer)
        if failure is err:
            raise
        raise failure from None
    finally:
        if is_distributed():
            destroy_process_group()
    return done


def tuned_thresholds(run: PreparedRun, trainer: Any, final_step: int) -> list[float]:
    """A multi-label model's decision threshold per label, tuned on the eval split for that label's F1: those
    of the evaluation that scored the final weights, else from one more pass over the eval split."""
    from bertcli.core.metrics import multilabel_eval_metrics

    thresholds = trainer.compute_metrics.thresholds_at.get(final_step)
    if thresholds is None:  # scored before a resume: not in this process's record
        output = trainer.predict(run.eval_ds)
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        _, thresholds = multilabel_eval_metrics(output.label_ids, logits)
    return thresholds


def record_train_seconds(out: Path, seconds: float) -> None:
    """Training's wall time in the newest checkpoint's bertcli.json: Trainer logs its own train_runtime only
    after the last save, so no checkpoint's trainer_state.json holds it (inspect-checkpoint reads this)."""
    from bertcli.core.runs.manifest import RunManifest

    newest = newest_complete_checkpoint(out)
    manifest = RunManifest.read(newest.path) if newest is not None else None
    if manifest is None or manifest.training is None:
        return
    manifest.training.train_seconds = round(seconds, 1)
    manifest.write(newest.path)


def scored_in_this_run(log_history: list[dict[str, Any]], step: int, resumed_from: str | Path | None) -> dict[str, float] | None:
    """The eval metrics this run logged at `step`, if it evaluated there: the final model is then the very
    weights that were scored, and a final evaluation would repeat those numbers (a fifth of a short run's
    time on CPU, bench/README.md). An evaluation from before a resume does not count: it may have scored
    another eval set."""
    first_step = int(Path(resumed_from).name.rsplit("-", 1)[-1]) if resumed_from else -1
    if step <= first_step:
        return None
    for entry in reversed(log_history):
        if entry.get("step") == step and "eval_loss" in entry:
            return {k[5:]: v for k, v in entry.items() if k.startswith("eval_")}
    return None


def write_final_files(
    run: PreparedRun, plan: RunPlan, done: FinishedRun, hyperparameters: dict[str, Any], thresholds: list[float] | None = None
) -> None:
    """Beside final/'s weights: bertcli.json (with a multi-label model's thresholds), bertcli.toml and the model card."""
    from bertcli.core.model import save_input_settings
    from bertcli.core.model_card import FinalModelFacts, write_model_card
    from bertcli.core.runs.manifest import record_thresholds

    cfg = run.cfg
    save_input_settings(done.final_dir, input_settings(cfg), hyperparameters)
    if thresholds is not None:
        record_thresholds(done.final_dir, thresholds)
    write_config(done.final_dir, cfg, CONFIG_HEADER)
    facts = FinalModelFacts(
        training=hyperparameters, max_length=cfg.max_length, truncation=cfg.truncation,
        label_names=plan.label_names, metrics=done.final_metrics, eval_split=plan.eval_split,
        final_from=done.final_from, global_step=done.state.global_step, train_seconds=done.train_seconds,
        hardware=describe_hardware(plan.device), thresholds=thresholds, multi_label=run.data.multi_label,
        label_values=plan.label_values,
        example_text=run.data.eval[0]["text"] if run.data.eval is not None and len(run.data.eval) else None,
    )
    write_model_card(done.final_dir, facts, name=run.output.path.resolve().name)


def run_flops(run: PreparedRun, epochs: float) -> float:
    """The model FLOPs of `epochs` training passes over the run's data (bertcli.core.device.training_flops)."""
    import torch

    model, config = run.model, run.model.config
    lookups = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    matmul = sum(p.numel() for p in model.parameters()) - lookups
    layers, hidden = getattr(config, "num_hidden_layers", 0), getattr(config, "hidden_size", 0)
    return training_flops(matmul, list(run.train_ds["length"]), layers, hidden, epochs)


def run_report(run: PreparedRun, plan: RunPlan, done: FinishedRun, *, checkpoints_removed: int, started: float) -> RunReport:
    """The run as the summary and --json show it."""
    cfg, out, state = run.cfg, run.output.path, done.state
    lowest, lowest_step = lowest_loss(state.log_history)
    epochs = float(state.epoch or cfg.epochs)  # as far as the run went: early stopping and --max-steps end it sooner
    tokens = sum(run.train_ds["length"]) * epochs
    fresh = not run.output.resume_from  # a resumed run's speed would count the steps it skipped
    return RunReport(
        output_dir=out,
        final_dir=done.final_dir,
        global_step=state.global_step,
        epochs=float(state.epoch or 0.0),
        best_checkpoint=state.best_model_checkpoint,
        best_metric_name=cfg.best_metric,
        best_metric=state.best_metric,
        lowest_loss=lowest,
        lowest_loss_step=lowest_step,
        final_metrics=done.final_metrics,
        epoch_rows=done.epoch_rows,
        wall_seconds=time.time() - started,
        train_seconds=done.train_seconds,
        samples_per_second=done.metrics.get("train_samples_per_second"),
        tokens_per_second=tokens / done.train_seconds if done.train_seconds > 0 and fresh else None,
        mfu=model_flops_utilization(run_flops(run, epochs), done.train_seconds, plan.device, plan.precision) if fresh else None,
        disk_bytes=folder_bytes(out),
        checkpoints_kept=[c.name for c in list_checkpoints(out) if c.complete],
        checkpoints_removed=checkpoints_removed,
        final_from=done.final_from,
        early_stop=done.early_stop,
        f1_of=training_scores_of(plan.label_names),
    )
