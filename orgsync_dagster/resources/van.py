"""NGP VAN API v4: one API key per VAN instance (e.g. per state). One method per remote call; paging, retries,
rate limiting, budget and metering come from the shared HTTP layer."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from orgsync_dagster.resources.http import DailyBudget, HttpClient, RequestMeter, TokenBucket

VAN_DEFAULT_URL = "https://api.securevan.com/v4/"
EVENTS_MAX_TOP = 50  # VAN's maximum page size for GET /events
LIST_MAX_TOP = 200  # maximum page size of the other paginated collections


class VanConfigError(ValueError):
    """VAN is not configured for what was asked (unknown instance, malformed key map...)."""


def parse_api_keys(raw: str) -> dict[str, str]:
    """``{"MI": "key", "WI": "key"}`` (JSON) or ``MI=key,WI=key``. Values never appear in error messages."""
    raw = (raw or "").strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise VanConfigError('VAN_API_KEYS is not valid JSON (expected {"MI": "<key>", ...})') from None
        if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
            raise VanConfigError("VAN_API_KEYS must map each instance name to a non-empty key string")
        return {str(k): v for k, v in data.items()}
    out = {}
    for part in raw.split(","):
        name, sep, key = part.partition("=")
        if not sep or not name.strip() or not key.strip():
            raise VanConfigError("VAN_API_KEYS must look like MI=<key>,WI=<key> or a JSON object")
        out[name.strip()] = key.strip()
    return out


class VanClient:
    """Calls to one VAN instance. Every method is exactly one request, except listings (one per page)."""

    def __init__(self, http: HttpClient, instance: str):
        self.http, self.instance = http, instance
        self._file_requests = 0  # downloads from VAN's file host (bulk import results)

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent + self._file_requests

    # events ------------------------------------------------------------------------------------------------
    def list_events(
        self,
        *,
        event_type_ids: Iterable[int] | None = None,
        starting_after: str | None = None,
        starting_before: str | None = None,
        expand: Iterable[str] = ("locations", "shifts", "roles"),
    ) -> Iterator[dict]:
        params: dict[str, Any] = {"$top": EVENTS_MAX_TOP}
        if event_type_ids:
            params["eventTypeIds"] = ",".join(str(i) for i in event_type_ids)
        if starting_after:
            params["startingAfter"] = starting_after
        if starting_before:
            params["startingBefore"] = starting_before
        if expand:
            params["$expand"] = ",".join(expand)
        return self.http.paginate_next_link("events", params)

    def get_event(self, event_id: int, expand: Iterable[str] = ("locations", "shifts", "roles")) -> dict:
        return self.http.get_json(f"events/{int(event_id)}", {"$expand": ",".join(expand)} if expand else None)

    def create_event(self, payload: dict) -> int:
        # not an upsert: never retried blindly (the sync engine reconciles by shortName)
        return int(self.http.request("POST", "events", json=payload).json())

    def update_event(self, event_id: int, payload: dict) -> None:
        self.http.request("PUT", f"events/{int(event_id)}", json=payload)

    def set_event_active(self, event_id: int, active: bool) -> None:
        """PATCH /events/{id} {isActive}: false cancels (hides) the event, true restores it. Idempotent."""
        self.http.request(
            "PATCH", f"events/{int(event_id)}", json={"eventId": int(event_id), "isActive": active}, retry_unsafe=True
        )

    def event_types(self) -> list[dict]:
        return self.http.get_json("events/types")

    # locations -----------------------------------------------------------------------------------------------
    def find_or_create_location(self, payload: dict) -> int:
        return int(self.http.request("POST", "locations/findOrCreate", json=payload, retry_unsafe=True).json())

    # signups -------------------------------------------------------------------------------------------------
    def list_signups(self, *, event_id: int | None = None, van_id: int | None = None) -> Iterator[dict]:
        params: dict[str, Any] = {"$top": LIST_MAX_TOP}
        if event_id is not None:
            params["eventId"] = int(event_id)
        if van_id is not None:
            params["vanId"] = int(van_id)
        return self.http.paginate_next_link("signups", params)

    def upsert_signup(self, payload: dict) -> int:
        """POST /signups creates or updates (same person+event+role+shift): an upsert, safe to retry."""
        return int(self.http.request("POST", "signups", json=payload, retry_unsafe=True).json())

    def signup_statuses(self, *, event_type_id: int | None = None, event_id: int | None = None) -> list[dict]:
        params = {"eventTypeId": event_type_id} if event_type_id is not None else {"eventId": event_id}
        return self.http.get_json("signups/statuses", params)

    # people --------------------------------------------------------------------------------------------------
    def find_or_create_person(self, payload: dict) -> int:
        """201 (created) or 302 (matched): the vanId is read from the body or the Location header, without
        following the redirect (which would cost a second request)."""
        resp = self.http.request("POST", "people/findOrCreate", json=payload, retry_unsafe=True)
        try:
            return int(resp.json()["vanId"])
        except (ValueError, KeyError, TypeError):
            return int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1])

    def get_person(self, van_id: int, expand: Iterable[str] = ("phones",)) -> dict:
        return self.http.get_json(f"people/{int(van_id)}", {"$expand": ",".join(expand)} if expand else None)

    def post_canvass_response(self, van_id: int, payload: dict) -> None:
        """Not idempotent after VAN's one-hour matching window: never retried blindly."""
        self.http.request("POST", f"people/{int(van_id)}/canvassResponses", json=payload)

    # reference data ------------------------------------------------------------------------------------------
    def result_codes(self) -> list[dict]:
        return self.http.get_json("canvassResponses/resultCodes")

    def contact_types(self) -> list[dict]:
        return self.http.get_json("canvassResponses/contactTypes")

    def input_types(self) -> list[dict]:
        return self.http.get_json("canvassResponses/inputTypes")

    def survey_questions(self) -> Iterator[dict]:
        return self.http.paginate_next_link("surveyQuestions", {"$top": LIST_MAX_TOP})

    def activist_codes(self) -> Iterator[dict]:
        return self.http.paginate_next_link("activistCodes", {"$top": LIST_MAX_TOP})

    def result_codes_for_contact_type(self, contact_type_id: int) -> list[dict]:
        """Result codes VAN accepts with one contact type (e.g. 1 = Phone)."""
        return self.http.get_json("canvassResponses/resultCodes", {"contactTypeId": int(contact_type_id)})

    # bulk import jobs ----------------------------------------------------------------------------------------
    def bulk_import_resources(self) -> list[str]:
        """Resource types this key may bulk-import (e.g. ``Contacts``)."""
        return self.http.get_json("bulkImportJobs/resources")

    def bulk_import_mapping_types(self) -> list[dict]:
        return self.http.get_json("bulkImportMappingTypes")

    def bulk_import_mapping_type(self, name: str) -> dict:
        return self.http.get_json(f"bulkImportMappingTypes/{name}")

    def create_bulk_import_job(self, payload: dict) -> int:
        """POST bulkImportJobs -> the job id. Not idempotent: never retried blindly (a lost answer leaves a job
        that may exist; the caller records the batch as in flight before calling)."""
        return int(self.http.request("POST", "bulkImportJobs", json=payload).json()["jobId"])

    def get_bulk_import_job(self, job_id: int) -> dict:
        return self.http.get_json(f"bulkImportJobs/{int(job_id)}")

    def download_bulk_import_results(self, url: str) -> str:
        """A job's results file (CSV text). Its URL is a signed link on VAN's file host: fetched WITHOUT the API
        key (credentials never go to another host), through the same retrying, metered HTTP layer."""
        parts = urlsplit(url)
        files = HttpClient(
            f"{parts.scheme}://{parts.netloc}/",
            system=self.http.system,
            instance=self.instance,
            timeout=self.http.timeout,
            max_retries=self.http.max_retries,
            meter=self.http.meter,
        )
        resp = files.request("GET", url)
        self._file_requests += files.requests_sent
        return resp.content.decode("utf-8-sig")


