"""Pure logic of the shifts domain: reading VAN participants, choosing the day's shifts, and planning the status
sync-back (status names mapped to VAN's status ids per event type; never a name compared with an id).

No Dagster, no I/O: everything here is testable with plain dicts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

from orgsync_dagster.lib.sync import Op
from orgsync_dagster.resources.http import ApiError, BudgetExceeded
from orgsync_dagster.shifts.settings import ShiftsSettings, norm

STATUS_SYNC = "van.shift_status"  # ledger name of the sync-back


class ShiftsError(Exception):
    """A problem the user can act on; its message is shown as is (no traceback, no personal data).
    ``retryable``: worth retrying automatically (a transient API failure), not a configuration problem."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


def describe_api_failure(instance: str, exc: Exception) -> str:
    """A message a user can act on for a failed VAN call (the HTTP layer never puts keys or bodies in it)."""
    if isinstance(exc, BudgetExceeded):
        return f"VAN instance {instance}: {exc}; nothing more is sent today (raise van.daily_request_budget)."
    if isinstance(exc, ApiError) and exc.status == 401:
        return (
            f"VAN instance {instance} refused the API key (HTTP 401): it is wrong, revoked, or lacks the "
            "'|1' MyCampaign suffix. Fix VAN_API_KEYS for this instance and re-run."
        )
    if isinstance(exc, ApiError) and exc.status == 403:
        return f"VAN instance {instance} denied access (HTTP 403) to {exc.endpoint}: the API key lacks permission."
    return f"VAN instance {instance}: {exc}"


# -- the participant export ---------------------------------------------------------------------------------------
def export_window(settings: ShiftsSettings, today: dt.date) -> tuple[str, str]:
    """VAN's ``startingAfter``/``startingBefore`` (exclusive, on the event's local start date)."""
    since = today - dt.timedelta(days=settings.lookback_days + 1)
    until = today + dt.timedelta(days=settings.lookahead_days + 1)
    return since.isoformat(), until.isoformat()


def parse_time(value, settings: ShiftsSettings) -> dt.datetime | None:
    """An aware datetime from VAN's ISO 8601 text; a time without offset is read in the campaign's zone."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            return None
    return moment.replace(tzinfo=settings.tz) if moment.tzinfo is None else moment


def _id(obj, key):
    value = (obj or {}).get(key) if isinstance(obj, dict) else None
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _contact_value(value, *keys) -> str | None:
    """VAN's signup ``person.email`` / ``person.phone``: an object (``{"email": ...}``, ``{"phoneNumber": ...}``),
    a list of them (preferred first), or plain text; None when absent."""
    if isinstance(value, list):
        preferred = sorted((v for v in value if isinstance(v, dict)), key=lambda v: not v.get("isPreferred"))
        value = preferred[0] if preferred else None
    if isinstance(value, dict):
        value = next((value.get(k) for k in keys if value.get(k)), None)
    text = str(value).strip() if value not in (None, "") else ""
    return text or None


def person_contact(person: dict) -> dict:
    """The contact fields VAN puts on each signup's person (email, phone, contactModeId): no extra request."""
    person = person if isinstance(person, dict) else {}
    email = _contact_value(person.get("email"), "email", "address")
    phone = _contact_value(person.get("phone"), "phoneNumber", "number")
    digits = "".join(ch for ch in phone or "" if ch.isdigit())[-15:]
    return {
        "email": email if email and "@" in email else None,
        "phone": digits or None,
        "contact_mode_id": _id(person, "contactModeId"),
    }


