"""A GBP account holding USD shares: fills at their FX rates, cash in pounds, P&L split into price and FX effect.

The worked example, by hand (rates are USD per pound, the GBPUSD quote; every
amount in pounds is rounded half-even to the penny when booked):

FX cache GBP/USD: 01-02 1.2500, 01-03 1.2700, 01-10 1.2800, 01-24 1.2400, 01-31 1.2000.

1. 01-02 deposit £10,000.00.
2. 01-03 ticket T1 (sized at 1.2700, the ticket's fx_rate): BUY 10 AAPL at $100.00, fee £1.00,
   rate defaulted from the ticket = 1.2700.  $1,000.00 / 1.27 = 787.40157 -> £787.40.
3. 01-10 ticket T2 (no rate on the ticket):
   - BUY 4 AAPL at $110.00, fee £0.50, rate typed 1.2650 (the broker's, not the day's 1.2800):
     $440.00 / 1.265 = 347.82609 -> £347.83;
   - BUY 2 MSFT at $200.00, no fee, rate defaulted from the day (01-10): 1.2800: $400.00 / 1.28 = £312.50.
4. 01-24 ticket T3: SELL 7 AAPL (a partial sell of the 14 held) at $120.00, fee £1.00, rate of the day 1.2400:
   $840.00 / 1.24 = 677.41935 -> £677.42.  FIFO takes 7 of the first lot's 10 units:
   cost £787.40 x 7/10 = £551.18, $1,000 x 7/10 = $700.00 (booking rate 700/551.18).
   realized £677.42 - £551.18 = £126.24;
   price effect = $840 x 551.18/700 - 551.18 = 661.416 - 551.18 = £110.236 (the $140 gain at the lot's rate);
   FX effect = 677.42 - 661.416 = £16.004 (the pound fell from ~1.27 to 1.24: the dollars buy more pounds).
5. 01-31: AAPL $125.00, MSFT $190.00, rate 1.2000.  Open lots:
   AAPL lot 1: 3 units, £236.22 / $300.00; lot 2: 4 units, £347.83 / $440.00; MSFT: 2 units, £312.50 / $400.00.
   AAPL value $875.00 / 1.2 = £729.16666667 (8 places); cost £584.05; unrealized £145.11666667;
     at the booking rates: 375 x 236.22/300 = 295.275 and 500 x 347.83/440 = 395.26136364 -> 690.53636364;
     price effect 690.53636364 - 584.05 = £106.48636364; FX effect 729.16666667 - 690.53636364 = £38.63030303.
   MSFT value $380.00 / 1.2 = £316.66666667; cost £312.50; unrealized £4.16666667;
     at the booking rate 380 x 312.50/400 = 296.875: price effect -£15.625, FX effect £19.79166667.
   trading (realized before fees) £126.24 = price 110.236 + FX 16.004;
   unrealized £149.28333334 = price 90.86136364 + FX 58.42196970;
   together £275.52333334 = price £201.09736364 + FX £74.42596970; to the penny: £275.52 = £201.10 + £74.42.
   fees £1.00 + £0.50 + £1.00 = £2.50; realized £126.24 - £2.50 = £123.74.
   cash £10,000 - 788.40 - 348.33 - 312.50 + (677.42 - 1.00) = £9,227.19 (one GBP line).
   equity (P&L view) £9,227.19 + 729.16666667 + 316.66666667 = £10,273.02333334
     = deposits £10,000 + realized £123.74 + unrealized £149.28333334.
   equity curve 01-31: ($875 + $380) / 1.2 = 1045.8333 (4 places) + 9227.19 = £10,273.0233;
   01-10 close: cash 10,000 - 788.40 - 348.33 - 312.50 = £8,550.77; (14 x $110 + 2 x $200) / 1.28 = £1,515.625
     -> equity £10,066.3950.
6. A BUY of 100 AAPL at $120.00 at 1.2400 on 02-01 needs $12,000 / 1.24 = £9,677.42 > £9,227.19: refused; the cash
   allows the most micro-units whose booking rounds to at most £9,227.19, i.e. below £9,227.195:
   9,227.195 x 1.24 / 120 = 95.3476817 -> 95.347681 units (x 120 / 1.24 = 9,227.194935 -> £9,227.19).
"""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_EVEN, Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tradeops.calendar import get_calendar
from tradeops.config import Reconciliation
from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api
from tradeops.ledger.inputs import parse_snapshot_csv
from tradeops.ledger.models import Fill
from tradeops.ledger.money import Money

