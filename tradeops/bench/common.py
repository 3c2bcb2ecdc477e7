"""Helpers shared by the benchmarks: the machine's description and a throw-away PostgreSQL schema."""

from __future__ import annotations

import os
import platform
import uuid
from pathlib import Path

from sqlalchemy import create_engine

PG_URL = os.environ.get("TRADEOPS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema():
    """(admin engine, schema, URL with that search_path), or (None, None, error) when the server is unreachable."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except Exception as err:  # noqa: BLE001 - reported in the table, not raised
        admin.dispose()
        return None, None, str(err).strip().splitlines()[0]
    sep = "&" if "?" in PG_URL else "?"
    return admin, schema, f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, Python {platform.python_version()}"
