"""Database guards: append-only tables and never-negative units.

- fills, cash movements, corporate actions, snapshots (and their lines),
  ticket lines and events refuse UPDATE and DELETE (and TRUNCATE on
  PostgreSQL): a correction is always a new, reversing row;
- inserting a sell fill or the reversal of a buy fails when the account's
  units of that symbol (fills plus split deltas) would go below zero.

Both guards raise an integrity error, whoever writes to the database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = (
    "fills",
    "cash_movements",
    "corporate_actions",
    "broker_snapshots",
    "snapshot_positions",
    "intended_trades",
    "events",
)

# Units of NEW.symbol held by NEW.account_id after the insert (same SQL on both backends).
HELD = """
    (SELECT COALESCE(SUM(CASE WHEN f.side = 'BUY' THEN f.units ELSE -f.units END
                         * CASE WHEN f.kind = 'FILL' THEN 1 ELSE -1 END), 0)
       FROM fills f WHERE f.account_id = NEW.account_id AND f.symbol = NEW.symbol)
  + (SELECT COALESCE(SUM(c.units_delta), 0)
       FROM corporate_actions c WHERE c.account_id = NEW.account_id AND c.symbol = NEW.symbol)
"""
REDUCES = "(NEW.side = 'SELL') = (NEW.kind = 'FILL')"
NEGATIVE_MSG = "fills: units of a symbol would go negative (a sell or reversal exceeds the position)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: record a correction instead'); END"
                )
        op.execute(
            f"CREATE TRIGGER fills_units_never_negative AFTER INSERT ON fills "
            f"WHEN {REDUCES} AND ({HELD}) < 0 "
            f"BEGIN SELECT RAISE(ABORT, '{NEGATIVE_MSG}'); END"
        )
        return
    op.execute(
        """
        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only: record a correction instead', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()"
        )
    op.execute(
        f"""
        CREATE FUNCTION ledger_units_never_negative() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE held numeric;
        BEGIN
          SELECT {HELD} INTO held;
          IF held < 0 THEN
            RAISE EXCEPTION '{NEGATIVE_MSG}: % of % would be %', NEW.account_id, NEW.symbol, held
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        f"CREATE TRIGGER fills_units_never_negative AFTER INSERT ON fills "
        f"FOR EACH ROW WHEN ({REDUCES}) EXECUTE FUNCTION ledger_units_never_negative()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER fills_units_never_negative")
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{action}")
        return
    op.execute("DROP TRIGGER fills_units_never_negative ON fills")
    op.execute("DROP FUNCTION ledger_units_never_negative()")
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION ledger_append_only()")
