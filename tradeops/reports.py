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
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from . import messages, metrics
from .calendar import ExchangeCalendar
from .errors import DataError
from .files import write_atomic

TEMPLATES = Path(__file__).resolve().parent / "templates"
CENT = Decimal("0.01")
# Annualised ratios over fewer returns than this are shown as "n/a": a
# Sharpe ratio from a fortnight of data says nothing.
MIN_RETURNS_FOR_RATIOS = 20
LEVEL_EPS = 1e-12  # a drawdown exactly at a level counts as past it
LINE_STATUSES = ("executed", "partial", "not_executed", "unconfirmed")

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Position:
    """An open position valued at the session's close."""

    symbol: str
    units: Decimal
    price: Decimal  # in the instrument currency (USD)
    cost_basis: Decimal  # total cost of the open units (FIFO), in the account currency
    sector: str = "Unknown"
    fx_rate: Decimal = Decimal(1)  # USD per account-currency unit the value is translated at (1: a USD account)

    @property
    def value(self) -> Decimal:
        """In the account currency: ``units x price / fx_rate`` (the ledger's rounding, to 8 places)."""
        if self.fx_rate == 1:
            return self.units * self.price
        return (self.units * self.price / self.fx_rate).quantize(Decimal("0.00000001"))

    @property
    def unrealized(self) -> Decimal:
        return self.value - self.cost_basis


@dataclass(frozen=True)
class GateResult:
    name: str
    status: str  # pass | fail | skipped
    reasons: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """The check in plain words (tradeops.messages): 'The previous ticket is not fully confirmed', not 'confirmations'."""
        return messages.check_name(self.name)


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    started_at: datetime
    decision_session: date
    ticket_id: str | None = None
    ticket_kind: str | None = None  # TRADE | HOLD | NO-TRADE
    exit_code: int | None = None


