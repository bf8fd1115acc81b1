"""Local emulator of the Action Network API v2 (OSDI 1.1.1, HAL+JSON).

A werkzeug WSGI app serving ``/api/v2/...`` the way Action Network does, for tests and the demo.
See docs/ARCHITECTURE.md ("Sandbox emulator contract") and the reference notes on Action Network
(api-contracts.md section B).  Latency, faults and rate limiting are *not* done here: the sandbox
server wraps emulators with that middleware.

Behaviour emulated
------------------
* Auth: header ``OSDI-API-Token``; missing or revoked key -> 401 ``{"error": "API Key invalid or
  not present"}``.  Every key is its own group with its own in-memory database, created (and
  seeded, see ``seed_people``/``seed_tags``) on first use.
* ``GET /api/v2/`` entry point (``motd`` + ``_links`` incl. ``osdi:people``,
  ``osdi:person_signup_helper``, ``osdi:tags``).
* ``GET /api/v2/people``: 25 per page at most (larger ``per_page`` silently clamped), ``page=N``,
  ``_embedded["osdi:people"]``; no ``total_pages``/``total_records``; ``_links.next`` is present
  even on the last page (clients stop at an empty page).  Ordered by creation, not by modified date.
  OData subset ``filter=<field> eq|gt|lt '<value>'`` (clauses may be joined with ``and``; quotes
  inside values are doubled, OData style).  Fields: identifier, created_date, modified_date,
  given_name, family_name, email_address, phone_number, region, postal_code.  Malformed -> 400.
* ``POST /api/v2/people/`` person signup helper (also without the trailing slash): matches by
  e-mail address (case-insensitive), else by phone number; creates or updates (only provided fields
  change; ``custom_fields`` merged, values must be strings, ``null`` removes a field).  New e-mail
  status defaults to ``subscribed``; new mobile numbers default to ``unsubscribed``; on an existing
  person a status only changes when ``subscribed``/``unsubscribed`` is passed.  One e-mail and one
  phone per person; a phone posted for another person moves to that person (or, when its owner is
  phone-only, the records merge).  ``add_tags``/``remove_tags`` take names of existing tags
  (unknown names are silently ignored).  ``?background_request=true`` -> 200 ``{}`` (the change is
  applied synchronously before answering).
* ``GET/PUT /api/v2/people/{uuid}`` (PUT = upsert of top-level fields, custom_fields merged);
  missing -> 404 ``{"error": "Couldn't find person with id = ..."}``.  With
  ``put_requires_email=True`` a PUT without ``email_addresses`` answers 500 and changes nothing
  (the quirk the old BostonDSA sync hit).
* ``GET/POST /api/v2/tags``, ``GET /api/v2/tags/{uuid}``, ``GET /api/v2/tags/{uuid}/taggings``.
* ``GET /api/v2/metadata/custom_fields`` -> names ever seen in any person's custom_fields.

Not emulated: events, lists, actions, e-mail messages, networks, rate limits (server.py),
``DELETE`` of taggings.  Filter ``and`` support and the exact wording of 400 messages are guesses.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

__all__ = ["ActionNetworkEmulator", "ActionNetworkDatabase", "ApiError"]

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


class ActionNetworkDatabase:
    """One group's data (one API key).  Not locked itself: the emulator holds its lock around use."""

    def __init__(self, key: str, clock: Callable[[], datetime] = _utcnow):
        self.key = key
        self._clock = clock
        self.people: dict[str, _Person] = {}
        self.tags: dict[str, _Tag] = {}
        self.taggings: dict[str, dict[str, _Tagging]] = {}  # tag_id -> person_id -> tagging
        self.custom_field_defs: dict[str, datetime] = {}
        self.stats: dict[str, int] = _new_stats()
        self.log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._by_email: dict[str, str] = {}
        self._by_phone: dict[str, str] = {}
        self._tag_by_name: dict[str, str] = {}

    # -- time -------------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    def _touch(self, person: _Person) -> None:
        now = self.now()
        # Keep created_date != modified_date after an update (clients infer created-vs-updated).
        person.modified = now if now > person.created else person.created + timedelta(seconds=1)

    # -- lookups ----------------------------------------------------------------------------------
    def person(self, person_id: str) -> _Person | None:
        return self.people.get(person_id)

    def find_by_email(self, address: str) -> _Person | None:
        pid = self._by_email.get(address.strip().lower())
        return self.people.get(pid) if pid else None

    def find_by_phone(self, number: str) -> _Person | None:
        pid = self._by_phone.get(normalize_phone(number))
        return self.people.get(pid) if pid else None

    def tag_by_name(self, name: str) -> _Tag | None:
        tid = self._tag_by_name.get(name)
        return self.tags.get(tid) if tid else None

    def person_tag_names(self, person_id: str) -> list[str]:
        return [self.tags[tid].name for tid, by_person in self.taggings.items() if person_id in by_person]

    # -- index maintenance ------------------------------------------------------------------------
    def _set_email(self, person: _Person, address: str, status: str) -> None:
        if person.email:
            self._by_email.pop(person.email["address"].lower(), None)
        person.email = {"address": address, "status": status}
        self._by_email[address.lower()] = person.id

    def _set_phone(self, person: _Person, phone: dict[str, Any]) -> None:
        if person.phone:
            self._by_phone.pop(person.phone["number"], None)
        person.phone = phone
        self._by_phone[phone["number"]] = person.id

    def _drop_phone(self, person: _Person) -> None:
        if person.phone:
            self._by_phone.pop(person.phone["number"], None)
            person.phone = None

    def _delete_person(self, person: _Person) -> None:
        if person.email:
            self._by_email.pop(person.email["address"].lower(), None)
        self._drop_phone(person)
        for by_person in self.taggings.values():
            by_person.pop(person.id, None)
        del self.people[person.id]

    # -- writes -----------------------------------------------------------------------------------
    def create_tag(self, name: str) -> tuple[_Tag, bool]:
        existing = self.tag_by_name(name)
        if existing:
            return existing, False
        now = self.now()
        tag = _Tag(id=str(uuid.uuid4()), name=name, created=now, modified=now)
        self.tags[tag.id] = tag
        self.taggings[tag.id] = {}
        self._tag_by_name[name] = tag.id
        return tag, True

    def _apply_tags(self, person: _Person, add: Iterable[str], remove: Iterable[str]) -> None:
        for name in add:
            tag = self.tag_by_name(name)
            if tag and person.id not in self.taggings[tag.id]:
                self.taggings[tag.id][person.id] = _Tagging(
                    id=str(uuid.uuid4()), tag_id=tag.id, person_id=person.id, created=self.now()
                )
        for name in remove:
            tag = self.tag_by_name(name)
            if tag:
                self.taggings[tag.id].pop(person.id, None)

    def _new_person(self, person_id: str | None = None, created: datetime | None = None) -> _Person:
        now = created or self.now()
        person = _Person(id=person_id or str(uuid.uuid4()), created=now, modified=now)
        self.people[person.id] = person
        return person

    def _register_custom_fields(self, names: Iterable[str]) -> None:
        for name in names:
            self.custom_field_defs.setdefault(name, self.now())

    def signup(self, body: dict[str, Any]) -> tuple[_Person, bool]:
        """Person signup helper: returns (person, created)."""
        person_body = body.get("person")
        if not isinstance(person_body, dict):
            raise ApiError(400, "You must include a person object in your request.")
        email, email_status = _parse_email(person_body)
        phone = _parse_phone(person_body)
        if email is None and phone is None:
            raise ApiError(400, "You must specify a valid email address or phone number to create or update a person.")
        fields = _parse_person_fields(person_body)
        add_tags = _parse_tag_names(body, "add_tags")
        remove_tags = _parse_tag_names(body, "remove_tags")

        target: _Person | None = None
        phone_owner = self.find_by_phone(phone["number"]) if phone else None
        if email is not None:
            target = self.find_by_email(email)
            if target is None and phone_owner is not None and phone_owner.email is None:
                target = phone_owner  # phone-only record gets the e-mail address
        elif phone_owner is not None:
            target = phone_owner

        created = target is None
        if created:
            target = self._new_person()
            self.stats["people_created"] += 1
        else:
            self._touch(target)
            self.stats["people_updated"] += 1

        if email is not None:
            if target.email is None or target.email["address"].lower() != email.lower():
                status = email_status if email_status in _SETTABLE_STATUSES else "subscribed"
                self._set_email(target, email, status)
            elif email_status in _SETTABLE_STATUSES:
                target.email["status"] = email_status

        if phone is not None:
            if phone_owner is not None and phone_owner is not target:
                if phone_owner.email is None:
                    if phone.get("status") not in _SETTABLE_STATUSES and phone_owner.phone:
                        phone = {**phone, "status": phone_owner.phone["status"]}
                    self._merge_into(target, phone_owner)
                else:
                    self._drop_phone(phone_owner)
                    self._touch(phone_owner)
            self._apply_phone(target, phone)

        self._apply_fields(target, fields)
        self._apply_tags(target, add_tags, remove_tags)
        return target, created

    def _apply_phone(self, person: _Person, phone: dict[str, Any]) -> None:
        status = phone.get("status")
        if person.phone and person.phone["number"] == phone["number"]:
            if status in _SETTABLE_STATUSES:
                person.phone["status"] = status
            if phone.get("number_type"):
                person.phone["number_type"] = phone["number_type"]
            return
        self._set_phone(
            person,
            {
                "number": phone["number"],
                "number_type": phone.get("number_type") or "Mobile",
                "status": status if status in _SETTABLE_STATUSES else "unsubscribed",
            },
        )

    def _merge_into(self, target: _Person, other: _Person) -> None:
        """Fold a phone-only record into ``target`` (AN merges records sharing a phone)."""
        for name, value in other.custom_fields.items():
            target.custom_fields.setdefault(name, value)
        if target.given_name is None:
            target.given_name = other.given_name
        if target.family_name is None:
            target.family_name = other.family_name
        if not target.postal_addresses:
            target.postal_addresses = other.postal_addresses
        if target.created > other.created:
            target.created = other.created
        tag_names = self.person_tag_names(other.id)
        self._delete_person(other)
        self._apply_tags(target, tag_names, ())

    def _apply_fields(self, person: _Person, fields: dict[str, Any]) -> None:
        for name in ("given_name", "family_name"):
            if name in fields:
                setattr(person, name, fields[name])
        if "languages_spoken" in fields:
            person.languages_spoken = fields["languages_spoken"] or []
        if "postal_addresses" in fields:
            person.postal_addresses = fields["postal_addresses"] or []
        if "identifiers" in fields:
            for ident in fields["identifiers"]:
                if ident not in person.foreign_identifiers:
                    person.foreign_identifiers.append(ident)
        if "custom_fields" in fields:
            for name, value in fields["custom_fields"].items():
                if value is None:
                    person.custom_fields.pop(name, None)
                else:
                    person.custom_fields[name] = value
            self._register_custom_fields(n for n, v in fields["custom_fields"].items() if v is not None)

    def put_person(self, person_id: str, body: dict[str, Any]) -> _Person:
        person = self.people.get(person_id)
        if person is None:
            raise ApiError(404, f"Couldn't find person with id = {person_id}")
        email, email_status = _parse_email(body)
        phone = _parse_phone(body)
        fields = _parse_person_fields(body)
        if email is not None and person.email and email.lower() != person.email["address"].lower():
            if self.find_by_email(email) is not None:
                raise ApiError(400, f"Email address {email} is already in use by another person.")
        if phone is not None:
            owner = self.find_by_phone(phone["number"])
            if owner is not None and owner is not person:
                raise ApiError(400, f"Phone number {phone['number']} is already in use by another person.")
        self._touch(person)
        self.stats["people_updated"] += 1
        if email is not None:
            if person.email is None or person.email["address"].lower() != email.lower():
                old_status = person.email["status"] if person.email else "subscribed"
                self._set_email(person, email, email_status if email_status in _SETTABLE_STATUSES else old_status)
            elif email_status in _SETTABLE_STATUSES:
                person.email["status"] = email_status
        if phone is not None:
            self._apply_phone(person, phone)
        self._apply_fields(person, fields)
        return person

    def seed(self, count: int) -> None:
        """Add ``count`` deterministic people (same ids, names and dates for the same key)."""
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-action-network:{self.key}")
        start = len(self.people)
        for i in range(start, start + count):
            given = _SEED_GIVEN[i % len(_SEED_GIVEN)]
            family = _SEED_FAMILY[(i // len(_SEED_GIVEN) + i) % len(_SEED_FAMILY)]
            created = _SEED_EPOCH + timedelta(hours=i)
            person = self._new_person(str(uuid.uuid5(namespace, str(i))), created=created)
            person.given_name, person.family_name = given, family
            self._set_email(person, f"{given.lower()}.{family.lower()}.{i}@example.org", "subscribed")
            self._set_phone(
                person, {"number": f"1617555{i % 10000:04d}", "number_type": "Mobile", "status": "unsubscribed"}
            )
            person.postal_addresses = [
                {
                    "primary": True,
                    "address_lines": [f"{100 + i} Main St"],
                    "locality": "Boston",
                    "region": "MA",
                    "postal_code": f"02{i % 1000:03d}",
                    "country": "US",
                }
            ]

    # -- snapshot ---------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        people = []
        for p in self.people.values():
            people.append(
                {
                    "id": p.id,
                    "identifiers": p.identifiers,
                    "created_date": _fmt(p.created),
                    "modified_date": _fmt(p.modified),
                    "given_name": p.given_name,
                    "family_name": p.family_name,
                    "email_addresses": p.email_addresses(),
                    "phone_numbers": p.phone_numbers(),
                    "postal_addresses": json.loads(json.dumps(p.postal_addresses)),
                    "languages_spoken": list(p.languages_spoken),
                    "custom_fields": dict(p.custom_fields),
                    "tags": sorted(self.person_tag_names(p.id)),
                }
            )
        return {
            "people": people,
            "tags": [
                {
                    "id": t.id,
                    "identifiers": [ID_PREFIX + t.id],
                    "name": t.name,
                    "created_date": _fmt(t.created),
                    "modified_date": _fmt(t.modified),
                    "people": [pid for pid in self.taggings.get(t.id, {})],
                }
                for t in self.tags.values()
            ],
            "custom_fields": sorted(self.custom_field_defs),
            "stats": dict(self.stats),
        }


# --------------------------------------------------------------------------------------------------
# request-body parsing
# --------------------------------------------------------------------------------------------------
def _first_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    for entry in entries:
        if entry.get("primary"):
            return entry
    return entries[0]


def _parse_email(body: dict[str, Any]) -> tuple[str | None, str | None]:
    raw = body.get("email_addresses")
    if raw is None:
        return None, None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ApiError(400, "email_addresses must be an array of email address objects.")
    if not raw:
        return None, None
    entry = _first_entry(raw)
    address = entry.get("address")
    if address is None:
        return None, None
    if not isinstance(address, str) or not _EMAIL_RE.match(address.strip()):
        raise ApiError(400, f"Email address is invalid: {address!r}")
    status = entry.get("status")
    if status is not None and not isinstance(status, str):
        raise ApiError(400, "Email status must be a string.")
    return address.strip(), status


def _parse_phone(body: dict[str, Any]) -> dict[str, Any] | None:
    raw = body.get("phone_numbers")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ApiError(400, "phone_numbers must be an array of phone number objects.")
    if not raw:
        return None
    entry = _first_entry(raw)
    number = entry.get("number")
    if number is None or (isinstance(number, str) and not number.strip()):
        return None
    if not isinstance(number, (str, int)) or isinstance(number, bool):
        raise ApiError(400, "Phone number must be a string.")
    digits = normalize_phone(number)
    if len(digits) < 10 or len(digits) > 15:
        raise ApiError(400, f"Phone number is invalid: {number!r}")
    status = entry.get("status")
    if status is not None and not isinstance(status, str):
        raise ApiError(400, "Phone status must be a string.")
    return {"number": digits, "number_type": entry.get("number_type"), "status": status}


def _parse_person_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("given_name", "family_name"):
        if name in body:
            value = body[name]
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"{name} must be a string.")
            fields[name] = value
    if "languages_spoken" in body:
        value = body["languages_spoken"]
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ApiError(400, "languages_spoken must be an array of strings.")
        fields["languages_spoken"] = list(value or [])
    if "postal_addresses" in body:
        value = body["postal_addresses"]
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            raise ApiError(400, "postal_addresses must be an array of postal address objects.")
        if value:
            address = dict(_first_entry(value))
            lines = address.get("address_lines")
            if lines is not None and (not isinstance(lines, list) or not all(isinstance(x, str) for x in lines)):
                raise ApiError(400, "address_lines must be an array of strings.")
            address["primary"] = True
            fields["postal_addresses"] = [json.loads(json.dumps(address))]
        else:
            fields["postal_addresses"] = []
    if "identifiers" in body and body["identifiers"] is not None:
        idents = body["identifiers"]
        if not isinstance(idents, list) or not all(isinstance(i, str) and ":" in i for i in idents):
            raise ApiError(400, "identifiers must be an array of strings like 'system:id'.")
        fields["identifiers"] = [i for i in idents if not i.startswith(ID_PREFIX)]
    if "custom_fields" in body and body["custom_fields"] is not None:
        custom = body["custom_fields"]
        if not isinstance(custom, dict):
            raise ApiError(400, "custom_fields must be an object of string values.")
        for name, value in custom.items():
            if not name.strip():
                raise ApiError(400, "Custom field names must not be empty.")
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"Custom field values must be strings: {name!r} is {type(value).__name__}.")
        fields["custom_fields"] = dict(custom)
    return fields


