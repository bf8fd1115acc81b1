"""The volunteer pages: one volunteer, where they work (for permissions), their history and upcoming signups,
the search, and editing their contact details (optimistic and audited like every write)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.shifts import tracker
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import backup_shifts, edits, event_participants, shifts, volunteers
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError
from orgsync_dagster.shifts.tracker_store.core import (
    Actor,
    Conflict,
    Forbidden,
    NotFound,
    apply_changes,
    fetch_rows,
    lock_row,
    scope_where,
    seen_version,
)


# -- volunteers ----------------------------------------------------------------------------------------------------
def volunteer(conn: Connection, volunteer_id: int) -> dict | None:
    r = conn.execute(sa.select(volunteers).where(volunteers.c.id == volunteer_id)).first()
    return dict(r._mapping) if r is not None else None


def volunteer_places(conn: Connection, vol: dict, settings: ShiftsSettings) -> set[tuple[str, str | None, str | None]]:
    """Every (instance, office, region) the volunteer has a shift or an upcoming signup in (for permissions)."""
    places = set()
    for t in (shifts, backup_shifts):
        for r in conn.execute(
            sa.select(t.c.instance, t.c.office, t.c.region).where(t.c.volunteer_id == vol["id"]).distinct()
        ):
            places.add((r.instance, r.office, r.region))
    if vol.get("van_id") is not None:
        p = event_participants.c
        for r in conn.execute(
            sa.select(p.instance, p.location_name).where(p.instance == vol["instance"], p.van_id == vol["van_id"])
        ):
            office = settings.office_of(r.location_name)
            places.add((r.instance, office, settings.region_of(office)))
    return places


def volunteer_history(conn: Connection, vol: dict, now: dt.datetime) -> dict:
    """Past shifts (from the nightly backups and the live day) and upcoming VAN signups of one volunteer."""
    past = []
    for t, source in ((backup_shifts, "backup"), (shifts, "live")):
        q = (
            sa.select(
                t.c.id,
                t.c.day,
                t.c.office,
                t.c.event_type_name,
                t.c.role_name,
                t.c.starts_at,
                t.c.status,
                t.c.synced_status,
                t.c.canvass_group_id,
            )
            .where(t.c.volunteer_id == vol["id"])
            .order_by(t.c.starts_at.desc())
        )
        past += [{**r, "source": source} for r in fetch_rows(conn, q)]
    past.sort(key=lambda r: (r["day"], r["starts_at"] or now), reverse=True)
    upcoming = []
    if vol.get("van_id") is not None:
        p = event_participants.c
        upcoming = fetch_rows(
            conn,
            sa.select(p.event_name, p.event_type_name, p.role_name, p.status_name, p.location_name, p.starts_at)
            .where(p.instance == vol["instance"], p.van_id == vol["van_id"], p.starts_at >= now)
            .order_by(p.starts_at),
        )
    changes = fetch_rows(
        conn,
        sa.select(edits.c.field, edits.c.old_value, edits.c.new_value, edits.c.user_name, edits.c.at)
        .where(edits.c.entity == "volunteer", edits.c.entity_id == vol["id"])
        .order_by(edits.c.at.desc())
        .limit(20),
    )
    return {"past": past, "upcoming": upcoming, "changes": changes}


def search_volunteers(conn: Connection, scope: Scope, text: str, limit: int = 50) -> list[dict]:
    words = [w for w in str(text or "").split() if w][:3]
    if not words:
        return []
    ids = sa.union(
        *[sa.select(t.c.volunteer_id.label("vid")).where(scope_where(t, scope)) for t in (shifts, backup_shifts)]
    ).subquery()
    v = volunteers.c
    q = sa.select(volunteers).where(v.id.in_(sa.select(ids.c.vid)))
    for w in words:
        like = f"{w.replace('%', '').replace('_', '')}%"
        q = q.where(sa.or_(v.first_name.ilike(like), v.last_name.ilike(like)))
    return fetch_rows(conn, q.order_by(v.last_name, v.first_name).limit(limit))


VOLUNTEER_FIELDS = ("first_name", "last_name", "phone", "email")


def edit_volunteer(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    volunteer_id: int,
    version,
    form: dict,
    may_edit: Callable[[dict, Connection], bool],
) -> dict:
    seen = seen_version(version)
    changes, problems = {}, []
    for f in VOLUNTEER_FIELDS:
        if f not in form:
            continue
        value = " ".join(str(form.get(f) or "").split()) or None
        if f in ("first_name", "last_name") and (not value or len(value) > 50):
            problems.append(f"{f.replace('_', ' ')} is required (at most 50 characters)")
        if f == "phone" and value:
            value = tracker.digits(value)
            if not tracker.PHONE_RE.match(value):
                problems.append("the phone number must be a 10-digit US number")
        if f == "email" and value and not tracker.EMAIL_RE.match(value):
            problems.append("the e-mail address is not valid")
        changes[f] = value
    if problems:
        raise TrackerInputError("; ".join(problems))
    with engine.begin() as conn:
        row = lock_row(conn, volunteers, volunteer_id)
        if row is None:
            raise NotFound("no such volunteer")
        if not may_edit(row, conn):
            raise Forbidden("this volunteer has no shift in an office you work in")
        if row["version"] != seen:
            raise Conflict("volunteer", volunteer(conn, volunteer_id))
        row.setdefault("office", None)
        apply_changes(conn, volunteers, "volunteer", row, changes, actor, day=settings.today(), notify=False)
        return volunteer(conn, volunteer_id)
