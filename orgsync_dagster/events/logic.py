"""Pure logic of the ActionKit -> VAN events sync: validation, eligibility, the plan and the VAN payloads.

No Dagster, no I/O: everything here is testable with plain dicts. The settings it is given are in ``settings.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orgsync_dagster.lib.ledger import payload_hash
from orgsync_dagster.lib.sync import Op

if TYPE_CHECKING:
    from orgsync_dagster.events.settings import EventsSettings

LOCATION_NAME_MAX = 50  # VAN's limit for location names
VALIDATION_VERSION = 2  # bump when validate_event changes: every copied event is validated again
CANCELLED_STATUSES = frozenset({"cancelled", "canceled", "deleted"})
UTC = dt.UTC


@dataclass
class ValidatedEvent:
    ak_event_id: int
    instance: str | None
    event_type_name: str | None
    eligible: bool
    reason: str | None
    quarantined: bool
    payload: dict | None
    cancelled: bool = False  # cancelled or deleted in ActionKit: its VAN event, if any, is cancelled too

    def as_row(self) -> dict:
        return dict(self.__dict__)


def _timestamp(value) -> dt.datetime | None:
    """A datetime or an ISO string as a datetime (None for nothing); anything else is a ValueError."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a timestamp: {value!r}")
    return value


def _aware_utc(value) -> dt.datetime | None:
    value = _timestamp(value)
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class LocalTimeProblem(ValueError):
    """A local wall time that names no single instant (a DST change) while its UTC twin is missing."""


def _utc_from_local(value, tz: ZoneInfo, name: str) -> dt.datetime | None:
    """ActionKit's local wall time (naive, in the event's zone) -> aware UTC; refuses to guess across a DST
    change: a wall time that happens twice (clocks go back) or never (clocks go forward) is a problem."""
    value = _timestamp(value)
    if value is None:
        return None
    local = value.replace(tzinfo=None)
    first, second = local.replace(tzinfo=tz, fold=0), local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
            raise LocalTimeProblem(
                f"{name} {local.isoformat(sep=' ')} does not exist in {tz.key} (clocks go forward) and {name}_utc "
                "is empty"
            )
        raise LocalTimeProblem(
            f"{name} {local.isoformat(sep=' ')} is ambiguous in {tz.key} (clocks go back) and {name}_utc is empty"
        )
    return first.astimezone(UTC)


def clean(value) -> str:
    return "" if value is None else str(value).strip()


def location_of(row: dict) -> dict | None:
    """VAN location for an ActionKit event: the venue (50 chars max) and address, or None if there is none."""
    address = {
        "addressLine1": clean(row.get("address1")),
        "addressLine2": clean(row.get("address2")),
        "city": clean(row.get("city")),
        "stateOrProvince": clean(row.get("state")).upper(),
        "zipOrPostalCode": clean(row.get("zip")) or clean(row.get("postal")),
    }
    name = clean(row.get("venue")) or clean(row.get("address1")) or clean(row.get("city"))
    if not name and not address["addressLine1"] and not address["zipOrPostalCode"]:
        return None
    country = clean(row.get("country"))
    if country:
        address["countryCode"] = "US" if country.lower() in ("united states", "us", "usa") else country[:2].upper()
    return {"name": name[:LOCATION_NAME_MAX], "address": {k: v for k, v in address.items() if v}}


