"""The VAN Event Participant export (the old SyncShift) of one VAN instance, with the fewest requests VAN allows:
one events list per 50 events (shifts and locations expanded into it) and one signups list per 200 signups of
each event (VAN has no bulk export of signups), plus the reference data (event types, signup statuses per type),
cached in the warehouse and refetched once a day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.resources.http import ApiError, BudgetExceeded
from orgsync_dagster.resources.van import VanClient
from orgsync_dagster.shifts import logic
from orgsync_dagster.shifts.settings import ShiftsSettings, norm
from orgsync_dagster.shifts.tables import event_participants, participant_problems, signup_statuses


@dataclass
class Reference:
    type_ids: dict[str, int]  # configured event type name -> VAN id
    statuses: dict[int, dict[int, str]]  # event type id -> {status id: name}
    missing_types: list[str] = field(default_factory=list)
    refreshed: bool = False


def _reference(rows: list[dict], settings: ShiftsSettings, refreshed: bool) -> Reference:
    wanted = {norm(n): n for n in settings.event_types}
    ref = Reference({}, {}, refreshed=refreshed)
    for r in rows:
        ref.type_ids[wanted.get(norm(r["event_type_name"]), r["event_type_name"])] = int(r["event_type_id"])
        ref.statuses.setdefault(int(r["event_type_id"]), {})[int(r["status_id"])] = r["status_name"]
    ref.missing_types = sorted(n for n in wanted.values() if n not in ref.type_ids)
    return ref


def cached_reference(
    engine: Engine, instance: str, settings: ShiftsSettings, now: dt.datetime
) -> tuple[Reference, bool]:
    """The cached reference data (no request) and whether it is fresh and complete."""
    with engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(sa.select(signup_statuses).where(signup_statuses.c.instance == instance))
        ]
    ref = _reference(rows, settings, refreshed=False)
    max_age = dt.timedelta(hours=settings.reference_max_age_hours)
    fresh = bool(rows) and min(r["fetched_at"] for r in rows) > now - max_age and not ref.missing_types
    return ref, fresh


def load_reference(
    engine: Engine, client: VanClient, instance: str, settings: ShiftsSettings, now: dt.datetime, *, force: bool = False
) -> Reference:
    """Event type ids and signup statuses of the configured types: from the cache if fresh, else 1 + T requests
    (GET /events/types, then GET /signups/statuses?eventTypeId= per configured type)."""
    ref, fresh = cached_reference(engine, instance, settings, now)
    if fresh and not force:
        return ref
    wanted = {norm(n) for n in settings.event_types}
    types = [t for t in client.event_types() if norm(t.get("name")) in wanted]
    rows = [
        {
            "instance": instance,
            "event_type_id": int(t["eventTypeId"]),
            "event_type_name": t["name"],
            "status_id": int(s["statusId"]),
            "status_name": s["name"],
            "fetched_at": now,
        }
        for t in types
        for s in client.signup_statuses(event_type_id=int(t["eventTypeId"]))
    ]
    with engine.begin() as conn:
        conn.execute(signup_statuses.delete().where(signup_statuses.c.instance == instance))
        if rows:
            conn.execute(signup_statuses.insert(), rows)
    return _reference(rows, settings, refreshed=True)


@dataclass
class ExportResult:
    instance: str
    window: tuple[str, str]
    events: int = 0
    participants: int = 0
    problems: list[dict] = field(default_factory=list)
    missing_types: list[str] = field(default_factory=list)
    by_status: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    reference_refreshed: bool = False
    with_phone: int = 0
    with_email: int = 0


def export_participants(
    engine: Engine,
    client: VanClient,
    instance: str,
    settings: ShiftsSettings,
    now: dt.datetime | None = None,
    *,
    day: dt.date | None = None,
) -> ExportResult:
    """Replace the instance's participants of the export window (``day`` minus the look-back to ``day`` plus the
    look-ahead; ``day`` defaults to today); raise ShiftsError (nothing written) on failure. Each participant's
    phone and e-mail come from the signup itself (VAN puts the person's contact fields on it): no extra request."""
    now = now or dt.datetime.now(dt.UTC)
    window = logic.export_window(settings, day or settings.today(now))
    result = ExportResult(instance, window)
    start = client.requests_sent
    rows: list[dict] = []
    try:
        ref = load_reference(engine, client, instance, settings, now)
        result.missing_types, result.reference_refreshed = ref.missing_types, ref.refreshed
        if not ref.type_ids:
            raise logic.ShiftsError(
                f"VAN instance {instance} has none of the event types in shifts.event_types "
                f"({', '.join(settings.event_types)}); fix the configuration. Nothing was changed in the warehouse."
            )
        events = client.list_events(
            event_type_ids=sorted(ref.type_ids.values()),
            starting_after=window[0],
            starting_before=window[1],
            expand=("locations", "shifts"),
        )
        for event in events:
            result.events += 1
            type_id = (event.get("eventType") or {}).get("eventTypeId")
            known = ref.statuses.get(int(type_id)) if type_id is not None else None
            for signup in client.list_signups(event_id=int(event["eventId"])):
                row, problem = logic.parse_participant(instance, event, signup, settings, known)
                if row is not None:
                    rows.append(row)
                else:
                    result.problems.append(problem)
    except (ApiError, BudgetExceeded) as exc:
        message = logic.describe_api_failure(instance, exc) + " Nothing was changed in the warehouse."
        raise logic.ShiftsError(message, retryable=bool(getattr(exc, "retryable", False))) from None
    finally:
        result.requests = client.requests_sent - start
    result.participants = len(rows)
    result.with_phone = sum(1 for r in rows if r.get("phone"))
    result.with_email = sum(1 for r in rows if r.get("email"))
    for r in rows:
        result.by_status[r["status_name"]] = result.by_status.get(r["status_name"], 0) + 1
    _store(engine, instance, window, rows, result.problems)
    return result


def _store(engine: Engine, instance: str, window: tuple[str, str], rows: list[dict], problems: list[dict]) -> None:
    p = event_participants.c
    with engine.begin() as conn:
        conn.execute(
            event_participants.delete().where(
                p.instance == instance, p.event_date > window[0], p.event_date < window[1]
            )
        )
        # a signup moved out of the window (event rescheduled) is replaced, not duplicated
        ids = [r["event_signup_id"] for r in rows]
        for i in range(0, len(ids), 5000):
            conn.execute(
                event_participants.delete().where(p.instance == instance, p.event_signup_id.in_(ids[i : i + 5000]))
            )
        for i in range(0, len(rows), 1000):
            conn.execute(event_participants.insert(), rows[i : i + 1000])
        conn.execute(participant_problems.delete().where(participant_problems.c.instance == instance))
        if problems:
            conn.execute(participant_problems.insert(), problems)
