"""Fixtures of the events tests: a real MariaDB/MySQL database standing in for ActionKit's, and the events code
location's resources and jobs on real PostgreSQL and the sandbox."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from orgsync_dagster.events.checks import events_checks
from orgsync_dagster.events.defs import defs as events_defs
from orgsync_dagster.resources.actionkit import ActionKitResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

MARIADB_ADMIN_URL = os.environ.get("ORGSYNC_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
REQUIRE_MARIADB = "ORGSYNC_REQUIRE_MARIADB"

DEFAULT_CONFIG = """
van: {instances: [MI, WI]}
events:
  event_type_campaigns: {Barnstorm: [1], Canvass: [2]}
  roles: [Host, Participant]
  default_duration_minutes: 60
  shift_name: Single Shift
  export_lookback_days: 1
"""


def _mariadb_admin(url: str = MARIADB_ADMIN_URL) -> sa.engine.Engine:
    """The MariaDB server, or a skip (a failure when ORGSYNC_REQUIRE_MARIADB=1, as on CI)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        where = sa.engine.make_url(url).render_as_string(hide_password=True)
        message = f"no MariaDB/MySQL server reachable at {where} ({exc.orig}); the ActionKit MySQL tests need one"
        if os.environ.get(REQUIRE_MARIADB) == "1":
            pytest.fail(f"{message} and {REQUIRE_MARIADB}=1 requires it")
        pytest.skip(f"{message} (set {REQUIRE_MARIADB}=1 to make this a failure)")
    return engine


@pytest.fixture
def mariadb_url():
    """URL of a brand-new MariaDB database (ActionKit's stand-in), dropped after the test."""
    admin = _mariadb_admin()
    name = f"orgsync_ak_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = sa.engine.make_url(MARIADB_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    admin.dispose()


@pytest.fixture
def mariadb_admin():
    engine = _mariadb_admin()
    yield engine
    engine.dispose()


@pytest.fixture
def config_path(tmp_path) -> Path:
    """The events configuration the test runs with (tests write their own instead of patching module state)."""
    path = tmp_path / "orgsync.yaml"
    path.write_text(DEFAULT_CONFIG)
    return path


def make_resources(pg_url, van_url, keys, config_path, *, actionkit_url=None, schema=None, rps=500.0, **van_kw):
    """The events resources: the warehouse, the sandbox VAN, ActionKit (default: the warehouse's actionkit
    schema, by URL: no profile needed) and the configuration file."""
    return {
        "warehouse": WarehouseResource(url=pg_url),
        "van": VanResource(api_keys=json.dumps(keys), base_url=van_url, requests_per_second=rps, **van_kw),
        "actionkit": ActionKitResource(database_url=actionkit_url or pg_url, schema_name=schema),
        "orgsync_config": OrgsyncConfigResource(path=str(config_path)),
    }


def events_definitions(resources: dict) -> dg.Definitions:
    """The events code location (its assets, checks and jobs) with these resources."""
    return dg.Definitions(
        assets=list(events_defs.assets),
        asset_checks=list(events_checks),
        jobs=list(events_defs.jobs),
        resources=resources,
    )


class EventsRunner:
    def __init__(self, instance, resources):
        self.instance, self.resources = instance, resources
        self.defs = events_definitions(resources)

    def read_actionkit(self, **config):
        return self.defs.resolve_job_def("actionkit_events").execute_in_process(
            instance=self.instance,
            raise_on_error=False,
            run_config={"ops": {"actionkit__events": {"config": config}}} if config else None,
        )

    def sync_instance(self, partition: str, dry_run: bool = False):
        return self.defs.resolve_job_def("events_sync").execute_in_process(
            instance=self.instance,
            partition_key=partition,
            raise_on_error=False,
            run_config={"ops": {"van__event_sync": {"config": {"dry_run": dry_run}}}},
        )

    def tick(self, partition: str, dry_run: bool = False):
        """What one schedule tick does for one instance: the ActionKit read, then that instance's sync."""
        ak = self.read_actionkit()
        assert ak.success, failure_messages(ak)
        return self.sync_instance(partition, dry_run)


def failure_messages(result) -> list[str]:
    """The error messages of a run's failed steps."""
    return [
        e.event_specific_data.error.message
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.event_specific_data.error is not None
    ]
