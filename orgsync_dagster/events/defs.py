import dagster as dg

from orgsync_dagster.events.assets import actionkit_events, ak_events_source, van_event_sync, van_events_mirror
from orgsync_dagster.events.jobs import events_sync_job, events_sync_schedule

defs = dg.Definitions(
    assets=[ak_events_source, actionkit_events, van_events_mirror, van_event_sync],
    jobs=[events_sync_job],
    schedules=[events_sync_schedule],
)
