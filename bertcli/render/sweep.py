"""Rendering for `bertcli sweep`: a line per run with the overall ETA (stderr), the summary table, the curves."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from bertcli.render import console_err, console_out, human_seconds, save_figure
from bertcli.render.output import Output
from bertcli.render.table import Table

if TYPE_CHECKING:
    from bertcli.core.sweep import Spread, SweepEvent, SweepPlan, SweepReport

# Column headers for the keys a sweep usually varies: short, so that the table fits 80 columns.
AXIS_HEADERS = {
    "epochs": "ep", "weight_decay": "wd", "batch_size": "bs", "lr": "lr", "warmup_ratio": "warm",
    "scheduler": "sched", "max_length": "len", "truncation": "trunc",
}


def _axis_header(name: str) -> str:
    return AXIS_HEADERS.get(name, name.replace("_", " "))


def _value(value: object) -> str:
    from bertcli.core.sweep import value_text

    return value_text(value)


def render_plan(plan: SweepPlan, out: Output) -> None:
    """The sweep's size before anything trains: runs, variants × seeds, the training examples in all."""
    from dataclasses import asdict

    from bertcli.core.sweep import examples_trained

    work = examples_trained([asdict(r.config) for r in plan.runs])
    examples = f", {work:,} training examples in all" if work is not None else ""
    out.hint(
        f"sweep plan: {len(plan.runs)} run(s) ({len(plan.variants)} variant(s) × {len(plan.seeds)} seed(s)){examples} "
        f"in {escape(str(plan.output_dir))}; the time left is estimated after the first run finishes"
    )


class SweepProgress:
    """One line per run on stderr: which run of how many, what it is doing, and the sweep's ETA."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.console = console_err()

    def __call__(self, event: SweepEvent) -> None:
        if not self.enabled:
            return
        run = event.run
        head = f"[bold]run {event.position}/{event.total}[/] {escape(run.name)} seed {run.seed}"
        eta = f"; sweep eta {human_seconds(event.eta_seconds)}" if event.eta_seconds is not None else ""
        if event.kind == "skip":
            r = event.result
            text = f"{head}: finished earlier (accuracy {r.accuracy:.4f}), skipped"
        elif event.kind == "start":
            how = f"resuming from {event.resume_from}" if event.resume_from else "training"
            text = f"{head}: {how} in {escape(str(run.folder))}{eta}"
        elif event.kind == "score":
            text = f"{head}: trained earlier, scoring its final model"
        else:
            r = event.result
            took = f", trained in {human_seconds(r.train_seconds)}" if r.train_seconds is not None else ""
            left = event.total - event.position
            text = f"{head}: accuracy {r.accuracy:.4f}, macro F1 {r.f1:.4f}{took}; {left} run(s) to go{eta if left else ''}"
        self.console.print(text, highlight=False, soft_wrap=True)


def _mean_spread(s: Spread | None) -> str:
    if s is None:
        return "-"
    if s.std is None:
        return f"{s.mean:.3f}"
    return f"{s.mean:.3f}±{s.std:.3f}"


def summary_table(report: SweepReport) -> Table:
    seeds = ", ".join(map(str, report.seeds))
    split = f" ({report.eval_split})" if report.eval_split else ""
    examples = f"{report.eval_examples:,} eval examples{split}" if report.eval_examples else "the eval split"
    table = Table(
        title=f"sweep: {len(report.variants)} variant(s) × {len(report.seeds)} seed(s) on {examples}",
        caption=_caption(report, seeds),
        caption_justify="left",
        show_edge=False,  # two columns more for the verdict at 80 columns
    )
    axes = list(report.axes)
    for name in axes:
        table.add_column(_axis_header(name), justify="right" if name not in ("scheduler", "truncation") else "left")
    if not axes:
        table.add_column("variant")
    table.add_column("acc", justify="right")
    table.add_column("macro F1", justify="right")
    table.add_column("train", justify="right")
    table.add_column("vs first row")
    for v in report.variants:
        cells = [_value(v.values[name]) for name in axes] if axes else [v.name]
        test = v.versus_baseline
        verdict = "baseline" if v.index == 0 else (test.describe() if test is not None else "-")
        train = human_seconds(v.train_seconds.mean) if v.train_seconds is not None else "-"
        table.add_row(*cells, _mean_spread(v.accuracy), _mean_spread(v.f1), train, verdict)
    return table


def _caption(report: SweepReport, seeds: str) -> str:
    spelled = [f"{_axis_header(n)} = {n.replace('_', ' ')}" for n in report.axes if _axis_header(n) != n]
    lines = [
        f"acc, macro F1: mean±sd over seeds {seeds}; train: mean train time per run.",
        "vs first row: exact McNemar on the same (example, seed) pairs, p < 0.05.",
    ]
    if spelled:
        lines.append("; ".join(spelled) + ".")
    return "\n".join(lines)


def render_sweep(report: SweepReport) -> None:
    out = console_out()
    out.print(summary_table(report))
    err = console_err()
    for note in report.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    done = f"{report.trained} trained" + (f" ({report.resumed} resumed)" if report.resumed else "")
    err.print(
        f"{done}, {report.skipped} finished earlier; summary in {escape(str(report.output_dir / 'sweep.json'))}",
        highlight=False, soft_wrap=True,
    )


def save_plot(report: SweepReport, path: Path, out: Output) -> None:
    """Training loss (left) and eval accuracy (right) against the epoch: one colour per variant, a line per seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bertcli.core.sweep import newest_state

    columns = 2 if max((len(v.name) for v in report.variants), default=0) > 30 else 4
    legend_rows = -(-len(report.variants) // columns)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.6 + 0.25 * legend_rows))
    colours = plt.get_cmap("tab10")
    styles = ("-", "--", ":", "-.")
    for v in report.variants:
        colour = colours(v.index % 10)
        for n, run in enumerate(v.runs):
            state = newest_state(run.folder) or {}
            history = state.get("log_history") or []
            loss = [(e["epoch"], e["loss"]) for e in history if "loss" in e and "epoch" in e]
            evals = [(e["epoch"], e["eval_accuracy"]) for e in history if "eval_accuracy" in e and "epoch" in e]
            label = v.name if n == 0 else None
            style = styles[n % len(styles)]
            if loss:
                loss_ax.plot(*zip(*loss), style, color=colour, alpha=0.8, linewidth=1.2, label=label)
            if evals:
                acc_ax.plot(*zip(*evals), style, marker="o", color=colour, alpha=0.8, linewidth=1.2)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    acc_ax.set(title="eval accuracy", xlabel="epoch", ylabel="accuracy")
    seeds = ", ".join(f"{s} {name}" for s, name in zip(map(str, report.seeds), ("solid", "dashed", "dotted", "dash-dot")))
    fig.suptitle(f"{report.output_dir}: a colour per variant; seed {seeds}")
    fig.legend(loc="lower center", ncol=columns, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.045 * legend_rows, 1, 1))
    save_figure(fig, path, dpi=110)
    out.hint(f"curves written to {escape(str(path))}")
