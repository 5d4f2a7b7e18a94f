"""Rendering for `bertcli evaluate`: the report tables, a comparison of models, the plot and the predictions file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from bertcli.render.activity import Activity, Phases
from bertcli.render.table import Table

from bertcli.render import console_err, console_out, fmt, human_seconds, save_figure
from bertcli.render.output import Output

if TYPE_CHECKING:
    from bertcli.core.evaluation import ChanceLevel, EvaluationReport, ModelEvaluation
    from bertcli.core.evaluation_multilabel import MultiLabelEvaluation
    from bertcli.core.inference.classify import RunStats

PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")
# Past this many labels the per-class rows are sorted by F1, worst first
MANY_LABELS = 10
# The largest confusions listed where the matrix does not fit the width
CONFUSIONS_SHOWN = 20


class EvalProgress(Phases):
    """Which model is being evaluated (stderr), then its progress: a bar that moves every batch on a
    terminal, a plain line about every 10 s (and one at the end) in a file or a pipe."""

    def __init__(self, enabled: bool = True):
        super().__init__(console_err(), "evaluate", enabled=enabled)

    def start_model(self, described: str, total: int) -> None:
        if not self.enabled:
            return
        self.close()
        self.console.print(f"[bold]evaluate[/] {escape(described)} on {total:,} examples", highlight=False)
        self.activity = Activity(self.console, "evaluate", total, unit="texts", transient=True)

    def batch(self, done: int) -> None:
        """After each batch: the texts of this model done so far."""
        if self.activity is not None:
            self.activity.update(done)

    def update(self, stats: RunStats) -> None:
        """After each window (the counts include skipped texts)."""
        if self.activity is not None:
            self.activity.update(stats.texts)


def render_notes(report: EvaluationReport) -> None:
    """Notes about the data, then a warning for each model that scores near chance (stderr)."""
    err = console_err()
    for note in report.notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for warning in report.warnings:
        err.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def chance_text(chance: ChanceLevel | None) -> str:
    """`always 'positive' 0.5060 (253 of 500); 1/2 = 0.5000`."""
    if chance is None:
        return "-"
    who = f"always '{chance.majority_label}' " if chance.majority_label is not None else ""
    count = f" ({chance.majority_count:,} of {chance.examples:,})" if chance.majority_count is not None else ""
    return f"{who}{chance.majority_rate:.4f}{count}; 1/{round(1 / chance.uniform_rate)} = {chance.uniform_rate:.4f}"


def interval_text(model: ModelEvaluation, key: str) -> str:
    """`95% CI 0.8552–0.8848`, or nothing when the interval could not be computed."""
    from bertcli.core.significance import MIN_EXAMPLES_FOR_INTERVAL

    ci = (model.intervals or {}).get(key)
    if ci is None and model.intervals and key != "roc_auc" and all(v is None for v in model.intervals.values()):
        return f"no 95% CI: fewer than {MIN_EXAMPLES_FOR_INTERVAL} examples"
    return f"95% CI {ci['low']:.4f}–{ci['high']:.4f}" if ci else ""


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _speed(model: ModelEvaluation) -> str:
    if not model.examples_per_second:
        return "-"
    return f"{model.examples_per_second:,.1f} ex/s ({model.tokens_per_second:,.0f} tok/s)"


def summary_table(model: ModelEvaluation) -> Table:
    table = Table(title=escape(f"{model.model} ({model.mode}, max length {model.max_length}, {model.truncation})"),
                  title_justify="left", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    near = model.chance is not None and model.chance.near_chance
    accuracy = f"[bold yellow]{fmt(model.accuracy)}[/]" if near else fmt(model.accuracy)
    table.add_row("accuracy", accuracy, _joined(interval_text(model, "accuracy"),
                  f"{model.examples:,} examples" + (f", {model.skipped} skipped" if model.skipped else "")))
    if model.chance is not None:
        c = model.chance
        verdict = "[bold yellow]near chance[/]: " + escape(c.reason) if near else escape(c.reason)
        table.add_row("chance rate", fmt(c.majority_rate), escape(chance_text(c)) + "; accuracy " + verdict)
    table.add_row("macro F1", fmt(model.macro["f1"]), _joined(interval_text(model, "f1"),
                  f"precision {fmt(model.macro['precision'])}, recall {fmt(model.macro['recall'])}", escape(absent_text(model))))
    if len(model.label_names) > 2:
        table.add_row("weighted F1", fmt(model.f1_weighted), "per-label F1 weighted by support")
    table.add_row("ROC-AUC", fmt(model.roc_auc), _joined(interval_text(model, "roc_auc"),
                  "one-vs-rest macro" if len(model.label_names) > 2 and model.roc_auc is not None else "",
                  escape(model.roc_auc_note or "")))
    table.add_row("log loss", fmt(model.log_loss), "")
    table.add_row("ECE", fmt(model.ece), f"{len(model.reliability)} confidence bins")
    table.add_row("accuracy, truncated", fmt(model.truncated.accuracy), f"{model.truncated.count:,} longer than {model.max_length} tokens")
    table.add_row("accuracy, not truncated", fmt(model.not_truncated.accuracy), f"{model.not_truncated.count:,}")
    table.add_row("throughput", _speed(model), f"{human_seconds(model.seconds)} + {human_seconds(model.load_seconds)} loading")
    return table


def absent_text(model: ModelEvaluation) -> str:
    """`over the 3 labels with examples; no example of 'Sci/Tech' (left out)`, or nothing when every label has one."""
    absent = model.absent_labels
    if not absent:
        return ""
    shown = ", ".join(f"'{name}'" for name in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
    present = len(model.label_names) - len(absent)
    return f"over the {present} labels with examples; no example of {shown} (left out)"


def per_class_table(model: ModelEvaluation) -> Table:
    many = len(model.per_class) > MANY_LABELS
    title = "Per class, sorted by F1 (worst first)" if many else "Per class"
    table = Table(title=title, title_justify="left")
    for col in ("label", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "label" else "right", overflow="fold")
    rows = sorted(model.per_class, key=lambda r: (r.support == 0, r.f1, r.label)) if many else model.per_class
    for row in rows:
        label = escape(row.label) + (" [dim](no example)[/]" if row.support == 0 else "")
        table.add_row(label, fmt(row.precision), fmt(row.recall), fmt(row.f1), f"{row.support:,}")
    table.add_row("[bold]macro[/]", fmt(model.macro["precision"]), fmt(model.macro["recall"]), fmt(model.macro["f1"]),
                  f"{sum(r.support for r in model.per_class):,}")
    return table


def matrix_width(model: ModelEvaluation) -> int:
    """The columns the confusion matrix takes: a label column and one per label, each padded and ruled."""
    names = [escape(n) for n in model.label_names]
    digits = len(f"{max((max(r) for r in model.confusion), default=0):,}")
    first = max([len("true \\ predicted"), *map(len, names)])
    return 1 + (first + 3) + sum(max(len(n), digits) + 3 for n in names)


def confusions_table(model: ModelEvaluation, limit: int = CONFUSIONS_SHOWN) -> Table:
    """The largest confusions as a list: true → predicted, count and share of the true label's examples."""
    from bertcli.core.evaluation import largest_confusions

    cells = largest_confusions(model.confusion, model.label_names)
    shown = f"the {min(limit, len(cells))} largest of {len(cells):,}" if len(cells) > limit else f"all {len(cells):,}"
    table = Table(title=f"Largest confusions ({shown}; share: of the true label's examples; {len(model.label_names)} "
                        "labels: the full matrix with --json or --confusion-csv PATH)", title_justify="left")
    table.add_column("true", overflow="fold")
    table.add_column("→ predicted", overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for c in cells[:limit]:
        table.add_row(escape(c.true_label), escape(c.predicted), f"{c.count:,}", f"{c.share:.1%}")
    return table


def confusion_table(model: ModelEvaluation) -> Table:
    table = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left")
    table.add_column("true \\ predicted", style="bold")
    for name in model.label_names:
        table.add_column(escape(name), justify="right")
    for i, (name, row) in enumerate(zip(model.label_names, model.confusion)):
        table.add_row(escape(name), *[f"[green]{n:,}[/]" if i == j else f"{n:,}" for j, n in enumerate(row)])
    return table


def reliability_table(model: ModelEvaluation) -> Table:
    table = Table(title=f"Reliability (ECE {fmt(model.ece)})", title_justify="left")
    for col in ("confidence bin", "examples", "mean confidence", "accuracy", "gap"):
        table.add_column(col, justify="right")
    for b in model.reliability:
        if not b.count:
            continue
        gap = b.accuracy - b.confidence
        table.add_row(f"({b.lower:.1f}, {b.upper:.1f}]", f"{b.count:,}", fmt(b.confidence, 3), fmt(b.accuracy, 3),
                      f"[{'red' if abs(gap) > 0.1 else 'dim'}]{gap:+.3f}[/]")
    return table


def mistakes_table(model: ModelEvaluation) -> Table:
    table = Table(title="Most confident mistakes", title_justify="left")
    table.add_column("#", justify="right", style="dim")
    table.add_column("text", overflow="fold")
    table.add_column("true")
    table.add_column("predicted")
    table.add_column("confidence", justify="right")
    for m in model.mistakes:
        table.add_row(str(m.index), escape(m.snippet) + (" [dim](truncated)[/]" if m.truncated else ""), escape(m.true_label),
                      escape(m.predicted),
                      fmt(m.confidence, 3))
    return table


def short_model_name(name: str, limit: int = 32) -> str:
    """A model path short enough for a table column: its last two parts when the whole is long."""
    if len(name) <= limit or "/" not in name:
        return name
    parts = Path(name).parts
    return str(Path(*parts[-2:])) if len(parts) >= 2 else name


def scored_on(report: EvaluationReport) -> str:
    """'imdb [test]', or the file alone for the rows of a single file."""
    from pathlib import Path

    return report.dataset if report.split == Path(report.dataset).name else f"{report.dataset} [{report.split}]"


def comparison_table(report: EvaluationReport) -> Table:
    chance = next((m.chance for m in report.models if m.chance is not None), None)
    title = f"{scored_on(report)}: {report.examples:,} examples" + (
        f"; chance rate {chance_text(chance)}" if chance is not None else ""
    )
    table = Table(title=escape(title), title_justify="left")
    table.add_column("model", overflow="fold", min_width=10)
    modes = {m.mode for m in report.models}
    if len(modes) > 1:
        table.add_column("mode")
    for col in ("acc", "F1", "AUC", "log loss", "ECE", "acc cut", "ex/s"):
        table.add_column(col, justify="right", no_wrap=True)
    best = max(m.accuracy for m in report.models)
    for m in report.models:
        accuracy = fmt(m.accuracy, 3)
        if m.chance is not None and m.chance.near_chance:
            accuracy = f"[bold yellow]{accuracy}[/]"
        elif m.accuracy == best and len(report.models) > 1:
            accuracy = f"[bold green]{accuracy}[/]"
        cells = [escape(short_model_name(m.model))] + ([m.mode] if len(modes) > 1 else [])
        cells += [accuracy, *(fmt(v, 3) for v in (m.macro["f1"], m.roc_auc, m.log_loss, m.ece, m.truncated.accuracy)),
                  f"{m.examples_per_second:,.0f}" if m.examples_per_second else "-"]
        table.add_row(*cells)
    return table


def paired_table(report: EvaluationReport) -> Table:
    """Each model against the first on the same examples: accuracy with its interval and the McNemar verdict."""
    first = report.models[0]
    table = Table(title=escape(f"Against {short_model_name(first.model)} (exact McNemar on the same examples)"),
                  title_justify="left")
    table.add_column("model", overflow="fold", min_width=10)
    for col in ("acc", "95% CI", "only first right", "only this right"):
        table.add_column(col, justify="right")
    table.add_column("verdict")
    for m in report.models:
        ci = (m.intervals or {}).get("accuracy")
        test = m.versus_first
        cells = [escape(short_model_name(m.model)), fmt(m.accuracy, 3), f"{ci['low']:.3f}–{ci['high']:.3f}" if ci else "-"]
        if test is None:
            cells += ["", "", "reference"]
        else:
            style = {"better": "bold green", "worse": "bold red"}.get(test.verdict, "dim")
            cells += [f"{test.only_reference_right:,}", f"{test.only_model_right:,}", f"[{style}]{escape(test.describe())}[/]"]
        table.add_row(*cells)
    return table


def multi_label_summary(model: MultiLabelEvaluation) -> Table:
    """A multi-label model's scores beside what always answering each label's majority value scores."""
    table = Table(title=escape(f"{model.model} (multi-label; {model.mode}, max length {model.max_length}, {model.truncation})"),
                  title_justify="left")
    for col in ("metric", "value", "95% CI", "chance"):
        table.add_column(col, justify="left" if col == "metric" else "right")

    def ci(key: str) -> str:
        found = (model.intervals or {}).get(key)
        return f"{found['low']:.4f}–{found['high']:.4f}" if found else "-"

    table.add_row("macro F1", fmt(model.macro["f1"]), ci("macro_f1"), fmt(model.chance["macro_f1"]))
    table.add_row("micro F1", fmt(model.micro["f1"]), ci("micro_f1"), fmt(model.chance["micro_f1"]))
    table.add_row("subset accuracy", fmt(model.subset_accuracy), ci("subset_accuracy"), fmt(model.chance["subset_accuracy"]))
    table.add_row("Hamming loss", fmt(model.hamming_loss), "-", fmt(model.chance["hamming_loss"]))
    table.add_row("labels per example", f"{model.labels_per_example['predicted']:.3f} predicted",
                  f"{model.labels_per_example['true']:.3f} true", "")
    table.add_row("no label", f"{model.no_label['predicted']:,} predicted", f"{model.no_label['true']:,} true", "")
    return table


def per_label_table(model: MultiLabelEvaluation) -> Table:
    table = Table(title="Per label (worst F1 first)", title_justify="left")
    for col in ("label", "threshold", "precision", "recall", "F1", "support", "predicted"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for row in sorted(model.per_label, key=lambda r: r.f1):
        table.add_row(escape(row.label), f"{row.threshold:.3f}", fmt(row.precision), fmt(row.recall), fmt(row.f1),
                      f"{row.support:,}", f"{row.predicted:,}")
    table.add_row("[bold]macro[/]", "", fmt(model.macro["precision"]), fmt(model.macro["recall"]), fmt(model.macro["f1"]), "", "")
    table.add_row("[bold]micro[/]", "", fmt(model.micro["precision"]), fmt(model.micro["recall"]), fmt(model.micro["f1"]), "", "")
    return table


def render_multi_label(report: EvaluationReport) -> None:
    out = console_out()
    out.print(f"[bold]{escape(report.dataset)}[/] {escape(f'[{report.split}]')}: {report.examples:,} examples, multi-label",
              highlight=False)
    for model in report.models:
        out.print(multi_label_summary(model))
        out.print(per_label_table(model))
        skipped = f"; {model.skipped} skipped" if model.skipped else ""
        out.print(f"[dim]thresholds {escape(model.thresholds_from)}; chance: every example gets each label's majority "
                  f"value (here: {'no label' if model.chance['micro_f1'] == 0 else 'the common labels'}); "
                  f"{model.examples:,} examples{skipped}; {_speed(model)}[/]", highlight=False)
        if model.versus_first is not None:
            test = model.versus_first
            out.print(f"against {escape(short_model_name(report.models[0].model))} on exact matches: "
                      f"{test.only_reference_right:,} only it right, {test.only_model_right:,} only this right — "
                      f"{escape(test.describe())}", highlight=False)


def render_evaluation(report: EvaluationReport) -> None:
    out = console_out()
    if getattr(report.models[0], "multi_label", False):
        render_multi_label(report)
        return
    if len(report.models) > 1:
        out.print(comparison_table(report))
        out.print("[dim]acc: accuracy; F1 and AUC: macro; acc cut: accuracy on truncated texts. --json for every metric of each model[/]",
                  highlight=False)
        out.print(paired_table(report))
        return
    model = report.models[0]
    out.print(f"[bold]{escape(scored_on(report))}[/]: {report.examples:,} examples", highlight=False)
    out.print(summary_table(model))
    out.print(per_class_table(model))
    fits = matrix_width(model) <= out.width
    out.print(confusion_table(model) if fits else confusions_table(model))
    out.print(reliability_table(model))
    if model.mistakes:
        out.print(mistakes_table(model))


def write_predictions(rows: list[dict[str, Any]], path: Path, out: Output) -> None:
    from bertcli.core.inference.records import RecordWriter, open_output, output_format

    fmt_name = output_format(path, None)
    with open_output(path, "--predictions") as stream:
        writer = RecordWriter(stream, fmt_name)
        for row in rows:
            if fmt_name == "csv":
                row = {k: v for k, v in row.items() if k != "probabilities"} | {
                    f"p_{k}": v for k, v in (row.get("probabilities") or {}).items()
                }
            writer.write(row)
        writer.flush()  # a full disk shows here, with the rows that are whole, not in close()
    out.hint(f"[bold]wrote[/] {len(rows):,} predictions to {escape(str(path))}")


def write_confusion(report: EvaluationReport, path: Path, out: Output) -> None:
    from bertcli.core.evaluation import write_confusion_csv

    write_confusion_csv(report, path)
    out.hint(f"[bold]wrote[/] the confusion matrix ({len(report.models[0].label_names)} labels) to {escape(str(path))}")


def check_plotting(path: Path) -> None:
    """Fail before any work when --plot cannot be written."""
    from bertcli.core.errors import UsageError

    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot writes {', '.join(PLOT_SUFFIXES)} files, not '{path.name}'")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'bertcli[plot]' (or pip install matplotlib)") from None


def save_plot(report: EvaluationReport, path: Path, out: Output) -> None:
    """Per model: the confusion matrix and a reliability diagram, side by side."""
    if any(getattr(model, "multi_label", False) for model in report.models):
        from bertcli.core.errors import UsageError

        raise UsageError("--plot draws a confusion matrix and reliability of single-label models; for a multi-label "
                         "model see the per-label table (or --json)")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(report.models)
    fig, axes = plt.subplots(n, 2, figsize=(10, 4.2 * n), squeeze=False)
    for row, model in enumerate(report.models):
        ax = axes[row][0]
        matrix = model.confusion
        ax.imshow(matrix, cmap="Blues")
        ticks = range(len(model.label_names))
        ax.set_xticks(ticks, model.label_names, rotation=30 if len(model.label_names) > 3 else 0)
        ax.set_yticks(ticks, model.label_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        peak = max(max(r) for r in matrix) or 1
        for i, values in enumerate(matrix):
            for j, value in enumerate(values):
                ax.text(j, i, f"{value:,}", ha="center", va="center", color="white" if value > peak / 2 else "black")
        ax.set_title(f"{Path(model.model).name or model.model}: accuracy {model.accuracy:.3f}", fontsize=10)

        ax = axes[row][1]
        filled = [b for b in model.reliability if b.count]
        ax.bar([(b.lower + b.upper) / 2 for b in filled], [b.accuracy for b in filled],
               width=[(b.upper - b.lower) * 0.9 for b in filled], color="tab:blue", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
        ax.plot([b.confidence for b in filled], [b.accuracy for b in filled], "o", color="tab:orange", label="bin (confidence, accuracy)")
        lowest = min((b.lower for b in filled), default=0.0)
        ax.set_xlim(min(lowest, 1 / max(len(model.label_names), 2)), 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"reliability: ECE {model.ece:.3f}", fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    out.hint(f"[bold]wrote[/] {escape(str(path))}")


def by_length_table(model: ModelEvaluation) -> Table:
    """One row per token-length bucket: examples, the metric with its interval, accuracy, the share cut."""
    report = model.by_length
    edges = "" if report.edges_from == "default" else f"; edges from the data's {report.edges_from}"
    table = Table(title=escape(f"By length in tokens ({report.metric}; max length {report.max_length}, {report.truncation}{edges})"),
                  title_justify="left")
    for col in ("tokens", "examples", "share", report.metric, "95% CI", "rest", "cut"):
        table.add_column(escape(col), justify="left" if col == "tokens" else "right")
    for b in report.buckets:
        ci = f"{b.interval['low']:.3f}–{b.interval['high']:.3f}" if b.interval else "-"
        weak = b.interval is not None and b.rest_score is not None and b.interval["high"] < b.rest_score
        score = f"[bold red]{b.score:.3f}[/]" if weak else f"{b.score:.3f}"
        table.add_row(escape(b.name), f"{b.count:,}", f"{b.share:.0%}", score, ci,
                      "-" if b.rest_score is None else f"{b.rest_score:.3f}", f"{b.truncated_share:.0%}")
    return table


def render_by_length(report: EvaluationReport) -> None:
    """After the report: each model's scores by length and what they show (stdout)."""
    from bertcli.render.findings import print_findings

    out = console_out()
    for model in report.models:
        if model.by_length is None:
            continue
        if len(report.models) > 1:
            out.print(f"[bold]{escape(short_model_name(model.model))}[/]", highlight=False)
        out.print(by_length_table(model))
        if model.by_length.findings:
            print_findings(out, model.by_length.findings, title="By length")


def length_plot_path(path: Path) -> Path:
    """Where --plot puts the by-length picture: beside the main one, `eval.png` → `eval-by-length.png`."""
    return path.with_name(f"{path.stem}-by-length{path.suffix}")


def save_length_plot(report: EvaluationReport, path: Path, out: Output) -> None:
    """The metric per length bucket with its interval (bars), and the share of each bucket that was cut."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in report.models if m.by_length is not None]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(models), 1)
    names = [b.name for b in models[0].by_length.buckets] if models else []
    for k, model in enumerate(models):
        buckets = {b.name: b for b in model.by_length.buckets}
        xs = [i + (k - (len(models) - 1) / 2) * width for i, name in enumerate(names) if name in buckets]
        shown = [buckets[name] for name in names if name in buckets]
        low = [b.score - (b.interval["low"] if b.interval else b.score) for b in shown]
        high = [(b.interval["high"] if b.interval else b.score) - b.score for b in shown]
        label = f"{Path(model.model).name or model.model} ({model.truncation}, {model.max_length})"
        ax.bar(xs, [b.score for b in shown], width=width * 0.95, yerr=[low, high], capsize=3, alpha=0.85, label=label)
        for x, b in zip(xs, shown):
            ax.text(x, 0.02, f"n={b.count:,}\ncut {b.truncated_share:.0%}", ha="center", va="bottom", fontsize=7, color="white")
    ax.set_xticks(range(len(names)), [f"{name} tokens" for name in names])
    ax.set_ylim(0, 1)
    ax.set_ylabel(models[0].by_length.metric if models else "")
    ax.set_title("score by text length (95% bootstrap intervals)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    out.hint(f"[bold]wrote[/] {escape(str(path))}")
