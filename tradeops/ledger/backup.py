"""Backup and restore of the ledger database.

SQLite: the sqlite3 online backup API (consistent even while the ledger is in
use).  PostgreSQL: ``pg_dump --format=custom`` of the ledger's schema and
``pg_restore --clean`` (both must be on PATH; the password, if any, goes
through the environment, never the command line).  A restore checks the file
first and then upgrades the schema, so a backup from an older version of
tradeops comes back at the current revision with its data.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ..clock import SYSTEM
from ..errors import LedgerError
from .db import make_engine, safe_url, upgrade

SUFFIX = {"sqlite": ".sqlite", "postgresql": ".pgdump"}


def default_backup_path(folder: Path, url: str, now: datetime | None = None) -> Path:
    """``<folder>/ledger-YYYYmmddTHHMMSSZ.sqlite`` (or ``.pgdump``)."""
    stamp = (now or SYSTEM.now()).strftime("%Y%m%dT%H%M%SZ")
    return Path(folder) / f"ledger-{stamp}{SUFFIX[make_url(url).get_backend_name()]}"


def backup(url: str, dest: str | Path) -> Path:
    """Write a consistent copy of the ledger at ``url`` to ``dest``; returns the path."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        source = _sqlite_path(url)
        if not source.exists():
            raise LedgerError(f"no ledger at {source}; run `tradeops ledger init` first")
        with _sqlite(source) as src, _sqlite(dest) as dst:
            src.backup(dst)
        return dest
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    finally:
        engine.dispose()
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--schema={schema}", f"--file={dest}"], url)
    return dest


def restore(url: str, source: str | Path) -> Engine:
    """Replace the ledger at ``url`` with the backup ``source``; returns an engine at schema head."""
    source = Path(source)
    if not source.is_file():
        raise LedgerError(f"backup file {source} does not exist")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_backup(source)
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _sqlite(source) as src, _sqlite(target) as dst:
            src.backup(dst)
    else:
        _tool("pg_restore")
        listing = subprocess.run(["pg_restore", "--list", str(source)], capture_output=True, text=True)
        if listing.returncode != 0:
            raise LedgerError(f"{source} is not a pg_dump custom-format backup: {listing.stderr.strip()}")
        _run(["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists", "--single-transaction", str(source)], url, dbname_flag=True)
    engine = make_engine(url)
    upgrade(engine)
    return engine


# --------------------------------------------------------------------------- helpers


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise LedgerError(f"{url}: an in-memory SQLite ledger cannot be backed up or restored")
    return Path(database)


class _sqlite:
    """A sqlite3 connection that is closed on exit (sqlite3's own context manager only commits)."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, timeout=30)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.close()


def _check_sqlite_backup(path: Path) -> None:
    try:
        with _sqlite(path) as conn:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise LedgerError(f"{path} is not a SQLite ledger backup: {err}") from None
    if ok != "ok":
        raise LedgerError(f"{path} is damaged (SQLite quick_check: {ok})")
    if not {"alembic_version", "accounts", "fills"} <= tables:
        raise LedgerError(f"{path} is a SQLite file but not a tradeops ledger (tables: {sorted(tables)})")


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise LedgerError(f"{name} is not on PATH; install the PostgreSQL client tools to back up or restore a PostgreSQL ledger")
    return found


def _run(argv: list[str], url: str, dbname_flag: bool = False) -> None:
    """Run a PostgreSQL client tool against ``url`` (password through PGPASSWORD)."""
    _tool(argv[0])
    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql", password=None, query={}).render_as_string(hide_password=False)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    argv = argv + ([f"--dbname={conninfo}"] if dbname_flag else [conninfo])
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise LedgerError(f"{argv[0]} failed for {safe_url(url)}: {done.stderr.strip()}")
