"""Jobs and schedules of the events sync."""

import dagster as dg

from orgsync_dagster.events.assets import van_instance_partitions

events_sync_job = dg.define_asset_job(
    "events_sync",
    selection=dg.AssetSelection.assets(["actionkit", "events"], ["van", "events"], ["van", "event_sync"]),
    partitions_def=van_instance_partitions,
    description="Validate ActionKit events, export VAN events and create the missing ones, for one VAN instance.",
    tags={"orgsync/domain": "events", "dagster/max_retries": "1"},
)


@dg.schedule(
    job=events_sync_job,
    cron_schedule="20 * * * *",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every hour: one run per VAN instance, so one failing state never stops the others.",
)
def events_sync_schedule(context: dg.ScheduleEvaluationContext):
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    for instance in van_instance_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"events-{instance}-{stamp}", partition_key=instance)
