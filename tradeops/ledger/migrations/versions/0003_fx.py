"""Currencies: a fill keeps its instrument currency, the FX rate it was paid at
and its amount in the account currency; a broker snapshot keeps its FX rate.

- ``fills.instrument_currency``: the currency of ``price`` and ``amount``
  (USD for the US instruments eToro sells);
- ``fills.fx_rate``: USD per one unit of the account currency at which the
  fill was paid (the GBPUSD quote, e.g. 1.27); exactly 1 when the instrument
  is in the account's own currency;
- ``fills.account_amount``: what the fill booked in the account currency
  (``currency``), ``units x price / fx_rate`` rounded half-even to the cent;
  the cash side of a fill is ``account_amount`` and ``fees`` (both in the
  account currency);
- ``broker_snapshots.fx_rate``: the rate (USD per account-currency unit) the
  broker showed with the snapshot; 1 for a USD account.

An existing ledger is carried forward without loss: every fill gets its own
currency as instrument currency, rate 1 and ``account_amount = amount``, so
its positions, cash, P&L and equity are the same figures as before.  The
rows are back-filled with the append-only guard of 0002 lifted for that one
statement (inside the migration's transaction) and put back at once.

A new guard (trigger, both backends) refuses a fill whose rate is not above
zero, whose account amount is negative, a same-currency fill whose rate is
not 1 or whose account amount differs from its amount, a not-executed fill
with an account amount, and a reversal that does not repeat the instrument
currency, rate and account amount of the fill it reverses.

Cash stays a sum per currency (``fills.currency`` / ``cash_movements.currency``);
for an eToro account that is one line in the account currency.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from tradeops.ledger.types import Fixed

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RATIO_SCALE = 12
GUARD_MSG = "fills: the FX rate or account amount is inconsistent (rate above zero; 1 and account amount = amount for a same-currency fill; a reversal repeats those of its fill)"


def _one(dialect: str) -> str:
    """The literal 1 of a Fixed(12) column as stored (a scaled integer on SQLite)."""
    return str(10**RATIO_SCALE) if dialect == "sqlite" else "1"


def _bad(dialect: str) -> str:
    one = _one(dialect)
    return (
        "NEW.fx_rate <= 0 OR NEW.account_amount < 0"
        f" OR (NEW.instrument_currency = NEW.currency AND (NEW.fx_rate <> {one} OR NEW.account_amount <> NEW.amount))"
        " OR (NEW.status = 'NOT_EXECUTED' AND NEW.amount = 0 AND NEW.account_amount <> 0)"
        " OR (NEW.reverses_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM fills f WHERE f.id = NEW.reverses_id"
        " AND f.instrument_currency = NEW.instrument_currency AND f.fx_rate = NEW.fx_rate AND f.account_amount = NEW.account_amount))"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    one = _one(dialect)
    op.add_column("fills", sa.Column("instrument_currency", sa.String(length=3), nullable=False, server_default="USD"))
    op.add_column("fills", sa.Column("fx_rate", Fixed(12, 24), nullable=False, server_default=sa.text(one)))
    op.add_column("fills", sa.Column("account_amount", Fixed(4, 20), nullable=False, server_default=sa.text("0")))
    op.add_column("broker_snapshots", sa.Column("fx_rate", Fixed(12, 24), nullable=False, server_default=sa.text(one)))
    backfill = "UPDATE fills SET instrument_currency = currency, account_amount = amount"
    if dialect == "sqlite":
        op.execute("DROP TRIGGER fills_no_update")
        op.execute(backfill)
        op.execute(
            "CREATE TRIGGER fills_no_update BEFORE UPDATE ON fills "
            "BEGIN SELECT RAISE(ABORT, 'fills is append-only: record a correction instead'); END"
        )
        op.execute(f"CREATE TRIGGER fills_fx_consistent BEFORE INSERT ON fills WHEN {_bad(dialect)} BEGIN SELECT RAISE(ABORT, '{GUARD_MSG}'); END")
        return
    op.execute("ALTER TABLE fills DISABLE TRIGGER fills_append_only")
    op.execute(backfill)
    op.execute("ALTER TABLE fills ENABLE TRIGGER fills_append_only")
    for column in ("instrument_currency", "fx_rate", "account_amount"):  # every writer gives them from now on
        op.alter_column("fills", column, server_default=None)
    op.alter_column("broker_snapshots", "fx_rate", server_default=None)
    op.execute(
        f"""
        CREATE FUNCTION ledger_fills_fx_consistent() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF {_bad(dialect)} THEN
            RAISE EXCEPTION '{GUARD_MSG}: fill of % % at rate %', NEW.symbol, NEW.account_amount, NEW.fx_rate
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.execute("CREATE TRIGGER fills_fx_consistent BEFORE INSERT ON fills FOR EACH ROW EXECUTE FUNCTION ledger_fills_fx_consistent()")


def downgrade() -> None:
    """Drop the columns: refused while a fill is in another currency than its account (0002 cannot hold it)."""
    dialect = op.get_bind().dialect.name
    mixed = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM fills WHERE instrument_currency <> currency")).scalar()
    if mixed:
        raise RuntimeError(f"{mixed} fills are in an instrument currency other than their account's; revision 0002 cannot hold them")
    if dialect == "sqlite":
        op.execute("DROP TRIGGER fills_fx_consistent")
    else:
        op.execute("DROP TRIGGER fills_fx_consistent ON fills")
        op.execute("DROP FUNCTION ledger_fills_fx_consistent()")
    op.drop_column("broker_snapshots", "fx_rate")
    for column in ("account_amount", "fx_rate", "instrument_currency"):
        op.drop_column("fills", column)
