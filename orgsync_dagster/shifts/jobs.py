"""Jobs and schedules of the shifts domain: the hourly participants refresh and the nightly backup + sync-back."""

import dagster as dg

from orgsync_dagster.partitions import run_per_van_instance
from orgsync_dagster.shifts.assets import SETTINGS

participants_refresh_job = dg.define_asset_job(
    "shifts_participants_refresh",
    selection=dg.AssetSelection.assets(["van", "event_participants"], ["shifts", "day_shifts"]),
    description="Export VAN's event participants of one instance and add today's new shifts to the organizer tool.",
    tags={"orgsync/domain": "shifts"},
)


@dg.schedule(
    name="shifts_participants_refresh_schedule",
    job=participants_refresh_job,
    cron_schedule=SETTINGS.refresh_cron,
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Hourly during the day: one run per VAN instance, so one failing state never stops the others.",
)
def participants_refresh_schedule(context: dg.ScheduleEvaluationContext):
    yield from run_per_van_instance(context, "shifts")


nightly_job = dg.define_asset_job(
    "shifts_nightly",
    selection=dg.AssetSelection.assets(["shifts", "nightly_backup"], ["van", "shift_status_sync"]),
    description="For a finished day: back up, verify, reset the day tables, import the next day, sync statuses to VAN.",
    # every step is resumable (shifts.day_status), so a crashed run worker is simply retried
    tags={"orgsync/domain": "shifts", "dagster/max_retries": "2"},
)

nightly_schedule = dg.build_schedule_from_partitioned_job(
    nightly_job,
    hour_of_day=SETTINGS.nightly_hour,
    minute_of_hour=SETTINGS.nightly_minute,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="After midnight (shifts.timezone): the nightly job for the day that just ended.",
)
