"""Jobs and the schedule of the calls sync. Candidates are read from the warehouse store at tick time."""

import datetime as dt

import dagster as dg

from orgsync_dagster.calls import runtime
from orgsync_dagster.calls.partitions import SCHEDULE_TIMEZONE, candidate_partitions, partition_key
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.warehouse import WarehouseResource

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


def due_requests(settings, scheduled: dt.datetime) -> list[dg.RunRequest]:
    """Each active candidate whose local sync hour is now gets yesterday (its own time zone) synced."""
    requests = []
    for c in sorted(settings.candidates.values(), key=lambda c: c.slug):
        local = scheduled.astimezone(c.tz)
        if not c.active or local.hour != c.sync_hour:
            continue
        day = (local.date() - dt.timedelta(days=1)).isoformat()
        if day < settings.start_date:
            continue
        requests.append(dg.RunRequest(run_key=f"calls-{c.slug}-{day}", partition_key=partition_key(c.slug, day)))
    return requests


@dg.schedule(
    job=calls_sync_job,
    cron_schedule="3 * * * *",
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly at :03: candidates whose sync hour it is (in their own time zone) get yesterday's calls "
    "synced, one run each. Candidates are read from the warehouse at each tick.",
)
def calls_sync_schedule(
    context: dg.ScheduleEvaluationContext, orgsync_config: OrgsyncConfigResource, warehouse: WarehouseResource
):
    try:
        settings = runtime.settings(orgsync_config, warehouse)
    except Exception as exc:  # an unreachable warehouse or a bad config file: one clear line, no stack trace
        return dg.SkipReason(f"cannot read the calls configuration: {type(exc).__name__}: {str(exc)[:300]}")
    requests = due_requests(settings, context.scheduled_execution_time)
    if not requests:
        return dg.SkipReason("no candidate's sync hour")
    have = set(context.instance.get_dynamic_partitions(candidate_partitions.name))
    new = sorted({r.partition_key.keys_by_dimension["candidate"] for r in requests} - have)
    if new:  # a candidate saved since the partitions sensor last ran
        context.instance.add_dynamic_partitions(candidate_partitions.name, new)
    return requests
