"""Jobs and schedules of the events sync."""

import dagster as dg

from orgsync_dagster.partitions import run_per_van_instance

events_sync_job = dg.define_asset_job(
    "events_sync",
    selection=dg.AssetSelection.assets(["actionkit", "events"], ["van", "events"], ["van", "event_sync"]),
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
    yield from run_per_van_instance(context, "events")