def validate_event(row: dict, settings: EventsSettings, now: dt.datetime) -> ValidatedEvent:
    """Quarantine unusable rows with a reason; decide eligibility as the original did (confirmed host, active,
    in the future, campaign mapped to a VAN event type) and which VAN instance (by state) it belongs to."""
    ak_id = row.get("id")

    def result(eligible, reason, quarantined=False, instance=None, type_name=None, payload=None):
        return ValidatedEvent(int(ak_id), instance, type_name, eligible, reason, quarantined, payload)

    title = clean(row.get("title"))
    if not title:
        return result(False, "missing title", quarantined=True)
    tz_name = clean(row.get("timezone")) or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        return result(False, f"unknown timezone {tz_name!r}", quarantined=True)
    try:
        # starts_at_utc is the truth (naive UTC in ActionKit); the local wall time only when it is missing
        start = _aware_utc(row.get("starts_at_utc")) or _utc_from_local(row.get("starts_at"), tz, "starts_at")
        end = _aware_utc(row.get("ends_at_utc")) or _utc_from_local(row.get("ends_at"), tz, "ends_at")
    except LocalTimeProblem as exc:
        return result(False, str(exc), quarantined=True)
    except ValueError as exc:
        return result(False, f"malformed time: {exc}", quarantined=True)
    if start is None:
        return result(False, "missing starts_at_utc (and starts_at)", quarantined=True)
    if end is not None and end <= start:
        return result(False, "ends_at_utc is not after starts_at_utc", quarantined=True)

    type_name = settings.type_for(row)
    state = clean(row.get("state")).upper()
    instance = state if state in settings.instances else None
    if end is None:
        end = start + dt.timedelta(minutes=settings.default_duration_minutes)
    payload = {
        "title": title[:500],
        "start": start.astimezone(tz).isoformat(),  # local time with its UTC offset: VAN keeps the zone
        "end": end.astimezone(tz).isoformat(),
        "location": location_of(row),
    }
    reasons = []
    if type_name is None:
        named = f" ({clean(row.get('campaign_name'))})" if clean(row.get("campaign_name")) else ""
        reasons.append(f"campaign {row.get('campaign_id')}{named} is not mapped to a VAN event type")
    if int(row.get("host_is_confirmed") or 0) != 1:
        reasons.append("host not confirmed")
    if clean(row.get("status")).lower() != "active":
        reasons.append(f"status is {clean(row.get('status')) or 'empty'}")
    if start < now:
        reasons.append("already started")
    if instance is None:
        reasons.append(f"no VAN instance configured for state {state or '(none)'}")
    outcome = result(not reasons, "; ".join(reasons) or None, False, instance, type_name, payload)
    outcome.cancelled = clean(row.get("status")).lower() in CANCELLED_STATUSES
    return outcome


def mirror_row(instance: str, item: dict, source: str = "export") -> dict:
    """A VAN event object (as listed with $expand=locations) -> a row of ngpvan.events."""
    locations = item.get("locations") or [{}]
    loc = locations[0] or {}
    address = loc.get("address") or {}
    short = clean(item.get("shortName"))
    event_type = item.get("eventType") or {}
    return {
        "instance": instance,
        "van_event_id": int(item["eventId"]),
        "ak_event_id": int(short) if short.isdigit() else None,
        "short_name": short or None,
        "title": item.get("name"),
        "event_type_id": event_type.get("eventTypeId"),
        "event_type_name": event_type.get("name"),
        "starts_at": _aware_utc(item.get("startDate")),
        "ends_at": _aware_utc(item.get("endDate")),
        "venue": loc.get("name"),
        "address1": address.get("addressLine1"),
        "address2": address.get("addressLine2"),
        "city": address.get("city"),
        "state": address.get("stateOrProvince"),
        "zip": address.get("zipOrPostalCode"),
        "country": address.get("countryCode"),
        "location_id": loc.get("locationId"),
        "is_active": item.get("isActive", True),
        "raw": item,
        "source": source,
    }


def location_key(location: dict | None) -> str | None:
    return None if location is None else payload_hash(location)


def change_reasons(payload: dict, mirror: dict) -> list[str]:
    """Why a VAN event no longer matches its ActionKit event (only fields this sync owns)."""
    reasons = []
    if (mirror.get("title") or "") != payload["title"]:
        reasons.append("title changed")
    if mirror.get("starts_at") != _aware_utc(payload["start"]):
        reasons.append("start changed")
    if mirror.get("ends_at") != _aware_utc(payload["end"]):
        reasons.append("end changed")
    loc = payload.get("location")
    if loc is not None and (mirror.get("venue") or "") != loc["name"]:
        reasons.append("venue changed")
    return reasons


@dataclass
class EventPlan:
    ops: list[Op]
    unchanged: int
    problems: list[str]  # plan-level errors (e.g. an event type missing in VAN), one line each
    blocked: int  # events not planned because of a problem
    new_locations: int