@dataclass(frozen=True)
class TradeLine:
    """One intended trade of a ticket and what the executor reported."""

    ticket_id: str
    session: date  # the execution session
    symbol: str
    side: str  # buy | sell
    intended_units: Decimal
    reference_price: Decimal
    status: str  # executed | partial | not_executed | unconfirmed
    filled_units: Decimal = Decimal(0)
    fill_price: Decimal | None = None
    fees: Decimal = Decimal(0)
    reason: str = ""
    confirmed_at: datetime | None = None
    deadline: datetime | None = None
    fx_rate: Decimal = Decimal(1)  # USD per account-currency unit of the fill (or the ticket): prices are USD

    def in_account(self, usd: Decimal) -> Decimal:
        """A dollar amount of this line in the account currency (8 places; unchanged at a rate of 1)."""
        return usd if self.fx_rate == 1 else (usd / self.fx_rate).quantize(Decimal("0.00000001"))

    @property
    def intended_value(self) -> Decimal:
        return self.in_account(self.intended_units * self.reference_price)

    @property
    def filled_value(self) -> Decimal:
        return self.in_account(self.filled_units * self.fill_price) if self.fill_price is not None else Decimal(0)


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything a report shows, from the ledger and the clean data.

    ``equity`` is the account's closing equity per session (Decimal or
    float values, date index) ending at ``as_of``; ``benchmark`` the
    benchmark's closes.  ``cash_flows`` are deposits (+) and withdrawals (-)
    by date, the initial funding included.  ``trades`` are the lines of the
    tickets executed in the reporting period.
    """

    as_of: date
    generated_at: datetime  # aware; printed in the report, never read from a clock
    equity: pd.Series
    cash: Decimal
    positions: tuple[Position, ...]
    realized_pnl: Decimal
    state: str  # RUN | HALT | ...
    benchmark: pd.Series
    benchmark_symbol: str = "SPY"
    cash_flows: Mapping[date, Decimal] = field(default_factory=dict)
    gates: tuple[GateResult, ...] = ()
    last_run: RunInfo | None = None
    next_rebalance: date | None = None
    trades: tuple[TradeLine, ...] = ()
    period_start: date | None = None  # first session of the weekly period
    currency: str = "USD"
    timezone: str = "Europe/London"
    drawdown_warning: float = 0.10
    kill_switch_drawdown: float = 0.20
    # an account in another currency than its instruments': the FX effect in the realized and unrealized
    # P&L (to the penny; the ledger's PnL.split_to_the_penny) and the currency of the prices
    fx_effect: Decimal | None = None
    price_currency: str = "USD"
    # the benchmark's closes are in ``price_currency``; for an account in another currency, the day's rate
    # (``price_currency`` per account-currency unit, by date: GBPUSD) turns them into the account's currency
    benchmark_fx: pd.Series | None = None
    drift: object | None = None  # tradeops.drift.Section: live vs the shadow portfolio (None: no live tickets)

    def __post_init__(self):
        if self.generated_at.tzinfo is None:
            raise DataError(f"generated_at {self.generated_at} has no time zone; pass an aware datetime")
        eq = self.equity_series()
        if eq.empty:
            raise DataError("the equity curve is empty: nothing to report")
        if not eq.index.is_monotonic_increasing or eq.index.has_duplicates:
            raise DataError("the equity curve's dates must be increasing and unique")
        if eq.index[-1].date() != self.as_of:
            raise DataError(f"the equity curve ends on {eq.index[-1].date()}, not on the report date {self.as_of}")
        booked = self.cash + sum((p.value for p in self.positions), Decimal(0))
        last = _money(self.equity.iloc[-1])
        if abs(booked - last) > CENT:
            raise DataError(
                f"equity on {self.as_of} is {last} but cash + positions is {booked} "
                f"(difference {last - booked}, tolerance {CENT})"
            )
        for p in self.positions:
            if p.units <= 0 or p.price <= 0:
                raise DataError(f"position {p.symbol}: units {p.units} and price {p.price} must be > 0")
        for t in self.trades:
            if t.status not in LINE_STATUSES:
                raise DataError(f"trade {t.ticket_id}/{t.symbol}: status {t.status!r} is not one of {LINE_STATUSES}")

    def equity_series(self) -> pd.Series:
        """The equity curve as floats on a DatetimeIndex."""
        s = self.equity
        return pd.Series([float(v) for v in s.to_numpy()], index=pd.DatetimeIndex(s.index), dtype=float)

    def returns(self) -> pd.Series:
        """Time-weighted daily returns (deposits and withdrawals neutralised)."""
        return metrics.returns_from_equity(self.equity_series(), self.cash_flows)

    @property
    def benchmark_converted(self) -> bool:
        """Whether the benchmark's return is translated into the account currency (a GBP account)."""
        return self.benchmark_fx is not None and len(self.benchmark_fx) > 0 and self.currency != self.price_currency

    def benchmark_returns(self) -> pd.Series:
        """Benchmark returns on the account's sessions (NaN where the benchmark has no bar), in the
        account currency: each close divided by the latest rate on or before its day (a GBP account)."""
        closes = pd.Series(self.benchmark, dtype=float)
        closes.index = pd.DatetimeIndex(closes.index)
        index = self.equity_series().index
        closes = closes.reindex(index)
        if self.benchmark_converted:
            fx = pd.Series([float(v) for v in self.benchmark_fx.to_numpy()], index=pd.DatetimeIndex(self.benchmark_fx.index), dtype=float)
            closes = closes / fx.sort_index().reindex(index, method="ffill")
        return (closes / closes.shift(1) - 1.0).iloc[1:]


def _money(v) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(repr(float(v)))


def _ratio(num: Decimal, den: Decimal) -> float:
    return float(num / den) if den else float("nan")


# --------------------------------------------------------------------------- daily


@dataclass(frozen=True)
class ExposureRow:
    name: str
    sector: str
    units: Decimal | None
    price: Decimal | None
    value: Decimal
    weight: float
    cost: Decimal | None = None
    unrealized: Decimal | None = None
    count: int = 1


