"""Shared fixtures: the real vendor data folder and ledger databases.

``db_url`` is parametrised over SQLite and PostgreSQL, so every test that
uses it (or ``ledger_engine`` / ``session``) runs on both.  SQLite: a file
in the test's tmp_path.  PostgreSQL: a fresh schema per test on the server
at ``TRADEOPS_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
dropped afterwards.  An unreachable server skips those tests, except when
CI=true, where it fails them.

``--fake-now ISO`` runs the whole session with the wall clock moved to that
instant (time-machine, ticking on from there): code under test takes its
"now" from an injected clock, so the suite must pass whatever the hour.
``.ci/run`` runs the dashboard, ledger and pipeline folders under three
times of day (early morning, mid-afternoon, 23:30 UK) with it.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
PG_URL = os.environ.get("TRADEOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption(
        "--fake-now", default=None, metavar="ISO", help="move the wall clock to this instant for the whole session (e.g. 2026-12-01T23:30:00+00:00)"
    )


def pytest_configure(config):
    text = config.getoption("--fake-now")
    if text:
        import time_machine

        from tradeops.clock import parse_instant

        traveller = time_machine.travel(parse_instant(text, "--fake-now"), tick=True)
        traveller.start()
        config._tradeops_fake_now = traveller


def pytest_report_header(config):
    text = config.getoption("--fake-now")
    return f"wall clock moved to {text} (--fake-now)" if text else None


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _missing(what: str) -> None:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: this must be available in CI)")
    pytest.skip(f"{what}; set CI=true to turn this skip into a failure")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real vendor data folder ``../shared/data`` beside the checkout."""
    if not SHARED_DATA.is_dir():
        _missing(f"real vendor data not found at {SHARED_DATA.resolve()}")
    return SHARED_DATA.resolve()


@lru_cache(maxsize=1)
def _postgres_error() -> str | None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    try:
        psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password, dbname=url.database, connect_timeout=3).close()
    except psycopg.Error as err:
        return str(err).strip().splitlines()[0]
    return None


def require_postgres() -> None:
    error = _postgres_error()
    if error:
        _missing(f"PostgreSQL at {PG_URL} is unreachable ({error})")


def _admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema; yields a URL whose search_path is that schema."""
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(PG_URL, schema)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server; yields its URL."""
    require_postgres()
    from sqlalchemy.engine import make_url

    name = f"tradeops_t_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@contextmanager
def new_db_url(backend: str, folder: Path) -> Iterator[str]:
    """An empty database of ``backend``: a SQLite file in ``folder`` or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'ledger-{uuid.uuid4().hex[:8]}.sqlite'}"
    else:
        with pg_schema() as url:
            yield url


@pytest.fixture(params=BACKENDS)
def db_backend(request) -> str:
    return request.param


@pytest.fixture
def db_url(db_backend, tmp_path) -> Iterator[str]:
    """An empty database URL, once per backend."""
    with new_db_url(db_backend, tmp_path) as url:
        yield url


@pytest.fixture
def second_db_url(db_url, db_backend, tmp_path) -> Iterator[str]:
    """Another empty database of the same backend, e.g. to restore a backup into.

    PostgreSQL: a separate database whose URL keeps ``db_url``'s search_path,
    so a dump of ``db_url``'s schema restores into the same schema name there.
    """
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'second.sqlite'}"
        return
    from sqlalchemy.engine import make_url

    with pg_database() as url:
        yield make_url(url).set(query=make_url(db_url).query).render_as_string(hide_password=False)


@pytest.fixture
def ledger_engine(db_url):
    """An engine on a ledger at the current schema revision."""
    from tradeops.ledger.db import init_db

    engine = init_db(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(ledger_engine):
    """A session on the ledger; the test commits or lets it roll back at the end."""
    from tradeops.ledger.db import session_factory

    with session_factory(ledger_engine)() as s:
        yield s
