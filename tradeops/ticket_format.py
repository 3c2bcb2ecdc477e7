"""How a ticket reads: the number and date formats, the Markdown template and the JSON
schema check (``tradeops/schemas/ticket-v1.json``).  Re-exported by :mod:`tradeops.tickets`."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import jinja2
import jsonschema

from .errors import ValidationError
from . import messages
from .risk import CENT


SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "ticket-v1.json"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

# --------------------------------------------------------------------------- formatting


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def _cents(x: Decimal) -> str:
    return str(x.quantize(CENT, ROUND_HALF_EVEN))


def _price(x: Decimal) -> str:
    q = x.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
    return str(q.quantize(CENT)) if q == q.quantize(CENT) else str(q)


def _plain_rate(x: Decimal) -> str:
    """An FX rate to at least 4 decimals: 1.25 -> 1.2500, 1.27345 -> 1.27345."""
    return str(x.quantize(Decimal("0.0001"))) if x == x.quantize(Decimal("0.0001")) else _plain(x)


def _plain(x: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 5.123456, 12, 0.03."""
    return format(x.normalize(), "f")


def fmt_money(x: Decimal | str, sign: str = "$") -> str:
    """$1,234.56 (money to cents, thousands separated)."""
    q = Decimal(str(x)).quantize(CENT, ROUND_HALF_EVEN)
    return f"-{sign}{-q:,}" if q < 0 else f"{sign}{q:,}"


def fmt_price(x: Decimal | str, sign: str = "$") -> str:
    """A price to cents, or to 4 decimals when it has them."""
    return f"{sign}{Decimal(_price(Decimal(str(x)))):,}"


def fmt_pct(x: Decimal | float | str) -> str:
    """0.03 -> 3%, 0.025 -> 2.5%."""
    return _plain(Decimal(str(x)) * 100) + "%"


def fmt_time(dt: datetime) -> str:
    return dt.strftime("%H:%M")


def fmt_day(d: date | datetime) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        money=fmt_money,
        price=fmt_price,
        pct=fmt_pct,
        hhmm=fmt_time,
        day=fmt_day,
        plain=lambda x: _plain(Decimal(str(x))),
        rate=lambda x: _plain_rate(Decimal(str(x))),
        isoday=date.fromisoformat,
        title=messages.title,
        words=lambda name: str(name).replace("_", " "),
    )
    return env.get_template("ticket.md.j2")


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_ticket(data: Mapping) -> None:
    """Raise ValidationError naming every place where ``data`` breaks ticket-v1.json."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        msgs = [f"{'/'.join(map(str, e.absolute_path)) or '<ticket>'}: {e.message}" for e in errors[:10]]
        raise ValidationError(f"ticket does not match {SCHEMA_PATH.name}: " + "; ".join(msgs))
