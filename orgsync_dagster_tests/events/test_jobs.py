"""One tick reads ActionKit once, then each VAN instance syncs in its own run: the schedule, the fan-out sensor and
the runs they request, through the real Dagster APIs."""

import datetime as dt

import dagster as dg

from orgsync_dagster.events.jobs import (
    FAN_OUT_TAG,
    SCHEDULE_TIMEZONE,
    TICK_TAG,
    events_sync_fan_out,
    events_sync_schedule,
)
from orgsync_dagster.events.seed import seed_actionkit_events
from orgsync_dagster_tests.events.conftest import EventsRunner, events_definitions, make_resources
from orgsync_dagster_tests.events.test_assets import eligible_events

ACTIONKIT_EVENTS = dg.AssetKey(["actionkit", "events"])


def test_jobs_split_the_actionkit_read_from_the_per_instance_syncs():
    # not orgsync_dagster.definitions: importing it here would freeze its environment-built resources for the
    # demo test that runs later in the same process
    defs = events_definitions(make_resources("postgresql://unused/db", "http://127.0.0.1:9/v4/", {}, "unused.yaml"))
    ak = defs.resolve_job_def("actionkit_events")
    per_instance = defs.resolve_job_def("events_sync")
    assert ak.partitions_def is None
    assert {k.to_user_string() for k in ak.asset_layer.selected_asset_keys} == {
        "actionkit/events_event",
        "actionkit/events",
    }
    assert per_instance.partitions_def.get_partition_keys() == ["MI", "WI"]
    assert ACTIONKIT_EVENTS not in per_instance.asset_layer.selected_asset_keys  # never re-materialized per state
    assert events_sync_schedule.execution_timezone == SCHEDULE_TIMEZONE == "America/New_York"


def test_a_tick_reads_actionkit_once_then_one_run_per_instance(
    engine, pg_url, sandbox, dagster_instance, api_key, config_path
):
    seed_actionkit_events(engine, eligible_events(3, "MI") + eligible_events(2, "WI", start_id=7000))
    keys = {"MI": api_key, "WI": api_key + "-wi"}
    runner = EventsRunner(dagster_instance, make_resources(pg_url, sandbox.urls.van_url, keys, config_path))
    tick_time = dt.datetime(2026, 11, 27, 9, 20, tzinfo=dt.UTC)
    with dg.build_schedule_context(instance=dagster_instance, scheduled_execution_time=tick_time) as ctx:
        request = events_sync_schedule(ctx)
    assert request.tags[FAN_OUT_TAG] == "all" and request.run_key == "actionkit-events-2026-11-27T09:20"

    ak = runner.defs.resolve_job_def("actionkit_events").execute_in_process(
        instance=dagster_instance, tags=request.tags
    )
    assert ak.success
    sensor_ctx = dg.build_run_status_sensor_context(
        sensor_name="events_sync_fan_out",
        dagster_instance=dagster_instance,
        dagster_run=ak.dagster_run,
        dagster_event=ak.get_run_success_event(),
    )
    requests = events_sync_fan_out(sensor_ctx)
    assert [r.partition_key for r in requests] == ["MI", "WI"]
    assert len({r.run_key for r in requests}) == 2 and all(r.tags[TICK_TAG] == request.tags[TICK_TAG] for r in requests)
    for r in requests:
        run = runner.defs.resolve_job_def("events_sync").execute_in_process(
            instance=dagster_instance, partition_key=r.partition_key, tags=r.tags
        )
        assert run.success
    # ActionKit was read (and actionkit/events materialized) once for the whole tick
    assert len(dagster_instance.fetch_materializations(ACTIONKIT_EVENTS, limit=10).records) == 1
    synced = dagster_instance.get_materialized_partitions(dg.AssetKey(["van", "event_sync"]))
    assert synced == {"MI", "WI"}
    assert len(sandbox.van.dump(api_key)["events"]) == 3 and len(sandbox.van.dump(api_key + "-wi")["events"]) == 2

    # a run started by hand (no fan-out tag) is not followed by VAN runs
    manual = runner.read_actionkit()
    skipped = events_sync_fan_out(
        dg.build_run_status_sensor_context(
            sensor_name="events_sync_fan_out",
            dagster_instance=dagster_instance,
            dagster_run=manual.dagster_run,
            dagster_event=manual.get_run_success_event(),
        )
    )
    assert isinstance(skipped, dg.SkipReason) and FAN_OUT_TAG in skipped.skip_message