UK = "uk"
ACTOR = "test"
CENT = D("0.01")
FX = {"2024-01-02": "1.2500", "2024-01-03": "1.2700", "2024-01-10": "1.2800", "2024-01-24": "1.2400", "2024-01-31": "1.2000"}
PRICES = {
    "AAPL": {"2024-01-03": "100.00", "2024-01-10": "110.00", "2024-01-24": "120.00", "2024-01-31": "125.00"},
    "MSFT": {"2024-01-10": "200.00", "2024-01-31": "190.00"},
}


def _at(day: str, clock: str = "14:35") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


def _ticket(s, ticket_id: str, day: str, lines, payload=None, account: str = UK) -> None:
    """A TRADE ticket of a GBP account: lines (side, symbol, value in pounds, approx units, USD reference price)."""
    api.record_ticket(s, ticket_id, date.fromisoformat(day), "TRADE", "h-" + ticket_id, payload or {"id": ticket_id}, account=account)
    for n, (side, symbol, value, units, ref) in enumerate(lines, start=1):
        api.record_intended_trade(s, ticket_id, n, side, symbol, value, units, ref, "0.03", currency="GBP", account=account)


def _prices():
    return {sym: {date.fromisoformat(d): D(v) for d, v in series.items()} for sym, series in PRICES.items()}


@pytest.fixture
def uk(session):
    """The worked example of the module docstring, steps 1-4."""
    api.create_account(session, UK, currency="GBP", actor=ACTOR)
    api.store_fx_rates(session, {date.fromisoformat(d): r for d, r in FX.items()}, base="GBP", quote="USD", source="test")
    api.record_cash_movement(session, "DEPOSIT", "10000.00", date(2024, 1, 2), currency="GBP", account=UK, actor=ACTOR)
    _ticket(session, "T1", "2024-01-03", [("BUY", "AAPL", "1000", "12.7", "100.00")], {"id": "T1", "fx_rate": "1.2700", "fx_date": "2024-01-03"})
    api.record_fill(session, "T1", 1, "executed", units="10", price="100.00", fees="1.00", filled_at=_at("2024-01-03"), account=UK, actor=ACTOR)
    _ticket(session, "T2", "2024-01-10", [("BUY", "AAPL", "350", "4", "110.00"), ("BUY", "MSFT", "320", "2", "200.00")])
    api.record_fill(
        session, "T2", 1, "executed", units="4", price="110.00", fees="0.50", fx_rate="1.2650", filled_at=_at("2024-01-10"), account=UK, actor=ACTOR
    )
    api.record_fill(session, "T2", 2, "executed", units="2", price="200.00", filled_at=_at("2024-01-10", "14:40"), account=UK, actor=ACTOR)
    _ticket(session, "T3", "2024-01-24", [("SELL", "AAPL", "680", "7", "120.00")])
    api.record_fill(session, "T3", 1, "executed", units="7", price="120.00", fees="1.00", filled_at=_at("2024-01-24"), account=UK, actor=ACTOR)
    session.commit()
    return session


