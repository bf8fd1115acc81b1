"""The Livevox emulator and the Livevox resource: login, campaign -> service -> name, and the refusals."""

import pytest
import requests

from orgsync_dagster.resources.http import ApiError
from orgsync_dagster.resources.livevox import LivevoxConfigError, LivevoxResource


@pytest.fixture
def base(sandbox):
    return sandbox.urls.van_url.replace("/v4/", "/livevox/")


def test_the_resource_logs_in_once_and_reads_a_campaigns_service_name(sandbox, base, api_key):
    lv = LivevoxResource(base_url=base, access_token=api_key, client_name="jd", user_name="api", password="pw")
    client = lv.client()
    campaign = client.get_campaign(7003)
    assert campaign["serviceId"] == 903
    assert client.get_service(903)["name"] == "MO-05 GOTV"
    sandbox.livevox.add_campaign(api_key, 123, 77, "NY-14 Phone Bank")
    assert client.get_service(client.get_campaign(123)["serviceId"])["name"] == "NY-14 Phone Bank"
    assert client.requests_sent == 5  # one login, then one request per call
    with pytest.raises(ApiError) as err:
        client.get_campaign(99999)
    assert err.value.status == 404 and api_key not in str(err.value)


def test_refusals_and_missing_settings(sandbox, base, api_key):
    assert requests.post(f"{base}session/v6.0/login", json={}, timeout=5).status_code == 401  # no LV-Access
    h = {"LV-Access": api_key}
    assert requests.post(f"{base}session/login", json={"clientName": "jd"}, headers=h, timeout=5).status_code == 401
    assert requests.get(f"{base}campaign/campaigns/7000", headers=h, timeout=5).status_code == 401  # no session
    login = requests.post(
        f"{base}session/v6.0/login", json={"clientName": "jd", "userName": "u", "password": "p"}, headers=h, timeout=5
    )
    session = {**h, "LV-Session": login.json()["sessionId"]}
    assert requests.get(f"{base}campaign/v6.0/campaigns/7000", headers=session, timeout=5).json()["serviceId"] == 900
    assert requests.get(f"{base}nothing/here", headers=session, timeout=5).status_code == 404
    with pytest.raises(LivevoxConfigError, match="LIVEVOX_ACCESS_TOKEN, LIVEVOX_PASSWORD not set") as err:
        LivevoxResource(client_name="jd", user_name="api").client()
    assert "jd" not in str(err.value)
