"""Settings of the shifts domain (the ``shifts:`` section of orgsync.yaml), validated once. No Dagster, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

IMPORT_STATUSES = ("Invited", "Left Msg", "Confirmed", "Scheduled", "Sched-Web")
# what organizers can set in the tracker (the original's list, with "Left Msg" spelled as VAN spells it)
TRACKER_STATUSES = (
    "Scheduled",
    "Invited",
    "Left Msg",
    "Same Day Confirmed",
    "In",
    "Completed",
    "Declined",
    "No Show",
    "Resched",
)
# VAN statuses a shift ends the day with: only these are reviewed and written back to VAN
FINAL_STATUSES = ("Completed", "Declined", "No Show", "Resched")
WALK_IN_SLOTS = ("10:00", "13:00", "16:00", "18:00")
WALK_IN_ACTIVITIES = ("Canvassing", "Phonebanking", "Comfort Vol", "Intern Onboarding", "Intern Interview")
NO_OFFICE = "(no location)"


def norm(name) -> str:
    """Status / type names compare case- and space-insensitively ("Left Msg" == "left  msg")."""
    return " ".join(str(name or "").casefold().split())


@dataclass(frozen=True)
class ShiftsSettings:
    timezone: str = "America/Chicago"
    event_types: tuple[str, ...] = ("Canvass", "Phone Bank", "Volunteer DVC")
    lookback_days: int = 0
    lookahead_days: int = 7
    import_statuses: tuple[str, ...] = IMPORT_STATUSES
    status_aliases: dict[str, str] = field(default_factory=dict)
    offices: dict[str, str] = field(default_factory=dict)
    region_chars: int = 2
    partitions_start: str = "2026-01-01"
    refresh_cron: str = "5 7-21 * * *"
    nightly_hour: int = 0
    nightly_minute: int = 30
    reference_max_age_hours: float = 24.0
    tracker_statuses: tuple[str, ...] = TRACKER_STATUSES
    final_statuses: tuple[str, ...] = FINAL_STATUSES
    walk_in_slots: tuple[str, ...] = WALK_IN_SLOTS
    walk_in_activities: tuple[str, ...] = WALK_IN_ACTIVITIES
    walk_in_event_type: str = "Volunteer DVC"
    first_check_in_minutes: int = 45
    check_in_minutes: int = 60

    @classmethod
    def from_config(cls, raw: dict) -> ShiftsSettings:
        def names(key, default):
            value = raw.get(key, default)
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValueError(f"shifts.{key} must be a list of names")
            return tuple(v.strip() for v in value)

        def mapping(key):
            value = raw.get(key) or {}
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ValueError(f"shifts.{key} must map names to names")
            return {str(k): v for k, v in value.items()}

        s = cls(
            timezone=str(raw.get("timezone", cls.timezone)),
            event_types=names("event_types", cls.event_types),
            lookback_days=int(raw.get("lookback_days", 0)),
            lookahead_days=int(raw.get("lookahead_days", 7)),
            import_statuses=names("import_statuses", IMPORT_STATUSES),
            status_aliases=mapping("status_aliases"),
            offices=mapping("offices"),
            region_chars=int(raw.get("region_chars", 2)),
            partitions_start=str(raw.get("partitions_start", cls.partitions_start)),
            refresh_cron=str(raw.get("refresh_cron", cls.refresh_cron)),
            nightly_hour=int(raw.get("nightly_hour", 0)),
            nightly_minute=int(raw.get("nightly_minute", 30)),
            reference_max_age_hours=float(raw.get("reference_max_age_hours", 24)),
            tracker_statuses=names("tracker_statuses", TRACKER_STATUSES),
            final_statuses=names("final_statuses", FINAL_STATUSES),
            walk_in_slots=names("walk_in_slots", WALK_IN_SLOTS),
            walk_in_activities=names("walk_in_activities", WALK_IN_ACTIVITIES),
            walk_in_event_type=str(raw.get("walk_in_event_type", cls.walk_in_event_type)),
            first_check_in_minutes=int(raw.get("first_check_in_minutes", 45)),
            check_in_minutes=int(raw.get("check_in_minutes", 60)),
        )
        for slot in s.walk_in_slots:
            try:
                dt.time.fromisoformat(slot)
            except ValueError:
                raise ValueError(f"shifts.walk_in_slots: {slot!r} is not a time of day (HH:MM)") from None
        if s.first_check_in_minutes <= 0 or s.check_in_minutes <= 0:
            raise ValueError("shifts.first_check_in_minutes and shifts.check_in_minutes must be > 0")
        _ = s.tz  # validates the time zone
        dt.date.fromisoformat(s.partitions_start)
        if s.lookback_days < 0 or s.lookahead_days < 0:
            raise ValueError("shifts.lookback_days and shifts.lookahead_days must be >= 0")
        return s

    @property
    def tz(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"shifts.timezone {self.timezone!r} is not a known IANA time zone") from None

    # -- days -------------------------------------------------------------------------------------------------
    def today(self, now: dt.datetime | None = None) -> dt.date:
        return (now or dt.datetime.now(dt.UTC)).astimezone(self.tz).date()

    def day_bounds(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """[local midnight of ``day``, local midnight of the next day) as aware datetimes (DST-safe)."""
        start = dt.datetime.combine(day, dt.time(), tzinfo=self.tz)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=self.tz)
        return start, end

    def local_day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    # -- statuses and offices ------------------------------------------------------------------------------
    def van_status_name(self, status: str | None) -> str | None:
        """The VAN status (name) a tool status stands for: "Same Day Confirmed" -> "Confirmed"."""
        if status is None:
            return None
        aliases = {norm(k): v for k, v in self.status_aliases.items()}
        return aliases.get(norm(status), status)

    def is_final(self, status: str | None) -> bool:
        """A status a shift can end the day with (reviewed, then written back to VAN): through the aliases, so
        "In" (checked in) counts as Completed."""
        return norm(self.van_status_name(status)) in {norm(s) for s in self.final_statuses}

    def tracker_status(self, value: str | None) -> str | None:
        """The tracker's own spelling of a status typed or posted in any case/spacing; None if it is not one."""
        return {norm(s): s for s in self.tracker_statuses}.get(norm(value))

    def is_import_status(self, status_name: str | None) -> bool:
        return norm(status_name) in {norm(s) for s in self.import_statuses}

    def office_of(self, location_name: str | None) -> str:
        if not location_name:
            return NO_OFFICE
        offices = {norm(k): v for k, v in self.offices.items()}
        return offices.get(norm(location_name), location_name)

    def region_of(self, office: str) -> str | None:
        if office == NO_OFFICE:
            return None
        return office[: self.region_chars].strip() if self.region_chars > 0 else office