def parse_participant(
    instance: str, event: dict, signup: dict, settings: ShiftsSettings, known_statuses: dict[int, str] | None = None
) -> tuple[dict | None, dict | None]:
    """One VAN signup -> (participant row, None) or (None, problem). Problems carry ids and a reason, never names."""
    signup_id = _id(signup, "eventSignupId")
    event_id = _id(event, "eventId")

    def problem(reason: str):
        return None, {"instance": instance, "event_signup_id": signup_id, "event_id": event_id, "reason": reason}

    if signup_id is None:
        return problem("signup without an eventSignupId")
    person = signup.get("person") or {}
    van_id = _id(person, "vanId")
    if van_id is None:
        return problem("participant has no VAN id")
    type_id = _id(event.get("eventType"), "eventTypeId")
    if type_id is None:
        return problem("event has no event type")
    status = signup.get("status") or {}
    status_id, status_name = _id(status, "statusId"), status.get("name")
    if known_statuses is not None and status_id is not None and status_id in known_statuses:
        status_name = status_name or known_statuses[status_id]
    if status_id is None or not status_name or (known_statuses is not None and status_id not in known_statuses):
        return problem(f"unknown status id {status_id} for event type {type_id}")
    shift_id = _id(signup.get("shift"), "eventShiftId")
    shift = next((s for s in event.get("shifts") or [] if _id(s, "eventShiftId") == shift_id), {}) or {}
    starts = parse_time(signup.get("startTimeOverride") or shift.get("startTime") or event.get("startDate"), settings)
    ends = parse_time(signup.get("endTimeOverride") or shift.get("endTime") or event.get("endDate"), settings)
    if starts is None:
        return problem("no readable start time")
    if ends is not None and ends <= starts:
        return problem("shift ends before it starts")
    location = signup.get("location") or {}
    role = signup.get("role") or {}
    return {
        "instance": instance,
        "event_signup_id": signup_id,
        "van_id": van_id,
        "first_name": person.get("firstName"),
        "last_name": person.get("lastName"),
        **person_contact(person),
        "event_id": event_id,
        "event_name": event.get("name"),
        "event_date": str(event.get("startDate") or starts.isoformat())[:10],
        "event_type_id": type_id,
        "event_type_name": (event.get("eventType") or {}).get("name"),
        "event_shift_id": shift_id,
        "shift_name": shift.get("name") or (signup.get("shift") or {}).get("name"),
        "role_id": _id(role, "roleId"),
        "role_name": role.get("name"),
        "status_id": status_id,
        "status_name": status_name,
        "location_id": _id(location, "locationId"),
        "location_name": location.get("name"),
        "starts_at": starts,
        "ends_at": ends,
        "date_modified": signup.get("dateModified"),
    }, None


# -- the day's shifts ----------------------------------------------------------------------------------------------
def select_for_import(participants: list[dict], settings: ShiftsSettings, day: dt.date) -> tuple[list[dict], Counter]:
    """Participants that become shifts of ``day`` (local start day, import statuses); the rest counted by status."""
    chosen, skipped = [], Counter()
    for p in participants:
        if settings.local_day(p["starts_at"]) != day:
            continue
        if settings.is_import_status(p["status_name"]):
            chosen.append(p)
        else:
            skipped[p["status_name"]] += 1
    return chosen, skipped


def shift_row(p: dict, day: dt.date, volunteer_id: int, settings: ShiftsSettings) -> dict:
    office = settings.office_of(p.get("location_name"))
    return {
        "day": day,
        "instance": p["instance"],
        "source": "van",
        "event_signup_id": p["event_signup_id"],
        "event_id": p["event_id"],
        "event_shift_id": p["event_shift_id"],
        "event_type_id": p["event_type_id"],
        "event_type_name": p["event_type_name"],
        "role_id": p["role_id"],
        "role_name": p["role_name"],
        "location_id": p["location_id"],
        "office": office,
        "region": settings.region_of(office),
        "volunteer_id": volunteer_id,
        "van_id": p["van_id"],
        "starts_at": p["starts_at"],
        "ends_at": p["ends_at"],
        "status": p["status_name"],
        "original_status": p["status_name"],
    }


# -- the sync-back -------------------------------------------------------------------------------------------------
def status_ids(rows: list[dict]) -> dict[int, dict[str, int]]:
    """``[{event_type_id, status_id, status_name}]`` -> ``{event_type_id: {normalised name: status_id}}``."""
    out: dict[int, dict[str, int]] = {}
    for r in rows:
        out.setdefault(int(r["event_type_id"]), {})[norm(r["status_name"])] = int(r["status_id"])
    return out