@dataclass(frozen=True)
class DailyReport:
    as_of: date
    generated_at: datetime
    currency: str
    state: str
    equity: Decimal
    previous_equity: Decimal | None
    day_change: Decimal | None
    day_return: float
    cash: Decimal
    cash_weight: float
    invested: Decimal
    net_deposits: Decimal
    total_pnl: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    other_pnl: Decimal  # dividends, fees and the like: total - realized - unrealized
    peak_equity: Decimal
    peak_date: date
    drawdown: float
    max_drawdown: float
    max_drawdown_date: date
    drawdown_warning: float
    kill_switch_drawdown: float
    positions: tuple[ExposureRow, ...]
    sectors: tuple[ExposureRow, ...]
    gates: tuple[GateResult, ...]
    last_run: RunInfo | None
    next_rebalance: date | None
    attention: tuple[str, ...]  # lines the owner must not overlook
    plot_file: str
    timezone: str
    fx_effect: Decimal | None = None  # None: no second currency, no line
    price_currency: str = "USD"


def build_daily(inputs: ReportInputs, plot_file: str = "daily.png") -> DailyReport:
    eq = inputs.equity
    equity = _money(eq.iloc[-1])
    previous = _money(eq.iloc[-2]) if len(eq) > 1 else None
    returns = inputs.returns()
    dd = metrics.drawdown_series(returns)
    dates = [d.date() for d in inputs.equity_series().index]
    wealth = np.concatenate([[1.0], metrics.wealth_index(returns).to_numpy()])
    peak_i = int(np.argmax(wealth))  # first date of the highest wealth
    dd_full = np.concatenate([[0.0], dd.to_numpy()])
    trough_i = int(np.argmin(dd_full))
    net_deposits = sum((Decimal(v) for d, v in inputs.cash_flows.items() if d <= inputs.as_of), Decimal(0))
    unrealized = sum((p.unrealized for p in inputs.positions), Decimal(0))
    total = equity - net_deposits

    positions = tuple(
        ExposureRow(p.symbol, p.sector, p.units, p.price, p.value, _ratio(p.value, equity), p.cost_basis, p.unrealized)
        for p in sorted(inputs.positions, key=lambda p: (-p.value, p.symbol))
    )
    by_sector: dict[str, list[Position]] = defaultdict(list)
    for p in inputs.positions:
        by_sector[p.sector].append(p)
    sector_rows = []
    for sector, members in by_sector.items():
        value = sum((p.value for p in members), Decimal(0))
        sector_rows.append(ExposureRow(sector, sector, None, None, value, _ratio(value, equity), count=len(members)))
    sectors = tuple(sorted(sector_rows, key=lambda r: (-r.value, r.name)))
    drawdown = float(dd_full[-1])
    attention = []
    if inputs.state != "RUN":  # the catalogue's words for the owner (tradeops.messages), not the state's code name
        m = messages.message(inputs.state)
        attention.append(f"{m.title}. {m.owner}")
    if drawdown <= -inputs.kill_switch_drawdown + LEVEL_EPS:
        attention.append(f"Drawdown {-drawdown:.2%} is past the kill switch ({inputs.kill_switch_drawdown:.0%}).")
    elif drawdown <= -inputs.drawdown_warning + LEVEL_EPS:
        attention.append(f"Drawdown {-drawdown:.2%} is past the warning level ({inputs.drawdown_warning:.0%}).")
    for g in inputs.gates:
        if g.status == "fail":
            m = messages.message(g.name)
            attention.append(f"{m.title}: {'; '.join(g.reasons) or 'no reason given'}. {m.owner}")
    return DailyReport(
        as_of=inputs.as_of,
        generated_at=inputs.generated_at,
        currency=inputs.currency,
        state=inputs.state,
        equity=equity,
        previous_equity=previous,
        day_change=equity - previous if previous is not None else None,
        day_return=float(returns.iloc[-1]) if len(returns) else float("nan"),
        cash=inputs.cash,
        cash_weight=_ratio(inputs.cash, equity),
        invested=equity - inputs.cash,
        net_deposits=net_deposits,
        total_pnl=total,
        realized_pnl=inputs.realized_pnl,
        unrealized_pnl=unrealized,
        other_pnl=total - inputs.realized_pnl - unrealized,
        peak_equity=_money(eq.iloc[peak_i]),
        peak_date=dates[peak_i],
        drawdown=drawdown,
        max_drawdown=float(dd_full[trough_i]),
        max_drawdown_date=dates[trough_i],
        drawdown_warning=inputs.drawdown_warning,
        kill_switch_drawdown=inputs.kill_switch_drawdown,
        positions=positions,
        sectors=sectors,
        gates=inputs.gates,
        last_run=inputs.last_run,
        next_rebalance=inputs.next_rebalance,
        attention=tuple(attention),
        plot_file=plot_file,
        timezone=inputs.timezone,
        fx_effect=inputs.fx_effect,
        price_currency=inputs.price_currency,
    )


