"""Engines, sessions and schema migrations for a ledger URL.

``sqlite:///path`` (the workspace default, ``data/ledger.sqlite``) or
``postgresql+psycopg://user@host/db`` (``TRADEOPS_DB_URL``).  On SQLite every
connection turns foreign keys on and every transaction starts with
``BEGIN IMMEDIATE``, so writers queue instead of failing half-way; on
PostgreSQL the write functions lock the account row instead.

The caller owns the transaction: ``with transaction(engine) as session:``
commits on success and rolls back on any error, so one submission is one
transaction and a refused input writes nothing.  Keep transactions short (one
per action): on SQLite an open transaction, even a read, holds the write lock.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ..clock import SYSTEM, Clock
from ..errors import LedgerError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 30


def make_engine(url: str) -> Engine:
    """An engine for ``url`` with the ledger's per-connection settings."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no branch - event hook
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise LedgerError(f"database URL {parsed.render_as_string(hide_password=True)!r}: backend {backend!r} is not supported; use sqlite or postgresql+psycopg")


def session_factory(engine: Engine, clock: Clock | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine`` whose writes stamp their times from ``clock`` (default: the machine's)."""
    return sessionmaker(engine, expire_on_commit=False, info={"clock": clock or SYSTEM})


def clock_of(session: Session) -> Clock:
    """The clock a ledger session stamps its rows with (``created_at``, event times)."""
    return session.info.get("clock") or SYSTEM


@contextmanager
def transaction(engine: Engine, clock: Clock | None = None) -> Iterator[Session]:
    """One session in one transaction: committed on success, rolled back on error.
    Rows it writes are stamped with ``clock``'s time (default: the machine's)."""
    with session_factory(engine, clock)() as session, session.begin():
        yield session


def safe_url(engine_or_url: Engine | str) -> str:
    """The URL with any password masked, for messages and logs."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.render_as_string(hide_password=True)


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None: never initialised)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Create or upgrade the schema to ``revision``; existing rows are kept."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    rev = current_revision(engine)
    return rev or ""


def downgrade(engine: Engine, revision: str) -> str:
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    return current_revision(engine) or ""


def open_at_head(url: str) -> Engine:
    """An engine on ``url``, refusing a ledger that is not at the current schema (run `tradeops ledger init`)
    or cannot be reached: the one way the stages, the page, the CLI and the assistant open the ledger."""
    engine = make_engine(url)
    try:
        current, head = current_revision(engine), head_revision()
    except Exception:  # noqa: BLE001 - the driver's own errors: a plain sentence, the password masked
        engine.dispose()
        raise LedgerError(f"the ledger at {safe_url(url)} cannot be opened; check TRADEOPS_DB_URL and that the database is running") from None
    if current != head:
        engine.dispose()
        state = "not initialised" if current is None else f"at schema revision {current}, not {head}"
        raise LedgerError(f"the ledger at {safe_url(url)} is {state}: run `tradeops ledger init`")
    return engine


def init_db(url: str) -> Engine:
    """``tradeops ledger init``: an engine on ``url`` with the schema at head."""
    engine = make_engine(url)
    upgrade(engine)
    return engine
