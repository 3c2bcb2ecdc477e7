"""``publish_daily``/``publish_weekly``: build, render, plot and write the report files atomically."""

from __future__ import annotations

from pathlib import Path


from ..files import write_atomic
from .inputs import ReportInputs
from .build import build_daily, build_weekly
from .render import render_daily_html, render_daily_md, render_weekly_html, render_weekly_md
from .plots import equity_drawdown_png
from .tearsheet import tearsheet_html


# --------------------------------------------------------------------------- writing


def publish_daily(inputs: ReportInputs, reports_dir: Path) -> list[Path]:
    """Write daily.png, daily.md and daily.html into ``reports_dir``; return the paths."""
    reports_dir = Path(reports_dir)
    report = build_daily(inputs, plot_file="daily.png")
    png = write_atomic(reports_dir / "daily.png", equity_drawdown_png(inputs, f"Equity and drawdown to {inputs.as_of}"))
    md = write_atomic(reports_dir / "daily.md", render_daily_md(report))
    html = write_atomic(reports_dir / "daily.html", render_daily_html(report))
    return [md, html, png]


def publish_weekly(inputs: ReportInputs, reports_dir: Path, tearsheet: bool = True) -> list[Path]:
    """Write weekly.png, weekly.md, weekly.html and (with enough history and
    ``tearsheet``) tearsheet.html into ``reports_dir``; return the paths."""
    reports_dir = Path(reports_dir)
    report = build_weekly(inputs, plot_file="weekly.png", tearsheet_file="tearsheet.html" if tearsheet else None)
    written = [write_atomic(reports_dir / "weekly.png", equity_drawdown_png(inputs, f"Equity and drawdown to {inputs.as_of}"))]
    if report.tearsheet_file:
        written.append(write_atomic(reports_dir / report.tearsheet_file, tearsheet_html(inputs)))
    if report.drift is not None and report.drift.drift is not None:
        from ..drift_section import chart_png

        written.append(write_atomic(reports_dir / report.drift.chart_file, chart_png(report.drift.drift, inputs.as_of, inputs.benchmark_symbol)))
    written.insert(0, write_atomic(reports_dir / "weekly.html", render_weekly_html(report)))
    written.insert(0, write_atomic(reports_dir / "weekly.md", render_weekly_md(report)))
    return written