def test_each_fill_keeps_its_rate_and_pound_amount(uk):
    rows = uk.scalars(select(Fill).where(Fill.account_id == api.get_account(uk, UK).id).order_by(Fill.id)).all()
    got = [(f.symbol, f.side, f.amount, f.fx_rate, f.account_amount, f.fees, f.currency, f.instrument_currency) for f in rows]
    assert got == [
        ("AAPL", "BUY", D("1000.00"), D("1.27"), D("787.40"), D("1.00"), "GBP", "USD"),  # the ticket's rate
        ("AAPL", "BUY", D("440.00"), D("1.265"), D("347.83"), D("0.50"), "GBP", "USD"),  # typed: not the day's 1.28
        ("MSFT", "BUY", D("400.00"), D("1.28"), D("312.50"), D("0"), "GBP", "USD"),  # the day's rate
        ("AAPL", "SELL", D("840.00"), D("1.24"), D("677.42"), D("1.00"), "GBP", "USD"),
    ]
    recorded = api.events(uk, kind="FILL_RECORDED", account=UK)[0].payload  # newest first: the sell
    assert (D(recorded["fx_rate"]), D(recorded["account_amount"]), recorded["instrument_currency"]) == (D("1.24"), D("677.42"), "USD")


def test_positions_cash_and_pnl_match_the_hand_computation(uk):
    assert api.compute_positions(uk, account=UK) == {"AAPL": D(7), "MSFT": D(2)}
    assert api.compute_cash_balances(uk, account=UK) == {"GBP": Money(D("9227.19"), "GBP")}
    marks = api.marks_on(_prices(), date(2024, 1, 31))
    pnl = api.compute_pnl(uk, marks, as_of=_at("2024-01-31", "21:00"), account=UK)  # the rate of 01-31 from the cache: 1.2000
    assert pnl.currency == "GBP"
    assert (pnl.trading, pnl.trading_price, pnl.trading_fx) == (D("126.24"), D("110.236"), D("16.004"))
    assert (pnl.unrealized, pnl.unrealized_price, pnl.unrealized_fx) == (D("149.28333334"), D("90.86136364"), D("58.42196970"))
    assert (pnl.price_effect, pnl.fx_effect) == (D("201.09736364"), D("74.42596970"))
    assert pnl.split_to_the_penny() == (D("275.52"), D("201.10"), D("74.42"))
    assert (pnl.fees, pnl.realized) == (D("2.50"), D("123.74"))
    aapl, msft = pnl.by_symbol["AAPL"], pnl.by_symbol["MSFT"]
    assert (aapl.cost, aapl.market_value, aapl.market_value_usd, aapl.fx_rate) == (D("584.05"), D("729.16666667"), D("875.00"), D("1.2"))
    assert (aapl.unrealized_price, aapl.unrealized_fx, aapl.realized_price, aapl.realized_fx) == (
        D("106.48636364"),
        D("38.63030303"),
        D("110.236"),
        D("16.004"),
    )
    assert (msft.cost, msft.market_value, msft.unrealized_price, msft.unrealized_fx) == (D("312.50"), D("316.66666667"), D("-15.625"), D("19.79166667"))
    equity = D("9227.19") + aapl.market_value + msft.market_value
    assert equity == D("10273.02333334") == D("10000") + pnl.realized + pnl.unrealized
    as_dict = pnl.to_dict()
    assert (as_dict["price_effect"], as_dict["fx_effect"]) == ("201.09736364", "74.42596970")


def test_an_explicit_rate_values_the_holdings_at_it(uk):
    marks = api.marks_on(_prices(), date(2024, 1, 31))
    at_cache = api.compute_pnl(uk, marks, as_of=_at("2024-01-31", "21:00"), account=UK)
    assert api.compute_pnl(uk, marks, as_of=_at("2024-01-31", "21:00"), account=UK, fx_rate="1.2000") == at_cache
    other = api.compute_pnl(uk, marks, as_of=_at("2024-01-31", "21:00"), account=UK, fx_rate="1.2500")
    assert other.unrealized_price == at_cache.unrealized_price  # the price effect does not depend on today's rate
    assert other.by_symbol["MSFT"].market_value == D("304.00")  # $380 / 1.25


