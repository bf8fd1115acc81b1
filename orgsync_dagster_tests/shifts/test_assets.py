"""The Dagster layer: definitions load, a whole day through the real assets, and a revoked key as a clear failure."""

from __future__ import annotations

import uuid

import dagster as dg

from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts.assets import day_shifts, nightly_backup, van_event_participants, van_shift_status_sync
from orgsync_dagster.shifts.defs import defs
from orgsync_dagster.shifts.seed import simulate_day

from .conftest import van_resource


def _meta(result, key):
    (mat,) = [m for m in result.asset_materializations_for_node("__".join(key))]
    return {k: v.value for k, v in mat.metadata.items()}


def test_definitions_load():
    resources = {"warehouse": WarehouseResource(), "van": VanResource()}
    full = dg.Definitions.merge(defs, dg.Definitions(resources=resources))
    dg.Definitions.validate_loadable(full)
    assert full.resolve_job_def("shifts_nightly").partitions_def.timezone == "America/Chicago"
    assert {s.name for s in defs.schedules} == {"shifts_participants_refresh_schedule", "shifts_nightly_schedule"}


def test_a_day_through_the_assets(pg_url, sandbox, api_key, seeded, day, settings):
    resources = {
        "warehouse": WarehouseResource(url=pg_url),
        "van": van_resource(sandbox, {"MI": api_key, "WI": f"test-{uuid.uuid4().hex[:8]}"}),
    }
    instance = dg.DagsterInstance.ephemeral()
    morning = dg.materialize(
        [van_event_participants, day_shifts],
        partition_key="MI",
        resources=resources,
        instance=instance,
        run_config={
            "ops": {
                "van__event_participants": {"config": {"lookback_days": 1}},
                "shifts__day_shifts": {"config": {"day": day.isoformat()}},
            }
        },
    )
    export = _meta(morning, ["van", "event_participants"])
    assert export["participants"] == seeded["signups"] and export["requests_spent"] == 4 + 1 + seeded["events"]
    assert _meta(morning, ["shifts", "day_shifts"])["created"] > 0
    changed = simulate_day(WarehouseResource(url=pg_url).get_engine(), day, settings)["status_changes"]

    night = dg.materialize(
        [nightly_backup, van_shift_status_sync], partition_key=day.isoformat(), resources=resources, instance=instance
    )
    backup = _meta(night, ["shifts", "nightly_backup"])
    assert backup["stage"] == "imported" and backup["backed_up_notes"] > 0 and backup["backed_up_canvass_groups"] > 0
    assert "| **Total** |" in backup["day_metrics"] and "knocks/hour" in backup["day_metrics"]
    assert backup["day_metrics_table"].records[-1].data["office"] == "Total"
    assert "Gordon" not in str(backup)  # aggregates only: no names in metadata
    sync = _meta(night, ["van", "shift_status_sync"])
    assert sync["requests_spent"] == sync["synced"] == sync["changed"] > 0
    assert sync["changed"] <= changed and sync["failed"] == 0
    checks = {e.check_name: e.passed for e in night.get_asset_check_evaluations()}
    assert checks == {"backup_verified": True, "all_changed_statuses_synced": True, "no_unmappable_statuses": True}

    rerun = dg.materialize(
        [nightly_backup, van_shift_status_sync], partition_key=day.isoformat(), resources=resources, instance=instance
    )
    assert _meta(rerun, ["shifts", "nightly_backup"])["backed_up_shifts"] == backup["backed_up_shifts"]
    assert _meta(rerun, ["van", "shift_status_sync"])["requests_spent"] == 0


def test_revoked_key_fails_with_a_clear_message(pg_url, sandbox, api_key):
    sandbox.van.revoke_key(api_key)
    result = dg.materialize(
        [van_event_participants],
        partition_key="MI",
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"warehouse": WarehouseResource(url=pg_url), "van": van_resource(sandbox, {"MI": api_key})},
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.user_failure_data.description
    assert "VAN instance MI refused the API key (HTTP 401)" in text and api_key not in text


def test_schedules_target_each_instance_hourly_and_the_finished_day_nightly():
    import datetime as dt

    from orgsync_dagster.shifts.jobs import participants_refresh_schedule

    when = dt.datetime(2026, 11, 22, 9, 5, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    requests = list(participants_refresh_schedule(dg.build_schedule_context(scheduled_execution_time=when)))
    assert [r.partition_key for r in requests] == ["MI", "WI"] and requests[0].run_key == "shifts-MI-2026-11-22T09:05"
    from orgsync_dagster.definitions import defs as location

    nightly = location.get_repository_def().get_schedule_def("shifts_nightly_schedule")
    assert nightly.cron_schedule == "30 0 * * *" and nightly.execution_timezone == "America/Chicago"