# --------------------------------------------------------------------------- weekly


@dataclass(frozen=True)
class TradeRow:
    line: TradeLine
    fill_ratio: float
    slippage_bps: float | None  # None when nothing was filled
    slippage_money: Decimal | None


@dataclass(frozen=True)
class ComplianceRow:
    ticket_id: str
    session: date
    lines: int
    deadline: datetime | None
    confirmed_at: datetime | None  # the last line's confirmation
    status: str  # on time | late | missing | pending

    @property
    def late_by(self) -> str:
        """How late the confirmation was (or still is, at the report's time), in words; '' when not late."""
        if self.status != "late" or self.deadline is None or self.confirmed_at is None:
            return ""
        return lateness(self.confirmed_at - self.deadline)


def lateness(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")
    return f"{hours} h {mins} min" if hours else f"{mins} min"


@dataclass(frozen=True)
class MetricRow:
    label: str
    kind: str  # pct | ratio
    week_account: float
    week_benchmark: float
    account: float
    benchmark: float


@dataclass(frozen=True)
class WeeklyReport:
    as_of: date
    period_start: date
    generated_at: datetime
    currency: str
    timezone: str
    benchmark_symbol: str
    equity_start: Decimal | None  # close of the session before the period
    equity_start_date: date | None
    equity_end: Decimal
    flows: Decimal
    trades: tuple[TradeRow, ...]
    counts: dict[str, int]
    intended_value: Decimal
    executed_value: Decimal
    fees: Decimal
    slippage_money: Decimal
    slippage_reference_value: Decimal
    slippage_bps: float
    turnover: float
    compliance: tuple[ComplianceRow, ...]
    compliance_counts: dict[str, int]
    performance: tuple[MetricRow, ...]
    week_sessions: int
    inception_sessions: int
    plot_file: str
    tearsheet_file: str | None
    fx_effect: Decimal | None = None  # the FX effect in the P&L to date (None: no second currency)
    price_currency: str = "USD"
    benchmark_in: str | None = None  # the benchmark's return translated into this currency (None: as quoted)
    drift: object | None = None  # tradeops.drift.Section (None: the section is left out)


def week_start(as_of: date, calendar: ExchangeCalendar) -> date:
    """The first session of the week ``as_of`` belongs to (the weekly report's period_start)."""
    return calendar.rebalance_sessions(calendar.sessions_back(as_of, 5)[0], as_of, "weekly")[-1]


def _compliance(ticket_id: str, lines: list[TradeLine], now: datetime) -> ComplianceRow:
    deadline = min((t.deadline for t in lines if t.deadline), default=None)
    times = [t.confirmed_at for t in lines]
    if any(t is None for t in times):
        status = "missing" if deadline is not None and now > deadline else "pending"
        confirmed = None
    else:
        confirmed = max(times)
        status = "late" if deadline is not None and confirmed > deadline else "on time"
    return ComplianceRow(ticket_id, lines[0].session, len(lines), deadline, confirmed, status)


def build_weekly(inputs: ReportInputs, plot_file: str = "weekly.png", tearsheet_file: str | None = "tearsheet.html") -> WeeklyReport:
    start = inputs.period_start
    if start is None:
        raise DataError("the weekly report needs period_start (the first session of the week)")
    if start > inputs.as_of:
        raise DataError(f"period_start {start} is after the report date {inputs.as_of}")
    eq = inputs.equity_series()
    in_week = eq.index >= pd.Timestamp(start)
    n_before = int((~in_week).sum())
    equity_start = _money(inputs.equity.iloc[n_before - 1]) if n_before else None
    equity_start_date = eq.index[n_before - 1].date() if n_before else None

    lines = sorted(
        (t for t in inputs.trades if start <= t.session <= inputs.as_of),
        key=lambda t: (t.session, t.ticket_id, t.side != "sell", t.symbol),
    )
    rows = []
    for t in lines:
        filled = t.fill_price is not None and t.filled_units > 0
        rows.append(
            TradeRow(
                line=t,
                fill_ratio=_ratio(t.filled_units, t.intended_units),
                slippage_bps=metrics.slippage_bps(t.side, t.reference_price, t.fill_price) if filled else None,
                slippage_money=t.in_account(metrics.slippage_money(t.side, t.reference_price, t.fill_price, t.filled_units)) if filled else None,
            )
        )
    filled_rows = [r for r in rows if r.slippage_money is not None]
    slip_money = sum((r.slippage_money for r in filled_rows), Decimal(0))
    slip_ref = sum((r.line.in_account(r.line.reference_price * r.line.filled_units) for r in filled_rows), Decimal(0))
    executed_value = sum((r.line.filled_value for r in rows), Decimal(0))

    by_ticket: dict[str, list[TradeLine]] = defaultdict(list)
    for t in lines:
        by_ticket[t.ticket_id].append(t)
    compliance = tuple(_compliance(k, v, inputs.generated_at) for k, v in by_ticket.items())

    returns = inputs.returns()
    bench = inputs.benchmark_returns()
    week_mask = returns.index >= pd.Timestamp(start)
    enough = len(returns.dropna()) >= MIN_RETURNS_FOR_RATIOS
    week_enough = int(week_mask.sum()) >= MIN_RETURNS_FOR_RATIOS
    na = float("nan")

    def row(label, kind, fn, ratio=False):
        return MetricRow(
            label,
            kind,
            fn(returns[week_mask]) if (week_enough or not ratio) else na,
            fn(bench[week_mask]) if (week_enough or not ratio) else na,
            fn(returns) if (enough or not ratio) else na,
            fn(bench) if (enough or not ratio) else na,
        )

    performance = (
        row("Return", "pct", metrics.total_return),
        row("Annual return (CAGR)", "pct", metrics.cagr, ratio=True),
        row("Volatility (annualised)", "pct", metrics.volatility),
        row("Sharpe", "ratio", metrics.sharpe, ratio=True),
        row("Sortino", "ratio", metrics.sortino, ratio=True),
        row("Max drawdown", "pct", metrics.max_drawdown),
        row("Calmar", "ratio", metrics.calmar, ratio=True),
        row("Hit rate (up days / moving days)", "pct", metrics.hit_rate),
    )
    counts = {s: sum(1 for t in lines if t.status == s) for s in LINE_STATUSES}
    flows = sum((Decimal(v) for d, v in inputs.cash_flows.items() if start <= d <= inputs.as_of), Decimal(0))
    return WeeklyReport(
        as_of=inputs.as_of,
        period_start=start,
        generated_at=inputs.generated_at,
        currency=inputs.currency,
        timezone=inputs.timezone,
        benchmark_symbol=inputs.benchmark_symbol,
        equity_start=equity_start,
        equity_start_date=equity_start_date,
        equity_end=_money(inputs.equity.iloc[-1]),
        flows=flows,
        trades=tuple(rows),
        counts=counts,
        intended_value=sum((t.intended_value for t in lines), Decimal(0)),
        executed_value=executed_value,
        fees=sum((t.fees for t in lines), Decimal(0)),
        slippage_money=slip_money,
        slippage_reference_value=slip_ref,
        slippage_bps=float(slip_money / slip_ref * 10_000) if slip_ref else na,
        turnover=metrics.turnover((r.line.filled_value for r in rows), eq[in_week]),
        compliance=compliance,
        compliance_counts={s: sum(1 for c in compliance if c.status == s) for s in ("on time", "late", "missing", "pending")},
        performance=performance,
        week_sessions=int(in_week.sum()),
        inception_sessions=len(eq),
        plot_file=plot_file,
        tearsheet_file=tearsheet_file if enough else None,
        fx_effect=inputs.fx_effect,
        price_currency=inputs.price_currency,
        benchmark_in=inputs.currency if inputs.benchmark_converted else None,
        drift=inputs.drift,
    )


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


# --------------------------------------------------------------------------- plot


def equity_drawdown_png(inputs: ReportInputs, title: str) -> bytes:
    """Equity (with the benchmark rebased to the starting equity) over drawdown.

    Fixed size and dpi, no metadata, the Agg renderer and no pyplot state:
    the same inputs give the same bytes.
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    eq = inputs.equity_series()
    returns = inputs.returns()
    dd = pd.concat([pd.Series([0.0], index=eq.index[:1]), metrics.drawdown_series(returns)])
    bench = pd.Series(inputs.benchmark, dtype=float)
    bench.index = pd.DatetimeIndex(bench.index)
    bench = bench.reindex(eq.index)

    with _plot_style():
        fig = Figure(figsize=(9.0, 5.6), dpi=100, layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
        top.plot(eq.index, eq.to_numpy(), color="#1f4e79", lw=1.8, label="Account equity")
        first = bench.first_valid_index()
        if first is not None:
            rebased = bench / bench[first] * eq[first]
            top.plot(rebased.index, rebased.to_numpy(), color="#9a9a9a", lw=1.2, ls="--",
                     label=f"{inputs.benchmark_symbol} (rebased)")
        top.set_title(title, loc="left", fontsize=12, fontweight="bold")
        top.set_ylabel(inputs.currency)
        top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        top.legend(loc="upper left", frameon=False, fontsize=9)
        bottom.fill_between(dd.index, dd.to_numpy(), 0.0, color="#c0392b", alpha=0.35, lw=0)
        bottom.plot(dd.index, dd.to_numpy(), color="#c0392b", lw=1.0)
        for level, name, colour in ((inputs.drawdown_warning, "warning", "#e67e22"),
                                    (inputs.kill_switch_drawdown, "kill switch", "#7b241c")):
            bottom.axhline(-level, color=colour, lw=1.0, ls=":")
            bottom.annotate(f"{name} -{level:.0%}", (1.0, -level), xycoords=("axes fraction", "data"),
                            xytext=(-4, 3), textcoords="offset points", ha="right", fontsize=8, color=colour)
        bottom.set_ylim(min(float(dd.min()), -inputs.kill_switch_drawdown) * 1.15, 0.005)
        bottom.set_ylabel("Drawdown")
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        locator = AutoDateLocator(minticks=4, maxticks=9)
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        for ax in (top, bottom):
            ax.grid(True, color="#e5e5e5", lw=0.8)
            ax.spines[["top", "right"]].set_visible(False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


@contextmanager
def _plot_style():
    import matplotlib

    with matplotlib.rc_context({"font.family": "DejaVu Sans", "svg.hashsalt": "tradeops", "axes.titlepad": 8}):
        yield


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
            returns, benchmark=bench, title=title, output=str(out), download_filename="tearsheet.html",
            strategy_title="Account", benchmark_title=bench_title,
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
        from .drift import chart_png

        written.append(write_atomic(reports_dir / report.drift.chart_file, chart_png(report.drift.drift, inputs.as_of, inputs.benchmark_symbol)))
    written.insert(0, write_atomic(reports_dir / "weekly.html", render_weekly_html(report)))
    written.insert(0, write_atomic(reports_dir / "weekly.md", render_weekly_md(report)))
    return written
