"""Find a PostgreSQL server for tests and demos: ORGSYNC_TEST_DATABASE_URL, else the local server on
127.0.0.1:5432 (as on CI), else an embedded one started for the purpose. Never silently skipped."""

from __future__ import annotations

import os
import tempfile
import uuid

import sqlalchemy as sa

from orgsync_dagster.lib.embedded_pg import normalize_url, start_embedded

LOCAL_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 2}, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return True
    except Exception:
        return False


def admin_url() -> tuple[str, str]:
    """(URL of a database we may CREATE DATABASE from, a description of where it is)."""
    env = os.environ.get("ORGSYNC_TEST_DATABASE_URL")
    if env:
        return normalize_url(env), "ORGSYNC_TEST_DATABASE_URL"
    if _reachable(LOCAL_URL):
        return LOCAL_URL, "local PostgreSQL on 127.0.0.1:5432"
    data_dir = tempfile.mkdtemp(prefix="orgsync-pg-")  # pgserver initialises it and deletes it at exit
    return start_embedded(data_dir, delete_on_exit=True), f"embedded PostgreSQL in {data_dir}"


def create_database(admin: str, prefix: str = "orgsync_test") -> str:
    """Create a fresh database on the server behind ``admin`` and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return str(sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False))


def drop_database(admin: str, url: str) -> None:
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
