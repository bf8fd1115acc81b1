"""The calls sync's configuration: typed objects, and the parsing that turns documents into them.

Two sources, both injected at run time (nothing here is read at import):

* **Deployment settings** (bucket, prefixes, CDR time zone, test accounts, the day partitions' time zone): the
  ``calls`` section of orgsync.yaml, through the ``orgsync_config`` resource (``CallsDeployment``).
* **What staff edit without a deploy**: one document per candidate, one per VAN instance (its budget) and the
  term-code table, kept in the warehouse with their history (``config_store.py``; the YAML seed/import format is
  ``candidates.yaml``).

Parsing never stops at the first problem: every problem is a ``FieldError`` naming the field
(``results['strong support'].responses[0]``), so a web form or an import can show them all at once.
No Dagster import.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

STRATEGIES = ("full", "hybrid", "all_csv")
VAN_MODES = {"van": 0, "myvoters": 0, "0": 0, "myc": 1, "mycampaign": 1, "1": 1}
MODE_NAMES = {0: "van", 1: "myc"}
CDR_DATE_ORDERS = ("month_first", "day_first")
DEFAULT_FREE_REQUESTS = 1000  # VAN's free requests per day and key
DEFAULT_USD_PER_REQUEST = 0.01  # VAN's price of each request above the free allowance
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

CANDIDATE_FIELDS = (
    "display_name",
    "district",
    "active",
    "van_instance",
    "van_mode",
    "strategy",
    "timezone",
    "sync_hour",
    "daily_budget",
    "bulk_import_threshold",
    "contact_type_id",
    "input_type_id",
    "cdr_date_order",
    "report_channel",
    "report_webhook_env",
    "success_webhook_env",
    "failure_webhook_env",
    "results",
)
RULE_FIELDS = (
    "display_name",
    "success",
    "result_code",
    "activist_codes",
    "responses",
    "sync_to_van",
    "include_in_csv",
    "value",
)
INSTANCE_FIELDS = ("daily_free_requests", "daily_paid_budget_usd", "usd_per_request")


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a configuration document (``field`` is a path inside the document)."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def under(self, prefix: str) -> FieldError:
        if not prefix:
            return self
        sep = "" if not self.field or self.field.startswith("[") else "."
        return FieldError(f"{prefix}{sep}{self.field}", self.message)


class CallsConfigError(ValueError):
    """The calls configuration cannot be used; ``errors`` lists every problem found."""

    def __init__(self, message: str, errors: list[FieldError] | None = None):
        self.errors = list(errors or [])
        if self.errors:
            message = message + "\n" + "\n".join(f"- {e}" for e in self.errors)
        super().__init__(message)


def normalize_result(value) -> str:
    """Livevox result / on-screen result -> lookup key: lower case, single spaces, no "(...)" suffix."""
    text = " ".join(str(value or "").strip().lower().split())
    if "(" in text and text.endswith(")"):
        text = text[: text.rfind("(")].strip()
    return text


# -- typed objects ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResultRule:
    """What to do with a call that ended on one on-screen result."""

    key: str
    display_name: str
    success: object = None  # must be a bool when the result goes to VAN (checked by validate.py)
    result_code: int | None = None
    activist_codes: tuple[int, ...] = ()
    responses: tuple[tuple[int, int], ...] = ()  # (surveyQuestionId, surveyResponseId)
    sync_to_van: bool = False
    include_in_csv: bool = False
    value: int = 0  # hybrid: higher values go to VAN first

    @property
    def ignored(self) -> bool:
        return not self.sync_to_van and not self.include_in_csv


@dataclass(frozen=True)
class Candidate:
    slug: str
    display_name: str
    district: str
    van_instance: str | None
    van_mode: int
    strategy: str
    timezone: str
    sync_hour: int
    active: bool
    daily_budget: int | None
    contact_type_id: int
    input_type_id: int
    results: dict[str, ResultRule] = field(default_factory=dict)
    bulk_import_threshold: int | None = None  # more VAN-bound calls than this in one run: one bulk import job
    cdr_date_order: str | None = None  # month_first | day_first | None (detected per file, refused if ambiguous)
    report_channel: str | None = None  # a label (e.g. "#ny14-field") shown with the report
    report_webhook_env: str | None = None  # NAME of the environment variable holding the Slack webhook URL
    success_webhook_env: str | None = None
    failure_webhook_env: str | None = None
    version: int = 0  # the config store's version this object was read at

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def mode_name(self) -> str:
        return MODE_NAMES[self.van_mode]

    def rule_for(self, result_key: str) -> ResultRule | None:
        return self.results.get(result_key)


@dataclass(frozen=True)
class VanInstance:
    """One VAN key's daily request budget: the free allowance plus an explicit paid budget."""

    name: str
    daily_free_requests: int = DEFAULT_FREE_REQUESTS
    daily_paid_budget_usd: float = 0.0
    usd_per_request: float = DEFAULT_USD_PER_REQUEST

    @property
    def paid_requests(self) -> int:
        if self.usd_per_request <= 0:
            return 0
        return int(round(self.daily_paid_budget_usd / self.usd_per_request, 6))

    @property
    def daily_request_budget(self) -> int:
        return self.daily_free_requests + self.paid_requests

    def cost_usd(self, requests_today: int) -> float:
        """What the requests of one day cost at this key's price (the free allowance first)."""
        return round(max(0, requests_today - self.daily_free_requests) * self.usd_per_request, 2)

    def describe(self) -> str:
        paid = f" + ${self.daily_paid_budget_usd:.2f} paid ({self.paid_requests:,})" if self.paid_requests else ""
        return f"{self.daily_request_budget:,} requests a day ({self.daily_free_requests:,} free{paid})"