@dataclass
class StatusPlan:
    ops: list[Op] = field(default_factory=list)
    unchanged: int = 0  # the organizers did not change the status
    awaiting_approval: int = 0  # changed, but nobody approved it in the review (never sent)
    stale_approvals: int = 0  # approved, then changed again: waits for a new approval (never sent)
    already_in_van: list[dict] = field(default_factory=list)  # approved, and VAN already shows that status
    not_in_van: int = 0  # walk-ins with no VAN signup: nothing to update
    not_matched: list[dict] = field(default_factory=list)  # approved, but no VAN signup to update: flip by hand
    quarantined: list[dict] = field(default_factory=list)  # changed, but cannot be sent (ids and reason only)


def signup_payload(row: dict, status_id: int) -> dict:
    body = {
        "person": {"vanId": int(row["van_id"])},
        "event": {"eventId": int(row["event_id"])},
        "shift": {"eventShiftId": int(row["event_shift_id"])},
        "role": {"roleId": int(row["role_id"])},
        "status": {"statusId": int(status_id)},
    }
    if row.get("location_id") is not None:  # VAN requires it when the event has locations, refuses it otherwise
        body["location"] = {"locationId": int(row["location_id"])}
    return body


def plan_status_sync(rows: list[dict], statuses: dict[int, dict[str, int]], settings: ShiftsSettings) -> StatusPlan:
    """One upsert per signup whose approved status VAN does not show yet. Only a status an organizer approved in the
    review, and still the shift's status, is ever sent."""
    plan = StatusPlan()
    for row in rows:
        approved = row.get("approved_status")
        if approved is not None and norm(approved) != norm(row.get("status")):
            plan.stale_approvals += 1
            continue
        if row.get("event_signup_id") is None or row.get("van_id") is None:
            plan.not_in_van += 1
            if approved is not None:
                plan.not_matched.append(
                    {"shift_id": row.get("shift_id"), "reason": "a walk-in with no VAN signup: add it in VAN by hand"}
                )
            continue
        if approved is None:
            if norm(row.get("status")) == norm(row.get("original_status")):
                plan.unchanged += 1
            else:
                plan.awaiting_approval += 1
            continue
        target = settings.van_status_name(approved)
        if "van_status" in row and row["van_status"] is None:
            plan.not_matched.append(
                {
                    "shift_id": row.get("shift_id"),
                    "reason": "the signup is no longer in VAN's participant list: flip it manually in VAN",
                }
            )
            continue
        if row.get("van_status") is not None and norm(target) == norm(row["van_status"]):
            plan.already_in_van.append({"shift_id": row.get("shift_id"), "van_status": target})
            continue

        def quarantine(reason: str, row: dict = row):
            plan.quarantined.append(
                {
                    "shift_id": row.get("shift_id"),
                    "event_signup_id": row["event_signup_id"],
                    "status": row.get("status"),
                    "reason": reason,
                }
            )

        type_statuses = statuses.get(int(row["event_type_id"])) if row.get("event_type_id") is not None else None
        if not type_statuses:
            quarantine(f"no VAN signup statuses known for event type {row.get('event_type_id')}")
            continue
        status_id = type_statuses.get(norm(target))
        if status_id is None:
            quarantine(f"status {target!r} is not a VAN status of event type {row['event_type_id']}")
            continue
        if any(row.get(k) is None for k in ("event_id", "event_shift_id", "role_id")):
            quarantine("incomplete VAN signup (event, shift or role missing)")
            continue
        plan.ops.append(
            Op(
                key=str(row["event_signup_id"]),
                action="update_status",
                payload=signup_payload(row, status_id),
                reason=f"{row.get('van_status') or row.get('original_status')} -> {target}",
                context={"shift_id": row.get("shift_id"), "van_status": target, "status_id": status_id},
            )
        )
    return plan


def sync_failure(error: str | None) -> tuple[str, str]:
    """(outcome, reason) of a write VAN refused, from the ledger's error ("van POST /v4/signups -> 400: ..."):
    ``not_matched`` when VAN no longer knows the signup's event, person or shift (a person must flip it in VAN),
    else ``failed`` (it is tried again by the next run)."""
    text = error or "VAN refused the write"
    found = re.search(r"-> (\d{3})\b", text)
    http_status = int(found.group(1)) if found else None
    gone = ("event.eventId", "person.vanId", "shift.eventShiftId", "not found")
    if http_status == 404 or (http_status == 400 and any(g in text for g in gone)):
        return "not_matched", f"not matched in VAN ({text}): flip it manually in VAN"
    return "failed", text
