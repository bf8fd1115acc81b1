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
from orgsync_dagster.lib import profile
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.livevox import LIVEVOX_DEFAULT_URL, LivevoxResource

# Livevox is optional (service names are added to calls when it is configured); MONGODB_URI is the platform's.
for _name, _purpose, _default, _secret in (
    ("LIVEVOX_URL", "Livevox API base URL (service names of calls)", LIVEVOX_DEFAULT_URL, False),
    ("LIVEVOX_ACCESS_TOKEN", "Livevox access token (empty: no service names)", "", True),
    ("LIVEVOX_CLIENT_NAME", "Livevox client name", "", False),
    ("LIVEVOX_USER_NAME", "Livevox user name", "", False),
    ("LIVEVOX_PASSWORD", "Livevox password", "", True),
):
    profile.register(profile.Setting(_name, _purpose, owner="calls", default=_default, secret=_secret))


defs = dg.Definitions(
    assets=[van_reference_data_asset, call_sync_status, calls_daily_report, livevox_cdr],
    asset_checks=[every_call_final],
    jobs=[calls_sync_job, calls_load_cdr_job],
    schedules=[calls_sync_schedule],
    sensors=[calls_candidates_sensor, livevox_cdr_sensor, calls_missing_report_sensor, calls_failure_webhook_sensor],
    resources={
        # every variable has a default in the registry (applied by definitions.py), so each EnvVar resolves
        "calls_store": CallsStoreResource(uri=dg.EnvVar("MONGODB_URI")),
        "livevox": LivevoxResource(
            base_url=dg.EnvVar("LIVEVOX_URL"),
            access_token=dg.EnvVar("LIVEVOX_ACCESS_TOKEN"),
            client_name=dg.EnvVar("LIVEVOX_CLIENT_NAME"),
            user_name=dg.EnvVar("LIVEVOX_USER_NAME"),
            password=dg.EnvVar("LIVEVOX_PASSWORD"),
        ),
    },
)
