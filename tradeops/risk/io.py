"""The risk stage's files: clean prices and the signal in, ``proposed.json``/``approved.json`` out;
the account's FX rate and the ledger's drawdown gate from the run folder."""

from __future__ import annotations

import bisect
import json
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from ..calendar import ExchangeCalendar, get_calendar
from ..config import Policy, Universe
from .. import files
from ..errors import DataError
from ..portfolio import PortfolioState
from ..signals import SignalResult, read_signal
from .book import Fx, PRICE_PLACES, dec
from .guard import Decision, decide


# --------------------------------------------------------------------------- edges


def reference_prices(eod: pd.DataFrame, session: date) -> dict[str, Decimal]:
    """The latest raw close (as traded) of every symbol with a bar on ``session``."""
    day = eod.loc[eod["date"] == pd.Timestamp(session), ["symbol", "close"]]
    out = {}
    for s, c in zip(day["symbol"], day["close"]):
        if pd.notna(c) and c > 0:
            out[str(s)] = dec(float(c)).quantize(PRICE_PLACES, ROUND_HALF_EVEN)
    return out


def rebalance_due(calendar: ExchangeCalendar, decision_session: date, frequency: str, last_rebalance: date | None, due: Sequence[date] | None = None) -> bool:
    """True when the execution session (the one after ``decision_session``) is at or past the
    first session of a rebalance period that has not been rebalanced yet.  ``due``: the
    calendar's rebalance sessions over a whole backtest, computed once (sorted), instead of
    the two months before the execution session on every call."""
    execution = calendar.next_session(decision_session)
    if last_rebalance is None:
        return True
    if due is None:
        due = calendar.rebalance_sessions(execution - timedelta(days=62), execution, frequency)
        return bool(due) and last_rebalance < due[-1]
    k = bisect.bisect_right(due, execution)
    return k > 0 and (execution - due[k - 1]).days <= 62 and last_rebalance < due[k - 1]


def run_risk_stage(
    run_dir: str | Path,
    eod_path: str | Path,
    portfolio_path: str | Path,
    policy: Policy,
    universe: Universe,
    session: date,
    rebalance: bool | None = None,
    calendar: ExchangeCalendar | None = None,
) -> Decision | None:
    """File in, file out: signals/<session>.csv + portfolio.json + the clean parquet ->
    proposed.json and approved.json in ``run_dir``.

    A non-USD account (``account.account_currency``) also reads the run's ``fx.json`` (the FX
    report of the clean stage, :mod:`tradeops.data.fx`).  Without a rate that passed its checks
    nothing is sized and nothing is written: the result is None, and the ``fx_rate`` gate names
    the reason on the NO-TRADE ticket (a ticket is never sized on a bad rate)."""
    run_dir = Path(run_dir)
    calendar = calendar or get_calendar(policy.schedule.exchange)
    currency = policy.account.account_currency
    fx = None
    if currency != "USD":
        fx = run_fx(run_dir, policy, session)
        if fx is None:
            for name in ("proposed.json", "approved.json"):
                (run_dir / name).unlink(missing_ok=True)
            return None
    signal: SignalResult = read_signal(run_dir, session)
    portfolio = PortfolioState.read(portfolio_path)
    if portfolio.account_currency != currency:
        raise DataError(
            f"policy account.account_currency is {currency}, but the ledger's cash ({portfolio_path}) is in "
            f"{portfolio.account_currency}: the two must agree before anything is sized"
        )
    eod_path = Path(eod_path)
    if not eod_path.exists():
        raise DataError(f"clean EOD file not found: {eod_path}")
    eod = pd.read_parquet(eod_path, columns=["symbol", "date", "close"])
    prices = reference_prices(eod, session)
    if rebalance is None:
        rebalance = rebalance_due(calendar, session, policy.rebalance.frequency, portfolio.last_rebalance)
    proposed, decision = decide(
        signal.ranked,
        portfolio,
        prices,
        policy,
        universe,
        rebalance,
        session,
        risk_off_reasons=signal.risk_off_reasons,
        strategy=signal.strategy,
        signal_note=signal.note,
        regime=signal.meta()["regime"],
        drawdown_breach=ledger_drawdown_breach(run_dir / "gates" / "00_preflight.json"),
        fx=fx,
    )
    write_json(run_dir / "proposed.json", proposed)
    write_json(run_dir / "approved.json", decision.to_dict())
    return decision


def run_fx(run_dir: Path, policy: Policy, session: date) -> Fx | None:
    """The account's conversion for ``session`` from the run's fx.json; None without a rate that passed its checks."""
    from ..data.fx import load_fx_rate

    path = Path(run_dir) / "fx.json"
    if not path.exists():
        return None
    rate = load_fx_rate(path)
    if rate is None:
        return None
    if rate.date > session:
        raise DataError(f"{path}: the {rate.pair} rate is dated {rate.date}, after the decision session {session}")
    return Fx(policy.account.account_currency, rate.pair, rate.rate, rate.date, policy.account.fx_fee_bps)


def ledger_drawdown_breach(gates_path: Path) -> str:
    """The reason of the preflight's failed drawdown gate (the ledger's equity curve), or ""."""
    if not gates_path.exists():
        return ""
    for g in json.loads(gates_path.read_text()):
        if g.get("name") == "drawdown" and not g.get("passed", True):
            return "; ".join(g.get("reasons") or ()) or "the ledger's drawdown gate failed"
    return ""


def write_json(path: Path, data: Mapping) -> Path:
    return files.write_json(path, data, ensure_ascii=False)


def read_decision(path: str | Path) -> Decision:
    path = Path(path)
    try:
        return Decision.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise DataError(f"approved trades not found: {path} (run `tradeops risk` first)") from None
