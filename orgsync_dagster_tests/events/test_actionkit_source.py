"""ActionKit as a real source: its MySQL database (a real MariaDB server) or a PostgreSQL mirror, read read-only and
incrementally; time zones across a DST change; bad sources fail with a clear message and change nothing."""

import datetime as dt
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa

from orgsync_dagster.events import logic
from orgsync_dagster.events.seed import actionkit_tables, seed_actionkit_events
from orgsync_dagster.events.settings import EventsSettings
from orgsync_dagster.events.tables import ak_events_source_rows, ak_events_source_state, ak_events_validated
from orgsync_dagster.resources.actionkit import ActionKitResource, SourceError
from orgsync_dagster_tests.events.conftest import EventsRunner, failure_messages, make_resources

SETTINGS = EventsSettings(event_type_campaigns={"Barnstorm": [1], "Canvass": [2]}, instances=["MI", "WI"])
NO_VAN = "http://127.0.0.1:9/v4/"  # these tests never reach VAN


def ak_rows(n, *, start_id=1, updated=None):
    """ActionKit rows as ActionKit stores them: naive UTC times, updated long ago (one hour apart)."""
    base = updated or dt.datetime(2026, 1, 1, 12, 0)
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=10)
    return [
        {
            "id": start_id + i,
            "campaign_id": 1 + i % 2,
            "title": f"Canvass {i}",
            "venue": "Union Hall",
            "address1": "1 Main St",
            "city": "Detroit",
            "state": "MI",
            "zip": "48201",
            "country": "United States",
            "starts_at_utc": start + dt.timedelta(hours=i),
            "timezone": "America/Detroit",
            "status": "active",
            "host_is_confirmed": 1,
            "updated_at": base + dt.timedelta(hours=i),
        }
        for i in range(n)
    ]


def meta(result, node="actionkit__events"):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()}


def runner_for(dagster_instance, pg_url, config_path, actionkit_url, schema=None):
    return EventsRunner(
        dagster_instance,
        make_resources(pg_url, NO_VAN, {"MI": "k"}, config_path, actionkit_url=actionkit_url, schema=schema),
    )


def warehouse_state(engine):
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(ak_events_source_rows)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(ak_events_validated)).scalar_one(),
            [
                tuple(r)
                for r in conn.execute(sa.select(ak_events_source_state.c.source, ak_events_source_state.c.watermark))
            ],
        )


def test_mariadb_full_pass_then_incremental_reads_only_the_changed_rows(
    engine, pg_url, mariadb_url, dagster_instance, config_path
):
    ak = sa.create_engine(mariadb_url)
    seed_actionkit_events(ak, ak_rows(50), schema=None)
    runner = runner_for(dagster_instance, pg_url, config_path, mariadb_url)

    first = runner.read_actionkit()
    assert first.success, failure_messages(first)
    m = meta(first)
    assert m["read_mode"] == "full pass" and m["rows_read_from_actionkit"] == 50 and m["new_events"] == 50
    assert m["eligible"] == 50 and m["source"].startswith("mysql://127.0.0.1:3306/orgsync_ak_")
    assert m["watermark_utc"] == "2026-01-03 13:00:00"  # the newest updated_at (naive UTC, as ActionKit keeps it)
    observed = [
        e.event_specific_data.asset_observation for e in first.all_events if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observed and observed[0].metadata["rows_estimated"].value >= 0  # the server's statistics, no scan
    assert observed[0].metadata["newest_updated_at_utc"].value == "2026-01-03 13:00:00"

    with ak.begin() as conn:
        conn.execute(sa.text("UPDATE events_event SET title = 'Moved', updated_at = UTC_TIMESTAMP() WHERE id = 7"))
    second = runner.read_actionkit()
    m2 = meta(second)
    # the changed row, and the newest old one (inside the 10-minute overlap before the watermark): not the table
    assert m2["read_mode"] == "incremental" and m2["rows_read_from_actionkit"] == 2
    assert m2["changed_events"] == 1 and m2["new_events"] == 0
    with engine.connect() as conn:
        payload = conn.execute(
            sa.select(ak_events_validated.c.payload).where(ak_events_validated.c.ak_event_id == 7)
        ).scalar_one()
    assert payload["title"] == "Moved"
    ak.dispose()


def test_the_source_session_is_read_only(mariadb_url, pg_url):
    from orgsync_dagster.resources.actionkit import readonly_engine

    ak = sa.create_engine(mariadb_url)
    actionkit_tables(ak, schema=None)
    ak.dispose()
    for url, schema, table in ((mariadb_url, None, "events_event"), (pg_url, "actionkit", "actionkit.events_event")):
        if schema:
            actionkit_tables(sa.create_engine(url), schema=schema)
        engine = readonly_engine(url)
        with pytest.raises(sa.exc.DBAPIError, match=r"(?i)read.only"), engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table} (id, title) VALUES (1, 'x')"))
        engine.dispose()


