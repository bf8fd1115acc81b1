"""The Dagster layer: definitions load, a whole day (one partition = day x VAN instance) through the real assets,
configuration injected by the orgsync_config resource, a dry run that materializes nothing, a revoked key."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import sqlalchemy as sa
import yaml

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts.assets import (
    all_approved_statuses_synced,
    day_shifts,
    nightly_backup,
    no_shifts_to_flip_manually,
    van_event_participants,
    van_shift_status_sync,
)
from orgsync_dagster.shifts.defs import defs
from orgsync_dagster.shifts.partitions import partition_key
from orgsync_dagster.shifts.seed import review_day, simulate_day
from orgsync_dagster.shifts.tables import event_participants

from .conftest import van_resource


def _meta(result, key):
    (mat,) = [m for m in result.asset_materializations_for_node("__".join(key))]
    return {k: v.value for k, v in mat.metadata.items()}


def _config_file(tmp_path, **shifts_overrides) -> OrgsyncConfigResource:
    data = cfg.load_config()
    data = {**data, "shifts": {**data["shifts"], **shifts_overrides}}
    path = tmp_path / "orgsync.yaml"
    path.write_text(yaml.safe_dump(data))
    return OrgsyncConfigResource(path=str(path))


def test_definitions_load_with_day_x_instance_partitions_and_described_checks():
    resources = {"warehouse": WarehouseResource(), "van": VanResource(), "orgsync_config": OrgsyncConfigResource()}
    full = dg.Definitions.merge(defs, dg.Definitions(resources=resources))
    dg.Definitions.validate_loadable(full)
    job = full.resolve_job_def("shifts_nightly")
    assert isinstance(job.partitions_def, dg.MultiPartitionsDefinition)
    assert {d.name for d in job.partitions_def.partitions_defs} == {"day", "instance"}
    assert {s.name for s in defs.schedules} == {"shifts_participants_refresh_schedule", "shifts_nightly_schedule"}
    graph = full.resolve_asset_graph()
    checks = [graph.get_check_spec(k) for k in graph.asset_check_keys]
    assert {c.name for c in checks} >= {
        "backup_verified",
        "no_quarantined_participants",
        "all_approved_statuses_synced",
        "no_shifts_to_flip_manually",
    }
    assert all(c.description for c in checks), [c.name for c in checks if not c.description]


def test_a_day_through_the_assets(pg_url, sandbox, api_key, seeded, day, settings, tmp_path):
    resources = {
        "warehouse": WarehouseResource(url=pg_url),
        "van": van_resource(sandbox, {"MI": api_key, "WI": f"test-{uuid.uuid4().hex[:8]}"}),
        "orgsync_config": _config_file(tmp_path),
    }
    instance = dg.DagsterInstance.ephemeral()
    mi = partition_key(day, "MI")
    morning = dg.materialize(
        [van_event_participants, day_shifts], partition_key=mi, resources=resources, instance=instance
    )
    export = _meta(morning, ["van", "event_participants"])
    assert export["participants_exported"] == seeded["signups"] and export["requests_spent"] == 4 + 1 + seeded["events"]
    assert export["participants_with_phone"] == export["participants_with_email"] == seeded["signups"]
    assert _meta(morning, ["shifts", "day_shifts"])["shifts_created"] > 0
    engine = WarehouseResource(url=pg_url).get_engine()
    changed = simulate_day(engine, day, settings)["status_changes"]
    approved = review_day(engine, day, settings)["approved"]
    assert 0 < approved <= changed

    night_assets = [nightly_backup, van_shift_status_sync, all_approved_statuses_synced, no_shifts_to_flip_manually]
    dry = dg.materialize(
        night_assets,
        partition_key=mi,
        resources=resources,
        instance=instance,
        run_config={"ops": {"van__shift_status_sync": {"config": {"dry_run": True}}}},
    )
    assert dry.success and not dry.asset_materializations_for_node("van__shift_status_sync")
    (observation,) = [e for e in dry.all_events if e.event_type_value == "ASSET_OBSERVATION"]
    assert observation.event_specific_data.asset_observation.metadata["planned_requests"].value == approved
    assert {e.check_name for e in dry.get_asset_check_evaluations()} == {"backup_verified"}  # sync checks skipped

    night = dg.materialize(night_assets, partition_key=mi, resources=resources, instance=instance)
    backup = _meta(night, ["shifts", "nightly_backup"])
    assert backup["stage"] == "imported" and backup["backed_up_notes"] > 0 and backup["backed_up_canvass_groups"] > 0
    assert backup["backed_up_edits"] >= approved  # the review's approvals are audited edits of the day
    assert "| **Total** |" in backup["day_metrics"] and "knocks/hour" in backup["day_metrics"]
    assert backup["day_metrics_table"].records[-1].data["office"] == "Total"
    assert "Gordon" not in str(backup)  # aggregates only: no names in metadata
    sync = _meta(night, ["van", "shift_status_sync"])
    assert sync["requests_spent"] == sync["statuses_sent"] == sync["approved_to_send"] == approved
    assert sync["statuses_failed"] == 0 and "@" not in str(sync)
    checks = {e.check_name: e.passed for e in night.get_asset_check_evaluations()}
    assert checks == {"backup_verified": True, "all_approved_statuses_synced": True, "no_shifts_to_flip_manually": True}

    rerun = dg.materialize(night_assets, partition_key=mi, resources=resources, instance=instance)
    assert _meta(rerun, ["shifts", "nightly_backup"])["backed_up_shifts"] == backup["backed_up_shifts"]
    assert _meta(rerun, ["van", "shift_status_sync"])["requests_spent"] == 0
    assert {e.check_name: e.passed for e in rerun.get_asset_check_evaluations()}["backup_verified"] is True


def test_the_partition_not_run_config_says_which_day(pg_url, sandbox, api_key, seeded, day, settings, tmp_path):
    """Exporting the partition of yesterday covers yesterday's events (no look-back config needed)."""
    resources = {
        "warehouse": WarehouseResource(url=pg_url),
        "van": van_resource(sandbox, {"MI": api_key}),
        "orgsync_config": _config_file(tmp_path, lookback_days=0),
    }
    result = dg.materialize([van_event_participants], partition_key=partition_key(day, "MI"), resources=resources)
    assert _meta(result, ["van", "event_participants"])["window"].startswith(
        f"events starting after {day - dt.timedelta(days=1)}"
    )
    with WarehouseResource(url=pg_url).get_engine().connect() as conn:
        dates = set(conn.execute(sa.select(event_participants.c.event_date)).scalars())
    assert day.isoformat() in dates


