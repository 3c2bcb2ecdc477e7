"""The quantstats tearsheet of the account against its benchmark (stamped with ``generated_at``, not the clock)."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path


from .inputs import ReportInputs
from .render import fmt_money
from .plots import _plot_style


# --------------------------------------------------------------------------- tearsheet


def tearsheet_title(inputs: ReportInputs, title: str = "Account vs benchmark") -> str:
    """The tearsheet's title; an account in another currency than its prices says so, with the FX effect
    in its P&L as a figure of its own (a USD account: the title as given)."""
    if inputs.currency == inputs.price_currency and inputs.fx_effect is None:
        return title
    out = f"{title} (returns in {inputs.currency}"
    if inputs.fx_effect is not None:
        out += f"; FX effect in the P&L to date {fmt_money(inputs.fx_effect, signed=True)} {inputs.currency}"
    return out + ")"


def tearsheet_html(inputs: ReportInputs, title: str = "Account vs benchmark") -> str:
    """quantstats HTML tearsheet of the account's returns against the benchmark.

    quantstats stamps every SVG with the current time; SOURCE_DATE_EPOCH is
    set to ``generated_at`` while it runs, so the page is reproducible.
    """
    import quantstats as qs

    returns = inputs.returns().rename("Account")
    bench_title = inputs.benchmark_symbol + (f" in {inputs.currency}" if inputs.benchmark_converted else "")
    bench = inputs.benchmark_returns().rename(bench_title)
    if bench.isna().all():
        bench = None  # no benchmark bars for these sessions: account alone
    title = tearsheet_title(inputs, title)
    with tempfile.TemporaryDirectory() as tmp, _plot_style(), _quiet(), _source_date(inputs.generated_at):
        out = Path(tmp) / "tearsheet.html"
        qs.reports.html(
            returns,
            benchmark=bench,
            title=title,
            output=str(out),
            download_filename="tearsheet.html",
            strategy_title="Account",
            benchmark_title=bench_title,
            match_dates=False,  # keep the all-cash first days, as the weekly report's metrics do
        )
        return out.read_text()


@contextmanager
def _quiet():
    """quantstats asks for Arial (absent on most Linux boxes) and uses APIs pandas and
    matplotlib have deprecated; neither is ours to fix, so keep the log readable."""
    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    font_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        font_log.setLevel(level)


@contextmanager
def _source_date(at: datetime):
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(at.timestamp()))
    try:
        yield
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old
