"""`bertcli train`: parse options, call core.training.train, render the plan, progress and summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from bertcli.cli.options import (
    DatasetOpt,
    EvalSizeOpt,
    EvalSplitOpt,
    JsonOpt,
    LabelColumnOpt,
    LabelsOpt,
    MaxLengthOpt,
    StrideOpt,
    ModelOpt,
    OutputDirOpt,
    SeedOpt,
    TextColumnOpt,
    TrainSizeOpt,
    TrainSplitOpt,
    TruncationOpt,
    choice_option,
    class_weights_option,
    number_option,
)
from bertcli.core import limits
from bertcli.core.training import BEST_METRICS, PRECISIONS


def train_cmd(
    ctx: typer.Context,
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    epochs: Annotated[float, number_option("--epochs", "-e", within=limits.EPOCHS, help="Passes over the training set.")] = 3.0,
    batch_size: Annotated[
        int, number_option("--batch-size", "-b", within=limits.BATCH_SIZE, help="Examples per step (per device).")
    ] = 16,
    grad_accum: Annotated[
        int,
        number_option(
            "--grad-accum", within=limits.GRAD_ACCUM, help="Batches accumulated per optimizer step (effective batch = batch size x N)."
        ),
    ] = 1,
    lr: Annotated[float, number_option("--lr", within=limits.LR, help="Peak learning rate.")] = 2e-5,
    weight_decay: Annotated[float, number_option("--weight-decay", within=limits.WEIGHT_DECAY, help="AdamW weight decay.")] = 0.01,
    warmup_ratio: Annotated[
        float, number_option("--warmup-ratio", within=limits.WARMUP_RATIO, help="Share of steps spent warming up the LR.")
    ] = 0.0,
    scheduler: Annotated[str, choice_option("--scheduler", choices=limits.SCHEDULERS, help="LR schedule.")] = "linear",
    label_smoothing: Annotated[
        float, number_option("--label-smoothing", within=limits.LABEL_SMOOTHING, help="Label smoothing of the training loss.")
    ] = 0.0,
    class_weights: Annotated[
        Optional[str],
        class_weights_option(
            "--class-weights",
            help="Weighted cross-entropy: 'auto' (inverse label frequency of the training set) or one weight per label in id order, e.g. 1,3; normalised to mean 1.",
        ),
    ] = None,
    train_size: TrainSizeOpt = "2000",
    eval_size: EvalSizeOpt = "500",
    max_length: MaxLengthOpt = 512,
    truncation: TruncationOpt = "head+tail",
    stride: StrideOpt = None,
    save_steps: Annotated[int, number_option("--save-steps", within=limits.STEPS, help="Checkpoint every N steps.")] = 10,
    logging_steps: Annotated[
        int, number_option("--logging-steps", within=limits.STEPS, help="Log loss, LR and grad norm every N steps.")
    ] = 10,
    keep_checkpoints: Annotated[
        int,
        number_option(
            "--keep-checkpoints", within=limits.KEEP_CHECKPOINTS, help="Newest checkpoints kept (plus the best by eval metric)."
        ),
    ] = 2,
    best_metric: Annotated[
        str, choice_option("--best-metric", choices=BEST_METRICS, help="Picks the best checkpoint (and what early stopping watches).")
    ] = "accuracy",
    eval_steps: Annotated[
        Optional[int],
        number_option("--eval-steps", within=limits.STEPS, help="Evaluate (and checkpoint) every N steps instead of each epoch."),
    ] = None,
    early_stopping: Annotated[
        Optional[int],
        number_option("--early-stopping", within=limits.PATIENCE, help="Stop after N evaluations without --best-metric improving."),
    ] = None,
    min_delta: Annotated[
        float,
        number_option("--min-delta", within=limits.MIN_DELTA, help="The change of --best-metric that counts as an improvement."),
    ] = 0.0,
    seed: SeedOpt = 42,
    output_dir: OutputDirOpt = Path("results"),
    text_column: TextColumnOpt = "text",
    label_column: LabelColumnOpt = "label",
    train_split: TrainSplitOpt = "train",
    eval_split: EvalSplitOpt = None,
    labels: LabelsOpt = None,
    group_by_length: Annotated[
        bool, typer.Option("--group-by-length/--no-group-by-length", help="Batch texts of similar length together.")
    ] = True,
    precision: Annotated[
        str, choice_option("--precision", choices=PRECISIONS, help="auto: bf16 where the hardware has it, fp16 on older GPUs, else fp32.")
    ] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model (GPU).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest complete checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete an earlier run in --output-dir first.")] = False,
    final: Annotated[
        str,
        choice_option("--final", choices=limits.FINAL_FROM, help="What goes to OUTPUT_DIR/final: the best checkpoint or the last step."),
    ] = "best",
    max_steps: Annotated[
        Optional[int], number_option("--max-steps", within=limits.STEPS, help="Stop after N steps (overrides --epochs).")
    ] = None,
    tensorboard: Annotated[bool, typer.Option("--tensorboard/--no-tensorboard", help="Write TensorBoard events.")] = True,
    attention_dropout: Annotated[
        Optional[float],
        number_option(
            "--attention-dropout",
            within=limits.ATTENTION_DROPOUT,
            help="Attention dropout; default: the model's on GPU, 0 on CPU (3-5x faster steps).",
        ),
    ] = None,
    config: Annotated[
        Optional[Path],
        typer.Option(
            "--config", "-c", help="A TOML file of train options, keys named like the flags (batch-size = 8); flags given here override it."
        ),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved options as TOML and exit without training.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display; the summary only.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Fine-tune a BERT-family model for text classification.

    Defaults reproduce the reference IMDb run: bert-base-uncased, 2,000 train / 500 eval reviews,
    batch 16, lr 2e-5, 3 epochs, weight decay 0.01, checkpoints every 10 steps (375 steps).
    Every run writes its options to OUTPUT_DIR/bertcli.toml: --config reads such a file back.

    \b
    Examples:
      bertcli train --epochs 3
      bertcli train --dataset ../shared/data/imdb --max-length 256 --epochs 2
      bertcli train --eval-steps 20 --early-stopping 3 --epochs 5
      bertcli train --config results/bertcli.toml --seed 7 -o results-seed7
    """
    from bertcli.core.data import parse_size
    from bertcli.core.data.labels import parse_label_names
    from bertcli.core.training import TrainConfig

    given = dict(
        model=model,
        dataset=dataset,
        output_dir=output_dir,
        epochs=epochs,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        weight_decay=weight_decay,
        warmup_ratio=warmup_ratio,
        scheduler=scheduler,
        label_smoothing=label_smoothing,
        class_weights=class_weights,
        train_size=parse_size(train_size, "--train-size"),
        eval_size=parse_size(eval_size, "--eval-size"),
        max_length=max_length,
        truncation=truncation,
        stride=stride,
        eval_steps=eval_steps,
        early_stopping=early_stopping,
        min_delta=min_delta,
        save_steps=save_steps,
        logging_steps=logging_steps,
        keep_checkpoints=keep_checkpoints,
        best_metric=best_metric,
        seed=seed,
        text_column=text_column,
        label_column=label_column,
        train_split=train_split,
        eval_split=eval_split,
        labels=parse_label_names(labels),
        group_by_length=group_by_length,
        precision=precision,
        compile=compile,
        final_from=final,
        max_steps=max_steps,
        tensorboard=tensorboard,
        attention_dropout=attention_dropout,
    )
    cfg = TrainConfig(**resolve_options(ctx, given, config), resume=resume, overwrite=overwrite)
    if print_config:
        from bertcli.core.config import format_config
        from bertcli.core.training import validate_config

        typer.echo(format_config(validate_config(cfg), "bertcli train --config <this file> reads these options back"), nl=False)
        return

    from bertcli.core.training import train
    from bertcli.render import console_err
    from bertcli.render.output import Output
    from bertcli.render.progress import RichProgressCallback
    from bertcli.render.train import render_plan, render_train_report

    out = Output(json=json_out, quiet=quiet)
    callbacks = [RichProgressCallback(console_err())] if not out.quiet else []
    report = train(cfg, callbacks=callbacks, on_plan=render_plan)
    out.result(report, lambda: render_train_report(report))


def explicit(ctx: typer.Context, param: str) -> bool:
    """Whether the user gave the option behind `param` (on the command line or in its environment variable)."""
    source = ctx.get_parameter_source(param)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def resolve_options(ctx: typer.Context, given: dict, config: Optional[Path]) -> dict:
    """The TrainConfig fields: a flag given on the command line, else the --config file's key, else the default."""
    if config is None:
        return given
    from bertcli.core.config import read_config, settings

    from_file = read_config(config)
    values = dict(given)
    for setting in settings():
        if setting.field in from_file and not explicit(ctx, setting.param):
            values[setting.field] = from_file[setting.field]
    return values
