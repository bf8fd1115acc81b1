"""Action Network emulator: one group's in-memory database (people, tags, signup and PUT semantics)."""

from __future__ import annotations

import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from orgsync_dagster.sandbox.an_model import (
    _SEED_EPOCH,
    _SEED_FAMILY,
    _SEED_GIVEN,
    _SETTABLE_STATUSES,
    ID_PREFIX,
    ApiError,
    _fmt,
    _new_stats,
    _Person,
    _Tag,
    _Tagging,
    _utcnow,
    normalize_phone,
)
from orgsync_dagster.sandbox.an_wire import _parse_email, _parse_person_fields, _parse_phone, _parse_tag_names


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