def test_equity_curve_in_pounds(uk):
    curve = {p.day: p for p in api.compute_equity_curve(uk, _prices(), end=date(2024, 1, 31), account=UK)}
    assert curve[date(2024, 1, 10)].equity == D("10066.3950")
    last = curve[date(2024, 1, 31)]
    assert (last.cash, last.market_value, last.equity, last.currency) == (D("9227.19"), D("1045.8333"), D("10273.0233"), "GBP")


def test_invariants_rebuilt_from_the_fills_in_both_currencies(uk):
    """Positions and cash rebuilt from the raw fill rows equal what the ledger reports, in pounds and in dollars."""
    acc = api.get_account(uk, UK)
    rows = uk.scalars(select(Fill).where(Fill.account_id == acc.id)).all()
    units, cash_gbp, paid_usd = {}, D("10000.00"), D(0)
    for f in rows:
        sign = (1 if f.side == "BUY" else -1) * (1 if f.kind == "FILL" else -1)
        units[f.symbol] = units.get(f.symbol, D(0)) + sign * f.units
        assert f.amount == (f.units * f.price).quantize(CENT, ROUND_HALF_EVEN)  # USD, as the broker books it
        assert f.account_amount == (f.units * f.price / f.fx_rate).quantize(CENT, ROUND_HALF_EVEN)  # pounds
        cash_gbp += -sign * f.account_amount - (f.fees if f.kind == "FILL" else -f.fees)
        paid_usd += sign * f.amount
    assert {s: u for s, u in units.items() if u} == api.compute_positions(uk, account=UK)
    assert cash_gbp == api.compute_cash(uk, account=UK).amount == D("9227.19")
    marks = api.marks_on(_prices(), date(2024, 1, 31))
    pnl = api.compute_pnl(uk, marks, as_of=_at("2024-01-31", "21:00"), account=UK)
    value_usd = sum(units[s] * marks[s] for s in ("AAPL", "MSFT"))
    assert sum(p.market_value_usd for p in pnl.by_symbol.values()) == value_usd == D("1255.00")
    for p in pnl.by_symbol.values():
        assert p.market_value == (p.market_value_usd / D("1.2")).quantize(D("0.00000001"), ROUND_HALF_EVEN)
    # trading + unrealized P&L = what the sells brought in, less what all buys paid, plus what is held (pounds);
    # the same identity in dollars gives the dollar P&L, independent of the FIFO order
    sold = sum(f.account_amount for f in rows if f.side == "SELL")
    bought = sum(f.account_amount for f in rows if f.side == "BUY")
    assert pnl.trading + pnl.unrealized == sold - bought + sum(p.market_value for p in pnl.by_symbol.values())
    assert value_usd - paid_usd == D("1255.00") - D("1000") == D("255.00")  # $840 + $1,255 - $1,840


def test_the_cash_check_works_in_pounds(uk):
    _ticket(uk, "T4", "2024-02-01", [("BUY", "AAPL", "9700", "80", "120.00")])
    with pytest.raises(LedgerError, match=r"needs 9677\.42 .*cash left .* is 9227\.19.* at most 95\.347681 units at 120"):
        api.record_fill(uk, "T4", 1, "executed", units="100", price="120.00", fx_rate="1.2400", filled_at=_at("2024-02-01"), account=UK, actor=ACTOR)
    fill = api.record_fill(uk, "T4", 1, "partial", units="95.347681", price="120.00", fx_rate="1.2400", filled_at=_at("2024-02-01"), account=UK, actor=ACTOR)
    assert fill.account_amount == D("9227.19") and api.compute_cash(uk, account=UK).amount == 0


