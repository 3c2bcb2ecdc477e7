"""Parsing what people type (fills.csv, snapshot.csv, cash.csv): every bad value names its row and field."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeops.errors import ValidationError
from tradeops.ledger.inputs import parse_cash_csv, parse_fills_csv, parse_snapshot_csv

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


FILL_HEADER = ["line", "status", "units", "price", "fees", "filled_at", "notes"]
fill_row = st.builds(
    lambda line, status, units, price, fees, minute, notes: [
        line,
        status,
        "" if status == "not_executed" else str(units),
        "" if status == "not_executed" else str(price),
        str(fees),
        f"2024-06-03T14:{minute:02d}",
        notes,
    ],
    st.integers(1, 99),
    st.sampled_from(["executed", "partial", "not_executed", "Executed", "PARTIAL"]),
    st.decimals(min_value=D("0.00000001"), max_value=D(10_000), places=8),
    st.decimals(min_value=D("0.000001"), max_value=D(10_000), places=6),
    st.decimals(min_value=D(0), max_value=D(100), places=4),
    st.integers(0, 59),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20).map(str.strip),
)


@given(rows=st.lists(fill_row, min_size=1, max_size=8, unique_by=lambda r: r[0]))
@settings(max_examples=80, deadline=None, database=None)
def test_valid_fills_round_trip(rows):
    for row in rows:
        if row[1] == "not_executed":
            row[6] = row[6] or "no reason given by the generator"
    rows = [r + ["why"] if r[1] == "not_executed" else r + [""] for r in rows]
    parsed = parse_fills_csv(_csv(FILL_HEADER + ["reason"], rows), LONDON, now=NOW)
    assert [f.line_no for f in parsed] == [r[0] for r in rows]
    for f, r in zip(parsed, rows):
        assert f.status == r[1].upper()
        if f.status != "NOT_EXECUTED":
            assert (f.units, f.price) == (D(r[2]), D(r[3]))
        assert f.fees == D(r[4])
        assert f.filled_at.utcoffset().total_seconds() == 0
        assert f.filled_at == datetime.fromisoformat(r[5]).replace(tzinfo=LONDON)  # BST: 14:xx London is 13:xx UTC


BAD_FIELDS = {
    "line": ["0", "x", ""],
    "status": ["done", ""],
    "units": ["-1", "1,5", "abc", "0.123456789"],
    "price": ["0", "1e400", "12.1234567"],
    "fees": ["-0.01", "1.00001"],
    "filled_at": ["yesterday", "2999-01-01T10:00", ""],
}


@given(
    rows=st.lists(fill_row.filter(lambda r: r[1].lower() != "not_executed"), min_size=1, max_size=5, unique_by=lambda r: r[0]),
    bad=st.sampled_from([(field, value) for field, values in BAD_FIELDS.items() for value in values]),
    data=st.data(),
)
@settings(max_examples=80, deadline=None, database=None)
def test_one_bad_field_is_named_by_row_and_field(rows, bad, data):
    field, value = bad
    target = data.draw(st.integers(0, len(rows) - 1))
    rows[target][FILL_HEADER.index(field)] = value
    with pytest.raises(ValidationError) as err:
        parse_fills_csv(_csv(FILL_HEADER, rows), LONDON, source="fills.csv", now=NOW)
    assert f"fills.csv row {target + 2}, field '{field}'" in str(err.value)
    assert str(err.value).endswith("(nothing was written)")


@given(text=st.text(max_size=300), header=st.sampled_from(["", "line,status,units,price,fees,filled_at\n", "type,symbol,quantity\n", "kind,amount,date\n"]))
@settings(max_examples=300, deadline=None, database=None)
def test_garbage_never_crashes_the_parsers(text, header):
    for parse in (lambda t: parse_fills_csv(t, LONDON, now=NOW), parse_snapshot_csv, parse_cash_csv):
        try:
            parse(header + text)
        except ValidationError:
            pass


def test_fill_file_checks():
    with pytest.raises(ValidationError, match=r"row 1 \(header\).*missing \['price'"):
        parse_fills_csv("line,status,units,fees,filled_at\n", LONDON)
    text = _csv(FILL_HEADER, [[1, "executed", "1", "1", "0", "2024-06-03T14:00", ""], [1, "partial", "1", "1", "0", "2024-06-03T14:00", ""]])
    with pytest.raises(ValidationError, match="row 3, field 'line': line 1 is confirmed twice"):
        parse_fills_csv(text, LONDON, now=NOW)
    winter = parse_fills_csv(_csv(FILL_HEADER, [[1, "executed", "1", "1", "", "2024-01-03T14:35", ""]]), LONDON, now=NOW)[0]
    assert winter.filled_at == datetime(2024, 1, 3, 14, 35, tzinfo=timezone.utc) and winter.fees == 0  # GMT = UTC in winter
    offset = parse_fills_csv(_csv(FILL_HEADER, [[1, "executed", "1", "1", "", "2024-06-03T09:35-04:00", ""]]), LONDON, now=NOW)[0]
    assert offset.filled_at == datetime(2024, 6, 3, 13, 35, tzinfo=timezone.utc)


def test_snapshot_file():
    text = "type,symbol,quantity\ncash,usd,1234.56\nposition,aapl,3.5\nposition,MSFT,0\n\n"
    snap = parse_snapshot_csv(text)
    assert (snap.cash, snap.currency, snap.positions) == (D("1234.56"), "USD", {"AAPL": D("3.5")})
    cases = [
        ("type,symbol,quantity\nposition,AAPL,1\n", "no cash row"),
        ("type,symbol,quantity\ncash,USD,1\ncash,USD,2\n", "row 3, field 'type': a second cash row"),
        ("type,symbol,quantity\ncash,USD,1\nposition,AAPL,1\nposition,aapl,2\n", "row 4, field 'symbol': AAPL already given on row 3"),
        ("type,symbol,quantity\ncash,USD,1\nposition,AAPL,-1\n", "row 3, field 'quantity'.*negative"),
        ("type,symbol,quantity\ncash,USD,-5\n", "row 2, field 'quantity'.*negative"),
        ("type,symbol,quantity\ncash,dollars,1\n", "row 2, field 'symbol'.*currency"),
        ("type,symbol,quantity\nstock,AAPL,1\ncash,USD,1\n", "row 2, field 'type'"),
    ]
    for text, message in cases:
        with pytest.raises(ValidationError, match=message):
            parse_snapshot_csv(text)


def test_cash_file():
    text = "kind,amount,date,symbol,notes\ndeposit,1000,2024-01-02,,first\ndividend,3.75,2024-01-16,msft,\ninterest,-0.12,2024-01-31,,\n"
    entries = parse_cash_csv(text)
    assert [(e.kind, e.amount, e.value_date, e.symbol) for e in entries] == [
        ("DEPOSIT", D(1000), date(2024, 1, 2), None),
        ("DIVIDEND", D("3.75"), date(2024, 1, 16), "MSFT"),
        ("INTEREST", D("-0.12"), date(2024, 1, 31), None),
    ]
    bad = "kind,amount,date\nfee,-1,2024-01-02\ndeposit,10,2024-13-01\n"
    with pytest.raises(ValidationError) as err:
        parse_cash_csv(bad)
    assert "row 2, field 'amount'" in str(err.value) and "row 3, field 'date'" in str(err.value)  # every bad row at once


_field = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "1e400",
            "NaN",
            "sNaN",
            "Infinity",
            "1.5",
            "¹",
            "2024-01-03T14:00",
            "2024-01-03",
            "executed",
            "not_executed",
            "partial",
            "SELL",
            "AAPL",
            "usd",
            "fee",
            "dividend",
        ]
    ),
)
_FIELDS = ["line", "status", "units", "price", "fees", "filled_at", "reason", "symbol", "side", "kind", "amount", "date", "currency"]


@given(raw=st.fixed_dictionaries({k: _field for k in _FIELDS}))
@settings(max_examples=300, deadline=None, database=None)
def test_any_field_values_give_a_result_or_a_validation_error(raw):
    from tradeops.ledger.inputs import parse_cash, parse_fill

    for parse in (lambda r: parse_fill(r, "row 2", LONDON, NOW), lambda r: parse_cash(r, "row 2")):
        try:
            parse(raw)
        except ValidationError as err:
            assert str(err).startswith("row 2, field '")
