import dagster as dg

from orgsync_dagster.membership.approval_sensor import membership_approval_sensor
from orgsync_dagster.membership.assets import membership_diff, membership_snapshot, membership_sync
from orgsync_dagster.membership.drift_asset import membership_drift, membership_drift_job
from orgsync_dagster.membership.jobs import membership_sync_job
from orgsync_dagster.membership.sensors import membership_export_sensor

defs = dg.Definitions(
    assets=[membership_snapshot, membership_diff, membership_sync, membership_drift],
    jobs=[membership_sync_job, membership_drift_job],
    sensors=[membership_export_sensor, membership_approval_sensor],
)
