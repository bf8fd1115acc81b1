"""Fixtures of the membership tests: real S3 (moto server), real PostgreSQL, the Action Network emulator.

Databases are cloned from a template that already holds every table (CREATE DATABASE ... TEMPLATE) and are
dropped in the background, so a fresh warehouse per test costs ~0.1 s instead of ~2 s.
"""

import uuid
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest
import sqlalchemy as sa

from orgsync_dagster.lib import pg_test_server
from orgsync_dagster.resources import warehouse as warehouse_mod

from .pipeline_env import Env


@pytest.fixture(scope="session")
def _membership_template():
    admin, _where = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_mtmpl")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    from orgsync_dagster.lib.tables import ensure_schema

    ensure_schema(engine)
    engine.dispose()
    dropper = ThreadPoolExecutor(1)
    yield admin, sa.engine.make_url(url).database, dropper
    dropper.shutdown(wait=True)
    pg_test_server.drop_database(admin, url)


@pytest.fixture
def fast_pg_url(_membership_template):
    """A fresh database with every orgsync table, cloned from the session's template."""
    admin, template, dropper = _membership_template
    name = f"orgsync_mtest_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    yield url
    engine = warehouse_mod._engines.pop(url, None)
    warehouse_mod._ready.discard(url)
    if engine is not None:
        engine.dispose()
    dropper.submit(pg_test_server.drop_database, admin, url)


@pytest.fixture
def instance():
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def env(sandbox, fast_pg_url, api_key, instance, monkeypatch):
    return Env(sandbox, fast_pg_url, api_key, instance, monkeypatch)
