"""`train`: the reference IMDb fine-tune, fast (no padding to max length), resumable and bounded on disk.

A run goes through four phases, in this order: prepare (config, output dir, data, model) -> plan (steps,
evaluation, checkpoints, precision, disk) -> build (TrainingArguments, the Trainer and its callbacks) -> finish
(train, final/, the report). The first three are below; finish lives in finish.py.
Everything that can refuse the run does so before the output dir loses anything.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from bertcli.core.config import write_config
from bertcli.core.device import accelerator_arguments, choose_precision, resolve_attention_dropout, training_device
from bertcli.core.errors import UsageError
from bertcli.core.training.config import CONFIG_HEADER, TrainConfig, input_settings, metric_key, validate_config
from bertcli.core.training.finish import finish, run_report
from bertcli.core.training.hyperparameters import run_hyperparameters
from bertcli.core.training.output_dir import (
    OutputDirPlan,
    check_disk,
    clear_output_dir,
    free_bytes,
    inspect_output_dir,
)
from bertcli.core.training.plan import (
    RunPlan,
    Schedule,
    describe_controls,
    describe_task,
    estimate_checkpoint_bytes,
    estimate_run_bytes,
    label_counts,
    plan_notes,
    plan_steps,
    resolve_class_weights,
)
from bertcli.core.training.processes import is_distributed, is_main_process, main_process_first, world_size
from bertcli.core.training.report import RunReport, refuse_resuming_a_stopped_run


@dataclass
class PreparedRun:
    """What `prepare` checked and loaded: everything the plan and the Trainer are made from."""

    cfg: TrainConfig
    output: OutputDirPlan
    notes: list[str]  # where the model and the data came from, what happens to the output dir
    data: Any  # bertcli.core.data.LabelledData: label names, the eval split
    tokenizer: Any
    train_ds: Any
    eval_ds: Any | None
    class_weights: list[float] | None
    device: str
    attention_dropout: float | None
    model: Any


def train(
    cfg: TrainConfig,
    *,
    callbacks: Sequence[Any] = (),
    on_plan: Callable[[RunPlan], None] | None = None,
) -> RunReport:
    """Fine-tune `cfg.model` on `cfg.dataset` and save the final model to `<output_dir>/final`."""
    started = time.time()
    run = prepare(cfg)
    plan, schedule = plan_run(run)
    check_disk(run.output.path, plan.run_bytes, plan.free_bytes, run.output.reclaimable_bytes)
    if on_plan is not None:
        on_plan(plan)
    clear_output_dir(run.output)  # every check has passed: now the earlier run may go
    if is_main_process():
        write_config(run.output.path, run.cfg, CONFIG_HEADER)
    hyperparameters = run_hyperparameters(
        run.cfg,
        plan,
        schedule,
        attention_dropout=run.attention_dropout,
        class_weights=run.class_weights,
        eval_label_counts=None if run.data.multi_label else label_counts(run.eval_ds, len(plan.label_names)),
    )
    if run.data.multi_label:
        hyperparameters["multi_label"] = True
    # the columns the text and labels came from (picked from the data where the options were left at their
    # defaults): predict and evaluate read them back
    hyperparameters.update(text_column=run.data.text_column, label_column=run.data.label_column)
    trainer, keeper = build_trainer(run, plan, schedule, hyperparameters, callbacks)
    done = finish(run, plan, trainer, hyperparameters)
    return run_report(run, plan, done, checkpoints_removed=keeper.removed, started=started)


# --- prepare -----------------------------------------------------------------------------------------------------


def prepare(cfg: TrainConfig) -> PreparedRun:
    """Check the config and the output dir, then load the data and the model; deletes nothing."""
    from bertcli.core.defaults import resolve_sources

    cfg = validate_config(cfg)
    sources = resolve_sources(cfg.model, cfg.dataset)
    cfg.model, cfg.dataset = sources.model, sources.dataset
    output = inspect_output_dir(cfg)  # deletes nothing: --overwrite deletes once everything is checked
    if output.resume_from and cfg.early_stopping:
        refuse_resuming_a_stopped_run(cfg, Path(output.resume_from))
    data, tokenizer, train_ds, eval_ds = load_tokenized_data(cfg)
    if data.multi_label:
        from bertcli.core.data.multilabel import multi_hot_counts, positive_weights

        positives = multi_hot_counts(train_ds, len(data.label_names))
        class_weights = positive_weights(cfg.class_weights, positives, len(train_ds), data.label_names)
        if cfg.best_metric == "f1_weighted":
            raise UsageError("--best-metric f1_weighted scores single-label runs; this data is multi-label — use "
                             "--best-metric f1 (macro F1 over the labels) or loss")
        if cfg.best_metric in ("accuracy", "f1_macro"):  # subset accuracy rewards the commonest label sets; f1 is macro
            cfg.best_metric = "f1"
    else:
        class_weights = resolve_class_weights(cfg.class_weights, label_counts(train_ds, len(data.label_names)), data.label_names)
    if cfg.early_stopping and eval_ds is None:
        raise UsageError("--early-stopping needs evaluations, and this run has no eval set — give --eval-split or drop --early-stopping")
    device = training_device()
    attention_dropout = resolve_attention_dropout(cfg.attention_dropout, device)
    return PreparedRun(
        cfg=cfg,
        output=output,
        notes=[sources.note] * bool(sources.note) + list(data.notes) + output.notes,
        data=data,
        tokenizer=tokenizer,
        train_ds=train_ds,
        eval_ds=eval_ds,
        class_weights=class_weights,
        device=device,
        attention_dropout=attention_dropout,
        model=load_model(cfg, data.label_names, attention_dropout, multi_label=data.multi_label),
    )


def load_tokenized_data(cfg: TrainConfig) -> tuple[Any, Any, Any, Any | None]:
    """The labelled data, the tokenizer, and both sets tokenized (the eval set None without one)."""
    from bertcli.core.data import load_labelled_data
    from bertcli.core.data.decisions import train_decisions
    from bertcli.core.encoding import tokenize_dataset
    from bertcli.core.model import load_tokenizer

    decisions = train_decisions(cfg.relabel, cfg.exclude)
    if cfg.record_dynamics and is_distributed():
        raise UsageError("--record-dynamics records on one process: train without torchrun, or drop --record-dynamics")
    with main_process_first():  # under torchrun, rank 0 fills the dataset caches before the others read them
        data = load_labelled_data(
            cfg.dataset,
            train_size=cfg.train_size,
            eval_size=cfg.eval_size,
            seed=cfg.seed,
            text_column=cfg.text_column,
            label_column=cfg.label_column,
            train_split=cfg.train_split,
            eval_split=cfg.eval_split,
            label_names=cfg.labels,
            multi_label=cfg.multi_label,
            delimiter=cfg.delimiter,
            header=cfg.header,
            decisions=decisions,
            row_ids=cfg.record_dynamics,
        )
        tokenizer = load_tokenizer(cfg.model)
        tokenizer.model_max_length = cfg.max_length  # so pipeline(truncation=True) cuts where training did
        train_ds = tokenize_dataset(data.train, tokenizer, cfg.max_length, cfg.truncation, stride=cfg.stride)
        eval_ds = (
            tokenize_dataset(data.eval, tokenizer, cfg.max_length, cfg.truncation, stride=cfg.stride) if data.eval is not None else None
        )
    if cfg.record_dynamics:
        from bertcli.core.training.dynamics import EXAMPLE_COLUMN

        train_ds = train_ds.add_column(EXAMPLE_COLUMN, list(range(len(train_ds))))
    return data, tokenizer, train_ds, eval_ds


def load_model(cfg: TrainConfig, label_names: list[str], attention_dropout: float | None, *, multi_label: bool = False) -> Any:
    """The classifier to fine-tune, its new head drawn with --seed (sigmoid outputs for multi-label data)."""
    from transformers import set_seed

    from bertcli.core.model import check_max_length, load_classifier

    set_seed(cfg.seed)
    model = load_classifier(cfg.model, label_names, attention_dropout=attention_dropout, multi_label=multi_label)
    check_max_length(model, cfg.max_length)
    return model


# --- plan --------------------------------------------------------------------------------------------------------


def plan_run(run: PreparedRun) -> tuple[RunPlan, Schedule]:
    """The precision, the steps and evaluations, and what the checkpoints will take on disk."""
    from bertcli.core.model import count_parameters

    cfg = run.cfg
    precision = choose_precision(cfg.precision, run.device)
    if precision == "fp16" and run.device == "cpu":
        raise UsageError("--precision fp16 needs a GPU; on CPU use bf16 or fp32")
    has_eval = run.eval_ds is not None
    schedule = plan_steps(cfg, len(run.train_ds), has_eval, world_size())
    parameters = count_parameters(run.model)
    run_bytes, unbounded_bytes = estimate_run_bytes(parameters, schedule.saves, cfg.keep_checkpoints)
    # sliding windows cut nothing: every token of a long text is in one of its windows (one training row each)
    truncated = 0.0 if cfg.truncation == "sliding" else (
        sum(1 for n in run.train_ds["n_tokens"] if n > cfg.max_length) / max(len(run.train_ds), 1)
    )
    plan = RunPlan(
        model=cfg.model,
        dataset=cfg.dataset,
        train_examples=len(run.train_ds),
        eval_examples=len(run.eval_ds) if has_eval else 0,
        eval_split=run.data.eval_split,
        label_names=run.data.label_names,
        label_values=run.data.label_values,
        parameters=parameters,
        steps=schedule.total_steps,
        steps_per_epoch=schedule.steps_per_epoch,
        checkpoint_bytes=estimate_checkpoint_bytes(parameters),
        run_bytes=run_bytes,
        unbounded_bytes=unbounded_bytes,
        free_bytes=free_bytes(run.output.path),
        device=run.device,
        precision=precision,
        resume_from=run.output.resume_from,
        truncated_share=truncated,
        batch_size=cfg.batch_size,
        grad_accum=cfg.grad_accum,
        effective_batch=cfg.batch_size * schedule.world * cfg.grad_accum,
        controls=describe_task(run.data.multi_label, run.class_weights, cfg)
        + describe_controls(cfg, schedule.eval_steps, has_eval, None if run.data.multi_label else run.class_weights),
        task="multi-label" if run.data.multi_label else "single-label",
        notes=plan_notes(
            cfg,
            schedule,
            earlier=run.notes,
            resume_from=run.output.resume_from,
            attention_dropout=run.attention_dropout,
            device=run.device,
        ),
    )
    return plan, schedule


# --- build -------------------------------------------------------------------------------------------------------


def build_trainer(
    run: PreparedRun, plan: RunPlan, schedule: Schedule, hyperparameters: dict[str, Any], callbacks: Sequence[Any]
) -> tuple[Any, Any]:
    """The Trainer with bertcli's callbacks (and the caller's), and the retention callback that counts removals."""
    from transformers import PrinterCallback, ProgressCallback

    from bertcli.core.guards import nonfinite_guard
    from bertcli.core.metrics import EXTRA_F1, MultiLabelMetrics, compute_eval_metrics
    from bertcli.core.training.callbacks import (
        KeepBestAndNewest,
        SaveThresholds,
        SaveWhereEvaluated,
        StopWithoutImprovement,
    )
    from bertcli.core.training.trainer import BertCliTrainer, padding_collator

    cfg = run.cfg
    extra = tuple(m for m in EXTRA_F1 if m == cfg.best_metric)  # logged only where --best-metric reads it
    compute_metrics = MultiLabelMetrics() if run.data.multi_label else functools.partial(compute_eval_metrics, extra=extra)
    thresholds = [SaveThresholds(compute_metrics)] if isinstance(compute_metrics, MultiLabelMetrics) else []
    keeper = KeepBestAndNewest(cfg, input_settings(cfg), hyperparameters)
    dynamics = dynamics_recorder(run) if cfg.record_dynamics else None
    stopping = [StopWithoutImprovement(cfg, hyperparameters)] if cfg.early_stopping and run.eval_ds is not None else []
    trainer = BertCliTrainer(
        model=run.model,
        args=training_arguments(run, plan, schedule),
        train_dataset=run.train_ds,
        eval_dataset=run.eval_ds,
        processing_class=run.tokenizer,
        data_collator=padding_collator(run.tokenizer, 8 if plan.device == "cuda" else None),  # tensor-core friendly shapes
        compute_metrics=compute_metrics,
        # the guard last: it cancels saves
        callbacks=[SaveWhereEvaluated(), *stopping, keeper, *thresholds, *([dynamics.callback()] if dynamics else []),
                   *callbacks, nonfinite_guard()],
        sampler_seed=cfg.seed,
        class_weights=run.class_weights,
        label_smoothing=cfg.label_smoothing,
        multi_label=run.data.multi_label,
        dynamics=dynamics,
    )
    if isinstance(compute_metrics, MultiLabelMetrics):
        compute_metrics.trainer = trainer
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer, keeper


def dynamics_recorder(run: PreparedRun) -> Any:
    """The recorder of --record-dynamics: every training example's probabilities by epoch, to <run>/dynamics.npz."""
    from bertcli.core.data.decisions import ROW_COLUMN
    from bertcli.core.training.dynamics import DYNAMICS_FILE, DynamicsRecorder

    return DynamicsRecorder(run.train_ds[ROW_COLUMN], run.train_ds["label"], run.data.label_names,
                            run.output.path / DYNAMICS_FILE, resume=bool(run.output.resume_from))


