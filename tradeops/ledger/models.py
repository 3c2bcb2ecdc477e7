"""The ledger's tables (SQLAlchemy 2.0 declarative models).

The schema itself is created by the Alembic migrations in
``tradeops/ledger/migrations``; these models must describe the same tables
(``tests/ledger/test_migrations.py`` checks that they agree).

Rules the database enforces on its own, whoever writes to it:

- fills, cash movements, corporate actions, snapshots, ticket lines and
  events are append-only (triggers refuse UPDATE and DELETE; migration 0002);
- a fill must name an existing ticket line of the same account, symbol and
  side (composite foreign key); a line gets at most one first confirmation
  (partial unique index), a fill is reversed at most once and corrected at
  most once (unique keys), and a reversal repeats exactly the units, amount
  and fees of the fill it reverses (composite foreign key);
- units, prices, amounts and fees are never negative (CHECKs), and no fill
  may leave a negative number of units of a symbol (trigger);
- CHECKs compare only with zero: on SQLite a Fixed column holds a scaled
  integer (see types.py), so any other constant would mean something else.
- at most one OPEN ticket per account and session date;
- a fill's FX rate is above zero, is 1 with ``account_amount = amount`` when
  the instrument is in the account's currency, and a reversal repeats the
  rate and account amount of its fill (trigger; migration 0003).

Currencies: a fill's ``price`` and ``amount`` are in ``instrument_currency``
(USD); ``account_amount`` and ``fees`` in ``currency`` (the account's);
``fx_rate`` is USD per account-currency unit.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, ForeignKeyConstraint, Index, Integer, MetaData, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .money import MONEY_PLACES, PRICE_PLACES, RATIO_PLACES, UNITS_PLACES
from .types import Fixed, UTCDateTime

UNITS = Fixed(UNITS_PLACES, 20)
PRICE = Fixed(PRICE_PLACES, 20)
MONEY = Fixed(MONEY_PLACES, 20)
RATIO = Fixed(RATIO_PLACES, 24)

TICKET_KINDS = ("TRADE", "HOLD", "NO-TRADE")
TICKET_STATUSES = ("OPEN", "SUPERSEDED", "VOIDED")
SIDES = ("BUY", "SELL")
FILL_STATUSES = ("EXECUTED", "PARTIAL", "NOT_EXECUTED")
FILL_KINDS = ("FILL", "REVERSAL")
from .names import CASH_KINDS  # noqa: E402

STATES = ("RUN", "DEGRADED_DATA", "SAFE_MODE", "HALT")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Account(Base):
    """A broker account; every other row belongs to one."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    broker: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class Ticket(Base):
    """One ticket per session date (TRADE, HOLD or NO-TRADE) as the pipeline issued it."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("account_id", "ticket_id"),
        CheckConstraint(_in("kind", TICKET_KINDS), name="kind"),
        CheckConstraint(_in("status", TICKET_STATUSES), name="status"),
        Index(
            "uq_tickets_open_session", "account_id", "session_date", unique=True, sqlite_where=text("status = 'OPEN'"), postgresql_where=text("status = 'OPEN'")
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    ticket_id: Mapped[str] = mapped_column(String(64))
    session_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(Text)
    version_hash: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any] | None]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    lines: Mapped[list["IntendedTrade"]] = relationship(back_populates="ticket", order_by="IntendedTrade.line_no")


class IntendedTrade(Base):
    """A ticket line: what the ticket asks the executor to do."""

    __tablename__ = "intended_trades"
    __table_args__ = (
        UniqueConstraint("ticket_pk", "line_no"),
        UniqueConstraint("id", "account_id", "symbol", "side"),
        CheckConstraint("line_no >= 1", name="line_no"),
        CheckConstraint(_in("side", SIDES), name="side"),
        CheckConstraint("value > 0", name="value"),
        CheckConstraint("approx_units > 0", name="approx_units"),
        CheckConstraint("reference_price > 0", name="reference_price"),
        CheckConstraint("band >= 0", name="band"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_pk: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(4))
    symbol: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    approx_units: Mapped[Decimal] = mapped_column(UNITS)
    reference_price: Mapped[Decimal] = mapped_column(PRICE)
    band: Mapped[Decimal] = mapped_column(RATIO)
    order_type: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship(back_populates="lines")


class Fill(Base):
    """What the executor reported for a ticket line, or the reversal of such a report.

    A correction never edits a row: it appends a REVERSAL (same units, amount
    and fees, ``reverses_id`` set) and a new FILL whose ``supersedes_id``
    names the corrected fill.
    """

    __tablename__ = "fills"
    __table_args__ = (
        ForeignKeyConstraint(
            ["line_id", "account_id", "symbol", "side"],
            ["intended_trades.id", "intended_trades.account_id", "intended_trades.symbol", "intended_trades.side"],
            name="fk_fills_line",
        ),
        ForeignKeyConstraint(
            ["reverses_id", "line_id", "units", "amount", "fees"],
            ["fills.id", "fills.line_id", "fills.units", "fills.amount", "fills.fees"],
            name="fk_fills_reverses",
        ),
        UniqueConstraint("id", "line_id", "units", "amount", "fees"),
        CheckConstraint(_in("status", FILL_STATUSES), name="status"),
        CheckConstraint(_in("kind", FILL_KINDS), name="kind"),
        CheckConstraint(_in("side", SIDES), name="side"),
        CheckConstraint("units >= 0 AND amount >= 0 AND fees >= 0", name="non_negative"),
        CheckConstraint(
            "(status = 'NOT_EXECUTED' AND units = 0 AND amount = 0 AND price IS NULL) OR (status <> 'NOT_EXECUTED' AND units > 0 AND price > 0)",
            name="status_units",
        ),
        CheckConstraint(
            "(kind = 'FILL' AND reverses_id IS NULL) OR (kind = 'REVERSAL' AND reverses_id IS NOT NULL AND supersedes_id IS NULL)", name="reversal_link"
        ),
        Index(
            "uq_fills_first_confirmation",
            "line_id",
            unique=True,
            sqlite_where=text("kind = 'FILL' AND supersedes_id IS NULL"),
            postgresql_where=text("kind = 'FILL' AND supersedes_id IS NULL"),
        ),
        Index("ix_fills_account_symbol", "account_id", "symbol", "filled_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    line_id: Mapped[int] = mapped_column(Integer)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    units: Mapped[Decimal] = mapped_column(UNITS)
    price: Mapped[Decimal | None] = mapped_column(PRICE)
    amount: Mapped[Decimal] = mapped_column(MONEY)  # units x price booked, in instrument_currency
    fees: Mapped[Decimal] = mapped_column(MONEY)  # in the account currency
    currency: Mapped[str] = mapped_column(String(3))  # the account currency: of account_amount, fees and the cash effect
    instrument_currency: Mapped[str] = mapped_column(String(3))  # of price and amount
    fx_rate: Mapped[Decimal] = mapped_column(RATIO)  # USD per account-currency unit paid (1: same currency)
    account_amount: Mapped[Decimal] = mapped_column(MONEY)  # amount / fx_rate booked to the cent, in currency
    filled_at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    attachment: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("fills.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    @property
    def signed_units(self) -> Decimal:
        """Effect on the position: + for a buy, - for a sell, negated for a reversal."""
        sign = (1 if self.side == "BUY" else -1) * (1 if self.kind == "FILL" else -1)
        return self.units * sign


_CASH_SIGN = "(CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END)"


class CashMovement(Base):
    """Money in or out of the account other than trades.

    ``amount`` is the signed effect on cash: deposits, dividends and positive
    interest or FX add; withdrawals and fees subtract.  A reversal
    (``reverses_id`` set) carries the opposite sign of the row it reverses.
    """

    __tablename__ = "cash_movements"
    __table_args__ = (
        CheckConstraint(_in("kind", CASH_KINDS), name="kind"),
        CheckConstraint(
            f"(kind IN ('DEPOSIT', 'DIVIDEND') AND {_CASH_SIGN} > 0)"
            f" OR (kind IN ('WITHDRAWAL', 'FEE') AND {_CASH_SIGN} < 0)"
            " OR (kind IN ('INTEREST', 'FX') AND amount <> 0)",
            name="sign",
        ),
        CheckConstraint("kind <> 'DIVIDEND' OR symbol IS NOT NULL", name="dividend_symbol"),
        Index("ix_cash_movements_account_date", "account_id", "value_date"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    value_date: Mapped[date] = mapped_column(Date)
    symbol: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("cash_movements.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class CorporateAction(Base):
    """A split: units are multiplied by ``ratio`` on ``effective_date``.

    ``units_delta`` (units after minus before, for this account) is fixed when
    the split is recorded, so positions stay a plain SUM of fills and deltas.
    """

    __tablename__ = "corporate_actions"
    __table_args__ = (
        UniqueConstraint("account_id", "symbol", "effective_date", "kind"),
        CheckConstraint("kind = 'SPLIT'", name="kind"),
        CheckConstraint("ratio > 0", name="ratio"),
        CheckConstraint("units_before >= 0 AND units_before + units_delta >= 0", name="units"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    ratio: Mapped[Decimal] = mapped_column(RATIO)
    effective_date: Mapped[date] = mapped_column(Date)
    units_before: Mapped[Decimal] = mapped_column(UNITS)
    units_delta: Mapped[Decimal] = mapped_column(UNITS)
    notes: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class BrokerSnapshot(Base):
    """Cash and positions as the executor read them off the broker at ``taken_at``."""

    __tablename__ = "broker_snapshots"
    __table_args__ = (Index("ix_broker_snapshots_account_taken", "account_id", "taken_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    taken_at: Mapped[datetime]
    cash: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))  # the currency the broker showed the cash in
    fx_rate: Mapped[Decimal] = mapped_column(RATIO)  # USD per account-currency unit shown with it (1: USD account)
    source: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    positions: Mapped[list["SnapshotPosition"]] = relationship(order_by="SnapshotPosition.symbol")


class SnapshotPosition(Base):
    __tablename__ = "snapshot_positions"
    __table_args__ = (UniqueConstraint("snapshot_id", "symbol"), CheckConstraint("units > 0", name="units"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("broker_snapshots.id"))
    symbol: Mapped[str] = mapped_column(String(32))
    units: Mapped[Decimal] = mapped_column(UNITS)


class Price(Base):
    """Price cache: one close per symbol and session date (replaced on refresh)."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("symbol", "date"), CheckConstraint("close > 0", name="close"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    date: Mapped[date] = mapped_column(Date)
    close: Mapped[Decimal] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime]


class FxRate(Base):
    """How many units of ``quote`` one unit of ``base`` buys on ``date`` (e.g. GBP/USD 1.27)."""

    __tablename__ = "fx_rates"
    __table_args__ = (UniqueConstraint("base", "quote", "date"), CheckConstraint("rate > 0", name="rate"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base: Mapped[str] = mapped_column(String(3))
    quote: Mapped[str] = mapped_column(String(3))
    date: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(RATIO)
    source: Mapped[str] = mapped_column(String(32))


class Event(Base):
    """Append-only log: who did what, when, to which ticket (every state change)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_kind", "account_id", "kind", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