def test_rates_bad_missing_and_for_a_usd_account(uk, kit):
    _ticket(uk, "T5", "2024-02-05", [("BUY", "AAPL", "100", "1", "120.00")])
    with pytest.raises(ValidationError, match="fx_rate.*must be above zero"):
        api.record_fill(uk, "T5", 1, "executed", units="1", price="120", fx_rate="0", filled_at=_at("2024-02-05"), account=UK, actor=ACTOR)
    with pytest.raises(ValidationError, match="no GBP/USD rate cached for 2024-02-05"):
        api.record_fill(uk, "T5", 1, "executed", units="1", price="120", fx_date=date(2024, 2, 5), filled_at=_at("2024-02-05"), account=UK, actor=ACTOR)
    fill = api.record_fill(uk, "T5", 1, "executed", units="1", price="120", filled_at=_at("2024-02-05"), account=UK, actor=ACTOR)
    assert fill.fx_rate == D("1.2")  # no rate typed, none on the ticket: the latest cached rate on or before the day (01-31)
    kit.fund(uk)
    kit.ticket(uk, "U1", "2024-01-03", [("BUY", "AAPL", "1000", "10", "100")])
    with pytest.raises(ValidationError, match="account 'main' is in USD"):
        api.record_fill(uk, "U1", 1, "executed", units="10", price="100", fx_rate="1.27", filled_at=_at("2024-01-03"), actor=ACTOR)
    assert api.record_fill(uk, "U1", 1, "executed", units="10", price="100", filled_at=_at("2024-01-03"), actor=ACTOR).fx_rate == 1


def test_a_correction_repeats_the_rate_in_its_reversal(uk):
    fill = uk.scalars(select(Fill).where(Fill.symbol == "MSFT", Fill.account_id == api.get_account(uk, UK).id)).one()
    reversal, new = api.correct_fill(
        uk, fill.id, "the broker's rate was 1.2750", "executed", units="2", price="200.00", fx_rate="1.2750", filled_at=fill.filled_at, account=UK, actor=ACTOR
    )
    assert (reversal.fx_rate, reversal.account_amount) == (D("1.28"), D("312.50"))
    assert (new.fx_rate, new.account_amount) == (D("1.275"), D("313.73"))  # 400 / 1.275 = 313.7255
    assert api.compute_cash(uk, account=UK).amount == D("9227.19") + D("312.50") - D("313.73")


# --------------------------------------------------------------------------- the property

DAYS = get_calendar().sessions("2024-01-02", "2024-06-28")
_accounts = itertools.count()
rate = st.decimals(min_value=D("1.05"), max_value=D("1.45"), places=4)
trade = st.tuples(
    st.sampled_from(["buy", "buy", "sell"]),
    st.sampled_from(["AAPL", "XOM"]),
    st.decimals(min_value=D("0.01"), max_value=D(20), places=4),
    st.decimals(min_value=D(5), max_value=D(400), places=2),
    rate,
    st.decimals(min_value=D(0), max_value=D(3), places=2),
)


