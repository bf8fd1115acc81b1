"""Shared fixtures: a real PostgreSQL (fresh database per test that asks for one) and a real sandbox server.

The tests choose the local profile explicitly (embedded servers, mongomock and the sandbox are allowed); tests of
the production profile set ORGSYNC_PROFILE=production themselves (monkeypatch or a subprocess environment).
"""

from __future__ import annotations

import os
import uuid

os.environ["ORGSYNC_PROFILE"] = "local"  # before any orgsync module is imported by a test module

import pytest

from orgsync_dagster.lib import pg_test_server
from orgsync_dagster.resources import warehouse as warehouse_mod

_ADMIN: tuple[str, str] | None = None


def _admin() -> tuple[str, str]:
    global _ADMIN
    if _ADMIN is None:
        _ADMIN = pg_test_server.admin_url()
    return _ADMIN


def pytest_report_header(config):
    return f"orgsync warehouse for tests: {_admin()[1]}"


@pytest.fixture
def pg_url():
    """URL of a brand-new empty database (dropped after the test)."""
    admin, _where = _admin()
    url = pg_test_server.create_database(admin)
    yield url
    engine = warehouse_mod._engines.pop(
        pg_test_server.sa.engine.make_url(url).render_as_string(hide_password=False), None
    )
    if engine is not None:
        engine.dispose()
    warehouse_mod._ready.discard(url)
    pg_test_server.drop_database(admin, url)


@pytest.fixture
def engine(pg_url):
    """SQLAlchemy engine on a fresh database with every orgsync table created."""
    return warehouse_mod.engine_for(pg_url)


@pytest.fixture(scope="session")
def sandbox():
    """One sandbox server for the session; tests isolate themselves by using their own API keys."""
    from orgsync_dagster.sandbox.server import SandboxServer

    with SandboxServer() as server:
        yield server


@pytest.fixture
def api_key():
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def dagster_instance(pg_url, tmp_path, monkeypatch):
    """A Dagster instance configured by the repo's dagster.yaml, with its storage in real PostgreSQL."""
    import shutil
    from pathlib import Path

    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    instance = dg.DagsterInstance.from_config(str(home))
    yield instance
    instance.dispose()
