"""The page and the ledger judge a fill against its line by the same rules (tradeops.ledger.fill_checks.line_checks).

For random lines and fills, many of them on a bound or one tick either side of it, the
page flags the price or the units as needing an explanation exactly when the ledger
would refuse the same fill without an override_reason, and on the same field.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal as D
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.calendar import get_calendar
from tradeops.dashboard.model import LineView, TicketView, Window
from tradeops.dashboard.validation import LineEntry, check_line
from tradeops.errors import ValidationError
from tradeops.ledger.fill_checks import _check_against_line

UK = ZoneInfo("Europe/London")
DAY = date(2024, 3, 18)
LATER = datetime(2030, 1, 1, tzinfo=timezone.utc)
PRICE_TICK, UNITS_TICK = D("0.000001"), D("0.00000001")  # PRICE_PLACES, UNITS_PLACES


def _window() -> Window:
    w = get_calendar().execution_window(DAY, 5, 60, UK)
    return Window(w.start, w.end, w.early_close)


WINDOW = _window()


def decimals(low: str, high: str, places: int):
    return st.decimals(min_value=D(low), max_value=D(high), places=places, allow_nan=False, allow_infinity=False)


def near(target: D, tick: D, offset: int) -> D:
    """``target`` to the column's places, moved ``offset`` ticks (never below one tick)."""
    return max(tick, (target + offset * tick).quantize(tick))


@st.composite
def lines_and_fills(draw):
    side = draw(st.sampled_from(["BUY", "SELL"]))
    ref = draw(decimals("0.5", "3000", 2))
    band = draw(st.sampled_from([D("0.03"), D("0.05"), D("0.0125")]) | decimals("0", "0.25", 4))
    value = draw(decimals("1", "20000", 2))
    approx = (value / ref).quantize(UNITS_TICK)
    rate = draw(st.none() | decimals("1.05", "1.45", 4))  # a GBP line converts at the ticket's rate
    fx = rate or D(1)
    status = draw(st.sampled_from(["executed", "partial"]))
    if draw(st.booleans()):
        price = near(draw(st.sampled_from([ref * (1 + band), ref * (1 - band)])), PRICE_TICK, draw(st.integers(-2, 2)))
    else:
        price = draw(decimals("0.01", "5000", 4))
    if draw(st.booleans()):
        limit = value * (1 + band) * fx / price if side == "BUY" else approx * (1 + band)
        units = near(limit, UNITS_TICK, draw(st.integers(-2, 2)))
    else:
        units = draw(decimals("0.00000001", "500", 8))
    line = LineView(1, side, "MSFT", "MSFT", value, approx, ref, band, ref, False, "amount", "market", None, currency="GBP" if rate else "USD", fx_rate=rate)
    return line, LineEntry(status, units=str(units), price=str(price), time="13:45")


def ledger_refusal(fill, line: LineView) -> str | None:
    """The field the ledger refuses ``fill`` on (None: it books it)."""
    row = SimpleNamespace(line_no=line.line_no, symbol=line.symbol, side=line.side, value=line.value, approx_units=line.approx_units)
    row.reference_price, row.band = line.reference_price, line.band
    try:
        _check_against_line(fill, row, SimpleNamespace(ticket_id="T", lines=[row]))
    except ValidationError as err:
        return str(err).split("field '")[1].split("'")[0]
    return None


@settings(max_examples=400, deadline=None)
@given(lines_and_fills())
def test_the_page_asks_for_an_explanation_exactly_where_the_ledger_needs_an_override(case):
    line, entry = case
    ticket = TicketView("T", "TRADE", "OPEN", None, DAY, "h", WINDOW, None, line.currency, (line,))
    _, errors = check_line(entry, line, ticket, D(10**6), LATER)
    fill, accepted = check_line(replace(entry, explanation="as eToro shows it"), line, ticket, D(10**6), LATER)
    assert accepted == {} and fill is not None
    flagged = [name for name in ("price", "units") if name in errors]
    refused = ledger_refusal(replace(fill, override_reason=None), line)
    assert refused == (flagged[0] if flagged else None), (flagged, refused)
    assert ledger_refusal(fill, line) is None  # the explanation is the ledger's override_reason


@pytest.mark.parametrize(
    "price,flagged",
    [("257.50", False), ("257.500001", True), ("242.50", False), ("242.499999", True)],  # 250 ± 3%: the edge is inside
)
def test_a_price_on_the_band_edge_is_inside_for_both(price, flagged):
    line = LineView(1, "BUY", "MSFT", "MSFT", D("1000"), D(4), D(250), D("0.03"), D("257.50"), False, "amount", "market")
    ticket = TicketView("T", "TRADE", "OPEN", None, DAY, "h", WINDOW, None, "USD", (line,))
    entry = LineEntry("executed", units="3.9", price=price, time="13:45", explanation="x")
    fill, _ = check_line(entry, line, ticket, D(10), LATER)
    assert ledger_refusal(replace(fill, override_reason=None), line) == ("price" if flagged else None)
    assert ("price" in check_line(replace(entry, explanation=""), line, ticket, D(10), LATER)[1]) is flagged
