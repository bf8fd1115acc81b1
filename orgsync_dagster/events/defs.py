import dagster as dg

from orgsync_dagster.events.assets import actionkit_events, actionkit_events_event, van_event_sync, van_events_mirror
from orgsync_dagster.events.checks import events_checks
from orgsync_dagster.events.jobs import actionkit_events_job, events_sync_fan_out, events_sync_job, events_sync_schedule

defs = dg.Definitions(
    assets=[actionkit_events_event, actionkit_events, van_events_mirror, van_event_sync],
    asset_checks=events_checks,
    jobs=[actionkit_events_job, events_sync_job],
    schedules=[events_sync_schedule],
    sensors=[events_sync_fan_out],
)
