"""Action Network API v2 (OSDI, HAL+JSON). One method per remote call; the shared HTTP layer paces requests
to the configured rate (default 4 req/s), retries 429/5xx and meters every request."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from orgsync_dagster.resources.http import HttpClient, RequestMeter, TokenBucket

AN_DEFAULT_URL = "https://actionnetwork.org/api/v2/"
AN_PAGE_SIZE = 25


class ActionNetworkClient:
    def __init__(self, http: HttpClient):
        self.http = http

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def upsert_person(self, person: dict, *, add_tags: list[str] | None = None, retry_unsafe: bool = True) -> dict:
        """Person signup helper (POST /people/): creates or updates, matched by email. An upsert: retry-safe.
        ``retry_unsafe=False``: a lost answer raises ApiError(uncertain=True) instead of posting again, for
        callers that reconcile by lookup (a read) rather than repeat the write."""
        body: dict = {"person": person}
        if add_tags:
            body["add_tags"] = add_tags
        return self.http.request("POST", "people/", json=body, retry_unsafe=retry_unsafe).json()

    def update_person(self, person_id: str, fields: dict) -> dict:
        return self.http.request("PUT", f"people/{person_id}", json=fields).json()

    def get_person(self, person_id: str) -> dict:
        return self.http.get_json(f"people/{person_id}")

    def find_people_by_email(self, email: str) -> list[dict]:
        quoted = email.replace("'", "")
        return list(
            self.http.paginate_pages("people", "osdi:people", params={"filter": f"email_address eq '{quoted}'"})
        )

    def list_people(self, *, modified_after: str | None = None) -> Iterator[dict]:
        """Every person, 25 per request; ``modified_after`` (``YYYY-MM-DDTHH:MM:SSZ``): only those modified since."""
        params = {"filter": f"modified_date gt '{modified_after}'"} if modified_after else None
        return self.http.paginate_pages("people", "osdi:people", params=params, per_page=AN_PAGE_SIZE)


class ActionNetworkResource(dg.ConfigurableResource):
    """Action Network v2 for one group: API key via EnvVar ACTION_NETWORK_API_KEY."""

    api_key: str = Field(default="", description="OSDI-API-Token of the group (use EnvVar).")
    base_url: str = Field(default=AN_DEFAULT_URL, description="API base URL ending in /api/v2/.")
    requests_per_second: float = Field(default=4.0, description="Rate limit; concurrent sends never exceed it.")
    timeout_seconds: float = Field(default=30.0)
    max_retries: int = Field(default=5)

    def client(self, *, meter: RequestMeter | None = None) -> ActionNetworkClient:
        if not self.api_key:
            raise ValueError("Action Network API key is not configured (set ACTION_NETWORK_API_KEY)")
        http = HttpClient(
            self.base_url,
            system="action_network",
            instance="default",
            headers={"OSDI-API-Token": self.api_key, "Content-Type": "application/json"},
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
            rate_limiter=TokenBucket(self.requests_per_second, capacity=1.0),
            meter=meter,
        )
        return ActionNetworkClient(http)