@dataclass(frozen=True)
class TermCode:
    full_on_screen_result: str
    attributes: dict


@dataclass(frozen=True)
class CallsDeployment:
    """The ``calls`` section of orgsync.yaml: where files are and how days are cut (no staff-edited data)."""

    timezone: str = "America/New_York"
    start_date: str = "2026-01-01"
    default_sync_hour: int = 6
    report_deadline_hour: int = 9
    s3_bucket: str | None = None
    csv_prefix: str = "calls/csv/"
    cdr_prefix: str = "livevox/cdr/"
    quarantine_prefix: str = "livevox/quarantine/"
    bulk_import_prefix: str = "calls/bulk-import/"
    cdr_timezone: str = "America/New_York"
    test_accounts: tuple[str, ...] = ("TEST123*", "123457")
    bulk_import_poll_minutes: float = 20.0

    def bucket(self) -> str:
        return self.s3_bucket or os.environ.get("ORGSYNC_S3_BUCKET") or "orgsync"


@dataclass(frozen=True)
class CallsSettings:
    """Everything one run needs, read at the start of the run (deployment file + warehouse store)."""

    deployment: CallsDeployment
    instances: dict[str, VanInstance]
    term_codes: dict[str, TermCode]
    candidates: dict[str, Candidate]

    def __getattr__(self, name):  # deployment settings read as settings.csv_prefix, settings.cdr_timezone, ...
        if name != "deployment" and name in CallsDeployment.__dataclass_fields__:
            return getattr(self.deployment, name)
        raise AttributeError(name)

    def bucket(self) -> str:
        return self.deployment.bucket()

    def instance(self, name: str) -> VanInstance:
        return self.instances.get(name) or VanInstance(name)

    def budget_for(self, instance: str) -> int:
        return self.instance(instance).daily_request_budget

    def candidate(self, slug: str) -> Candidate:
        try:
            return self.candidates[slug]
        except KeyError:
            raise CallsConfigError(f"no candidate {slug!r} in the calls configuration") from None

    def by_district(self) -> dict[str, Candidate]:
        return {c.district: c for c in self.candidates.values()}


# The parsers (every problem with its field path) live in config_parse.py; imported here so callers use one module.
from orgsync_dagster.calls.config_parse import (  # noqa: E402
    district_clashes,
    parse_candidate,
    parse_deployment,
    parse_documents,
    parse_instance,
    parse_settings,
    parse_term_codes,
)

__all__ = [
    "CallsConfigError",
    "CallsDeployment",
    "CallsSettings",
    "Candidate",
    "FieldError",
    "ResultRule",
    "TermCode",
    "VanInstance",
    "district_clashes",
    "normalize_result",
    "parse_candidate",
    "parse_deployment",
    "parse_documents",
    "parse_instance",
    "parse_settings",
    "parse_term_codes",
]
