"""Rendering for `bertcli debug run|data|model`: the measurements as tables, then the findings with their fixes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from bertcli.render.table import METRIC_HEADERS, Table
from rich.markup import escape
from rich.text import Text

from bertcli.render import console_err, console_out, fmt, human_bytes, human_seconds
from bertcli.render.findings import print_findings

if TYPE_CHECKING:
    from bertcli.core.diagnose.chance import ChanceRate
    from bertcli.core.diagnose.data import CleanedData, DataDiagnosis
    from bertcli.core.diagnose.data_lengths import TokenLengths
    from bertcli.core.diagnose.label_queue import LabelDiagnosis
    from bertcli.core.diagnose.model_findings import ModelDiagnosis
    from bertcli.core.findings import Finding
    from bertcli.core.diagnose.run_diagnosis import RunDiagnosis
    from bertcli.core.runs.disk import CheckpointSize, DiskUsage, PrunePlan
    from bertcli.core.diagnose.run_trends import EpochGap

BAR = "█"


def counts_line(findings: Sequence[Finding]) -> Text:
    from bertcli.core.findings import count_levels

    counts = count_levels(findings)
    parts = [
        (f"{counts['error']} error{'s' if counts['error'] != 1 else ''}", "bold red" if counts["error"] else "green"),
        (f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}", "yellow" if counts["warning"] else ""),
        (f"{counts['info']} note{'s' if counts['info'] != 1 else ''}", "dim"),
    ]
    line = Text()
    for index, (text, style) in enumerate(parts):
        line.append(("  " if index else "") + text, style=style)
    return line


# --- debug run ---------------------------------------------------------------------------------------------------


def render_run_diagnosis(d: RunDiagnosis) -> None:
    from bertcli.render.inspect import run_chart, summary_table

    out = console_out()
    out.print(summary_table(d.analysis))
    out.print(run_chart([d.analysis], width=max(10, out.width - 44)))
    if d.epochs:
        chance = d.underfitting.chance if d.underfitting is not None else None
        out.print(epoch_table(d.epochs, chance))
    if d.disk is not None and d.disk.checkpoints:
        out.print(checkpoint_table(d.disk))
    print_findings(out, d.findings)
    out.print(counts_line(d.findings))


def epoch_table(epochs: Sequence[EpochGap], chance: ChanceRate | None = None) -> Table:
    metrics: list[str] = []
    for e in epochs:
        metrics += [m for m in e.metrics if m not in metrics and m in ("accuracy", "f1", "precision", "recall")]
    caption = "train: mean training loss since the previous evaluation; eval: eval loss; gap: eval - train"
    caption += "".join(f"; {METRIC_HEADERS[m]}: {m}" for m in metrics if METRIC_HEADERS[m] != m)
    if chance is not None and "accuracy" in metrics:
        caption += f"; accuracy by chance: {chance.describe()}"
    table = Table(title="Train/eval gap per evaluation", title_justify="left", caption=caption, caption_justify="left")
    for name in ("epoch", "step", "train", "eval", "gap", *(METRIC_HEADERS[m] for m in metrics)):
        table.add_column(name, justify="right")
    lowest = min((e.eval_loss for e in epochs if e.eval_loss is not None), default=None)
    for e in epochs:
        gap = Text(f"{e.gap:+.4f}" if e.gap is not None else "-")
        eval_loss = Text(fmt(e.eval_loss), style="bold green" if e.eval_loss is not None and e.eval_loss == lowest else "")
        table.add_row(fmt(e.epoch, 2), str(e.step), fmt(e.train_loss), eval_loss, gap, *[fmt(e.metrics.get(m)) for m in metrics])
    return table


def checkpoint_table(disk: DiskUsage) -> Table:
    table = Table(title=f"Checkpoints in {disk.run_dir}", title_justify="left")
    for name in ("checkpoint", "size", "state"):
        table.add_column(name, justify="right" if name == "size" else "left")
    for c in disk.checkpoints:
        table.add_row(c.name, human_bytes(c.bytes), _checkpoint_state(c))
    table.add_row(Text("total", style="bold"), Text(human_bytes(disk.total_bytes), style="bold"), "")
    if disk.final_bytes is not None:
        table.add_row("final", human_bytes(disk.final_bytes), "the trained model")
    return table


def _checkpoint_state(c: CheckpointSize) -> Text:
    tags = [t for t, on in (("best", c.best), ("newest", c.newest)) if on]
    if not c.has_state:
        return Text("half-written", style="yellow")
    if not c.has_weights:
        tags.append("state only, no weights")
    return Text(", ".join(tags), style="green" if c.best or c.newest else "")


def render_prune(plan: PrunePlan) -> None:
    out = console_out()
    done = plan.applied
    table = Table(
        title=f"Prune {plan.run_dir}" + ("" if done else " (dry run)"),
        title_justify="left",
    )
    for name in ("checkpoint", "size", "action"):
        table.add_column(name, justify="right" if name == "size" else "left")
    removing = {c.path for c in plan.remove}
    for c in sorted([*plan.keep, *plan.remove], key=lambda c: c.step):
        if c.path in removing:
            action = Text("deleted" if done else "delete", style="red")
        else:
            why = [t for t, on in (("best", c.best), ("newest", c.newest)) if on]
            if not why:
                why = ["half-written, newest"] if not c.has_state else (["no weights"] if not c.complete else ["newest kept"])
            action = Text("keep (" + ", ".join(why) + ")", style="green")
        table.add_row(c.name, human_bytes(c.bytes), action)
    out.print(table)
    kept = f"the best and the newest {plan.keep_newest} complete checkpoint{'s' if plan.keep_newest > 1 else ''} stay"
    if not plan.remove:
        out.print(Text(f"nothing to delete: {kept}", style="dim"))
    elif done:
        out.print(Text(f"deleted {len(plan.remove)} checkpoint(s), freed {human_bytes(plan.freed_bytes)}; {kept}", style="bold"))
    else:
        out.print(
            Text(
                f"dry run: nothing deleted — add --yes to delete {len(plan.remove)} checkpoint(s) and free "
                f"{human_bytes(plan.bytes_to_free)}; {kept}",
                style="bold yellow",
            )
        )


# --- debug data --------------------------------------------------------------------------------------------------


def render_data_diagnosis(d: DataDiagnosis) -> None:
    out = console_out()
    for note in d.notes:
        console_err().print(f"note: {escape(note)}", highlight=False)
    fits = split_table_width(d) <= out.width
    out.print(split_table(d, label_columns=fits))
    if not fits:
        out.print(label_table(d))
    if d.lengths is not None:
        out.print(length_histogram(d.lengths))
    if d.cleaned is not None:
        out.print(cleaned_table(d.cleaned))
    print_findings(out, d.findings)
    line = counts_line(d.findings)
    line.append(f"  ({human_seconds(d.seconds)})", style="dim")
    out.print(line)


SPLIT_COLUMNS = ("empty", "exact dup", "normalised dup", "conflicts", "markup")


def split_table_width(d: DataDiagnosis) -> int:
    """The columns the split table takes with a column per label."""
    digits = len(f"{max((r.rows for r in d.splits), default=0):,}")
    names = ["split", "rows", *d.label_names, *SPLIT_COLUMNS]
    first = max([len(r.name) for r in d.splits] + [5])
    return 1 + first + 3 + sum(max(len(n), digits) + 3 for n in names[1:])


def split_table(d: DataDiagnosis, label_columns: bool = True) -> Table:
    """Rows, labels and problems per split: a column per label where they fit, else the label count (the
    labels then get a table of their own, see label_table)."""
    table = Table(title=f"Dataset {d.source}", title_justify="left")
    labels_named = d.label_names if label_columns else ["labels"]
    for name in ("split", "rows", *labels_named, *SPLIT_COLUMNS):
        table.add_column(escape(name), justify="left" if name == "split" else "right")
    for r in d.splits:
        if label_columns:
            labels = [f"{r.labels.get(n, 0):,}" for n in d.label_names]
        else:
            labels = [f"{sum(1 for n in d.label_names if r.labels.get(n)):,} of {len(d.label_names):,}"]
        cells = [r.empty, r.exact_duplicate_rows, r.normalised_duplicate_rows, r.conflict_rows, r.markup_rows]
        table.add_row(r.name, f"{r.rows:,}", *labels, *[_count(n) for n in cells])
    if d.leakage is not None:
        leak = d.leakage
        table.caption = (
            f"'{leak.eval_split}' rows also in '{leak.train_split}': {leak.exact_rows:,} exact, "
            f"{leak.normalised_rows:,} normalised"
        )
        table.caption_justify = "left"
    return table


def label_table(d: DataDiagnosis) -> Table:
    """Examples per label and split, the rarest in the first split first: the table for many labels."""
    table = Table(title=f"Labels ({len(d.label_names):,}), rarest in '{d.splits[0].name}' first", title_justify="left")
    table.add_column("label", overflow="fold")
    for r in d.splits:
        table.add_column(escape(r.name), justify="right")
        table.add_column("share", justify="right", style="dim")
    first = d.splits[0]
    for name in sorted(d.label_names, key=lambda n: (first.labels.get(n, 0), n)):
        cells = [escape(name)]
        for r in d.splits:
            n = r.labels.get(name, 0)
            cells += [_count_label(n), f"{n / r.rows:.1%}" if r.rows else "-"]
        table.add_row(*cells)
    return table


def _count_label(n: int) -> Text:
    return Text(f"{n:,}", style="red" if not n else "")


def _count(n: int) -> Text:
    return Text(f"{n:,}", style="yellow" if n else "dim")


def length_histogram(t: TokenLengths) -> Table:
    table = Table(
        title=f"Tokens per '{t.split}' text under {t.tokenizer} (--max-length {t.max_length})",
        title_justify="left",
        caption=f"{t.truncated_share:.1%} longer than {t.max_length}; 95% ≤ {t.p95}; suggested --max-length {t.suggested_max_length}",
        caption_justify="left",
    )
    table.add_column("tokens", justify="right")
    table.add_column("texts", justify="right")
    table.add_column("share", justify="right")
    table.add_column("", no_wrap=True)
    top = max((h["count"] for h in t.histogram), default=0) or 1
    for h in t.histogram:
        label = f"{h['low']}–{h['high']}" if h["high"] is not None else f">{h['low'] - 1}"
        cut = h["high"] is None or h["high"] > t.max_length
        bar = Text(BAR * max(0, round(30 * h["count"] / top)), style="red" if cut else "green")
        table.add_row(label, f"{h['count']:,}", f"{h['count'] / max(t.texts, 1):.1%}", bar)
    return table


def cleaned_table(c: CleanedData) -> Table:
    table = Table(title=f"Clean copy in {c.folder}", title_justify="left")
    table.add_column("file")
    table.add_column("kept", justify="right")
    table.add_column("dropped")
    for split, path in c.files.items():
        dropped = ", ".join(f"{reason} {n:,}" for reason, n in c.dropped.get(split, {}).items()) or "-"
        table.add_row(path, f"{c.kept.get(split, 0):,}", dropped)
    return table


# --- debug model -------------------------------------------------------------------------------------------------


def render_model_diagnosis(d: ModelDiagnosis) -> None:
    out = console_out()
    out.print(model_table(d))
    print_findings(out, d.findings)
    out.print(counts_line(d.findings))


def model_table(d: ModelDiagnosis) -> Table:
    from rich.markup import escape

    from bertcli.core.defaults import model_display_name

    table = Table(title=f"Model {escape(model_display_name(d.model))}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("architecture", f"{d.architecture or '-'} ({d.model_type or '?'}), {d.parameters:,} parameters")
    table.add_row("tokenizer", f"{d.tokenizer_class}, {d.tokenizer_vocab:,} tokens; embedding {d.embedding_rows:,} rows")
    labels = ", ".join(f"{k}: {v}" for k, v in d.id2label.items())
    table.add_row("labels", f"num_labels {d.num_labels} ({labels})" + ("; new head" if d.head_is_new else ""))
    table.add_row("positions", f"{d.max_position_embeddings or '-'} (tokenizer limit {d.tokenizer_max_length or '-'}; --max-length {d.max_length})")
    if d.overfit is not None:
        o = d.overfit
        table.add_row("one-batch overfit", f"{o.first_loss:.3f} → {o.final_loss:.3f} in {o.steps_run} steps ({o.seconds:.1f} s)")
    return table


# --- debug labels ------------------------------------------------------------------------------------------------


def render_label_diagnosis(d: LabelDiagnosis) -> None:
    out = console_out()
    out.print(label_queue_table(d, width=out.width))
    print_findings(out, d.findings)
    line = counts_line(d.findings)
    line.append(f"  ({human_seconds(d.seconds)})", style="dim")
    out.print(line)


def label_queue_table(d: LabelDiagnosis, shown: int | None = None, width: int | None = None) -> Table:
    """The review queue, most likely wrong first: row, given label, the model's label, its confidence, a snippet."""
    from bertcli.core.diagnose.label_queue import SHOWN, confidence_meaning, how_found

    limit = SHOWN if shown is None else shown
    rest = len(d.issues) - limit
    caption = (
        f"{d.evidence}; {how_found(d.ranked_by)}; {confidence_meaning(d.multi_label)}" + (f"; {rest:,} more in --json and --decisions" if rest > 0 else "")
    )
    if any(i.same_words_as is not None for i in d.issues[:limit]):
        caption += "; =N: the same words as row N, under another label"
    table = Table(
        title=f"Label issues in '{d.split}' of {d.source} ({len(d.issues):,} of {d.examples:,})",
        title_justify="left", caption=caption, caption_justify="left",
    )
    shown_issues = d.issues[:limit]
    confidence = "self-conf." if d.multi_label else "p(given)"
    # label sets (multi-label) take the width of what is shown, up to 16
    given = [len(n) for n in d.label_names] + ([len(x) for i in shown_issues for x in (i.given, i.suggested)] if d.multi_label else [])
    widths = {
        "#": len(str(len(shown_issues))), "row": max(3, len(str(max((i.row for i in shown_issues), default=0)))),
        "given": min(16 if d.multi_label else 12, max([5, *given])), confidence: len(confidence),
    }
    widths["model"] = widths["given"]
    fixed = sum(widths.values()) + 3 * 6 + 1  # six columns: a rule and two spaces of padding each, and the last rule
    for name in ("#", "row", "given", "model", confidence):
        table.add_column(name, justify="left" if name in ("given", "model") else "right", no_wrap=True,
                         overflow="ellipsis", width=widths[name])
    table.add_column("text", overflow="ellipsis", no_wrap=True, width=max(10, (width or 80) - fixed))
    for issue in d.issues[:limit]:
        text = Text(issue.snippet) if issue.same_words_as is None else Text.assemble((f"={issue.same_words_as} ", "magenta"), issue.snippet)
        table.add_row(str(issue.rank), str(issue.row), issue.given, Text(issue.suggested, style="yellow"),
                      f"{issue.self_confidence:.3f}", text)
    return table


def save_data_map(d: LabelDiagnosis, path: Path) -> None:
    """The data map of recorded training dynamics: variability across, confidence up, colour by correctness;
    the queued examples ringed (bottom left: never believed, the likely mislabelled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    s = d.scores
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    points = ax.scatter(s["variability"], s["confidence"], c=s["correctness"], cmap="coolwarm_r", s=10, vmin=0, vmax=1)
    queued = np.isin(s["rows"], [i.row for i in d.issues])
    ax.scatter(s["variability"][queued], s["confidence"][queued], facecolors="none", edgecolors="black", s=28, linewidths=0.7,
               label=f"queued ({int(queued.sum()):,})")
    fig.colorbar(points, ax=ax, label="correctness")
    given = "self-confidence of the given label set" if d.multi_label else "p(given label)"
    ax.set_xlabel(f"variability (std of {given} over epochs)")
    ax.set_ylabel(f"confidence (mean {given})")
    ax.set_title(f"Data map of '{d.split}' of {Path(d.source).name}, {d.evidence}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
