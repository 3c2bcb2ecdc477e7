"""Decimals stay exact on both backends, and SQLite stores them as scaled integers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text

from tradeops.errors import LedgerError, ValidationError
from tradeops.ledger import api
from tradeops.ledger.models import UNITS, CashMovement, Price
from tradeops.ledger.money import booked_value, to_decimal
from tradeops.ledger.types import UTCDateTime


def test_amounts_round_trip_exactly(session):
    # 0.1 + 0.2 is not 0.3 in binary floating point; 12 significant digits of cash and
    # the largest units the column holds must come back unchanged.
    amounts = ["0.1", "0.2", "123456789012.3456", "0.0001"]
    for n, amount in enumerate(amounts):
        api.record_cash_movement(session, "DEPOSIT", amount, date(2024, 1, 2 + n), actor="t")
    session.commit()
    stored = session.scalars(select(CashMovement.amount).order_by(CashMovement.id)).all()
    assert stored == [D(a) for a in amounts]
    assert all(isinstance(a, D) for a in stored)
    assert api.compute_cash(session).amount == D("123456789012.6457")


def test_sql_sum_is_exact(session):
    # ten thousand movements of 0.0001 must add to exactly 1 (a float sum would not)
    row = {
        "account_id": 1,
        "kind": "INTEREST",
        "amount": D("0.0001"),
        "currency": "USD",
        "value_date": date(2024, 1, 2),
        "actor": "t",
        "created_at": datetime.now(timezone.utc),
    }
    session.execute(insert(CashMovement), [row] * 10_000)
    session.commit()
    total = session.scalar(select(func.sum(CashMovement.amount)))
    assert total == D(1) and isinstance(total, D)


def test_what_sqlite_actually_stores(session, db_backend):
    session.add(Price(symbol="AAPL", date=date(2024, 1, 2), close=D("185.640001"), currency="USD", source="t", fetched_at=datetime.now(timezone.utc)))
    session.commit()
    if db_backend == "sqlite":
        kind, raw = session.execute(text("SELECT typeof(close), close FROM prices")).one()
        assert (kind, raw) == ("integer", 185640001)  # micro-dollars: no float anywhere
    else:
        kind = session.execute(text("SELECT pg_typeof(close)::text FROM prices")).scalar_one()
        assert kind == "numeric"
    assert session.scalar(select(Price.close)) == D("185.640001")


def test_extra_places_are_refused_not_rounded(session):
    with pytest.raises(ValidationError, match="more than 4 decimal places"):
        api.record_cash_movement(session, "DEPOSIT", "10.00001", date(2024, 1, 2), actor="t")
    with pytest.raises(LedgerError, match="more than 8 decimal places"):
        UNITS.process_bind_param(D("1.000000001"), session.get_bind().dialect)
    with pytest.raises(ValidationError, match="float"):
        to_decimal(0.1, "amount", 4)


def test_timestamps_come_back_aware_utc(session, kit):
    kit.fund(session)
    kit.ticket(session, "T1", "2024-06-03", [("BUY", "AAPL", "100", "1", "100")])
    london = ZoneInfo("Europe/London")  # British Summer Time: UTC+1
    fill = api.record_fill(session, "T1", 1, "executed", units="1", price="100", filled_at=datetime(2024, 6, 3, 15, 35, tzinfo=london), actor="t")
    session.commit()
    session.expire_all()
    got = session.get(type(fill), fill.id).filled_at
    assert got == datetime(2024, 6, 3, 14, 35, tzinfo=timezone.utc) and got.utcoffset() == timedelta(0)
    with pytest.raises(LedgerError, match="no time zone"):
        UTCDateTime().process_bind_param(datetime(2024, 6, 3, 14, 35), session.get_bind().dialect)


def test_booked_value_rounds_half_even_to_the_cent():
    assert booked_value(D("3.33333333"), D("30.000000")) == D("100.00")
    assert booked_value(D("0.5"), D("0.05")) == D("0.02")  # 0.025 -> 0.02 (half-even)
    assert booked_value(D("1.5"), D("0.05")) == D("0.08")  # 0.075 -> 0.08
