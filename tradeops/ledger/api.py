"""The ledger's functions: every read and write of the ledger goes through here.

The code lives in one module per area, all of it importable from here: :mod:`.common`,
:mod:`.accounts` (accounts, events, state, kill switch), :mod:`.tickets`, :mod:`.fills`,
:mod:`.cash`, :mod:`.prices`, :mod:`.valuation` (positions, cash, P&L, equity curve) and
:mod:`.reconciliation` (snapshots).

Each function takes a SQLAlchemy :class:`~sqlalchemy.orm.Session`; the caller
owns the transaction (``with tradeops.ledger.db.transaction(engine) as s:``),
so one confirmation or one CSV file is one transaction and a refused input
writes nothing.  Writes lock the account first (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite transactions already start with ``BEGIN IMMEDIATE``), so
two confirmations submitted at the same time are applied one after the other.

Positions, cash, P&L and the equity curve are computed from the ledger alone.
Times are aware UTC instants; dates of fills, cash movements and splits are
exchange (New York) dates, and the equity curve runs over exchange sessions.
"""

from __future__ import annotations

from .names import DEFAULT_ACCOUNT
from .common import EXCHANGE, exchange_date, EXTERNAL_FLOWS, jsonable, OUTFLOW_KINDS, PriceSeries
from .accounts import (
    config_failures,
    create_account,
    current_state,
    events,
    Flag,
    get_account,
    kill_switch,
    last_resume,
    record_config_failure,
    record_event,
    record_run_seal,
    resume,
    RUN_CONFIG_INVALID,
    RUN_SEALED,
    run_seals,
    set_account_currency,
    set_kill_switch,
    set_state,
)
from .prices import load_fx_rates, load_prices, marks_on, price_series_from_frame, store_fx_rates, store_prices
from .valuation import compute_cash, compute_cash_balances, compute_equity_curve, compute_pnl, compute_positions, EquityPoint, PnL, SymbolPnL
from .tickets import get_ticket, latest_ticket, open_ticket, record_intended_trade, record_ticket, tickets_between, void_ticket
from .cash import cash_movements, CashRow, lowest_cash_from, record_cash_inputs, record_cash_movement, reverse_cash_movement
from .fills import confirm_ticket, correct_fill, correct_ticket, fill_fx_rate, line_statuses, LineStatus, record_fill, record_split, unconfirmed_lines
from .reconciliation import latest_snapshot, reconcile_snapshot, record_snapshot

__all__ = [
    "CashRow",
    "DEFAULT_ACCOUNT",
    "EXCHANGE",
    "EXTERNAL_FLOWS",
    "EquityPoint",
    "Flag",
    "LineStatus",
    "OUTFLOW_KINDS",
    "PnL",
    "PriceSeries",
    "RUN_CONFIG_INVALID",
    "RUN_SEALED",
    "SymbolPnL",
    "cash_movements",
    "compute_cash",
    "compute_cash_balances",
    "compute_equity_curve",
    "compute_pnl",
    "compute_positions",
    "config_failures",
    "confirm_ticket",
    "correct_fill",
    "correct_ticket",
    "create_account",
    "current_state",
    "events",
    "exchange_date",
    "fill_fx_rate",
    "get_account",
    "get_ticket",
    "jsonable",
    "kill_switch",
    "last_resume",
    "latest_snapshot",
    "latest_ticket",
    "line_statuses",
    "lowest_cash_from",
    "load_fx_rates",
    "load_prices",
    "marks_on",
    "open_ticket",
    "price_series_from_frame",
    "reconcile_snapshot",
    "record_cash_inputs",
    "record_cash_movement",
    "record_config_failure",
    "record_event",
    "record_fill",
    "record_intended_trade",
    "record_run_seal",
    "record_snapshot",
    "record_split",
    "record_ticket",
    "resume",
    "reverse_cash_movement",
    "run_seals",
    "set_account_currency",
    "set_kill_switch",
    "set_state",
    "store_fx_rates",
    "store_prices",
    "tickets_between",
    "unconfirmed_lines",
    "void_ticket",
]
