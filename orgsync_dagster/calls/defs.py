import os

import dagster as dg

from orgsync_dagster.calls.assets import call_sync_status, every_call_final
from orgsync_dagster.calls.cdr_assets import livevox_cdr
from orgsync_dagster.calls.jobs import calls_load_cdr_job, calls_sync_job, calls_sync_schedule
from orgsync_dagster.calls.reference_assets import van_reference_data_asset
from orgsync_dagster.calls.report_assets import calls_daily_report
from orgsync_dagster.calls.sensors import (
    calls_candidates_sensor,
    calls_failure_webhook_sensor,
    calls_missing_report_sensor,
    livevox_cdr_sensor,
)
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.livevox import LIVEVOX_DEFAULT_URL, LivevoxResource


def _env_or(name: str, default: str):
    """An EnvVar when set (hidden in the UI, read at run start), otherwise the default (empty: not configured)."""
    return dg.EnvVar(name) if os.environ.get(name) else default


defs = dg.Definitions(
    assets=[van_reference_data_asset, call_sync_status, calls_daily_report, livevox_cdr],
    asset_checks=[every_call_final],
    jobs=[calls_sync_job, calls_load_cdr_job],
    schedules=[calls_sync_schedule],
    sensors=[calls_candidates_sensor, livevox_cdr_sensor, calls_missing_report_sensor, calls_failure_webhook_sensor],
    resources={
        "calls_store": CallsStoreResource(
            uri=dg.EnvVar("MONGODB_URI") if os.environ.get("MONGODB_URI") else "mongomock://localhost"
        ),
        "livevox": LivevoxResource(
            base_url=_env_or("LIVEVOX_URL", LIVEVOX_DEFAULT_URL),
            access_token=_env_or("LIVEVOX_ACCESS_TOKEN", ""),
            client_name=_env_or("LIVEVOX_CLIENT_NAME", ""),
            user_name=_env_or("LIVEVOX_USER_NAME", ""),
            password=_env_or("LIVEVOX_PASSWORD", ""),
        ),
    },
)