def training_arguments(run: PreparedRun, plan: RunPlan, schedule: Schedule) -> Any:
    """transformers' TrainingArguments for the run."""
    from transformers import TrainingArguments

    cfg, has_eval = run.cfg, run.eval_ds is not None
    use_tensorboard = cfg.tensorboard
    if use_tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            use_tensorboard = False
    return TrainingArguments(
        output_dir=str(run.output.path),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size or cfg.batch_size * 2,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.scheduler,
        warmup_steps=int(round(cfg.warmup_ratio * schedule.total_steps)),
        eval_strategy="no" if not has_eval else "steps" if schedule.eval_steps else "epoch",
        eval_steps=schedule.eval_steps,
        gradient_accumulation_steps=cfg.grad_accum,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        logging_strategy="steps",
        logging_steps=schedule.logging_steps,
        logging_nan_inf_filter=False,
        metric_for_best_model=metric_key(cfg.best_metric) if has_eval else None,
        greater_is_better=cfg.best_metric != "loss",
        seed=cfg.seed,
        data_seed=cfg.seed,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        remove_unused_columns=False,
        report_to=["tensorboard"] if use_tensorboard else "none",
        disable_tqdm=True,
        save_only_model=False,
        **accelerator_arguments(plan.device, plan.precision, cfg.compile),
        ddp_find_unused_parameters=False if is_distributed() else None,
        # A classifier's loss is a mean over its batch and ignores num_items_in_batch, so Trainer's token
        # averaging across processes would only multiply it (and the gradients) by the number of processes.
        average_tokens_across_devices=False,
    )
