"""Fixtures of the shifts tests: settings from orgsync.yaml, VAN clients on the sandbox, a seeded VAN day."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib import pg_test_server
from orgsync_dagster.lib.tables import metadata
from orgsync_dagster.resources import warehouse as warehouse_mod
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.shifts.seed import seed_van
from orgsync_dagster.shifts.settings import ShiftsSettings


@pytest.fixture(scope="session")
def _shifts_db():
    """One database for the shifts tests (creating and dropping one per test costs ~2 s each)."""
    admin, _where = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_shifts_test")
    warehouse_mod.engine_for(url)
    yield url
    engine = warehouse_mod._engines.pop(url, None)
    if engine is not None:
        engine.dispose()
    warehouse_mod._ready.discard(url)
    pg_test_server.drop_database(admin, url)


@pytest.fixture
def pg_url(_shifts_db):
    """The shared database, emptied (every orgsync table truncated) before each test."""
    names = ", ".join(f'"{t.schema}"."{t.name}"' for t in metadata.sorted_tables)
    with warehouse_mod.engine_for(_shifts_db).begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return _shifts_db


@pytest.fixture
def settings() -> ShiftsSettings:
    # yesterday's events are exported too, so the tests can run a finished day
    return dataclasses.replace(ShiftsSettings.from_config(cfg.section("shifts")), lookback_days=1)


@pytest.fixture
def day(settings) -> dt.date:
    return settings.today() - dt.timedelta(days=1)


def van_resource(sandbox, keys: dict[str, str]) -> VanResource:
    return VanResource(
        api_keys=json.dumps(keys), base_url=sandbox.urls.van_url, requests_per_second=1000, max_retries=1
    )


@pytest.fixture
def make_client(sandbox, api_key):
    def make(instance: str = "MI", key: str | None = None):
        return van_resource(sandbox, {instance: key or api_key}).client(instance)

    return make


@pytest.fixture
def seeded(make_client, day, settings):
    """Two offices' canvasses (2 shifts x 4 signups) on ``day`` and one shift each the next day, plus a phone bank
    with no location across midnight on ``day``."""
    return seed_van(make_client(), day, settings)
