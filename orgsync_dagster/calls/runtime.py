"""Where a calls run gets its configuration, at run (or tick) time: the deployment settings from the
``orgsync_config`` resource, everything staff edit from the warehouse store. No Dagster import."""

from __future__ import annotations

from orgsync_dagster.calls.config import CallsDeployment, CallsSettings, parse_deployment
from orgsync_dagster.calls.config_store import ConfigStore


def deployment(orgsync_config) -> CallsDeployment:
    return parse_deployment(orgsync_config.section("calls"))


def store(orgsync_config, warehouse) -> ConfigStore:
    return ConfigStore(warehouse.get_engine(), deployment(orgsync_config))


def settings(orgsync_config, warehouse) -> CallsSettings:
    """The configuration as it is now (a change saved a second ago is in it)."""
    return store(orgsync_config, warehouse).load_settings()
