"""Alembic environment for the ledger.

Run through ``tradeops.ledger.db.upgrade`` (``tradeops ledger init``), which
hands over an open connection in ``config.attributes["connection"]``.
"""

from alembic import context

from tradeops.ledger.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - guarded for people running plain `alembic`
    raise SystemExit("run migrations with `tradeops ledger init` (it supplies the database connection)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
