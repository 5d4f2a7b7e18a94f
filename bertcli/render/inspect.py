"""Rendering for `bertcli inspect-checkpoint`: summary, terminal chart, loss table, spikes, findings, plots."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from bertcli.render.table import Table, short_names
from rich.text import Text

from bertcli.core.errors import UsageError
from bertcli.render import console_out, fmt, human_seconds, save_figure
from bertcli.render.findings import print_findings

if TYPE_CHECKING:
    from bertcli.core.runs.analysis import RunAnalysis, RunComparison
    from bertcli.core.runs.log import LogRow

BLOCKS = "▁▂▃▄▅▆▇█"
EVAL_COLUMNS = 4


def render_run(run: RunAnalysis, every: int | None) -> None:
    from bertcli.core.runs.log import sample_rows

    out = console_out()
    out.print(summary_table(run))
    out.print(run_chart([run], width=_chart_width(out.width)))
    rows, step = sample_rows(run.rows, every)
    out.print(loss_table(run, rows, step, out.width))
    if run.grad_norms.spikes:
        out.print(spike_table(run))
    print_findings(out, run.findings)


def render_comparison(runs: Sequence[RunAnalysis], comparison: RunComparison) -> None:
    out = console_out()
    out.print(comparison_table(comparison))
    if comparison.differing:
        out.print(differing_table(comparison))
    else:
        out.print(Text("no hyperparameter read from the JSON files differs between the runs", style="dim"))
    out.print(run_chart(runs, width=_chart_width(out.width), series=("loss", "eval loss")))
    for run in runs:
        print_findings(out, run.findings, title=f"Findings: {run.label}")


def summary_table(run: RunAnalysis) -> Table:
    s = run.summary
    table = Table(title=f"Run {run.label}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    source = run.state_file
    if run.chosen_from_run:
        source += f"  (newest complete checkpoint of {run.label})"
    table.add_row("state", source)
    progress = f"step {s['global_step']}" + (f" of {s['max_steps']}" if s["max_steps"] else "")
    if s["epoch"] is not None:
        progress += f", epoch {s['epoch']:.2f}" + (f" of {s['num_train_epochs']:g}" if s["num_train_epochs"] else "")
    if s["steps_per_epoch"]:
        progress += f", {s['steps_per_epoch']} steps/epoch"
    table.add_row("progress", progress)
    if s["train_batch_size"]:
        examples = f" (≈ {s['examples_per_epoch']:,} examples/epoch)" if s["examples_per_epoch"] else ""
        table.add_row("batch size", f"{s['train_batch_size']}{examples}")
    cadence = f"logging every {s['logging_every']} steps" if s["logging_every"] else "logging: -"
    if s["save_steps"]:
        cadence += f", saving every {s['save_steps']}"
    if s["eval_every"]:
        cadence += f", evaluation every {s['eval_every']} steps" + (" (each epoch)" if s["eval_per_epoch"] else "")
    elif run.evals.count:
        cadence += ", evaluated once"
    else:
        cadence += ", [yellow]no evaluation[/]"
    table.add_row("cadence", cadence)
    if s["best_model_checkpoint"] or s["best_metric"] is not None:
        at = f" at step {s['best_global_step']}" if s["best_global_step"] is not None else ""
        table.add_row("best checkpoint", f"{s['best_model_checkpoint'] or '-'} (metric {fmt(s['best_metric'])}{at})")
    if s["train_runtime"] is not None:
        speed = f", {s['train_samples_per_second']:.2f} samples/s" if s["train_samples_per_second"] else ""
        by = " (recorded by bertcli when training ended)" if s.get("train_runtime_by") == "bertcli" else ""
        table.add_row("training time", f"{human_seconds(s['train_runtime'])}{speed}{by}")
    else:
        table.add_row("training time", "[dim]not recorded (Trainer logs it after the last checkpoint is saved)[/]")
    model = _model_line(run.settings)
    if model:
        table.add_row("model", model)
    return table


def _model_line(settings: dict[str, Any]) -> str:
    parts = []
    name = settings.get("architecture") or settings.get("model_type")
    if name:
        parts.append(str(name))
    if settings.get("model"):
        parts.append(str(settings["model"]))
    shape = []
    if settings.get("num_hidden_layers"):
        shape.append(f"{settings['num_hidden_layers']} layers")
    if settings.get("hidden_size"):
        shape.append(f"hidden {settings['hidden_size']}")
    if shape:
        parts.append(", ".join(shape))
    if settings.get("labels"):
        parts.append(f"labels {settings['labels']}")
    if settings.get("max_length"):
        parts.append(f"max_length {settings['max_length']}" + (f" {settings['truncation']}" if settings.get("truncation") else ""))
    return "; ".join(parts)


# Short headers, so that the log fits 80 columns; the caption spells out what was shortened.
EVAL_HEADERS = {"loss": "eval loss", "accuracy": "acc", "precision": "prec", "recall": "rec"}
# What the fixed columns (step, epoch, loss, lr, grad, note) take, and what one more eval column takes.
FIXED_WIDTH, EVAL_WIDTH = 56, 9


def loss_table(run: RunAnalysis, rows: Sequence[LogRow], every: int | None, width: int = 200) -> Table:
    fits = max(1, (width - FIXED_WIDTH) // EVAL_WIDTH)
    metrics = run.evals.metrics[: min(EVAL_COLUMNS, fits)]
    caption = "every logged step" if every is None else f"first log per {every} steps + first, last, lowest, spikes, evals"
    shortened = [f"{EVAL_HEADERS[m]} = {m}" for m in metrics if m in EVAL_HEADERS and m != "loss"]
    if shortened:
        caption += "; " + ", ".join(shortened)
    if len(run.evals.metrics) > len(metrics):
        caption += f"; not shown at this width: {', '.join(run.evals.metrics[len(metrics):])} (--json has all)"
    table = Table(title="Training log", title_justify="left", caption=caption, caption_justify="left")
    has_lr = any(row.learning_rate is not None for row in run.rows)
    has_grad = any(row.grad_norm is not None for row in run.rows)
    for name in ("step", "epoch", "loss") + ("lr",) * has_lr + ("grad",) * has_grad:
        table.add_column(name, justify="right")
    for name in metrics:
        table.add_column(EVAL_HEADERS.get(name, name), justify="right", style="cyan")
    table.add_column("note")
    median = run.grad_norms.median
    for row in rows:
        notes, style = [], None
        if row.lowest:
            notes.append("lowest loss")
            style = "bold green"
        if row.spike:
            notes.append(f"spike {row.grad_norm / median:.1f}× median" if median else "spike")
        if row.non_finite:
            notes.append("non-finite")
        if row.eval:
            notes.append("eval")
        grad = _cell(row.grad_norm, 2)
        if row.spike:
            grad = Text(grad.plain, style="bold red")
        cells = [
            str(row.step),
            fmt(row.epoch, 2),
            _cell(row.loss, 4),
            *[_cell(row.learning_rate, 4)] * has_lr,
            *[grad] * has_grad,
            *[_cell(row.eval.get(name), 4) for name in metrics],
            Text(", ".join(notes), style="bold red" if row.spike or row.non_finite else (style or "")),
        ]
        table.add_row(*cells, style=style)
    return table


def _cell(value: float | None, digits: int) -> Text:
    if value is None:
        return Text("")
    if isinstance(value, float) and not math.isfinite(value):
        return Text(str(value), style="bold red")
    return Text(fmt(value, digits))


def spike_table(run: RunAnalysis) -> Table:
    g = run.grad_norms
    table = Table(
        title=f"Grad-norm spikes (above median {fmt(g.median, 2)} + {g.k:g}×MAD {fmt(g.mad, 2)} = {fmt(g.threshold, 2)})",
        title_justify="left",
        caption="grad norm: last step of its window; loss: window mean",
        caption_justify="left",
    )
    for name in ("step", "grad norm", "× median", "loss before → at → after"):
        table.add_column(name, justify="right", style="red")
    for s in g.spikes:
        move = f"{fmt(s.loss_before)} → {fmt(s.loss_at)} → {fmt(s.loss_after)}"
        table.add_row(str(s.step), fmt(s.value, 2), f"{s.times_median:.1f}×", move)
    return table


def comparison_table(comparison: RunComparison) -> Table:
    """One column per run (named by what tells them apart), one row per measure: fits 80 columns for a few runs."""
    rows = comparison.rows
    table = Table(title="Runs compared", title_justify="left")
    table.add_column("", style="bold")
    for name in short_names([r["run"] for r in rows]):
        table.add_column(name, justify="right")
    lows = [r["lowest_loss"] for r in rows if r["lowest_loss"] is not None]
    best_low = min(lows) if lows else None
    metrics = {r["best_eval"]["metric"] for r in rows if r["best_eval"]}

    def at(value: float | None, step: int | None) -> str:
        return f"{fmt(value)} @ {step}" if value is not None else "-"

    def best(r: dict[str, Any]) -> Text:
        ev = r["best_eval"]
        if not ev:
            return Text("no eval", style="yellow")
        return Text(at(ev["value"], ev["step"]) + ("" if len(metrics) == 1 else f" ({ev['metric']})"))

    table.add_row("checkpoint", *[r["checkpoint"] or "-" for r in rows])
    table.add_row("steps", *[str(r["global_step"]) for r in rows])
    table.add_row("epochs", *[fmt(r["epoch"], 2) for r in rows])
    table.add_row("lowest loss", *[
        Text(at(r["lowest_loss"], r["lowest_loss_step"]), style="bold green" if r["lowest_loss"] == best_low and best_low is not None else "")
        for r in rows
    ])
    table.add_row("final loss", *[at(r["final_loss"], r["final_loss_step"]) for r in rows])
    table.add_row(f"best {next(iter(metrics))}" if len(metrics) == 1 else "best eval", *[best(r) for r in rows])
    table.add_row("grad spikes", *[Text(str(r["spikes"]), style="red" if r["spikes"] else "") for r in rows])
    table.add_row("NaN/inf", *[Text(str(r["non_finite"]), style="bold red" if r["non_finite"] else "") for r in rows])
    table.add_row("train time", *[human_seconds(r["train_runtime"]) if r["train_runtime"] is not None else "-" for r in rows])
    return table


def differing_table(comparison: RunComparison) -> Table:
    table = Table(title="Hyperparameters that differ", title_justify="left")
    table.add_column("setting", style="bold")
    for label in short_names(list(comparison.labels)):
        table.add_column(label, justify="right")
    for key, values in comparison.differing.items():
        table.add_row(key, *[_setting(v) for v in values])
    return table


def _setting(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _chart_width(console_width: int) -> int:
    return max(10, console_width - 44)


def run_chart(runs: Sequence[RunAnalysis], width: int, series: Sequence[str] = ("loss", "eval loss", "learning rate", "grad norm")) -> Text:
    """Sparklines on one step axis: one line per series (per run when comparing), spikes red, lowest green."""
    all_steps = [row.step for run in runs for row in run.rows]
    if not all_steps:
        return Text("")
    x0, x1 = min(all_steps), max(all_steps)
    from bertcli.core.runs.log import log_cadence

    cadence = min((log_cadence([r.step for r in run.rows if r.loss is not None]) or 1 for run in runs), default=1)
    width = max(1, min(width, (x1 - x0) // cadence + 1))
    lines = Text()
    names = {run.label: f"[{i}]" for i, run in enumerate(runs, 1)}
    if len(runs) > 1:  # a legend, so that no run's name is cut to fit the label column
        legend = "  ".join(f"[{i}] {n}" for i, n in enumerate(short_names([run.label for run in runs]), 1))
        lines.append(legend + "\n", style="dim")
    for name in series:
        pick, reduce = _series(name)
        data = [[(row.step, pick(row)) for row in run.rows if pick(row) is not None] for run in runs]
        finite = [v for points in data for _, v in points if math.isfinite(v)]
        if not finite:
            continue
        lo, hi = min(finite), max(finite)
        for run, points in zip(runs, data):
            if not points:
                continue
            marks = _marks(run, name)
            label = name if len(runs) == 1 else f"{name} {names[run.label]}"
            lines.append(f"{label[:22]:<22} ")
            lines.append_text(_sparkline(points, x0, x1, width, lo, hi, reduce, marks))
            lines.append(f"  {_num(lo, name)} – {_num(hi, name)}\n")
    lines.append(f"{'':<22} step {x0}" + " " * max(1, width - len(f'step {x0}') - len(str(x1))) + f"{x1}\n", style="dim")
    return lines


def _series(name: str) -> tuple[Callable[[LogRow], float | None], Callable[[list[float]], float]]:
    if name == "loss":
        return (lambda row: row.loss), statistics.fmean
    if name == "eval loss":
        return (lambda row: row.eval.get("loss")), statistics.fmean
    if name == "learning rate":
        return (lambda row: row.learning_rate), statistics.fmean
    return (lambda row: row.grad_norm), max


def _marks(run: RunAnalysis, name: str) -> dict[int, str]:
    if name == "loss" and run.lowest_loss is not None:
        return {run.lowest_loss.step: "bold green"}
    if name == "grad norm":
        return {s.step: "bold red" for s in run.grad_norms.spikes}
    return {}


def _sparkline(
    points: list[tuple[int, float]], x0: int, x1: int, width: int, lo: float, hi: float,
    reduce: Callable[[list[float]], float], marks: dict[int, str],
) -> Text:
    columns: list[list[float]] = [[] for _ in range(width)]
    styles: dict[int, str] = {}
    for step, value in points:
        col = 0 if x1 == x0 else min(width - 1, int((step - x0) / (x1 - x0) * (width - 1) + 0.5))
        columns[col].append(value)
        if step in marks:
            styles[col] = marks[step]
        if not math.isfinite(value):
            styles[col] = "bold red"
    text = Text()
    for col, values in enumerate(columns):
        if not values:
            text.append(" ")
            continue
        finite = [v for v in values if math.isfinite(v)]
        if len(finite) < len(values):
            text.append("×", style="bold red")
            continue
        value = reduce(finite)
        level = 0 if hi <= lo else int(round((value - lo) / (hi - lo) * (len(BLOCKS) - 1)))
        text.append(BLOCKS[max(0, min(len(BLOCKS) - 1, level))], style=styles.get(col, ""))
    return text


def _num(value: float, name: str) -> str:
    if name == "learning rate":
        return f"{value:.2e}"
    return fmt(value, 2 if name == "grad norm" else 4)


def write_plot(runs: Sequence[RunAnalysis], path: Path) -> Path:
    """Loss (+ eval loss), learning rate and grad norm (spikes marked) on a shared step axis; runs overlaid."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install matplotlib (or pip install 'bertcli[plot]')") from None
    path = Path(path)
    if not path.parent.exists():
        raise UsageError(f"--plot: folder {path.parent} does not exist — create it or pick another path")
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for index, run in enumerate(runs):
        color = f"C{index % 10}"
        label = run.label if len(runs) > 1 else "train loss"
        rows = run.rows
        _line(axes[0], rows, lambda r: r.loss, color, label, "-")
        evals = [(r.step, r.eval["loss"]) for r in rows if "loss" in r.eval and math.isfinite(r.eval["loss"])]
        if evals:
            axes[0].plot(*zip(*evals), "o--", color=color, label=f"{label} (eval)" if len(runs) > 1 else "eval loss")
        if run.lowest_loss is not None:
            axes[0].scatter([run.lowest_loss.step], [run.lowest_loss.value], color=color, marker="v", zorder=3)
        _line(axes[1], rows, lambda r: r.learning_rate, color, run.label, "-")
        _line(axes[2], rows, lambda r: r.grad_norm, color, run.label, "-")
        spikes = run.grad_norms.spikes
        if spikes:
            axes[2].scatter([s.step for s in spikes], [s.value for s in spikes], color="red", marker="x", s=60, zorder=3,
                            label="spike" if index == 0 else None)
        if run.grad_norms.threshold is not None:
            axes[2].axhline(run.grad_norms.threshold, color=color, linestyle=":", linewidth=0.8)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("learning rate")
    axes[2].set_ylabel("grad norm")
    axes[2].set_xlabel("step")
    axes[0].legend(fontsize=8)
    if len(runs) > 1:
        axes[1].legend(fontsize=8)
    elif runs[0].grad_norms.spikes:
        axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(" vs ".join(run.label for run in runs) if len(runs) > 1 else runs[0].label, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path


def _line(ax: Any, rows: Sequence[LogRow], pick: Callable[[LogRow], float | None], color: str, label: str, style: str) -> None:
    points = [(r.step, pick(r)) for r in rows if pick(r) is not None and math.isfinite(pick(r))]
    if points:
        ax.plot(*zip(*points), style, color=color, label=label, linewidth=1.2)
