"""Daily and weekly reports, the equity/drawdown plot and the quantstats tearsheet.

Everything here is rebuilt from one :class:`ReportInputs` (what the ledger
and the clean data say), so the same inputs always give the same bytes:
there is no clock inside (``generated_at`` is an input) and every file is
written atomically (temporary file + ``os.replace``).

``build_daily``/``build_weekly`` are pure and return report objects;
``render_*`` turn them into Markdown and HTML through the jinja2 templates
in ``tradeops/templates/report_*.j2``; ``publish_daily``/``publish_weekly``
write the files.  ``tradeops report daily|weekly`` and the ``60_report``
stage both call the ``publish_*`` functions.

A package: :mod:`.inputs` (what a report is built from), :mod:`.build`, :mod:`.render`,
:mod:`.plots`, :mod:`.tearsheet` and :mod:`.publish`; every name is importable from here.
"""

from __future__ import annotations

import os  # noqa: F401  (tests replace os.replace under the atomic writer through this name)

from ..files import write_atomic
from .inputs import CENT, gate, GATE_STATUSES, LEVEL_EPS, LINE_STATUSES, MIN_RETURNS_FOR_RATIOS, Position, ReportInputs, RunInfo, TEMPLATES, ReportLine
from .build import build_daily, build_weekly, ComplianceRow, DailyReport, ExposureRow, lateness, MetricRow, TradeRow, week_start, WeeklyReport
from .render import (
    css_sign,
    fmt_bps,
    fmt_money,
    fmt_pct,
    fmt_ratio,
    fmt_units,
    md_cell,
    render_daily_html,
    render_daily_md,
    render_weekly_html,
    render_weekly_md,
)
from .plots import equity_drawdown_png
from .tearsheet import tearsheet_html, tearsheet_title
from .publish import publish_daily, publish_weekly

__all__ = [
    "CENT",
    "ComplianceRow",
    "DailyReport",
    "ExposureRow",
    "GATE_STATUSES",
    "gate",
    "LEVEL_EPS",
    "LINE_STATUSES",
    "MIN_RETURNS_FOR_RATIOS",
    "MetricRow",
    "Position",
    "ReportInputs",
    "RunInfo",
    "TEMPLATES",
    "ReportLine",
    "TradeRow",
    "WeeklyReport",
    "build_daily",
    "build_weekly",
    "css_sign",
    "equity_drawdown_png",
    "fmt_bps",
    "fmt_money",
    "fmt_pct",
    "fmt_ratio",
    "fmt_units",
    "lateness",
    "md_cell",
    "publish_daily",
    "publish_weekly",
    "render_daily_html",
    "render_daily_md",
    "render_weekly_html",
    "render_weekly_md",
    "tearsheet_html",
    "tearsheet_title",
    "week_start",
    "write_atomic",
]
