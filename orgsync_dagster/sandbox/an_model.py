"""Action Network emulator: constants, the person/tag records and small helpers (see action_network.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

API_PREFIX = "/api/v2"
AUTH_HEADER = "OSDI-API-Token"
HAL_JSON = "application/hal+json"
MAX_PER_PAGE = 25
UNAUTHORIZED_MESSAGE = "API Key invalid or not present"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
ID_PREFIX = "action_network:"

_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL_RE = re.compile(rf"^[^@\s,;:<>()\[\]\"]+@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$")
_SETTABLE_STATUSES = {"subscribed", "unsubscribed"}
_FILTER_CLAUSE_RE = re.compile(r"\s*([A-Za-z_]+)\s+([A-Za-z]+)\s+'((?:[^']|'')*)'\s*")
_FILTER_AND_RE = re.compile(r"and\s+", re.IGNORECASE)
_DATE_FIELDS = {"created_date", "modified_date"}
_FILTER_FIELDS = {
    "identifier",
    "created_date",
    "modified_date",
    "given_name",
    "family_name",
    "email_address",
    "phone_number",
    "region",
    "postal_code",
}
_SEED_GIVEN = [
    "Ada",
    "Bayard",
    "Cesar",
    "Dolores",
    "Ella",
    "Fannie",
    "Grace",
    "Harvey",
    "Ida",
    "Jane",
    "Karl",
    "Lucy",
    "Mary",
    "Ned",
    "Octavia",
    "Paul",
    "Rosa",
    "Sojourner",
    "Thurgood",
    "Walter",
]
_SEED_FAMILY = [
    "Baker",
    "Chavez",
    "Debs",
    "Evers",
    "Garvey",
    "Hamer",
    "Huerta",
    "Jones",
    "King",
    "Lewis",
    "Milk",
    "Parks",
    "Randolph",
    "Rustin",
    "Truth",
    "Wells",
]
_SEED_EPOCH = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


class ApiError(Exception):
    """An API failure answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_phone(raw: Any) -> str:
    """Digits only; a 10-digit (US) number gets the leading country code 1."""
    digits = re.sub(r"\D", "", str(raw))
    if len(digits) == 10:
        digits = "1" + digits
    return digits


# --------------------------------------------------------------------------------------------------
# data model
# --------------------------------------------------------------------------------------------------
@dataclass
class _Person:
    id: str
    created: datetime
    modified: datetime
    given_name: str | None = None
    family_name: str | None = None
    email: dict[str, Any] | None = None  # {"address", "status"}
    phone: dict[str, Any] | None = None  # {"number", "number_type", "status"}
    postal_addresses: list[dict[str, Any]] = field(default_factory=list)
    languages_spoken: list[str] = field(default_factory=lambda: ["en"])
    custom_fields: dict[str, str] = field(default_factory=dict)
    foreign_identifiers: list[str] = field(default_factory=list)

    @property
    def identifiers(self) -> list[str]:
        return [ID_PREFIX + self.id, *self.foreign_identifiers]

    @property
    def region(self) -> str | None:
        return self.postal_addresses[0].get("region") if self.postal_addresses else None

    @property
    def postal_code(self) -> str | None:
        return self.postal_addresses[0].get("postal_code") if self.postal_addresses else None

    def email_addresses(self) -> list[dict[str, Any]]:
        if not self.email:
            return []
        return [{"primary": True, "address": self.email["address"], "status": self.email["status"]}]

    def phone_numbers(self) -> list[dict[str, Any]]:
        if not self.phone:
            return []
        return [
            {
                "primary": True,
                "number": self.phone["number"],
                "number_type": self.phone["number_type"],
                "status": self.phone["status"],
            }
        ]


@dataclass
class _Tag:
    id: str
    name: str
    created: datetime
    modified: datetime


@dataclass
class _Tagging:
    id: str
    tag_id: str
    person_id: str
    created: datetime


def _new_stats() -> dict[str, int]:
    return {
        "requests": 0,
        "gets": 0,
        "posts": 0,
        "puts": 0,
        "other_methods": 0,
        "signup_helper_posts": 0,
        "person_puts": 0,
        "tag_posts": 0,
        "background_requests": 0,
        "people_created": 0,
        "people_updated": 0,
        "errors": 0,
    }
