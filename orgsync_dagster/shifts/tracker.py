"""Pure rules of the organizers' tracker (the web app's Same Day Confirms, Flake Chase, KPH, Walk-ins and Review
pages): what may be edited and to what, the canvass-group lifecycle, walk-in de-duplication and the review states.

No Dagster, no I/O: the web app's pages call ``tracker_store`` (which calls these), and tests use plain dicts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from orgsync_dagster.shifts.settings import ShiftsSettings, norm

NOTE_TYPES = ("sdc", "flake", "kph")
MAX_PASSES = 99
MAX_NOTE = 255
PAGES = ("sdc", "flake", "kph", "walkins", "review")


class TrackerInputError(ValueError):
    """A form value the tracker refuses; the message is shown to the organizer as is."""


@dataclass(frozen=True)
class Scope:
    """What a page shows: one office, one region, or a whole state (a VAN instance)."""

    state: str
    office: str | None = None
    region: str | None = None

    @property
    def kind(self) -> str:
        return "office" if self.office else "region" if self.region else "state"

    @property
    def label(self) -> str:
        return self.office or (f"Region {self.region}" if self.region else f"{self.state} (all offices)")

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode({"office": self.office} if self.office else {"region": self.region} if self.region else {})

    def contains(self, state: str, office: str | None, region: str | None) -> bool:
        if state != self.state:
            return False
        if self.office is not None:
            return office == self.office
        if self.region is not None:
            return region == self.region
        return True


# -- shifts ------------------------------------------------------------------------------------------------------
SHIFT_FIELDS = ("status", "call_pass", "flake_pass", "claim")


def parse_int(raw, name: str, lo: int = 0, hi: int = 10_000) -> int:
    try:
        value = int(str(raw).strip())
    except (TypeError, ValueError):
        raise TrackerInputError(f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise TrackerInputError(f"{name} must be between {lo} and {hi}")
    return value


def shift_changes(row: dict, field: str, raw, settings: ShiftsSettings, initials: str) -> dict:
    """The column changes one edit of a shift makes (validated). A No Show marks the volunteer a flake to chase."""
    if field == "status":
        status = settings.tracker_status(raw)
        if status is None:
            raise TrackerInputError(f"{raw!r} is not a status; choose one of {', '.join(settings.tracker_statuses)}")
        changes = {"status": status}
        if norm(status) == "no show" and not row.get("flake"):
            changes["flake"] = True
        return changes
    if field in ("call_pass", "flake_pass"):
        label = "call passes" if field == "call_pass" else "flake-chase passes"
        text = str(raw).strip()
        if text in ("+1", "-1"):
            value = int(row.get(field) or 0) + int(text)
            if value < 0:
                raise TrackerInputError(f"{label} cannot go below 0")
        else:
            value = parse_int(text, label, 0, MAX_PASSES)
        return {field: min(value, MAX_PASSES)}
    if field == "claim":
        text = str(raw).strip().lower()
        if text not in ("claim", "unclaim"):
            raise TrackerInputError("claim must be 'claim' or 'unclaim'")
        if text == "claim":
            if row.get("claim") and row["claim"] != initials:
                raise TrackerInputError(f"already claimed by {row['claim']}; they must unclaim it first")
            return {"claim": initials}
        return {"claim": None}
    raise TrackerInputError(f"{field!r} cannot be edited here")


def note_text(raw) -> str:
    text = " ".join(str(raw or "").split())
    if not text:
        raise TrackerInputError("the note is empty")
    if len(text) > MAX_NOTE:
        raise TrackerInputError(f"a note holds at most {MAX_NOTE} characters ({len(text)} given)")
    return text


def note_type(raw) -> str:
    value = str(raw or "").strip().lower()
    if value not in NOTE_TYPES:
        raise TrackerInputError(f"note type must be one of {', '.join(NOTE_TYPES)}")
    return value


def on_flake_page(row: dict) -> bool:
    return bool(row.get("flake")) or norm(row.get("status")) == "no show"


def on_page(row: dict, page: str) -> bool:
    if page == "flake":
        return on_flake_page(row)
    return True


# -- canvass groups (KPH) ------------------------------------------------------------------------------------------
GROUP_MEMBER_STATUSES = ("in", "same day confirmed")


def member_problem(shift: dict, group_id: int | None = None) -> str | None:
    """Why a shift cannot join a canvass group (None: it can): active, In or Same Day Confirmed, in no other
    active group."""
    if not shift.get("is_active", True):
        return "the shift is no longer active"
    if norm(shift.get("status")) not in GROUP_MEMBER_STATUSES:
        return f"only volunteers who are In or Same Day Confirmed can go out (this one is {shift.get('status')})"
    other = shift.get("canvass_group_id")
    if other is not None and other != group_id and shift.get("group_active", True):
        return f"already in canvass group {other}"
    return None


def group_out(now: dt.datetime, settings: ShiftsSettings) -> dict:
    """Sent out (again): departure now, first check-in due after ``first_check_in_minutes``."""
    return {
        "departed_at": now,
        "next_check_in_at": now + dt.timedelta(minutes=settings.first_check_in_minutes),
        "is_returned": False,
        "returned_at": None,
    }


def group_check_in(group: dict, doors_raw, now: dt.datetime, settings: ShiftsSettings) -> dict:
    if group.get("departed_at") is None or group.get("is_returned"):
        raise TrackerInputError("the group is not out: send it out before checking in")
    doors = parse_int(doors_raw, "doors knocked so far", 0, 100_000)
    if doors < int(group.get("doors") or 0):
        raise TrackerInputError(f"doors knocked so far cannot go down (it is {group.get('doors')})")
    return {
        "doors": doors,
        "last_check_in_at": now,
        "next_check_in_at": now + dt.timedelta(minutes=settings.check_in_minutes),
        "check_ins": int(group.get("check_ins") or 0) + 1,
    }


def group_return(group: dict, doors_raw, now: dt.datetime) -> dict:
    if group.get("departed_at") is None or group.get("is_returned"):
        raise TrackerInputError("the group is not out")
    changes = {"is_returned": True, "returned_at": now, "next_check_in_at": None}
    if doors_raw not in (None, ""):
        doors = parse_int(doors_raw, "doors knocked", 0, 100_000)
        if doors < int(group.get("doors") or 0):
            raise TrackerInputError(f"doors knocked cannot go down (it is {group.get('doors')})")
        changes["doors"] = doors
    return changes


def group_settings(goal_raw, packets_raw, packet_names_raw) -> dict:
    names = " ".join(str(packet_names_raw or "").split())
    if len(names) > 500:
        raise TrackerInputError("packet names hold at most 500 characters")
    return {
        "goal": parse_int(goal_raw or 0, "door goal", 0, 100_000),
        "packets_given": parse_int(packets_raw or 0, "packets given", 0, 1000),
        "packet_names": names or None,
    }


def is_overdue(group: dict, now: dt.datetime) -> bool:
    due = group.get("next_check_in_at")
    return bool(group.get("is_active", True) and not group.get("is_returned") and due is not None and due < now)


# -- walk-ins ------------------------------------------------------------------------------------------------------
PHONE_RE = re.compile(r"^1?[2-9]\d{2}[2-9]\d{6}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def digits(phone) -> str:
    return "".join(ch for ch in str(phone or "") if ch.isdigit())


def person_key(first, last, phone) -> tuple[str, str, str]:
    """The de-duplication key of a volunteer without a VAN id: first + last name + phone (10 digits)."""
    return norm(first), norm(last), digits(phone)[-10:]


@dataclass(frozen=True)
class WalkIn:
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    van_id: int | None
    activity: str
    slot: dt.time


def parse_walk_in(form: dict, settings: ShiftsSettings) -> WalkIn:
    """Validate the walk-in form; every problem is named at once."""
    problems = []
    first = " ".join(str(form.get("first_name") or "").split())
    last = " ".join(str(form.get("last_name") or "").split())
    if not first or not last:
        problems.append("first and last name are required")
    if len(first) > 50 or len(last) > 50:
        problems.append("names hold at most 50 characters")
    phone = digits(form.get("phone"))
    if phone and not PHONE_RE.match(phone):
        problems.append("the phone number must be a 10-digit US number")
    email = str(form.get("email") or "").strip() or None
    if email and (len(email) > 200 or not EMAIL_RE.match(email)):
        problems.append("the e-mail address is not valid")
    van_raw = str(form.get("van_id") or "").strip()
    van_id = None
    if van_raw:
        if not van_raw.isdigit() or len(van_raw) > 12:
            problems.append("the VAN id must be a number")
        else:
            van_id = int(van_raw)
    if not van_id and not phone:
        problems.append("give a VAN id or a phone number (they are how the volunteer is recognised next time)")
    activity = next((a for a in settings.walk_in_activities if norm(a) == norm(form.get("activity"))), None)
    if activity is None:
        problems.append(f"choose an activity: {', '.join(settings.walk_in_activities)}")
    slot = next((s for s in settings.walk_in_slots if s == str(form.get("slot") or "").strip()), None)
    if slot is None:
        problems.append(f"choose a time slot: {', '.join(settings.walk_in_slots)}")
    if problems:
        raise TrackerInputError("; ".join(problems))
    return WalkIn(first, last, phone or None, email, van_id, activity, dt.time.fromisoformat(slot))


# -- the review ----------------------------------------------------------------------------------------------------
def review_state(row: dict, settings: ShiftsSettings) -> str | None:
    """Where a shift stands in the end-of-day review (None: not in the review):

    ``to_review``  final status that differs from VAN, not approved yet
    ``changed``    approved, then changed again: approve the new status
    ``approved``   approved, waiting for the nightly sync (van/shift_status_sync)
    ``sent`` / ``in_van`` / ``failed`` / ``not_matched``  the sync's outcome
    ``walk_in``    no VAN signup: add it in VAN by hand
    """
    status = row.get("status")
    approved = row.get("approved_status")
    if approved is not None:
        if norm(approved) != norm(status):
            return "changed"
        return row.get("sync_outcome") or "approved"
    if not settings.is_final(status):
        return None
    if row.get("event_signup_id") is None:
        return "walk_in"
    van = row.get("van_status") or row.get("original_status")
    if norm(settings.van_status_name(status)) == norm(van):
        return None
    return "to_review"


def approvable(row: dict, settings: ShiftsSettings) -> str | None:
    """Why a shift cannot be approved (None: it can)."""
    if not settings.is_final(row.get("status")):
        return f"only a final status ({', '.join(settings.final_statuses)}) can be approved"
    if row.get("approved_status") is not None and norm(row["approved_status"]) == norm(row.get("status")):
        return "already approved"
    return None