def test_bad_injected_configuration_fails_clearly(pg_url, sandbox, api_key, day, tmp_path):
    resources = {
        "warehouse": WarehouseResource(url=pg_url),
        "van": van_resource(sandbox, {"MI": api_key}),
        "orgsync_config": _config_file(tmp_path, walk_in_slots=["25:99"]),
    }
    result = dg.materialize(
        [day_shifts], partition_key=partition_key(day, "MI"), resources=resources, raise_on_error=False
    )
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "shifts configuration: shifts.walk_in_slots: '25:99' is not a time of day" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_revoked_key_fails_with_a_clear_message(pg_url, sandbox, api_key, day):
    sandbox.van.revoke_key(api_key)
    result = dg.materialize(
        [van_event_participants],
        partition_key=partition_key(day, "MI"),
        raise_on_error=False,
        instance=dg.DagsterInstance.ephemeral(),
        resources={
            "warehouse": WarehouseResource(url=pg_url),
            "van": van_resource(sandbox, {"MI": api_key}),
            "orgsync_config": OrgsyncConfigResource(),
        },
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.user_failure_data.description
    assert "VAN instance MI refused the API key (HTTP 401)" in text and api_key not in text


def test_schedules_target_each_instance_today_hourly_and_the_finished_day_nightly():
    from orgsync_dagster.shifts.jobs import nightly_schedule, participants_refresh_schedule

    when = dt.datetime(2026, 11, 22, 9, 5, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    requests = participants_refresh_schedule(dg.build_schedule_context(scheduled_execution_time=when))
    assert [r.partition_key for r in requests] == ["2026-11-22|MI", "2026-11-22|WI"]
    assert requests[0].run_key == "shifts-MI-2026-11-22T09:05"
    night = dt.datetime(2026, 11, 23, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=-6)))
    requests = nightly_schedule(dg.build_schedule_context(scheduled_execution_time=night))
    assert [r.partition_key for r in requests] == ["2026-11-22|MI", "2026-11-22|WI"]
    from orgsync_dagster.definitions import defs as location

    nightly = location.get_repository_def().get_schedule_def("shifts_nightly_schedule")
    assert nightly.cron_schedule == "30 0 * * *" and nightly.execution_timezone == "America/Chicago"
