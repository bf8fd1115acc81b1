import dagster as dg

from orgsync_dagster.shifts.assets import (
    all_approved_statuses_synced,
    day_shifts,
    nightly_backup,
    no_shifts_to_flip_manually,
    van_event_participants,
    van_shift_status_sync,
)
from orgsync_dagster.shifts.jobs import (
    nightly_job,
    nightly_schedule,
    participants_refresh_job,
    participants_refresh_schedule,
)

defs = dg.Definitions(
    assets=[van_event_participants, day_shifts, nightly_backup, van_shift_status_sync],
    asset_checks=[all_approved_statuses_synced, no_shifts_to_flip_manually],
    jobs=[participants_refresh_job, nightly_job],
    schedules=[participants_refresh_schedule, nightly_schedule],
)
