"""Pure logic of the shifts domain: reading VAN participants, choosing the day's shifts, and planning the status
sync-back (status names mapped to VAN's status ids per event type; never a name compared with an id).

No Dagster, no I/O: everything here is testable with plain dicts.
"""

from __future__ import annotations

import datetime as dt
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
    already_in_van: int = 0  # changed, but VAN already shows that status
    not_in_van: int = 0  # walk-ins with no VAN signup: nothing to update
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
    """One upsert per signup whose status the organizers changed and VAN does not show yet."""
    plan = StatusPlan()
    for row in rows:
        if row.get("event_signup_id") is None or row.get("van_id") is None:
            plan.not_in_van += 1
            continue
        if norm(row.get("status")) == norm(row.get("original_status")):
            plan.unchanged += 1
            continue
        target = settings.van_status_name(row.get("status"))
        if row.get("van_status") is not None and norm(target) == norm(row["van_status"]):
            plan.already_in_van += 1
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
                reason=f"{row.get('original_status')} -> {target}",
                context={"shift_id": row.get("shift_id"), "van_status": target, "status_id": status_id},
            )
        )
    return plan
