import os

import dagster as dg

from orgsync_dagster.calls.assets import call_sync_status, calls_daily_report, van_reference_data_asset
from orgsync_dagster.calls.cdr_assets import livevox_cdr
from orgsync_dagster.calls.jobs import calls_load_cdr_job, calls_sync_job, calls_sync_schedule
from orgsync_dagster.calls.sensors import calls_missing_report_sensor, livevox_cdr_sensor
from orgsync_dagster.resources.calls_store import CallsStoreResource

defs = dg.Definitions(
    assets=[van_reference_data_asset, call_sync_status, calls_daily_report, livevox_cdr],
    jobs=[calls_sync_job, calls_load_cdr_job],
    schedules=[calls_sync_schedule],
    sensors=[livevox_cdr_sensor, calls_missing_report_sensor],
    resources={
        "calls_store": CallsStoreResource(
            uri=dg.EnvVar("MONGODB_URI") if os.environ.get("MONGODB_URI") else "mongomock://localhost"
        )
    },
)
