"""The code location: every domain's definitions plus the shared resources, configured from the environment.

No credential is read at load time: secrets are EnvVars resolved when a run starts, so
`dagster definitions validate` works with no environment set.
"""

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls import defs as calls
from orgsync_dagster.events import defs as events
from orgsync_dagster.membership import defs as membership
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.actionkit import ActionKitResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts import defs as shifts
from orgsync_dagster.usage import defs as usage


def _env_or_default(name: str, default):
    """An EnvVar when the variable is set (its value is then hidden in the UI), otherwise the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def shared_resources() -> dict:
    return {
        "orgsync_config": OrgsyncConfigResource(path=_env_or_default("ORGSYNC_CONFIG", "")),
        "warehouse": WarehouseResource(url=_env_or_default("ORGSYNC_WAREHOUSE_URL", None)),
        "van": VanResource(
            api_keys=dg.EnvVar("VAN_API_KEYS"),
            application_name=_env_or_default("VAN_APPLICATION_NAME", "orgsync"),
            base_url=_env_or_default("VAN_URL", "https://api.securevan.com/v4/"),
            requests_per_second=float(os.environ.get("VAN_REQUESTS_PER_SECOND", "2")),
            daily_request_budget=int(os.environ["VAN_DAILY_REQUEST_BUDGET"])
            if os.environ.get("VAN_DAILY_REQUEST_BUDGET")
            else None,
        ),
        "action_network": ActionNetworkResource(
            api_key=dg.EnvVar("ACTION_NETWORK_API_KEY"),
            base_url=_env_or_default("ACTION_NETWORK_URL", "https://actionnetwork.org/api/v2/"),
            requests_per_second=float(os.environ.get("ACTION_NETWORK_REQUESTS_PER_SECOND", "4")),
        ),
        "actionkit": ActionKitResource(
            database_url=_env_or_default("ACTIONKIT_DATABASE_URL", None),
            schema_name=_env_or_default("ACTIONKIT_SCHEMA", None),
        ),
        "slack": SlackResource(webhook_url=_env_or_default("SLACK_WEBHOOK_URL", "")),
        "s3": S3Resource(
            endpoint_url=_env_or_default("ORGSYNC_S3_ENDPOINT_URL", None),
            region_name=_env_or_default("AWS_DEFAULT_REGION", "us-east-1"),
        ),
    }


# each domain's defs.py: its assets, checks, sensors, schedules, jobs (and its own resources, e.g. calls_store)
defs = dg.Definitions.merge(
    events.defs, membership.defs, calls.defs, shifts.defs, usage.defs, dg.Definitions(resources=shared_resources())
)
