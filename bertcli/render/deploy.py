"""`bertcli export` and `bertcli serve` for people: the parity table, the export line, the server's lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bertcli.render import console_err, console_out

if TYPE_CHECKING:
    from bertcli.core.deploy.export import ExportReport
    from bertcli.core.deploy.parity import ParityReport


def render_parity(parity: ParityReport) -> None:
    from rich.table import Table

    table = Table(title=f"Parity on {parity.texts:,} texts of {parity.dataset} ({parity.split})", title_justify="left")
    for name in ("", "PyTorch fp32", "export"):
        table.add_column(name, justify="right" if name else "left")
    acc = (lambda v: "-" if v is None else f"{v:.4f}")
    table.add_row("accuracy", acc(parity.torch_accuracy), acc(parity.export_accuracy))
    table.add_row("labels agree", f"{parity.agreement:.2%}", f"{parity.differing} differ")
    table.add_row("|Δp| max / mean", f"{parity.max_abs_diff:.2e}", f"{parity.mean_abs_diff:.2e}")
    table.add_row("McNemar (exact)", f"p = {parity.mcnemar_p:.3g}", parity.mcnemar_verdict)
    out = console_out()
    out.print(table)
    verdict = "[bold green]passed[/]" if parity.passed else ("[bold yellow]FAILED, kept with --force[/]" if parity.forced else "[bold red]FAILED[/]")
    out.print(f"parity {verdict}: required {parity.required}")


def render_export(report: ExportReport) -> None:
    from bertcli.core.deploy.export import export_summary

    if report.parity is not None:
        render_parity(report.parity)
    console_out().print(export_summary(report), highlight=False)


def server_line(message: str) -> None:
    """One line of the server's log on stderr (startup, access log, shutdown)."""
    console_err().print(message, highlight=False, markup=False, soft_wrap=True)
