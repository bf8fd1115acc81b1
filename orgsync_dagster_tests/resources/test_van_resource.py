"""The VAN resource's pace and daily budget come from the deployment's environment at run time (EnvVar-bound
strings), are validated with a clear message, and are enforced against the sandbox."""

import dagster as dg
import pytest

from orgsync_dagster.lib import profile
from orgsync_dagster.resources.http import BudgetExceeded
from orgsync_dagster.resources.van import VanConfigError, VanResource


def _van(sandbox, api_key, **fields) -> VanResource:
    return VanResource(api_keys=f"MI={api_key}", base_url=sandbox.urls.van_url, **fields)


def test_pace_and_budget_default_to_the_typed_fields():
    van = VanResource(api_keys="MI=k", requests_per_second=3.5, daily_request_budget=7)
    assert van.pace() == 3.5 and van.budget_limit() == 7


def test_environment_values_take_precedence():
    van = VanResource(
        api_keys="MI=k", requests_per_second=3.5, requests_per_second_env="12", daily_request_budget_env="900"
    )
    assert van.pace() == 12.0 and van.budget_limit() == 900


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "fast"])
def test_an_unusable_pace_is_refused_by_name(value):
    with pytest.raises(VanConfigError, match="VAN_REQUESTS_PER_SECOND"):
        VanResource(api_keys="MI=k", requests_per_second_env=value).client("MI")


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "lots"])
def test_an_unusable_budget_is_refused_by_name(value):
    with pytest.raises(VanConfigError, match="VAN_DAILY_REQUEST_BUDGET"):
        VanResource(api_keys="MI=k", daily_request_budget_env=value).client("MI")


def test_the_profile_lists_bad_values_before_anything_runs():
    env = {"ORGSYNC_PROFILE": "local", "VAN_REQUESTS_PER_SECOND": "nan", "VAN_DAILY_REQUEST_BUDGET": "-1"}
    found = profile.problems(env)
    assert any(p.startswith("VAN_REQUESTS_PER_SECOND: must be a finite number") for p in found), found
    assert any(p.startswith("VAN_DAILY_REQUEST_BUDGET: must be above 0") for p in found), found


def test_local_and_production_paces_differ_only_by_their_defaults():
    local, production = {"ORGSYNC_PROFILE": "local"}, {"ORGSYNC_PROFILE": "production"}
    profile.apply_defaults(local)
    profile.apply_defaults(production)
    assert local["VAN_REQUESTS_PER_SECOND"] == "40" and production["VAN_REQUESTS_PER_SECOND"] == "2"
    assert local["VAN_DAILY_REQUEST_BUDGET"] == production["VAN_DAILY_REQUEST_BUDGET"] == ""


def test_budget_from_the_environment_stops_sending_against_the_sandbox(sandbox, api_key, monkeypatch):
    monkeypatch.setenv("ORGSYNC_TEST_VAN_BUDGET", "3")
    # bound as the code location binds it: an EnvVar read when the resource is used, not at definition time
    van = _van(sandbox, api_key, daily_request_budget_env=dg.EnvVar("ORGSYNC_TEST_VAN_BUDGET"))
    resolved = van.process_config_and_initialize()
    spent = {"n": 0}

    def budget_spent() -> int:
        return spent["n"]

    client = resolved.client("MI", budget_spent=budget_spent)
    for _ in range(3):
        client.event_types()
        spent["n"] += 1
    with pytest.raises(BudgetExceeded, match="daily request budget of 3"):
        client.event_types()
    assert client.requests_sent == 3
