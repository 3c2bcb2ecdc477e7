"""The rules of a fill against its ticket line as check records (fill_checks.line_checks): pure, no database."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradeops.checks import ERROR, WARNING
from tradeops.ledger.fill_checks import line_checks


def found(side="BUY", status="EXECUTED", units="4", price="250", fx=None, ref="250", band="0.03", value="1000", approx="4"):
    checks = line_checks(side, D(ref), D(band), D(value), D(approx), status, None if units is None else D(units), None if price is None else D(price), fx)
    assert all(c.source == "ledger" for c in checks)
    return [(c.code, c.severity) for c in checks], {c.code: dict(c.values) for c in checks}


@pytest.mark.parametrize(
    "kwargs,codes",
    [
        ({}, []),
        ({"price": "257.50", "units": "3.8"}, []),  # +3% exactly: inside
        ({"price": "257.500001", "units": "3.8"}, [("price_band", ERROR)]),
        ({"units": "4.12"}, []),  # 4.12 x 250 = 1030.00 = 1000 x 1.03: inside
        ({"units": "4.12000001"}, [("buy_value", ERROR)]),
        ({"units": "4.2", "price": "300"}, [("price_band", ERROR), ("buy_value", ERROR)]),
        ({"units": "5.15", "fx": D("1.25")}, []),  # 5.15 x 250 / 1.25 = 1030.00 pounds
        ({"units": "5.16", "fx": D("1.25")}, [("buy_value", ERROR)]),
        ({"side": "SELL", "units": "4.12"}, []),
        ({"side": "SELL", "units": "4.12000001"}, [("sell_units", ERROR)]),
        ({"units": "3.87999999"}, [("executed_short", WARNING)]),  # under 1000 x 0.97 = 970
        ({"units": "3.88"}, []),
        ({"status": "PARTIAL", "units": "3.88"}, [("partial_full", WARNING)]),
        ({"status": "PARTIAL", "units": "3.87999999"}, []),
        ({"status": "PARTIAL", "units": "4.5"}, [("buy_value", ERROR)]),  # one finding about the units
        ({"status": "NOT_EXECUTED", "units": "0", "price": None}, []),
        ({"units": None, "price": "300"}, [("price_band", ERROR)]),  # what cannot be read is not judged
        ({"units": "9", "price": None}, []),
    ],
)
def test_each_rule_and_its_bound(kwargs, codes):
    assert found(**kwargs)[0] == codes


def test_the_records_hold_the_figures_the_messages_name():
    _, values = found(units="5.2", price="260", fx=D("1.25"))
    assert values["price_band"] == {
        "field": "price",
        "price": D(260),
        "reference": D(250),
        "band": D("0.03"),
        "off": D("0.04"),
        "low": D("242.50"),
        "high": D("257.50"),
    }
    buy = values["buy_value"]
    assert (buy["field"], buy["gross"], buy["spent"], buy["limit"], buy["value"], buy["fx_rate"]) == (
        "units",
        D("1352.0"),
        D("1081.6"),
        D("1030.00"),
        D(1000),
        D("1.25"),
    )
    _, values = found(side="SELL", status="PARTIAL", units="4")
    assert values["partial_full"] == {"field": "status", "status": "PARTIAL", "side": "SELL", "done": D(4), "asked": D(4), "floor": D("3.88")}
