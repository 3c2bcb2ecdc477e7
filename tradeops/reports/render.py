"""The report objects as Markdown and HTML (the jinja2 templates in ``tradeops/templates/report_*.j2``)
and the cell formatters they use."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np

from .. import messages
from .inputs import CENT, MIN_RETURNS_FOR_RATIOS, TEMPLATES
from .build import DailyReport, WeeklyReport


# --------------------------------------------------------------------------- rendering


def _is_nan(x) -> bool:
    return x is None or (isinstance(x, float) and not np.isfinite(x))


def fmt_money(d, signed: bool = False) -> str:
    if d is None:
        return "—"
    d = Decimal(d).quantize(CENT)
    if d == 0:
        d = abs(d)
    return f"{d:+,.2f}" if signed else f"{d:,.2f}"


def fmt_pct(x, signed: bool = False, digits: int = 2) -> str:
    if _is_nan(x):
        return "n/a"
    x = 0.0 if abs(x) < 0.5 * 10 ** -(digits + 2) else x  # no "-0.00%"
    return f"{x * 100:{'+' if signed else ''}.{digits}f}%"


def fmt_ratio(x) -> str:
    return "n/a" if _is_nan(x) else f"{x:.2f}"


def fmt_bps(x) -> str:
    if x is None:
        return "—"
    return "n/a" if _is_nan(x) else f"{x:+.1f}"


def css_sign(x, cost: bool = False) -> str:
    """CSS class for a figure: "neg" when it is bad news (a loss, or a cost when ``cost``)."""
    if _is_nan(x) or float(x) == 0:
        return ""
    return "neg" if (float(x) > 0) == cost else "pos"


def md_cell(text) -> str:
    """Free text (a reason, a note) made safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def fmt_units(d) -> str:
    if d is None:
        return "—"
    d = Decimal(d).normalize()
    return f"{d:f}"


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(money=fmt_money, pct=fmt_pct, ratio=fmt_ratio, bps=fmt_bps, units=fmt_units, sign=css_sign, cell=md_cell, state=messages.state_label)
    return env


def _render(template: str, report, timezone: str) -> str:
    tz = ZoneInfo(timezone)

    def local(dt):
        return "—" if dt is None else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")

    env = _env()
    env.filters["local"] = local
    return env.get_template(template).render(r=report, min_returns=MIN_RETURNS_FOR_RATIOS)


def render_daily_md(report: DailyReport) -> str:
    return _render("report_daily.md.j2", report, report.timezone)


def render_daily_html(report: DailyReport) -> str:
    return _render("report_daily.html.j2", report, report.timezone)


def render_weekly_md(report: WeeklyReport) -> str:
    return _render("report_weekly.md.j2", report, report.timezone)


def render_weekly_html(report: WeeklyReport) -> str:
    return _render("report_weekly.html.j2", report, report.timezone)
