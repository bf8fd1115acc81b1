"""Livevox (the dialer): the calls' service names, as the original call sync enriched its calls. One method per
remote call; retries, timeouts, rate limit and metering come from the shared HTTP layer.

Auth: every request carries the account's access token (``LV-Access``); a session (``LV-Session``) comes from
``POST session/login`` with the client name, user name and password. All three secrets come from the environment
(EnvVar LIVEVOX_ACCESS_TOKEN, LIVEVOX_PASSWORD); none appears in errors or logs."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from orgsync_dagster.resources.http import HttpClient, RequestMeter, TokenBucket

LIVEVOX_DEFAULT_URL = "https://api.na4.livevox.com/"


class LivevoxConfigError(ValueError):
    """Livevox is not configured (the message names the missing setting, never a value)."""


class LivevoxClient:
    def __init__(self, resource: LivevoxResource, meter: RequestMeter | None = None):
        self._r, self._meter = resource, meter
        self._session: HttpClient | None = None
        self._limiter = TokenBucket(resource.requests_per_second)

    def _http(self, headers: dict) -> HttpClient:
        return HttpClient(
            self._r.base_url,
            system="livevox",
            instance=self._r.client_name or "default",
            headers={"Content-Type": "application/json", "LV-Access": self._r.access_token, **headers},
            timeout=self._r.timeout_seconds,
            max_retries=self._r.max_retries,
            rate_limiter=self._limiter,
            meter=self._meter,
        )

    @property
    def requests_sent(self) -> int:
        return self._login_requests + (self._session.requests_sent if self._session else 0)

    _login_requests = 0

    def login(self) -> str:
        """POST session/login -> a session id (kept for this client's next requests)."""
        http = self._http({})
        body = {"clientName": self._r.client_name, "userName": self._r.user_name, "password": self._r.password}
        session_id = str(http.request("POST", "session/login", json=body, retry_unsafe=True).json()["sessionId"])
        self._login_requests += http.requests_sent
        self._session = self._http({"LV-Session": session_id})
        return session_id

    def _api(self) -> HttpClient:
        if self._session is None:
            self.login()
        return self._session

    def get_campaign(self, campaign_id) -> dict:
        """GET campaign/campaigns/{id}: the campaign, with the ``serviceId`` it dials for."""
        return self._api().get_json(f"campaign/campaigns/{int(campaign_id)}")

    def get_service(self, service_id) -> dict:
        """GET configuration/services/{id}: the service, with its ``name``."""
        return self._api().get_json(f"configuration/services/{int(service_id)}")


class LivevoxResource(dg.ConfigurableResource):
    """The Livevox API (service names of calls). Secrets via EnvVar: LIVEVOX_ACCESS_TOKEN, LIVEVOX_PASSWORD."""

    base_url: str = Field(default=LIVEVOX_DEFAULT_URL, description="API base URL (ends with /).")
    access_token: str = Field(default="", description="LV-Access token (use EnvVar LIVEVOX_ACCESS_TOKEN).")
    client_name: str = Field(default="", description="Livevox client (account) name.")
    user_name: str = Field(default="", description="API user name.")
    password: str = Field(default="", description="API user password (use EnvVar LIVEVOX_PASSWORD).")
    requests_per_second: float = Field(default=2.0, description="Client-side rate limit.")
    timeout_seconds: float = Field(default=30.0)
    max_retries: int = Field(default=4)

    def missing(self) -> list[str]:
        """The settings still empty (names only)."""
        names = {"access_token": "LIVEVOX_ACCESS_TOKEN", "client_name": "LIVEVOX_CLIENT_NAME"}
        names.update(user_name="LIVEVOX_USER_NAME", password="LIVEVOX_PASSWORD")
        return [env for field, env in names.items() if not getattr(self, field)]

    def client(self, meter: RequestMeter | None = None) -> LivevoxClient:
        missing = self.missing()
        if missing:
            raise LivevoxConfigError(f"Livevox is not configured: {', '.join(missing)} not set")
        return LivevoxClient(self, meter)
