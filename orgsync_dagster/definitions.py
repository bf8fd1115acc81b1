"""The code location: every domain's definitions plus the shared resources, configured from the environment.

No credential is read at load time: secrets are EnvVars resolved when a run starts, so
`dagster definitions validate` works with no environment set.
"""

import dagster as dg

from orgsync_dagster.events import defs as events
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource


def _env_or_default(name: str, default: str):
    """An EnvVar when the variable is set (value hidden in the UI), otherwise the default."""
    import os

    return dg.EnvVar(name) if os.environ.get(name) else default


resources = {
    "warehouse": WarehouseResource(url=_env_or_default("ORGSYNC_WAREHOUSE_URL", None)),
    "van": VanResource(
        api_keys=dg.EnvVar("VAN_API_KEYS"),
        application_name=_env_or_default("VAN_APPLICATION_NAME", "orgsync"),
        base_url=_env_or_default("VAN_URL", "https://api.securevan.com/v4/"),
    ),
    "action_network": ActionNetworkResource(
        api_key=dg.EnvVar("ACTION_NETWORK_API_KEY"),
        base_url=_env_or_default("ACTION_NETWORK_URL", "https://actionnetwork.org/api/v2/"),
    ),
    "slack": SlackResource(webhook_url=_env_or_default("SLACK_WEBHOOK_URL", "")),
}

defs = dg.Definitions.merge(
    events.defs,
    dg.Definitions(resources=resources),
)