def test_campaign_table_is_joined_only_when_the_mapping_names_campaigns(
    engine, pg_url, mariadb_url, dagster_instance, tmp_path
):
    ak = sa.create_engine(mariadb_url)
    seed_actionkit_events(ak, ak_rows(4), schema=None)  # campaigns 1 = barnstorm, 2 = canvass
    resource = ActionKitResource(database_url=mariadb_url)
    source = resource.open()
    assert "events_campaign" not in str(source.events_query(None))
    assert "JOIN events_campaign" in str(source.events_query(None, need_campaigns=True))
    source.dispose()

    config = tmp_path / "by_name.yaml"
    config.write_text(
        "van: {instances: [MI]}\nevents:\n  event_type_campaigns: {Barnstorm: [barnstorm], Canvass: [2]}\n"
    )
    runner = EventsRunner(
        dagster_instance, make_resources(pg_url, NO_VAN, {"MI": "k"}, config, actionkit_url=mariadb_url)
    )
    result = runner.read_actionkit()
    assert result.success, failure_messages(result)
    with engine.connect() as conn:
        types = dict(
            conn.execute(sa.select(ak_events_validated.c.ak_event_id, ak_events_validated.c.event_type_name)).all()
        )
    assert types == {1: "Barnstorm", 2: "Canvass", 3: "Barnstorm", 4: "Canvass"}

    with ak.begin() as conn:
        conn.execute(sa.text("DROP TABLE events_campaign"))
    broken = runner.read_actionkit()
    assert not broken.success
    assert "events_campaign does not exist" in failure_messages(broken)[0]
    ak.dispose()


# -- times: ActionKit's naive UTC and local wall times, across DST changes ----------------------------------------

DST_ROWS = [
    # the fall-back night in Detroit: 01:30 happens twice; starts_at_utc tells which
    {"id": 1, "starts_at_utc": dt.datetime(2027, 11, 7, 5, 30), "starts_at": dt.datetime(2027, 11, 7, 1, 30)},
    {"id": 2, "starts_at_utc": dt.datetime(2027, 11, 7, 6, 30), "starts_at": dt.datetime(2027, 11, 7, 1, 30)},
    # either side of the change
    {"id": 3, "starts_at_utc": dt.datetime(2027, 11, 6, 22, 0), "starts_at": dt.datetime(2027, 11, 6, 18, 0)},
    {"id": 4, "starts_at_utc": dt.datetime(2027, 11, 8, 23, 0), "starts_at": dt.datetime(2027, 11, 8, 18, 0)},
    # no UTC twin: the local wall time is used when it names one instant ...
    {"id": 5, "starts_at_utc": None, "starts_at": dt.datetime(2027, 3, 15, 18, 0)},
    # ... and quarantined when a DST change makes it ambiguous or nonexistent
    {"id": 6, "starts_at_utc": None, "starts_at": dt.datetime(2027, 11, 7, 1, 30)},
    {"id": 7, "starts_at_utc": None, "starts_at": dt.datetime(2027, 3, 14, 2, 30)},
]
EXPECTED_STARTS = {
    1: "2027-11-07T01:30:00-04:00",
    2: "2027-11-07T01:30:00-05:00",
    3: "2027-11-06T18:00:00-04:00",
    4: "2027-11-08T18:00:00-05:00",
    5: "2027-03-15T18:00:00-04:00",
}


def dst_rows():
    base = ak_rows(len(DST_ROWS))
    return [{**b, **d, "ends_at_utc": None, "ends_at": None} for b, d in zip(base, DST_ROWS)]


def validated_from(source) -> dict[int, logic.ValidatedEvent]:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return {r["id"]: logic.validate_event(r, SETTINGS, now) for r in source.read(None)}