@given(
    trades=st.lists(trade, min_size=1, max_size=10),
    marks=st.tuples(st.decimals(min_value=D(5), max_value=D(400), places=2), st.decimals(min_value=D(5), max_value=D(400), places=2)),
    today=rate,
)
@settings(
    max_examples=int(os.environ.get("LEDGER_FX_EXAMPLES", "25")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_pnl_is_price_effect_plus_fx_effect_to_the_penny(session, trades, marks, today):
    """For any buys and sells at any prices and rates: P&L in pounds = price effect + FX effect (exactly, and
    to the penny once rounded), the total agrees with the FIFO-free identity, and each effect vanishes when its
    cause does (same rates throughout: no FX effect beyond the penny rounding of the bookings; same prices: no price effect)."""
    account = f"gbp-{next(_accounts)}"
    api.create_account(session, account, currency="GBP", actor="h")
    api.record_cash_movement(session, "DEPOSIT", "1000000", DAYS[0], currency="GBP", account=account, actor="h")
    held: dict[str, D] = {}
    for n, (side, symbol, qty, price, fx, fee) in enumerate(trades):
        day = DAYS[n + 1]
        units = qty if side == "buy" else (held.get(symbol, D(0)) * qty / 20).quantize(D("0.0001"))
        if units <= 0:
            continue
        _ticket(session, f"P{n}", day.isoformat(), [(side.upper(), symbol, "1000000", units, price)], account=account)
        api.record_fill(
            session,
            f"P{n}",
            1,
            "executed",
            units=units,
            price=price,
            fees=fee,
            fx_rate=fx,
            override_reason="property",
            filled_at=datetime.combine(day, time(15), tzinfo=timezone.utc),
            account=account,
            actor="h",
        )
        held[symbol] = held.get(symbol, D(0)) + (units if side == "buy" else -units)
    mark = {"AAPL": marks[0], "XOM": marks[1]}
    pnl = api.compute_pnl(session, mark, account=account, fx_rate=today, as_of=datetime(2024, 12, 31, tzinfo=timezone.utc))
    assert pnl.price_effect + pnl.fx_effect == pnl.trading + pnl.unrealized
    total, price_part, fx_part = pnl.split_to_the_penny()
    assert price_part + fx_part == total == (pnl.trading + pnl.unrealized).quantize(CENT)
    for p in pnl.by_symbol.values():
        assert p.realized_price + p.realized_fx == p.realized and p.unrealized_price + p.unrealized_fx == p.unrealized
    rows = session.scalars(select(Fill).where(Fill.account_id == api.get_account(session, account).id)).all()
    net = sum((f.account_amount if f.side == "SELL" else -f.account_amount) for f in rows)
    assert pnl.trading + pnl.unrealized == net + sum(p.market_value for p in pnl.by_symbol.values())


@pytest.mark.parametrize("case", ["same rate", "same price"])
def test_each_effect_vanishes_without_its_cause(session, case):
    """One rate throughout: the FX effect is only the pennies of the bookings; one price throughout: no price effect."""
    api.create_account(session, UK, currency="GBP", actor=ACTOR)
    api.record_cash_movement(session, "DEPOSIT", "100000", date(2024, 1, 2), currency="GBP", account=UK, actor=ACTOR)
    steps = [("BUY", "7.3", "101.37", "1.2713"), ("BUY", "3.1", "98.05", "1.3011"), ("SELL", "5.5", "103.33", "1.2291")]
    for n, (side, units, price, fx) in enumerate(steps):
        price, fx = ("100.00", fx) if case == "same price" else (price, "1.2500")
        day = DAYS[n + 1].isoformat()
        _ticket(session, f"V{n}", day, [(side, "AAPL", "100000", units, price)])
        api.record_fill(
            session, f"V{n}", 1, "executed", units=units, price=price, fx_rate=fx, override_reason="test", filled_at=_at(day), account=UK, actor=ACTOR
        )
    if case == "same rate":
        pnl = api.compute_pnl(session, {"AAPL": D("110.00")}, account=UK, fx_rate="1.2500")
        assert abs(pnl.fx_effect) <= D("0.03") and abs(pnl.price_effect) > 1  # (a few half-pennies of the bookings)
    else:
        pnl = api.compute_pnl(session, {"AAPL": D("100.00")}, account=UK, fx_rate="1.1000")
        assert abs(pnl.price_effect) <= D("0.03") and abs(pnl.fx_effect) > 1


# --------------------------------------------------------------------------- reconciliation


def test_reconciles_a_snapshot_in_pounds_or_in_dollars(uk):
    """Ledger cash £9,227.19 on 01-31 (AAPL 7, MSFT 2).  In pounds: equal (the rate defaults to the cached 1.2000).
    In dollars at the snapshot's 1.2000: £9,227.19 x 1.2 = $11,072.628 -> $11,072.63, tolerance £5 x 1.2 = $6.00;
    $11,070.00 is $2.63 short (within); $11,000.00 is $72.63 short (= £60.53: blocking)."""
    when = _at("2024-01-31", "21:00")
    now = _at("2024-02-01", "08:00")
    held = {"AAPL": "7", "MSFT": "2"}
    snap = api.record_snapshot(uk, when, "9227.19", held, account=UK, actor=ACTOR)
    assert (snap.currency, snap.fx_rate) == ("GBP", D("1.2"))
    assert api.reconcile_snapshot(uk, kit_tolerances(), snapshot_id=snap.id, now=now, account=UK).differences == ()
    with pytest.raises(ValidationError, match="fx_rate.*required for a GBP account with cash in USD"):
        api.record_snapshot(uk, when, "11072.63", held, currency="USD", account=UK, actor=ACTOR)
    near = api.record_snapshot(uk, when, "11070.00", held, currency="USD", fx_rate="1.2000", account=UK, actor=ACTOR)
    report = api.reconcile_snapshot(uk, kit_tolerances(), snapshot_id=near.id, now=now, account=UK)
    assert report.passed and [(d.ledger, d.broker, d.tolerance) for d in report.differences] == [(D("11072.63"), D("11070.00"), D("6.00"))]
    far = api.record_snapshot(uk, when, "11000.00", held, currency="USD", fx_rate="1.2000", account=UK, actor=ACTOR)
    report = api.reconcile_snapshot(uk, kit_tolerances(), snapshot_id=far.id, now=now, account=UK)
    assert not report.passed and [d.diff for d in report.differences] == [D("-72.63")]
    assert "11072.63" in report.reasons[0] and "9,227.19 GBP at the snapshot's rate 1.2 USD per GBP" in report.reasons[0]


def kit_tolerances():
    return Reconciliation()  # the defaults of policy.yml: cash 5.00 (account currency), units 0.0001, 7 days


def test_snapshot_csv_takes_the_rate_shown():
    snap = parse_snapshot_csv("type,symbol,quantity\ncash,USD,11072.63\nfx,GBPUSD,1.2000\nposition,AAPL,7\n")
    assert (snap.cash, snap.currency, snap.fx_rate, snap.positions) == (D("11072.63"), "USD", D("1.2"), {"AAPL": D(7)})
    with pytest.raises(ValidationError, match="row 3, field 'quantity': rate -1.2 must be above zero"):
        parse_snapshot_csv("type,symbol,quantity\ncash,USD,1\nfx,GBPUSD,-1.2\n")
    with pytest.raises(ValidationError, match="not a rate against USD"):
        parse_snapshot_csv("type,symbol,quantity\ncash,USD,1\nfx,EURGBP,0.85\n")


def test_a_new_pound_account_shows_a_zero_split(session):
    api.create_account(session, "fresh", currency="GBP", actor=ACTOR)
    api.record_cash_movement(session, "DEPOSIT", "500", date(2024, 1, 2), currency="GBP", account="fresh", actor=ACTOR)
    pnl = api.compute_pnl(session, {}, account="fresh")  # no holdings: no rate needed
    assert (pnl.trading_price, pnl.trading_fx, pnl.unrealized_price, pnl.unrealized_fx) == (0, 0, 0, 0)
    assert pnl.split_to_the_penny() == (0, 0, 0) and api.compute_cash(session, account="fresh") == Money(D("500"), "GBP")


def test_the_confirmations_gate_judges_a_pound_line_in_pounds(uk):
    """T1 asked for £1,000.00 of AAPL and was confirmed EXECUTED for 10 units at $100.00 at 1.27:
    10 x 100 / 1.27 = £787.40, short of the £970.00 the 3% band allows: ambiguous (was it partial?).
    Compared in dollars ($1,000.00 against 1,000) it looked complete.  T2's lines (£347.83 of £350,
    £312.50 of £320) are within the band."""
    from tradeops.ledger import gates

    result = gates.confirmations_gate(uk, before=date(2024, 1, 11), account=UK)
    assert not result.passed and result.details["missing"] == []
    assert len(result.reasons) == 1 and "T1 line 1 (BUY AAPL ~1,000.00)" in result.reasons[0]
    assert "confirmed EXECUTED but filled 787.40 of 1000.00: was it partial?" in result.reasons[0]