def rate_problem(value: str) -> str | None:
    """Why ``value`` is not a usable requests-per-second figure (None: it is): finite and above 0."""
    try:
        rate = float(value)
    except ValueError:
        return "must be a number of requests per second, e.g. 2"
    if not math.isfinite(rate) or rate <= 0:
        return "must be a finite number above 0"
    return None


def budget_problem(value: str) -> str | None:
    """Why ``value`` is not a usable daily request budget (None: it is): a whole number above 0."""
    try:
        budget = int(value)
    except ValueError:
        return "must be a whole number of requests per day, e.g. 1000 (leave it unset for no cap)"
    if budget <= 0:
        return "must be above 0 (leave it unset for no cap)"
    return None


class VanResource(dg.ConfigurableResource):
    """NGP VAN v4, one API key per instance (state). Keys come from the environment (EnvVar VAN_API_KEYS)."""

    api_keys: str = Field(
        default="", description='Instance -> API key, JSON {"MI": "<key>"} or MI=<key>,WI=<key> (use EnvVar).'
    )
    application_name: str = Field(default="orgsync", description="VAN application name (Basic auth user).")
    db_mode: int = Field(default=1, description="0 = MyVoters (VoterFile), 1 = MyCampaign.")
    base_url: str = Field(default=VAN_DEFAULT_URL, description="API base URL ending in /v4/.")
    requests_per_second: float = Field(default=2.0, description="Client-side rate limit per instance.")
    timeout_seconds: float = Field(default=32.0, description="Per-request timeout.")
    max_retries: int = Field(default=5, description="Retries on 429/5xx (writes only where safe).")
    daily_request_budget: int | None = Field(
        default=None, description="Stop sending to an instance after this many requests in a day (None: no cap)."
    )
    # The deployment's own values, bound to environment variables (read when a run starts, never frozen at load):
    # when set they take precedence over the typed fields above.
    requests_per_second_env: str = Field(
        default="", description="VAN_REQUESTS_PER_SECOND (EnvVar): requests per second per instance; empty: above."
    )
    daily_request_budget_env: str = Field(
        default="", description="VAN_DAILY_REQUEST_BUDGET (EnvVar): requests per instance per day; empty: no cap."
    )

    def instances(self) -> list[str]:
        return sorted(parse_api_keys(self.api_keys))

    def pace(self) -> float:
        """Requests per second per instance: VAN_REQUESTS_PER_SECOND when set, else ``requests_per_second``."""
        if not self.requests_per_second_env.strip():
            return self.requests_per_second
        problem = rate_problem(self.requests_per_second_env)
        if problem:
            raise VanConfigError(f"VAN_REQUESTS_PER_SECOND {problem}")
        return float(self.requests_per_second_env)

    def budget_limit(self) -> int | None:
        """Requests per instance per day: VAN_DAILY_REQUEST_BUDGET when set, else ``daily_request_budget``."""
        if not self.daily_request_budget_env.strip():
            return self.daily_request_budget
        problem = budget_problem(self.daily_request_budget_env)
        if problem:
            raise VanConfigError(f"VAN_DAILY_REQUEST_BUDGET {problem}")
        return int(self.daily_request_budget_env)

    def client(
        self,
        instance: str,
        *,
        meter: RequestMeter | None = None,
        budget_spent=None,
        db_mode: int | None = None,
        daily_request_budget: int | None = None,
    ) -> VanClient:
        """A client for one instance. ``db_mode`` / ``daily_request_budget`` override the resource's settings for
        this scope (e.g. a candidate's key used in MyVoters mode with a 1,000-request budget); the budget is
        enforced when ``budget_spent`` (today's count, e.g. ``meter.budget_counter("van", instance)``) is given."""
        keys = parse_api_keys(self.api_keys)
        if instance not in keys:
            raise VanConfigError(
                f"no VAN API key configured for instance {instance!r} (configured: {sorted(keys) or 'none'})"
            )
        mode = self.db_mode if db_mode is None else db_mode
        if mode not in (0, 1):
            raise VanConfigError("db_mode must be 0 (MyVoters) or 1 (MyCampaign)")
        limit = self.budget_limit() if daily_request_budget is None else daily_request_budget
        budget = DailyBudget(limit, budget_spent) if limit is not None and budget_spent is not None else None
        http = HttpClient(
            self.base_url,
            system="van",
            instance=instance,
            auth=(self.application_name, f"{keys[instance]}|{mode}"),
            headers={"Content-Type": "application/json"},
            timeout=self.timeout_seconds,
            max_retries=self.max_retries,
            rate_limiter=TokenBucket(self.pace()),
            meter=meter,
            budget=budget,
        )
        return VanClient(http, instance)
