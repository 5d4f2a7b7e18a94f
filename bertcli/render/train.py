"""Rendering for `bertcli train`: the plan before, the epoch table and summary after."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from bertcli.render.table import Table

from bertcli.render import console_err, console_out, fmt, human_bytes, human_seconds, is_main_process

if TYPE_CHECKING:
    from bertcli.core.training.plan import RunPlan
    from bertcli.core.training.report import EarlyStop, RunReport


def render_plan(plan: RunPlan) -> None:
    """Before training: what will run and what it costs on disk (stderr)."""
    from bertcli.core.data.labels import LabelSet

    if not is_main_process():
        return
    err = console_err()
    for note in plan.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    resumed = f", resuming from {plan.resume_from}" if plan.resume_from else ""
    steps = f"{plan.steps} steps ({plan.steps_per_epoch}/epoch)"
    if plan.grad_accum > 1:
        steps = (
            f"{plan.steps} optimizer steps ({plan.steps_per_epoch}/epoch) of batch {plan.batch_size} x "
            f"{plan.grad_accum} accumulated = effective batch {plan.effective_batch}"
        )
    from bertcli.core.defaults import model_display_name

    err.print(
        f"[bold]train[/] {escape(model_display_name(plan.model))} on {escape(str(plan.dataset))}: {plan.train_examples:,} train / {plan.eval_examples:,} eval "
        f"({plan.eval_split or 'no eval'}), {len(plan.label_names)} {'multi-label ' if plan.task == 'multi-label' else ''}labels "
        f"{escape(LabelSet(plan.label_names, plan.label_values).describe())}; {steps} "
        f"on {plan.device} in {plan.precision}{resumed}",
        highlight=False,
        soft_wrap=True,  # one line in a log file, however wide
    )
    for line in plan.controls:
        err.print(f"[bold]run[/] {line}", highlight=False)
    err.print(
        f"[bold]disk[/] one checkpoint ≈ {human_bytes(plan.checkpoint_bytes)} ({plan.parameters / 1e6:.1f}M parameters); "
        f"this run ≈ {human_bytes(plan.run_bytes)} with retention (≈ {human_bytes(plan.unbounded_bytes)} if every "
        f"checkpoint were kept); {human_bytes(plan.free_bytes)} free",
        highlight=False,
    )
    if plan.truncated_share > 0:
        err.print(f"[dim]{plan.truncated_share:.0%} of training texts are longer than --max-length and get truncated[/]")


def epoch_table(rows: list[dict[str, float]], title: str = "Evaluation per epoch") -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("epoch", "step", "train loss", "eval loss", "accuracy", "F1", "precision", "recall"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(
            fmt(row.get("epoch"), 2),
            str(row.get("step", "-")),
            fmt(row.get("train_loss")),
            fmt(row.get("loss")),
            fmt(row.get("accuracy")),
            fmt(row.get("f1")),
            fmt(row.get("precision")),
            fmt(row.get("recall")),
        )
    return table


def render_train_report(report: RunReport) -> None:
    """After training: the epoch table and a summary (stdout)."""
    if not is_main_process():
        return
    out = console_out()
    if report.epoch_rows:
        per_epoch = all(abs((row.get("epoch") or 0) - round(row.get("epoch") or 0)) < 1e-6 for row in report.epoch_rows)
        table = epoch_table(report.epoch_rows, "Evaluation per epoch" if per_epoch else "Evaluations")
        if report.f1_of:
            table.caption, table.caption_justify = escape(f"F1, precision, recall: {report.f1_of}"), "left"
        out.print(table)
    summary = Table(title="Run summary", title_justify="left", show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value")
    m = report.final_metrics
    if m:
        summary.add_row(
            "final model",
            f"{report.final_dir} (from {report.final_from}): accuracy {fmt(m.get('accuracy'))}, "
            f"F1 {fmt(m.get('f1'))}{f' ({escape(report.f1_of)})' if report.f1_of else ''}, "
            f"eval loss {fmt(m.get('loss'))}",
        )
    else:
        summary.add_row("final model", f"{report.final_dir} (from {report.final_from}); no evaluation set")
    if report.best_checkpoint:
        summary.add_row("best checkpoint", f"{report.best_checkpoint} ({report.best_metric_name} {fmt(report.best_metric)})")
    if report.lowest_loss is not None:
        summary.add_row("lowest train loss", f"{fmt(report.lowest_loss)} at step {report.lowest_loss_step}")
    summary.add_row("steps", f"{report.global_step} ({fmt(report.epochs, 2)} epochs)")
    if report.early_stop is not None:
        summary.add_row("early stopping", early_stop_line(report.early_stop))
    speed = f"{report.samples_per_second:.2f} samples/s" if report.samples_per_second else "-"
    if report.tokens_per_second:
        speed += f", {report.tokens_per_second:,.0f} tokens/s"
    if report.mfu is not None:
        speed += f", MFU {report.mfu:.1%}"
    summary.add_row("time", f"{human_seconds(report.train_seconds)} training, {human_seconds(report.wall_seconds)} in all; {speed}")
    summary.add_row(
        "disk",
        f"{human_bytes(report.disk_bytes)} in {report.output_dir} — kept {', '.join(report.checkpoints_kept) or 'none'}, "
        f"removed {report.checkpoints_removed} older checkpoint(s)",
    )
    out.print(summary)


def early_stop_line(stop: EarlyStop) -> str:
    """Where early stopping ended the run and why, in one sentence."""
    epoch = f" (epoch {round(stop.epoch, 2):g})" if stop.epoch is not None else ""
    best = f" after its best {stop.best_value:.4g} at step {stop.best_step}" if stop.best_value is not None else ""
    return (
        f"stopped early at step {stop.step}{epoch}: {stop.metric} did not improve by more than {stop.min_delta:g} "
        f"for {stop.patience} evaluation{'s' if stop.patience != 1 else ''}{best}"
    )
