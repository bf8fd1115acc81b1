"""Jobs, schedule and sensor of the events sync: one tick reads ActionKit once, then each VAN instance syncs in its
own run.

    events_sync_schedule (hourly at :20, America/New_York)
        -> one run of `actionkit_events`: observe ActionKit's events table, refresh `actionkit/events`
    events_sync_fan_out (sensor, on that run's success)
        -> one run of `events_sync` per VAN instance: export `van/events`, then `van/event_sync`

A failed ActionKit read launches no VAN run (nothing is synced from a bad read); a failing VAN instance fails only
its own run.
"""

import dagster as dg

from orgsync_dagster.partitions import van_instance_partitions

# Runs of `actionkit_events` carrying this tag are followed by one `events_sync` run per VAN instance.
FAN_OUT_TAG = "orgsync/events_fan_out"
TICK_TAG = "orgsync/events_tick"
SCHEDULE_TIMEZONE = "America/New_York"

actionkit_events_job = dg.define_asset_job(
    "actionkit_events",
    selection=dg.AssetSelection.assets(["actionkit", "events_event"], ["actionkit", "events"]),
    description="Read ActionKit's events once (the changes since the last run, or a periodic full pass) and sort "
    "them: eligible for VAN, not eligible (why) or quarantined.",
    tags={"orgsync/domain": "events", "dagster/max_retries": "1"},
)

events_sync_job = dg.define_asset_job(
    "events_sync",
    selection=dg.AssetSelection.assets(["van", "events"], ["van", "event_sync"]),
    description="For one VAN instance: export its events, then create, update or cancel the ActionKit events "
    "that differ (reads the validated ActionKit events; never reads ActionKit itself).",
    tags={"orgsync/domain": "events", "dagster/max_retries": "1"},
)


@dg.schedule(
    job=actionkit_events_job,
    cron_schedule="20 * * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour at :20 (America/New_York): read ActionKit once; when that succeeds, the "
    "events_sync_fan_out sensor starts one events_sync run per VAN instance.",
)
def events_sync_schedule(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    return dg.RunRequest(run_key=f"actionkit-events-{stamp}", tags={FAN_OUT_TAG: "all", TICK_TAG: stamp})


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[actionkit_events_job],
    request_job=events_sync_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="After each successful scheduled ActionKit read (runs tagged orgsync/events_fan_out), one "
    "events_sync run per VAN instance, so a failing state never stops the others. Runs started by hand without "
    "the tag are not followed.",
)
def events_sync_fan_out(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if FAN_OUT_TAG not in run.tags:
        return dg.SkipReason(f"run {run.run_id} was not started by the schedule (no {FAN_OUT_TAG} tag)")
    tick = run.tags.get(TICK_TAG, run.run_id)
    return [
        dg.RunRequest(
            run_key=f"events-sync-{run.run_id}-{instance}",
            partition_key=instance,
            tags={TICK_TAG: tick, "orgsync/actionkit_run": run.run_id},
        )
        for instance in van_instance_partitions.get_partition_keys()
    ]