def test_times_across_dst_changes_are_the_same_from_mariadb_and_postgres_mirrors(mariadb_url, pg_url):
    ak = sa.create_engine(mariadb_url)
    seed_actionkit_events(ak, dst_rows(), schema=None)
    ak.dispose()
    pg = sa.create_engine(pg_url)
    seed_actionkit_events(pg, dst_rows(), schema="ak_mirror")
    # a mirror that loaded the UTC columns as timestamp WITH time zone, read from a session in another zone
    with pg.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA ak_tz"))
        conn.execute(sa.text("CREATE TABLE ak_tz.events_event AS SELECT * FROM ak_mirror.events_event"))
        for col in ("starts_at_utc", "ends_at_utc", "updated_at"):
            conn.execute(
                sa.text(
                    f"ALTER TABLE ak_tz.events_event ALTER COLUMN {col} TYPE timestamptz USING {col} AT TIME ZONE 'UTC'"
                )
            )
        conn.execute(sa.text("ALTER DATABASE " + pg.url.database + " SET timezone TO 'Asia/Tokyo'"))
    pg.dispose()

    outcomes = {}
    for name, url, schema in (("mariadb", mariadb_url, None), ("pg", pg_url, "ak_mirror"), ("pg_tz", pg_url, "ak_tz")):
        source = ActionKitResource(database_url=url, schema_name=schema).open()
        outcomes[name] = validated_from(source)
        source.dispose()
    for name, validated in outcomes.items():
        starts = {k: v.payload["start"] for k, v in validated.items() if not v.quarantined}
        assert starts == EXPECTED_STARTS, name
        # one hour (the default duration) after 01:30 EDT that night is 01:30 EST
        assert validated[1].payload["end"] == "2027-11-07T01:30:00-05:00"
        assert "is ambiguous in America/Detroit (clocks go back)" in validated[6].reason and validated[6].quarantined
        assert "does not exist in America/Detroit (clocks go forward)" in validated[7].reason
    assert {k: v.payload for k, v in outcomes["mariadb"].items()} == {k: v.payload for k, v in outcomes["pg"].items()}
    assert {k: v.payload for k, v in outcomes["pg"].items()} == {k: v.payload for k, v in outcomes["pg_tz"].items()}


# -- bad sources: a clear error naming what is missing, the run fails for that reason only, nothing changes -------


def test_unreachable_source_fails_with_its_name_and_no_password(engine, pg_url, dagster_instance, config_path):
    url = "mysql+pymysql://reader:S3cret-pw@127.0.0.1:9/ak_org"
    result = runner_for(dagster_instance, pg_url, config_path, url).read_actionkit()
    assert not result.success
    message = failure_messages(result)[0]
    assert "ActionKit source mysql://127.0.0.1:9/ak_org is unreachable" in message
    assert "S3cret-pw" not in message and "reader" not in message.split("unreachable")[0]
    assert warehouse_state(engine) == (0, 0, [])


def test_missing_table_and_columns_are_named(engine, pg_url, mariadb_url, dagster_instance, config_path):
    runner = runner_for(dagster_instance, pg_url, config_path, mariadb_url)
    empty = runner.read_actionkit()
    assert "table events_event does not exist" in failure_messages(empty)[0]

    ak = sa.create_engine(mariadb_url)
    seed_actionkit_events(ak, ak_rows(5), schema=None)
    assert runner.read_actionkit().success
    before = warehouse_state(engine)
    with ak.begin() as conn:
        conn.execute(sa.text("UPDATE events_event SET title = 'changed', updated_at = UTC_TIMESTAMP()"))
        conn.execute(sa.text("ALTER TABLE events_event DROP COLUMN starts_at_utc, DROP COLUMN host_is_confirmed"))
    broken = runner.read_actionkit()
    assert not broken.success
    message = failure_messages(broken)[0]
    assert "events_event lacks column(s) starts_at_utc, host_is_confirmed" in message
    assert warehouse_state(engine) == before  # nothing synced from a source that cannot be read whole
    ak.dispose()


def test_a_view_without_permission_is_a_clear_error(
    engine, pg_url, mariadb_url, mariadb_admin, dagster_instance, config_path
):
    db = sa.engine.make_url(mariadb_url).database
    user = f"ak_reader_{uuid.uuid4().hex[:8]}"
    ak = sa.create_engine(mariadb_url)
    base, _campaigns = actionkit_tables(ak, schema=None)
    with ak.begin() as conn:
        conn.execute(sa.text("RENAME TABLE events_event TO events_event_base"))
        conn.execute(sa.text("CREATE SQL SECURITY INVOKER VIEW events_event AS SELECT * FROM events_event_base"))
    ak.dispose()
    with mariadb_admin.begin() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'"))
        conn.execute(sa.text(f"GRANT SELECT ON `{db}`.`events_event` TO '{user}'@'%'"))
        conn.execute(sa.text(f"GRANT SELECT ON `{db}`.`events_campaign` TO '{user}'@'%'"))
    try:
        url = sa.engine.make_url(mariadb_url).set(username=user, password=f"pw-{user}")
        result = runner_for(
            dagster_instance, pg_url, config_path, url.render_as_string(hide_password=False)
        ).read_actionkit()
        assert not result.success
        message = failure_messages(result)[0]
        assert "permission denied" in message and "events_event" in message and f"pw-{user}" not in message
        assert warehouse_state(engine) == (0, 0, [])
    finally:
        with mariadb_admin.begin() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))


# -- deletions: found by the periodic full pass, guarded against a truncated source -----------------------------


