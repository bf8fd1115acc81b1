"""Action Network API v2 (OSDI, HAL+JSON). One method per remote call; the shared HTTP layer paces requests
to the configured rate (default 4 req/s), retries 429/5xx and meters every request."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, field_validator

from orgsync_dagster.resources.http import HttpClient, RequestMeter, TokenBucket

AN_DEFAULT_URL = "https://actionnetwork.org/api/v2/"
AN_PAGE_SIZE = 25


def check_base_url(url: str) -> str:
    """The Action Network base URL, or ValueError saying what is wrong with it (never echoes a key)."""
    if not isinstance(url, str) or not url:
        raise ValueError(
            "the Action Network URL is empty (set ACTION_NETWORK_URL, e.g. https://actionnetwork.org/api/v2/)"
        )
    if url != url.strip() or any(c.isspace() for c in url):
        raise ValueError("the Action Network URL contains whitespace; expected e.g. https://actionnetwork.org/api/v2/")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"the Action Network URL is malformed ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        what = f"scheme {parts.scheme!r}" if parts.scheme and parts.netloc else "no http:// or https:// scheme"
        raise ValueError(f"the Action Network URL has {what}; expected e.g. https://actionnetwork.org/api/v2/")
    if not parts.hostname:
        raise ValueError("the Action Network URL has no host; expected e.g. https://actionnetwork.org/api/v2/")
    if parts.username or parts.password:
        raise ValueError("the Action Network URL must not carry credentials (the key goes in ACTION_NETWORK_API_KEY)")
    del port
    return url


def normalized_base_url(url: str) -> str:
    """``https://ActionNetwork.org:443/api/v2/`` -> ``actionnetwork.org/api/v2``: one group, however it is spelled."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    if parts.port and parts.port != default:
        host = f"{host}:{parts.port}"
    return host + (parts.path.rstrip("/") or "")


def key_fingerprint(api_key: str) -> str:
    """A short, stable fingerprint of an API key (sha256, 12 hex): tells groups apart, never reveals the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def odata_quote(value: str) -> str:
    """A string literal for an OData ``$filter``: quoted, a single quote inside doubled (``o'brien`` -> ``'o''brien'``)."""
    return "'" + value.replace("'", "''") + "'"


def has_email(person: dict | None, email: str) -> bool:
    """Does this Action Network person hold exactly this address (case-insensitive, whole address)?"""
    if not person or not email:
        return False
    want = email.strip().casefold()
    return any(
        isinstance(e, dict) and str(e.get("address") or "").strip().casefold() == want
        for e in person.get("email_addresses") or []
    )


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
        """People holding exactly this address: the filter quotes it OData-style, and only people whose
        ``email_addresses`` hold the whole address (case-insensitive) are returned."""
        people = self.http.paginate_pages(
            "people", "osdi:people", params={"filter": f"email_address eq {odata_quote(email.strip())}"}
        )
        return [p for p in people if has_email(p, email)]

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

    @field_validator("base_url", mode="before")
    @classmethod
    def _valid_url(cls, value):
        if isinstance(value, dg.EnvVar):  # resolved (and validated again) when the run starts
            return value
        return check_base_url(value)

    @field_validator("requests_per_second", "timeout_seconds")
    @classmethod
    def _positive(cls, value, info):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{info.field_name} must be a positive finite number, not {value!r}")
        return value

    @field_validator("max_retries")
    @classmethod
    def _retries(cls, value):
        if value < 0:
            raise ValueError("max_retries must be 0 or more")
        return value

    def target_scope(self, name: str) -> str:
        """Ledger scope of this group: ``name|host/path|key fingerprint`` (see ``lib.ledger.target_scope``)."""
        from orgsync_dagster.lib.ledger import target_scope

        return target_scope(name, normalized_base_url(check_base_url(self.base_url)), key_fingerprint(self.api_key))

    def client(self, *, meter: RequestMeter | None = None) -> ActionNetworkClient:
        if not self.api_key:
            raise ValueError("Action Network API key is not configured (set ACTION_NETWORK_API_KEY)")
        check_base_url(self.base_url)
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
