"""`make demo`: the whole daily loop, offline, in its own workspace.

The demo workspace gets the project's config with the demo data provider,
its own SQLite ledger (TRADEOPS_DB_URL is pointed at it for this process, so
a real deployment's database is never touched), a starting deposit, and
then, for each session, the real daily run (papermill notebooks, archive,
ticket), a paper-fill model standing in for the executor (reference price
plus slippage; some lines partial, some not executed), and a broker snapshot
read off the ledger, so the confirmation and reconciliation gates and the
reports all run for real.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import numpy as np
import yaml

from .clock import SYSTEM, Clock, FixedClock
from .calendar import get_calendar
from .cashplan import conversion_fee, fit_buy
from .config import Workspace
from .errors import TradeopsError
from .files import write_atomic
from .ledger.money import account_value

PROJECT_CONFIG = Path(__file__).resolve().parents[1] / "config"
MARKER = ".tradeops-demo"
UNIT = Decimal("0.000001")
EXECUTOR = "demo-executor"


@dataclass(frozen=True)
class PaperFillModel:
    """How the simulated executor fares: mostly filled near the reference price."""

    seed: int = 7
    slippage_bps: float = 8.0  # standard deviation of the fill vs the reference price
    partial_rate: float = 0.10
    not_executed_rate: float = 0.05
    fee: Decimal = Decimal("0")  # eToro charges no commission on US stocks

    def fills(self, ticket: dict, session_open: datetime, cash: Decimal) -> list[dict]:
        """One answer per ticket line (the rows a person would type into the page).

        Like the broker, a BUY never spends more than the cash there is: when
        a sell before it came out short, the BUY is filled in part or not at
        all ("not enough cash"), as the ticket's "if blocked" section says.

        A line of a GBP account (it has an ``fx_rate``) is paid in pounds at the
        ticket's rate: ``cash`` and the line's value are pounds, the price USD,
        and the fees include the broker's conversion fee (the ticket's
        ``fx_fee_bps`` of the pound amount, rounded up to the penny), as the
        ticket and the confirmation page count it.
        """
        rng = np.random.default_rng([self.seed, int(ticket["execution_session"].replace("-", ""))])
        fee_rate = Decimal(str(ticket.get("fx_fee_bps") or 0)) / 10000
        rows = []
        for line in ticket["lines"]:
            rate = Decimal(line["fx_rate"]) if line.get("fx_rate") else None
            fx, conv = (rate, fee_rate) if rate is not None else (Decimal(1), Decimal(0))
            draw, band = rng.random(), float(line["band"])
            ref = Decimal(line["reference_price"])
            slip = max(min(rng.normal(0, self.slippage_bps) / 1e4, band * 0.5), -band * 0.5)
            price = (ref * (1 + Decimal(str(round(slip, 6))))).quantize(Decimal("0.01"))
            units = Decimal(line["units"])
            at = session_open + timedelta(minutes=10 + 3 * int(line["seq"]))
            status, reason = "EXECUTED", None
            if draw < self.not_executed_rate:
                status, reason = "NOT_EXECUTED", "the price moved outside the ticket's band before the order could be placed"
            elif draw < self.not_executed_rate + self.partial_rate:
                units = (units * Decimal(str(round(0.5 + 0.3 * rng.random(), 3)))).quantize(UNIT, ROUND_DOWN)
                status, reason = "PARTIAL", "only part of the order was filled before the window closed"
            if status != "NOT_EXECUTED" and line["side"] == "BUY":
                fit = fit_buy(cash, units, price, self.fee, Decimal(line["value"]), Decimal(line["band"]), fx, conv)
                if fit is not None:
                    status, units, reason = fit.status, fit.units, fit.reason
            if status == "NOT_EXECUTED":
                rows.append(dict(line_no=line["seq"], status=status, units=Decimal(0), price=None, fees=Decimal(0), filled_at=at, reason=reason))
                continue
            value = account_value(units, price, fx)
            fees = self.fee + conversion_fee(value, conv)
            cash += (value if line["side"] == "SELL" else -value) - fees
            rows.append(
                dict(
                    line_no=line["seq"],
                    status=status,
                    units=units,
                    price=price,
                    fees=fees,
                    filled_at=at,
                    reason=reason,
                    **({"fx_rate": rate} if rate is not None else {}),
                )
            )
        return rows


@dataclass(frozen=True)
class PerfectFillModel:
    """The executor the shadow portfolio assumes (tradeops.drift): every line in full at the window's start,
    at the reference price moved by the policy's slippage, paying the policy's fees; its demo shows zero drift."""

    model: object  # tradeops.drift.Model

    def fills(self, ticket: dict, session_open: datetime, cash: Decimal) -> list[dict]:
        from .drift import Line, shadow_fill

        start = datetime.fromisoformat(ticket["window"]["start"])
        rows = []
        for line in ticket["lines"]:
            ln = Line(
                ticket["ticket_id"],
                date.fromisoformat(ticket["execution_session"]),
                line["seq"],
                line["side"],
                line["symbol"],
                Decimal(line["units"]),
                Decimal(line["reference_price"]),
                start,
                sizing_rate=Decimal(line["fx_rate"]) if line.get("fx_rate") else Decimal(1),
                model_fx_fee=Decimal(line.get("fx_fee", "0")),
            )
            price, _, fees = shadow_fill(ln, self.model)
            rows.append(
                dict(
                    line_no=line["seq"],
                    status="EXECUTED",
                    units=ln.units,
                    price=price,
                    fees=fees,
                    filled_at=start,
                    reason=None,
                    **({"fx_rate": ln.sizing_rate} if line.get("fx_rate") else {}),
                )
            )
        return rows


@dataclass
class DemoSummary:
    workdir: Path
    sessions: list[date] = field(default_factory=list)
    results: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"demo workspace: {self.workdir}"]
        for r in self.results:
            out.append(f"  {r.session_date}  exit {r.exit_code}  {r.ticket_id or '-':<16} {r.ticket_kind or r.status}")
        last = next((r for r in reversed(self.results) if r.run_dir), None)
        if last is not None:
            out.append(f"last ticket:      {self.workdir / 'tickets' / (last.ticket_id or '').split('-R')[0]}.md")
            out.append(f"last run archive: {last.run_dir}")
        out.append(f"reports:          {self.workdir / 'reports'} (daily.md, weekly.md, tearsheet.html)")
        return out


def prepare_workspace(workdir: Path, seed: int = 42, account_currency: str | None = None) -> Workspace:
    """A fresh demo workspace: project config with the demo provider, its own ledger.

    ``account_currency``: the project's (GBP, as a new workspace) unless given; "USD" gives a
    dollar account (no conversion: ``fx_fee_bps`` 0)."""
    workdir = Path(workdir).resolve()
    if workdir.exists():
        if not (workdir / MARKER).exists():
            raise TradeopsError(f"{workdir} exists and is not a demo workspace (no {MARKER}); refusing to touch it")
        shutil.rmtree(workdir)
    ws = Workspace.at(workdir).ensure()
    write_atomic(workdir / MARKER, "created by `tradeops demo`; safe to delete\n")
    shutil.copyfile(PROJECT_CONFIG / "universe.csv", ws.config_dir / "universe.csv")
    policy = yaml.safe_load((PROJECT_CONFIG / "policy.yml").read_text())
    policy["data"].update(primary="demo", secondary=None, demo_seed=seed, cross_check=False)
    if account_currency is not None and account_currency != policy["account"]["account_currency"]:
        policy["account"].update(account_currency=account_currency, **({"fx_fee_bps": 0} if account_currency == "USD" else {}))
    write_atomic(ws.policy_path, "# demo workspace: the project's policy with the offline demo data provider\n" + yaml.safe_dump(policy, sort_keys=False))
    return ws


def start_ledger(ws: Workspace, first_session: date) -> None:
    """Initialise the workspace's ledger, deposit the starting cash the session before
    ``first_session`` and record the matching broker snapshot."""
    from .ledger import api, db

    policy = ws.policy()
    cal = get_calendar(policy.schedule.exchange)
    before = cal.previous_session(first_session)
    engine = db.init_db(ws.db_url())
    with db.transaction(engine) as s:
        api.set_account_currency(s, policy.account.account_currency, actor=EXECUTOR)
        _cache_demo_fx(s, policy, before)
        api.record_cash_movement(
            s, "DEPOSIT", policy.account.starting_cash, before, currency=policy.account.account_currency, notes="demo starting cash", actor=EXECUTOR
        )
        _snapshot(s, cal.market_close(before))
    engine.dispose()


def _cache_demo_fx(s, policy, day: date) -> None:
    """A non-USD demo account: the demo FX series' rates of the days up to ``day`` in the ledger's
    cache, the rate the broker snapshot of the starting cash is shown at (the runs cache later days)."""
    from .data import fx
    from .ledger import api

    currency = policy.account.account_currency
    pair = fx.pair_for(currency)
    if pair is None:
        return
    series = fx.parse_fx("demo", fx.demo_fx_csv(policy.data.demo_seed, pair, day - timedelta(days=10), day))
    api.store_fx_rates(s, {r.date.date(): fx.to_rate(r.close) for r in series.itertuples()}, base=currency, quote="USD", source="demo")


def paper_execute(ws: Workspace, result, model: PaperFillModel, snapshot: bool = True) -> None:
    """Confirm a TRADE ticket with the paper-fill model, then record the broker snapshot."""
    from .ledger import api, db
    from .ledger.inputs import FillInput

    policy = ws.policy()
    cal = get_calendar(policy.schedule.exchange)
    floor = policy.account.cash_floor
    engine = db.make_engine(ws.db_url())
    with db.transaction(engine) as s:
        if result.ticket_kind == "TRADE":
            ticket = api.get_ticket(s, result.ticket_id).payload
            rows = model.fills(ticket, cal.market_open(result.session_date), api.compute_cash(s).amount - floor)  # what BUYs may spend
            fills = [FillInput(**r, where=f"paper fill line {r['line_no']}") for r in rows]
            api.confirm_ticket(s, result.ticket_id, fills, actor=EXECUTOR, min_cash=floor)
        if snapshot and result.session_date is not None:
            _snapshot(s, cal.market_close(result.session_date))
    engine.dispose()


def run_demo(
    workdir: Path,
    sessions: int = 15,
    end: date | None = None,
    seed: int = 42,
    echo=print,
    clock: Clock = SYSTEM,
    account_currency: str | None = None,
    fill_model=None,
) -> DemoSummary:
    """Run the daily loop over the last ``sessions`` sessions up to ``end`` (default: the latest complete one
    at ``clock``'s now).  Each session's run sees the time of its own schedule (07:30 UK that day), so its
    alerts and manifest are those of a rehearsal of that morning, not of today."""
    from .daily import run_daily
    from .stages import run_time

    ws = prepare_workspace(workdir, seed, account_currency)
    os.environ["TRADEOPS_DB_URL"] = ws.default_db_url  # the demo's own ledger, for this process and its kernels
    cal = get_calendar(ws.policy().schedule.exchange)
    end = end or cal.latest_complete_session(clock.now())
    days = cal.sessions_back(end, sessions)
    start_ledger(ws, days[0])
    model = fill_model or PaperFillModel(seed=seed)  # (PerfectFillModel: the drift test's executor)
    summary = DemoSummary(ws.root, days)
    for day in days:
        result = run_daily(ws, day, clock=FixedClock(run_time(ws.policy(), day)))
        summary.results.append(result)
        echo(f"{day}: exit {result.exit_code} {result.message}")
        paper_execute(ws, result, model)
    return summary


def _snapshot(s, at: datetime) -> None:
    """What eToro would show after the session: the ledger's cash and units."""
    from .ledger import api

    cash = api.compute_cash(s, as_of=at).amount
    api.record_snapshot(s, at, cash, api.compute_positions(s, as_of=at), source="demo", actor=EXECUTOR)