def test_full_pass_finds_deleted_events_and_stops_on_a_mass_deletion(
    engine, pg_url, mariadb_url, dagster_instance, config_path
):
    ak = sa.create_engine(mariadb_url)
    seed_actionkit_events(ak, ak_rows(40), schema=None)
    runner = runner_for(dagster_instance, pg_url, config_path, mariadb_url)
    assert runner.read_actionkit().success
    with ak.begin() as conn:
        conn.execute(sa.text("DELETE FROM events_event WHERE id = 3"))
    incremental = meta(runner.read_actionkit())
    assert incremental["read_mode"] == "incremental" and incremental["deleted_in_actionkit"] == 0  # cannot see it
    full = meta(runner.read_actionkit(full_pass=True))
    assert full["read_mode"] == "full pass" and full["deleted_in_actionkit"] == 1
    with engine.connect() as conn:
        row = conn.execute(sa.select(ak_events_validated).where(ak_events_validated.c.ak_event_id == 3)).one()
    assert row.cancelled and not row.eligible and row.reason.startswith("deleted in ActionKit")

    with ak.begin() as conn:
        conn.execute(sa.text("DELETE FROM events_event WHERE id > 20"))  # a truncated source: 20 of 39 gone
    before = warehouse_state(engine)
    stopped = runner.read_actionkit(full_pass=True)
    assert not stopped.success
    assert "did not find 20 of the 39 events" in failure_messages(stopped)[0]
    assert warehouse_state(engine) == before
    accepted = meta(runner.read_actionkit(full_pass=True, accept_deletions=True))
    assert accepted["deleted_in_actionkit"] == 20 and accepted["events"] == 40
    ak.dispose()


# -- local vs production ------------------------------------------------------------------------------------------


def test_unset_url_reads_the_warehouse_locally_and_fails_in_production(
    engine, pg_url, dagster_instance, config_path, monkeypatch
):
    seed_actionkit_events(engine, ak_rows(3))
    resources = make_resources(pg_url, NO_VAN, {"MI": "k"}, config_path)
    resources["actionkit"] = ActionKitResource()  # ACTIONKIT_DATABASE_URL unset
    runner = EventsRunner(dagster_instance, resources)
    monkeypatch.setenv("ORGSYNC_PROFILE", "production")
    result = runner.read_actionkit()
    assert not result.success and "ACTIONKIT_DATABASE_URL is not set" in failure_messages(result)[0]
    assert warehouse_state(engine) == (0, 0, [])
    monkeypatch.setenv("ORGSYNC_PROFILE", "local")
    local = runner.read_actionkit()
    assert local.success and meta(local)["rows_read_from_actionkit"] == 3
    assert "(schema actionkit)" in meta(local)["source"]


def test_bad_events_configuration_fails_with_its_reason(engine, pg_url, dagster_instance, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("van: {instances: [MI]}\nevents:\n  event_type_campaigns: {Barnstorm: [1], Canvass: [1]}\n")
    result = runner_for(dagster_instance, pg_url, config, pg_url).read_actionkit()
    assert not result.success
    assert "events configuration: campaign 1 is mapped to two event types" in failure_messages(result)[0]


def test_source_error_messages_redact_the_password():
    resource = ActionKitResource(database_url="not a url with secret-pw")
    with pytest.raises(SourceError, match="is not a valid") as info:
        resource.open()
    assert "secret-pw" not in str(info.value)
    assert dg.AssetKey(["actionkit", "events_event"])  # the observed asset's key, for the README's table


def test_the_incremental_figure_benchmark_runs_and_uses_the_updated_at_index(mariadb_admin):
    """benchmarks/events_source.py on a small table (the 100k figure is the benchmark's, not a test's)."""
    from benchmarks.events_source import measure
    from orgsync_dagster_tests.events.conftest import MARIADB_ADMIN_URL

    out = measure(3000, MARIADB_ADMIN_URL)
    full, inc = out["runs"]["full pass"], out["runs"]["incremental after one change"]
    assert full["rows_read_by_the_asset"] == 3000 and inc["read_mode"] == "incremental"
    assert inc["rows_read_by_the_asset"] == 4 and inc["changed_events"] == 1
    plan = out["query_plans"]["incremental"]
    assert plan["explain"][0]["key"] == "ix_events_event_updated_at" and plan["explain"][0]["type"] == "range"
    assert plan["analyze"][0]["r_rows"] == 4
    assert out["query_plans"]["full pass"]["analyze"][0]["r_rows"] == 3000


def test_without_a_mariadb_server_the_tests_skip_saying_so_unless_required(monkeypatch):
    from orgsync_dagster_tests.events.conftest import REQUIRE_MARIADB, _mariadb_admin

    nowhere = "mysql+pymysql://root@127.0.0.1:9/"
    monkeypatch.delenv(REQUIRE_MARIADB, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no MariaDB/MySQL server reachable at .*127.0.0.1:9"):
        _mariadb_admin(nowhere)
    monkeypatch.setenv(REQUIRE_MARIADB, "1")
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRE_MARIADB}=1 requires it"):
        _mariadb_admin(nowhere)
