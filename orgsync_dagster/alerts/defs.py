"""The alerting and recovery definitions, built from the assembled domain definitions."""

import dagster as dg

from orgsync_dagster.alerts.freshness import with_freshness
from orgsync_dagster.alerts.routing import asset_domains
from orgsync_dagster.alerts.sensors import build_alert_sensors, build_recovery_sensor


def with_alerts(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` (every domain, with resources) plus freshness policies on the scheduled assets, the alert sensors
    and the recovery sensor."""
    domains = asset_domains(defs)
    sensors = [*build_alert_sensors(domains), build_recovery_sensor(domains)]
    return dg.Definitions.merge(with_freshness(defs), dg.Definitions(sensors=sensors))
