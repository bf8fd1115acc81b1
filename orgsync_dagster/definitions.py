"""The code location: every domain's definitions, the shared resources, alerts and freshness policies.

Nothing is read from the environment into a value at load: every setting is bound as a ``dagster.EnvVar``, read
when a run starts and never shown in the UI. The profile (``ORGSYNC_PROFILE``, lib/profile.py) is checked here,
after every module has registered the settings it needs: in production a missing setting stops the code server
(and every run worker, which loads this same module) at once, with one message naming every missing variable.
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.alerts.defs import with_alerts
from orgsync_dagster.calls import defs as calls
from orgsync_dagster.events import defs as events
from orgsync_dagster.lib import profile
from orgsync_dagster.membership import defs as membership
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.actionkit import ActionKitResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.slack import DOMAINS, SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts import defs as shifts
from orgsync_dagster.usage import defs as usage


def shared_resources() -> dict:
    return {
        "orgsync_config": OrgsyncConfigResource(path=dg.EnvVar("ORGSYNC_CONFIG")),
        "warehouse": WarehouseResource(url=dg.EnvVar("ORGSYNC_WAREHOUSE_URL")),
        "van": VanResource(
            api_keys=dg.EnvVar("VAN_API_KEYS"),
            application_name=dg.EnvVar("VAN_APPLICATION_NAME"),
            base_url=dg.EnvVar("VAN_URL"),
            requests_per_second_env=dg.EnvVar("VAN_REQUESTS_PER_SECOND"),
            daily_request_budget_env=dg.EnvVar("VAN_DAILY_REQUEST_BUDGET"),
        ),
        "action_network": ActionNetworkResource(
            api_key=dg.EnvVar("ACTION_NETWORK_API_KEY"), base_url=dg.EnvVar("ACTION_NETWORK_URL")
        ),
        "actionkit": ActionKitResource(
            database_url=dg.EnvVar("ACTIONKIT_DATABASE_URL"), schema_name=dg.EnvVar("ACTIONKIT_SCHEMA")
        ),
        "slack": SlackResource(
            webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL"),
            **{f"{d}_webhook_url": dg.EnvVar(f"SLACK_WEBHOOK_URL_{d.upper()}") for d in DOMAINS},
        ),
        # boto3 reads AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION and the credentials (or the IAM role) at run time
        "s3": S3Resource(),
    }


def assemble() -> dg.Definitions:
    """Each domain's defs.py (its assets, checks, sensors, schedules, jobs and own resources, e.g. calls_store),
    the shared resources, then the alerts, freshness policies and crash recovery (alerts/)."""
    domains = dg.Definitions.merge(events.defs, membership.defs, calls.defs, shifts.defs, usage.defs)
    return with_alerts(dg.Definitions.merge(domains, dg.Definitions(resources=shared_resources())))


profile.apply_defaults()
profile.assert_ready("the orgsync_dagster code location")

defs = assemble()
