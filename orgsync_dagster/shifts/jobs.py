"""Jobs and schedules of the shifts domain: the hourly participants refresh and the nightly backup + sync-back,
each one run per VAN instance and day (a failing state never stops the others)."""

import datetime as dt

import dagster as dg

from orgsync_dagster.partitions import van_instance_partitions
from orgsync_dagster.shifts.partitions import DEFINITION, partition_key

participants_refresh_job = dg.define_asset_job(
    "shifts_participants_refresh",
    selection=dg.AssetSelection.assets(["van", "event_participants"], ["shifts", "day_shifts"]),
    description="Export VAN's event participants of one instance and add the day's new shifts to the organizer tool.",
    tags={"orgsync/domain": "shifts"},
)

nightly_job = dg.define_asset_job(
    "shifts_nightly",
    selection=dg.AssetSelection.assets(["shifts", "nightly_backup"], ["van", "shift_status_sync"]),
    description="For a finished day of one VAN instance: back up, verify, reset the day tables, import the next day, "
    "send the statuses approved in the review to VAN.",
    # every step is resumable (shifts.day_status), so a crashed run worker is simply retried
    tags={"orgsync/domain": "shifts", "dagster/max_retries": "2"},
)


def runs_for_day(prefix: str, day: dt.date, stamp: str) -> list[dg.RunRequest]:
    """One run per VAN instance for ``day`` (run keys make a re-evaluated tick launch nothing twice)."""
    return [
        dg.RunRequest(run_key=f"{prefix}-{instance}-{stamp}", partition_key=partition_key(day, instance))
        for instance in van_instance_partitions.get_partition_keys()
    ]


@dg.schedule(
    name="shifts_participants_refresh_schedule",
    job=participants_refresh_job,
    cron_schedule=DEFINITION.refresh_cron,
    execution_timezone=DEFINITION.timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly during the day: today's partition of each VAN instance (one run each).",
)
def participants_refresh_schedule(context: dg.ScheduleEvaluationContext):
    local = context.scheduled_execution_time.astimezone(DEFINITION.tz)
    return runs_for_day("shifts", local.date(), local.strftime("%Y-%m-%dT%H:%M"))


@dg.schedule(
    name="shifts_nightly_schedule",
    job=nightly_job,
    cron_schedule=f"{DEFINITION.nightly_minute} {DEFINITION.nightly_hour} * * *",
    execution_timezone=DEFINITION.timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="After midnight (shifts.timezone): the day that just ended, one run per VAN instance.",
)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    local = context.scheduled_execution_time.astimezone(DEFINITION.tz)
    day = local.date() - dt.timedelta(days=1)
    if day.isoformat() < DEFINITION.partitions_start:
        return dg.SkipReason(f"{day} is before shifts.partitions_start")
    return runs_for_day("shifts-nightly", day, day.isoformat())
