"""Jobs and the schedule of the calls sync."""

import datetime as dt

import dagster as dg

from orgsync_dagster.calls.partitions import SETTINGS, partition_key

calls_sync_job = dg.define_asset_job(
    "calls_sync",
    selection=dg.AssetSelection.assets(
        ["van", "reference_data"], ["calls", "call_sync_status"], ["calls", "daily_report"]
    ),
    description="One candidate-day: VAN reference data + config check, every call to its final status, the report.",
    tags={"orgsync/domain": "calls", "dagster/max_retries": "1"},
)

calls_load_cdr_job = dg.define_asset_job(
    "calls_load_cdr",
    selection=dg.AssetSelection.assets(["calls", "livevox_cdr"]),
    description="Load one Livevox CDR export file from S3 into the calls store.",
    tags={"orgsync/domain": "calls"},
)


def due_requests(scheduled: dt.datetime) -> list[dg.RunRequest]:
    """Each active candidate whose local sync hour is now gets yesterday (its own time zone) synced."""
    requests = []
    for c in sorted(SETTINGS.candidates.values(), key=lambda c: c.slug):
        local = scheduled.astimezone(c.tz)
        if not c.active or local.hour != c.sync_hour:
            continue
        day = (local.date() - dt.timedelta(days=1)).isoformat()
        if day < SETTINGS.start_date:
            continue
        requests.append(dg.RunRequest(run_key=f"calls-{c.slug}-{day}", partition_key=partition_key(c.slug, day)))
    return requests


@dg.schedule(
    job=calls_sync_job,
    cron_schedule="3 * * * *",
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly at :03: candidates whose sync hour it is get yesterday's calls synced (one run each).",
)
def calls_sync_schedule(context: dg.ScheduleEvaluationContext):
    requests = due_requests(context.scheduled_execution_time)
    return requests or dg.SkipReason("no candidate's sync hour")
