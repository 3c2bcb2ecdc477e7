"""``build_daily``/``build_weekly``: pure, :class:`ReportInputs` -> a report object (rows, metrics,
compliance) for the templates."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from .. import messages, metrics
from ..calendar import ExchangeCalendar
from ..checks import Gate
from ..errors import DataError
from .inputs import LEVEL_EPS, LINE_STATUSES, MIN_RETURNS_FOR_RATIOS, Position, ReportInputs, RunInfo, ReportLine, _money, _ratio


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
    gates: tuple[Gate, ...]
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
    line: ReportLine
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
    drift: object | None = None  # tradeops.drift_section.Section (None: the section is left out)


def week_start(as_of: date, calendar: ExchangeCalendar) -> date:
    """The first session of the week ``as_of`` belongs to (the weekly report's period_start)."""
    return calendar.rebalance_sessions(calendar.sessions_back(as_of, 5)[0], as_of, "weekly")[-1]


def _compliance(ticket_id: str, lines: list[ReportLine], now: datetime) -> ComplianceRow:
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

    lines = sorted((t for t in inputs.trades if start <= t.session <= inputs.as_of), key=lambda t: (t.session, t.ticket_id, t.side != "sell", t.symbol))
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

    by_ticket: dict[str, list[ReportLine]] = defaultdict(list)
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