def plan_instance(
    validated: list[dict],
    mirror_by_ak_id: dict[int, dict],
    event_types: list[dict],
    settings: EventsSettings,
    known_locations: set[str],
) -> EventPlan:
    """The plan for one VAN instance: create AK events with no VAN counterpart (shortName = AK id), update the
    ones that changed. ``known_locations`` are location keys whose VAN id is already known (no request)."""
    types_by_name = {t["name"].lower(): t for t in event_types}
    ops: list[Op] = []
    problems: list[str] = []
    missing_types: dict[str, int] = {}
    unchanged = 0
    new_locations: set[str] = set()
    for ev in validated:
        if ev.get("cancelled"):
            existing = mirror_by_ak_id.get(ev["ak_event_id"])
            if existing is not None and existing.get("is_active", True):
                ops.append(
                    Op(
                        str(ev["ak_event_id"]),
                        "cancel",
                        {"isActive": False},
                        reason="cancelled in ActionKit",
                        context={"van_event_id": existing["van_event_id"]},
                    )
                )
            continue
        if not ev["eligible"]:
            continue
        vtype = types_by_name.get(ev["event_type_name"].lower())
        if vtype is None:
            missing_types[ev["event_type_name"]] = missing_types.get(ev["event_type_name"], 0) + 1
            continue
        roles = [
            r for r in vtype.get("roles") or [] if r.get("name", "").lower() in {x.lower() for x in settings.roles}
        ]
        if not roles:
            problems.append(f"VAN event type {vtype['name']!r} has none of the roles {settings.roles}")
            continue
        payload = ev["payload"]
        loc_key = location_key(payload.get("location"))
        needs_location = loc_key is not None and loc_key not in known_locations and loc_key not in new_locations
        context = {
            "event_type": {"eventTypeId": vtype["eventTypeId"]},
            "roles": [{"roleId": r["roleId"]} for r in roles],
            "location_key": loc_key,
        }
        existing = mirror_by_ak_id.get(ev["ak_event_id"])
        if existing is None:
            if needs_location:
                new_locations.add(loc_key)
            ops.append(
                Op(
                    str(ev["ak_event_id"]),
                    "create",
                    payload,
                    cost=1 + int(needs_location),
                    reason="not in VAN",
                    context=context,
                )
            )
            continue
        reasons = change_reasons(payload, existing)
        if not reasons:
            unchanged += 1
            continue
        if needs_location and "venue changed" in reasons:
            new_locations.add(loc_key)
        context["van_event_id"] = existing["van_event_id"]
        context["raw"] = existing.get("raw") or {}
        ops.append(
            Op(
                str(ev["ak_event_id"]),
                "update",
                payload,
                cost=1 + int(needs_location and "venue changed" in reasons),
                reason=", ".join(reasons),
                context=context,
            )
        )
    available = sorted(t["name"] for t in event_types)
    for name, n in sorted(missing_types.items()):
        problems.append(
            f"VAN event type {name!r} does not exist in this instance ({n} event(s) not synced); "
            f"available types: {', '.join(available) or 'none'}"
        )
    return EventPlan(ops, unchanged, problems, sum(missing_types.values()), len(new_locations))


def create_payload(ak_event_id: str, payload: dict, context: dict, location_id: int | None, shift_name: str) -> dict:
    body = {
        "name": payload["title"],
        "shortName": str(ak_event_id),
        "startDate": payload["start"],
        "endDate": payload["end"],
        "eventType": context["event_type"],
        "isOnlyEditableByCreatingUser": False,
        "roles": context["roles"],
        "shifts": [{"name": shift_name, "startTime": payload["start"], "endTime": payload["end"]}],
    }
    if location_id is not None:
        body["locations"] = [{"locationId": int(location_id)}]
    return body


def update_payload(raw: dict, payload: dict, location_id: int | None) -> dict:
    """VAN's PUT replaces the whole event: start from the exported object and change what this sync owns."""
    body = {k: v for k, v in raw.items() if v is not None}
    body.update({"name": payload["title"], "startDate": payload["start"], "endDate": payload["end"]})
    if location_id is not None:
        body["locations"] = [{"locationId": int(location_id)}]
    return body
