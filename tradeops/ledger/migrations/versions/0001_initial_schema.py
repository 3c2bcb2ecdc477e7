"""Initial ledger schema: accounts, tickets, ticket lines, fills, cash
movements, corporate actions, broker snapshots, price and FX cache, events;
seeds the default account "main" (eToro, USD).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from tradeops.ledger.types import Fixed, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("broker", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "fx_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base", sa.String(length=3), nullable=False),
        sa.Column("quote", sa.String(length=3), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("rate", Fixed(12, 24), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.CheckConstraint("rate > 0", name=op.f("ck_fx_rates_rate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
        sa.UniqueConstraint("base", "quote", "date", name=op.f("uq_fx_rates_base_quote_date")),
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("close", Fixed(6, 20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("close > 0", name=op.f("ck_prices_close")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint("symbol", "date", name=op.f("uq_prices_symbol_date")),
    )
    op.create_table(
        "broker_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=False),
        sa.Column("cash", Fixed(4, 20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_broker_snapshots_account_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broker_snapshots")),
    )
    op.create_index("ix_broker_snapshots_account_taken", "broker_snapshots", ["account_id", "taken_at"], unique=False)
    op.create_table(
        "cash_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", Fixed(4, 20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('DEPOSIT', 'DIVIDEND') AND (CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END) > 0) OR (kind IN ('WITHDRAWAL', 'FEE') AND (CASE WHEN reverses_id IS NULL THEN amount ELSE -amount END) < 0) OR (kind IN ('INTEREST', 'FX') AND amount <> 0)",
            name=op.f("ck_cash_movements_sign"),
        ),
        sa.CheckConstraint("kind <> 'DIVIDEND' OR symbol IS NOT NULL", name=op.f("ck_cash_movements_dividend_symbol")),
        sa.CheckConstraint(
            "kind IN ('DEPOSIT', 'WITHDRAWAL', 'DIVIDEND', 'FEE', 'INTEREST', 'FX')",
            name=op.f("ck_cash_movements_kind"),
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_cash_movements_account_id")),
        sa.ForeignKeyConstraint(["reverses_id"], ["cash_movements.id"], name=op.f("fk_cash_movements_reverses_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cash_movements")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_cash_movements_reverses_id")),
    )
    op.create_index("ix_cash_movements_account_date", "cash_movements", ["account_id", "value_date"], unique=False)
    op.create_table(
        "corporate_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ratio", Fixed(12, 24), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("units_before", Fixed(8, 20), nullable=False),
        sa.Column("units_delta", Fixed(8, 20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind = 'SPLIT'", name=op.f("ck_corporate_actions_kind")),
        sa.CheckConstraint("ratio > 0", name=op.f("ck_corporate_actions_ratio")),
        sa.CheckConstraint(
            "units_before >= 0 AND units_before + units_delta >= 0", name=op.f("ck_corporate_actions_units")
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_corporate_actions_account_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corporate_actions")),
        sa.UniqueConstraint(
            "account_id",
            "symbol",
            "effective_date",
            "kind",
            name=op.f("uq_corporate_actions_account_id_symbol_effective_date_kind"),
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_events_account_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_account_kind", "events", ["account_id", "kind", "id"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("version_hash", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('TRADE', 'HOLD', 'NO-TRADE')", name=op.f("ck_tickets_kind")),
        sa.CheckConstraint("status IN ('OPEN', 'SUPERSEDED', 'VOIDED')", name=op.f("ck_tickets_status")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_tickets_account_id")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["tickets.id"], name=op.f("fk_tickets_supersedes_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("account_id", "ticket_id", name=op.f("uq_tickets_account_id_ticket_id")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_tickets_supersedes_id")),
    )
    op.create_index(
        "uq_tickets_open_session",
        "tickets",
        ["account_id", "session_date"],
        unique=True,
        sqlite_where=sa.text("status = 'OPEN'"),
        postgresql_where=sa.text("status = 'OPEN'"),
    )
    op.create_table(
        "intended_trades",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_pk", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("value", Fixed(4, 20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("approx_units", Fixed(8, 20), nullable=False),
        sa.Column("reference_price", Fixed(6, 20), nullable=False),
        sa.Column("band", Fixed(12, 24), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_intended_trades_side")),
        sa.CheckConstraint("approx_units > 0", name=op.f("ck_intended_trades_approx_units")),
        sa.CheckConstraint("band >= 0", name=op.f("ck_intended_trades_band")),
        sa.CheckConstraint("line_no >= 1", name=op.f("ck_intended_trades_line_no")),
        sa.CheckConstraint("reference_price > 0", name=op.f("ck_intended_trades_reference_price")),
        sa.CheckConstraint("value > 0", name=op.f("ck_intended_trades_value")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_intended_trades_account_id")),
        sa.ForeignKeyConstraint(["ticket_pk"], ["tickets.id"], name=op.f("fk_intended_trades_ticket_pk")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intended_trades")),
        sa.UniqueConstraint(
            "id", "account_id", "symbol", "side", name=op.f("uq_intended_trades_id_account_id_symbol_side")
        ),
        sa.UniqueConstraint("ticket_pk", "line_no", name=op.f("uq_intended_trades_ticket_pk_line_no")),
    )
    op.create_table(
        "snapshot_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("snapshot_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("units", Fixed(8, 20), nullable=False),
        sa.CheckConstraint("units > 0", name=op.f("ck_snapshot_positions_units")),
        sa.ForeignKeyConstraint(
            ["snapshot_id"], ["broker_snapshots.id"], name=op.f("fk_snapshot_positions_snapshot_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_snapshot_positions")),
        sa.UniqueConstraint("snapshot_id", "symbol", name=op.f("uq_snapshot_positions_snapshot_id_symbol")),
    )
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("units", Fixed(8, 20), nullable=False),
        sa.Column("price", Fixed(6, 20), nullable=True),
        sa.Column("amount", Fixed(4, 20), nullable=False),
        sa.Column("fees", Fixed(4, 20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("filled_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("attachment", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'FILL' AND reverses_id IS NULL) OR (kind = 'REVERSAL' AND reverses_id IS NOT NULL AND supersedes_id IS NULL)",
            name=op.f("ck_fills_reversal_link"),
        ),
        sa.CheckConstraint(
            "(status = 'NOT_EXECUTED' AND units = 0 AND amount = 0 AND price IS NULL) OR (status <> 'NOT_EXECUTED' AND units > 0 AND price > 0)",
            name=op.f("ck_fills_status_units"),
        ),
        sa.CheckConstraint("kind IN ('FILL', 'REVERSAL')", name=op.f("ck_fills_kind")),
        sa.CheckConstraint("side IN ('BUY', 'SELL')", name=op.f("ck_fills_side")),
        sa.CheckConstraint("status IN ('EXECUTED', 'PARTIAL', 'NOT_EXECUTED')", name=op.f("ck_fills_status")),
        sa.CheckConstraint("units >= 0 AND amount >= 0 AND fees >= 0", name=op.f("ck_fills_non_negative")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_fills_account_id")),
        sa.ForeignKeyConstraint(
            ["line_id", "account_id", "symbol", "side"],
            ["intended_trades.id", "intended_trades.account_id", "intended_trades.symbol", "intended_trades.side"],
            name="fk_fills_line",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id", "line_id", "units", "amount", "fees"],
            ["fills.id", "fills.line_id", "fills.units", "fills.amount", "fills.fees"],
            name="fk_fills_reverses",
        ),
        sa.ForeignKeyConstraint(["supersedes_id"], ["fills.id"], name=op.f("fk_fills_supersedes_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint(
            "id", "line_id", "units", "amount", "fees", name=op.f("uq_fills_id_line_id_units_amount_fees")
        ),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_fills_reverses_id")),
        sa.UniqueConstraint("supersedes_id", name=op.f("uq_fills_supersedes_id")),
    )
    op.create_index("ix_fills_account_symbol", "fills", ["account_id", "symbol", "filled_at"], unique=False)
    op.create_index(
        "uq_fills_first_confirmation",
        "fills",
        ["line_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'FILL' AND supersedes_id IS NULL"),
        postgresql_where=sa.text("kind = 'FILL' AND supersedes_id IS NULL"),
    )
    accounts = sa.table(
        "accounts",
        sa.column("name", sa.String),
        sa.column("broker", sa.String),
        sa.column("currency", sa.String),
        sa.column("created_at", UTCDateTime()),
    )
    op.bulk_insert(
        accounts, [{"name": "main", "broker": "eToro", "currency": "USD", "created_at": datetime.now(timezone.utc)}]
    )


def downgrade() -> None:
    op.drop_index("uq_fills_first_confirmation", table_name="fills")
    op.drop_index("ix_fills_account_symbol", table_name="fills")
    op.drop_table("fills")
    op.drop_table("snapshot_positions")
    op.drop_table("intended_trades")
    op.drop_index("uq_tickets_open_session", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_events_account_kind", table_name="events")
    op.drop_table("events")
    op.drop_table("corporate_actions")
    op.drop_index("ix_cash_movements_account_date", table_name="cash_movements")
    op.drop_table("cash_movements")
    op.drop_index("ix_broker_snapshots_account_taken", table_name="broker_snapshots")
    op.drop_table("broker_snapshots")
    op.drop_table("prices")
    op.drop_table("fx_rates")
    op.drop_table("accounts")