def _parse_tag_names(body: dict[str, Any], key: str) -> list[str]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise ApiError(400, f"{key} must be an array of tag names.")
    return raw


# --------------------------------------------------------------------------------------------------
# OData filter subset
# --------------------------------------------------------------------------------------------------
def _parse_filter_date(value: str) -> tuple[datetime, bool]:
    """Return (moment, date_only)."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC), True
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError as exc:
        raise ApiError(400, f"Invalid date in filter: '{value}'") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """Parse ``field op 'value' [and field op 'value' ...]`` -> [(field, op, value)]; ApiError(400)."""
    clauses: list[tuple[str, str, str]] = []
    pos = 0
    text = text.strip()
    if not text:
        raise ApiError(400, "Invalid filter: empty expression")
    while True:
        match = _FILTER_CLAUSE_RE.match(text, pos)
        if not match:
            raise ApiError(400, f"Invalid filter: could not parse '{text[pos:]}'")
        fld, op, value = match.group(1).lower(), match.group(2).lower(), match.group(3).replace("''", "'")
        if fld not in _FILTER_FIELDS:
            raise ApiError(400, f"Invalid filter: unsupported field '{fld}'")
        if op not in ("eq", "gt", "lt"):
            raise ApiError(400, f"Invalid filter: unsupported operator '{op}'")
        if op != "eq" and fld not in _DATE_FIELDS:
            raise ApiError(400, f"Invalid filter: operator '{op}' is only supported on dates")
        if fld in _DATE_FIELDS:
            _parse_filter_date(value)  # validate now
        clauses.append((fld, op, value))
        pos = match.end()
        if pos >= len(text):
            return clauses
        conj = _FILTER_AND_RE.match(text, pos)
        if not conj:
            raise ApiError(400, f"Invalid filter: could not parse '{text[pos:]}'")
        pos = conj.end()


def _matches(person: _Person, clauses: list[tuple[str, str, str]]) -> bool:
    for fld, op, value in clauses:
        if fld in _DATE_FIELDS:
            moment, date_only = _parse_filter_date(value)
            actual = person.created if fld == "created_date" else person.modified
            if op == "eq":
                ok = actual.date() == moment.date() if date_only else actual == moment
            elif op == "gt":
                ok = actual > moment
            else:
                ok = actual < moment
        elif fld == "email_address":
            ok = bool(person.email) and person.email["address"].lower() == value.strip().lower()
        elif fld == "phone_number":
            ok = bool(person.phone) and person.phone["number"] == normalize_phone(value)
        elif fld == "identifier":
            ok = value.strip() in person.identifiers
        else:
            ok = getattr(person, fld) == value
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------------------------------
# the WSGI app
# --------------------------------------------------------------------------------------------------
def _int_arg(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


class ActionNetworkEmulator:
    """WSGI app emulating the Action Network API v2 under ``/api/v2/``.

    Args:
        seed_people: deterministic people added to each key's database on first use.
        seed_tags: tag names created in each key's database on first use (e.g. ``["member"]``).
        accepted_keys: if given, only these keys are valid (others answer 401); default: any key.
        put_requires_email: emulate the old "PUT without email_addresses -> 500" quirk.
        clock: returns "now" (aware datetime); for deterministic tests.
    """

    def __init__(
        self,
        seed_people: int = 0,
        *,
        seed_tags: Iterable[str] = (),
        accepted_keys: Iterable[str] | None = None,
        put_requires_email: bool = False,
        clock: Callable[[], datetime] | None = None,
    ):
        self.seed_people = seed_people
        self.seed_tags = list(seed_tags)
        self.accepted_keys = set(accepted_keys) if accepted_keys is not None else None
        self.put_requires_email = put_requires_email
        self._clock = clock or _utcnow
        self._lock = threading.RLock()
        self._databases: dict[str, ActionNetworkDatabase] = {}
        self._revoked: set[str] = set()
        self.unauthorized_requests = 0
        self._url_map = Map(
            [
                Rule(f"{API_PREFIX}", endpoint="entry", methods=["GET"]),
                Rule(f"{API_PREFIX}/", endpoint="entry", methods=["GET"]),
                Rule(f"{API_PREFIX}/people", endpoint="people", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/people/", endpoint="people", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/people/<person_id>", endpoint="person", methods=["GET", "PUT"]),
                Rule(f"{API_PREFIX}/people/<person_id>/taggings", endpoint="person_taggings", methods=["GET"]),
                Rule(f"{API_PREFIX}/tags", endpoint="tags", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/tags/", endpoint="tags", methods=["GET", "POST"]),
                Rule(f"{API_PREFIX}/tags/<tag_id>", endpoint="tag", methods=["GET"]),
                Rule(f"{API_PREFIX}/tags/<tag_id>/taggings", endpoint="tag_taggings", methods=["GET"]),
                Rule(f"{API_PREFIX}/metadata/custom_fields", endpoint="custom_fields", methods=["GET"]),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    # -- state API (contract) ---------------------------------------------------------------------
    def database(self, key: str) -> ActionNetworkDatabase:
        """The key's database, created and seeded on first use (for in-process tests)."""
        with self._lock:
            db = self._databases.get(key)
            if db is None:
                db = ActionNetworkDatabase(key, clock=self._clock)
                for name in self.seed_tags:
                    db.create_tag(name)
                if self.seed_people:
                    db.seed(self.seed_people)
                self._databases[key] = db
            return db

    def revoke_key(self, key: str) -> None:
        with self._lock:
            self._revoked.add(key)

    def reset(self) -> None:
        """Drop every database and forget revocations."""
        with self._lock:
            self._databases.clear()
            self._revoked.clear()
            self.unauthorized_requests = 0

    def dump(self, key: str) -> dict[str, Any]:
        """JSON-able snapshot: {"people": [...], "tags": [...], "custom_fields": [...], "stats": {...}}."""
        with self._lock:
            return self.database(key).snapshot()

    def stats(self, key: str) -> dict[str, int]:
        with self._lock:
            return dict(self.database(key).stats)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._databases)

    def is_valid_key(self, key: str | None) -> bool:
        if not key or key in self._revoked:
            return False
        return self.accepted_keys is None or key in self.accepted_keys

    # -- WSGI -------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path = request.path
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return _json_response(404, {"error": "Not found"})
        key = (request.headers.get(AUTH_HEADER) or "").strip()
        with self._lock:
            if not self.is_valid_key(key):
                self.unauthorized_requests += 1
                return _json_response(401, {"error": UNAUTHORIZED_MESSAGE})
            db = self.database(key)
            method = request.method.upper()
            db.stats["requests"] += 1
            counter = {"GET": "gets", "POST": "posts", "PUT": "puts"}.get(method, "other_methods")
            db.stats[counter] += 1
            try:
                adapter = self._url_map.bind_to_environ(request.environ)
                endpoint, args = adapter.match()
                handler = getattr(self, f"_handle_{endpoint}")
                status, body = handler(db, request, _base_url(request), **args)
            except ApiError as exc:
                status, body = exc.status, {"error": exc.message}
            except NotFound:
                status, body = 404, {"error": f"Could not find {path}"}
            except MethodNotAllowed:
                status, body = 405, {"error": f"Method {method} not allowed for {path}"}
            except HTTPException as exc:  # pragma: no cover - defensive
                status, body = exc.code or 500, {"error": exc.description or "error"}
            if status >= 400:
                db.stats["errors"] += 1
            db.log.append(
                {"method": method, "path": path, "query": request.query_string.decode("latin-1"), "status": status}
            )
            payload = json.dumps(body)
        return _json_response(status, payload)

    # -- handlers ---------------------------------------------------------------------------------
    def _handle_entry(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        return 200, {
            "motd": "Welcome to the Action Network OSDI API v2 Entry Point! (local sandbox emulator)",
            "vendor_name": "Action Network",
            "product_name": "Action Network",
            "osdi_version": "1.1.1",
            "max_pagesize": MAX_PER_PAGE,
            "namespace": "action_network",
            "_links": {
                "self": {"href": base, "title": "Action Network API Entry Point"},
                "osdi:people": {"href": base + "people", "title": "The collection of people in the system"},
                "osdi:tags": {"href": base + "tags", "title": "The collection of tags in the system"},
                "osdi:person_signup_helper": {
                    "href": base + "people/",
                    "title": "The person signup helper for the system",
                },
                "action_network:custom_fields": {
                    "href": base + "metadata/custom_fields",
                    "title": "The custom fields used in the system",
                },
                "docs": {
                    "href": "https://actionnetwork.org/docs/v2/",
                    "title": "Documentation",
                    "name": "Docs",
                    "index": "index",
                },
                "curies": _curies(),
            },
        }

    def _handle_people(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        if request.method == "POST":
            return self._signup_helper(db, request, base)
        raw_filter = request.args.get("filter")
        clauses = parse_filter(raw_filter) if raw_filter is not None else []
        people = [p for p in db.people.values() if not clauses or _matches(p, clauses)]
        return 200, _collection(
            request, base, "people", "osdi:people", people, lambda p: _person_resource(p, base), with_totals=False
        )

    def _signup_helper(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        db.stats["signup_helper_posts"] += 1
        background = _is_background(request)
        if background:
            db.stats["background_requests"] += 1
        body = _json_body(request)
        person, _created = db.signup(body)
        if background:
            return 200, {}
        return 200, _person_resource(person, base)

    def _handle_person(self, db: ActionNetworkDatabase, request: Request, base: str, person_id: str) -> tuple[int, Any]:
        if request.method == "PUT":
            db.stats["person_puts"] += 1
            background = _is_background(request)
            if background:
                db.stats["background_requests"] += 1
            body = _json_body(request)
            if db.person(person_id) is None:
                raise ApiError(404, f"Couldn't find person with id = {person_id}")
            if self.put_requires_email and not body.get("email_addresses"):
                return 500, {"error": "There was an error processing your request."}
            person = db.put_person(person_id, body)
            return 200, ({} if background else _person_resource(person, base))
        person = db.person(person_id)
        if person is None:
            raise ApiError(404, f"Couldn't find person with id = {person_id}")
        return 200, _person_resource(person, base)

    def _handle_person_taggings(
        self, db: ActionNetworkDatabase, request: Request, base: str, person_id: str
    ) -> tuple[int, Any]:
        if db.person(person_id) is None:
            raise ApiError(404, f"Couldn't find person with id = {person_id}")
        items = [t for by_person in db.taggings.values() for pid, t in by_person.items() if pid == person_id]
        return 200, _collection(
            request,
            base,
            f"people/{person_id}/taggings",
            "osdi:taggings",
            items,
            lambda t: _tagging_resource(t, base),
            with_totals=True,
        )

    def _handle_tags(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        if request.method == "POST":
            db.stats["tag_posts"] += 1
            body = _json_body(request)
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ApiError(400, "You must specify a name for the tag.")
            tag, _created = db.create_tag(name.strip())
            return 200, _tag_resource(tag, base)
        return 200, _collection(
            request,
            base,
            "tags",
            "osdi:tags",
            list(db.tags.values()),
            lambda t: _tag_resource(t, base),
            with_totals=True,
        )

    def _handle_tag(self, db: ActionNetworkDatabase, request: Request, base: str, tag_id: str) -> tuple[int, Any]:
        tag = db.tags.get(tag_id)
        if tag is None:
            raise ApiError(404, f"Couldn't find tag with id = {tag_id}")
        return 200, _tag_resource(tag, base)

    def _handle_tag_taggings(
        self, db: ActionNetworkDatabase, request: Request, base: str, tag_id: str
    ) -> tuple[int, Any]:
        if tag_id not in db.tags:
            raise ApiError(404, f"Couldn't find tag with id = {tag_id}")
        items = list(db.taggings[tag_id].values())
        return 200, _collection(
            request,
            base,
            f"tags/{tag_id}/taggings",
            "osdi:taggings",
            items,
            lambda t: _tagging_resource(t, base),
            with_totals=True,
        )

    def _handle_custom_fields(self, db: ActionNetworkDatabase, request: Request, base: str) -> tuple[int, Any]:
        return 200, {
            "origin_system": "Action Network",
            "name": "Custom Fields",
            "description": "The collection of custom fields available at this endpoint.",
            "_links": {"self": [{"href": base + "metadata/custom_fields"}], "curies": _curies()},
            "action_network:custom_fields": [
                {"name": name, "created_date": _fmt(when), "modified_date": _fmt(when), "notes": None}
                for name, when in sorted(db.custom_field_defs.items())
            ],
        }


# --------------------------------------------------------------------------------------------------
# rendering helpers
# --------------------------------------------------------------------------------------------------
def _json_response(status: int, body: Any) -> Response:
    payload = body if isinstance(body, str) else json.dumps(body)
    return Response(payload, status=status, content_type=HAL_JSON)


def _base_url(request: Request) -> str:
    return request.root_url.rstrip("/") + API_PREFIX + "/"


def _is_background(request: Request) -> bool:
    return request.args.get("background_request", "").strip().lower() == "true"


def _json_body(request: Request) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return body


def _curies() -> list[dict[str, Any]]:
    return [
        {"name": "osdi", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True},
        {"name": "action_network", "href": "https://actionnetwork.org/docs/v2/{rel}", "templated": True},
    ]


def _person_resource(p: _Person, base: str) -> dict[str, Any]:
    href = f"{base}people/{p.id}"
    resource: dict[str, Any] = {
        "identifiers": p.identifiers,
        "created_date": _fmt(p.created),
        "modified_date": _fmt(p.modified),
    }
    if p.given_name is not None:
        resource["given_name"] = p.given_name
    if p.family_name is not None:
        resource["family_name"] = p.family_name
    resource.update(
        {
            "languages_spoken": list(p.languages_spoken),
            "email_addresses": p.email_addresses(),
            "phone_numbers": p.phone_numbers(),
            "postal_addresses": json.loads(json.dumps(p.postal_addresses)),
            "custom_fields": dict(p.custom_fields),
            "_links": {
                "self": {"href": href},
                "osdi:attendances": {"href": href + "/attendances"},
                "osdi:signatures": {"href": href + "/signatures"},
                "osdi:submissions": {"href": href + "/submissions"},
                "osdi:donations": {"href": href + "/donations"},
                "osdi:outreaches": {"href": href + "/outreaches"},
                "osdi:taggings": {"href": href + "/taggings"},
                "curies": _curies(),
            },
        }
    )
    return resource


def _tag_resource(t: _Tag, base: str) -> dict[str, Any]:
    href = f"{base}tags/{t.id}"
    return {
        "identifiers": [ID_PREFIX + t.id],
        "created_date": _fmt(t.created),
        "modified_date": _fmt(t.modified),
        "name": t.name,
        "_links": {"self": {"href": href}, "osdi:taggings": {"href": href + "/taggings"}, "curies": _curies()},
    }


def _tagging_resource(t: _Tagging, base: str) -> dict[str, Any]:
    href = f"{base}tags/{t.tag_id}/taggings/{t.id}"
    return {
        "identifiers": [ID_PREFIX + t.id],
        "created_date": _fmt(t.created),
        "modified_date": _fmt(t.created),
        "item_type": "osdi:person",
        "_links": {
            "self": {"href": href},
            "osdi:tag": {"href": f"{base}tags/{t.tag_id}"},
            "osdi:person": {"href": f"{base}people/{t.person_id}"},
            "curies": _curies(),
        },
    }


def _collection(
    request: Request,
    base: str,
    path: str,
    rel: str,
    items: list[Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    with_totals: bool,
) -> dict[str, Any]:
    per_page = _int_arg(request.args.get("per_page"), MAX_PER_PAGE)
    per_page = MAX_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    page = max(1, _int_arg(request.args.get("page"), 1))
    start = (page - 1) * per_page
    rendered = [render(item) for item in items[start : start + per_page]]

    def href(page_no: int) -> str:
        params = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
        params.append(("page", str(page_no)))
        return f"{base}{path}?{urlencode(params)}"

    links: dict[str, Any] = {
        # AN quirk (people, since 2016): `next` is always present; clients stop on an empty page.
        "next": {"href": href(page + 1)},
        "self": {"href": href(page)},
        rel: [{"href": r["_links"]["self"]["href"]} for r in rendered],
        "curies": _curies(),
    }
    if page > 1:
        links["previous"] = {"href": href(page - 1)}
    body: dict[str, Any] = {"per_page": per_page, "page": page}
    if with_totals:
        total_pages = max(1, -(-len(items) // per_page))
        body["total_pages"] = total_pages
        body["total_records"] = len(items)
        if page >= total_pages:
            links.pop("next")
    body["_links"] = links
    body["_embedded"] = {rel: rendered}
    return body
