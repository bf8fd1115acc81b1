"""Writes on the day's shifts: one field of a shift, a note on a shift or a canvass group (appended, never
edited), and a walk-in volunteer with an In shift."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.shifts import tracker
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import canvass_groups, edits, locations, notes, shifts, volunteers
from orgsync_dagster.shifts.tracker import TrackerInputError
from orgsync_dagster.shifts.tracker_store.core import (
    Actor,
    Allowed,
    Conflict,
    apply_changes,
    audit_created,
    check_allowed,
    lock_row,
    notify_change,
    office_region,
    seen_version,
)
from orgsync_dagster.shifts.tracker_store.reads import group_row, shift_row


# -- shifts --------------------------------------------------------------------------------------------------------
def edit_shift(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    shift_id: int,
    version,
    field: str,
    raw,
    allowed: Allowed,
) -> dict:
    seen = seen_version(version)
    with engine.begin() as conn:
        row = check_allowed(lock_row(conn, shifts, shift_id), allowed, "shift")
        if row["version"] != seen:
            raise Conflict("shift", shift_row(conn, shift_id))
        apply_changes(
            conn, shifts, "shift", row, tracker.shift_changes(row, field, raw, settings, actor.initials), actor
        )
        return shift_row(conn, shift_id)


def add_note(
    engine: Engine, actor: Actor, entity: str, entity_id: int, note_type, text, allowed: Allowed, now=None
) -> dict:
    """Notes are appended (never edited), so they need no version: two organizers' notes both stay."""
    table, key = (shifts, "shift_id") if entity == "shift" else (canvass_groups, "canvass_group_id")
    kind, body = tracker.note_type(note_type), tracker.note_text(text)
    with engine.begin() as conn:
        parent = check_allowed(lock_row(conn, table, entity_id), allowed, entity.replace("_", " "))
        note_id = conn.execute(
            notes.insert()
            .values(
                day=parent["day"],
                instance=parent["instance"],
                **{key: entity_id},
                type=kind,
                at=now or sa.func.now(),
                text=body,
                user_name=actor.initials,
                user_color=actor.color,
                author=actor.name,
            )
            .returning(notes.c.id)
        ).scalar_one()
        conn.execute(
            edits.insert().values(
                day=parent["day"],
                instance=parent["instance"],
                office=parent.get("office"),
                entity="note",
                entity_id=note_id,
                field=f"{entity}:{entity_id}",
                old_value=None,
                new_value=body,
                user_email=actor.email,
                user_name=actor.name,
            )
        )
        notify_change(
            conn,
            parent["instance"],
            parent.get("office"),
            entity,
            entity_id,
            parent["version"],
            by=actor.name,
            region=parent.get("region"),
        )
        return shift_row(conn, entity_id) if entity == "shift" else group_row(conn, entity_id)


# -- walk-ins ------------------------------------------------------------------------------------------------------
def add_walk_in(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    day: dt.date,
    state: str,
    office: str,
    walk_in: tracker.WalkIn,
    allowed: Allowed,
) -> tuple[dict, bool]:
    """A volunteer who walked in: found again by VAN id, else by first + last name + phone, else created; then an In
    shift at the chosen slot. Returns (the shift, whether an existing volunteer was reused)."""
    region = office_region(settings, allowed, state, office)
    v = volunteers.c
    key = tracker.person_key(walk_in.first_name, walk_in.last_name, walk_in.phone)
    with engine.begin() as conn:
        # two organizers adding the same person at once must not create two volunteers
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"walkin:{state}:{key}"))))
        volunteer = None
        if walk_in.van_id is not None:
            volunteer = conn.execute(
                sa.select(volunteers).where(v.instance == state, v.van_id == walk_in.van_id)
            ).first()
        if volunteer is None and walk_in.phone:
            candidates = conn.execute(
                sa.select(volunteers).where(
                    v.instance == state,
                    sa.func.lower(v.first_name) == key[0],
                    sa.func.lower(v.last_name) == key[1],
                )
            ).all()
            volunteer = next(
                (c for c in candidates if tracker.digits(c.phone or c.cellphone)[-10:] == key[2] and key[2]), None
            )
        reused = volunteer is not None
        if volunteer is None:
            vid = conn.execute(
                volunteers.insert()
                .values(
                    instance=state,
                    van_id=walk_in.van_id,
                    first_name=walk_in.first_name,
                    last_name=walk_in.last_name,
                    phone=walk_in.phone,
                    email=walk_in.email,
                    last_user=actor.name,
                )
                .returning(v.id)
            ).scalar_one()
            van_id = walk_in.van_id
        else:
            vid, van_id = volunteer.id, volunteer.van_id
        starts = dt.datetime.combine(day, walk_in.slot, tzinfo=settings.tz)
        dup = conn.execute(
            sa.select(shifts.c.id).where(
                shifts.c.day == day,
                shifts.c.volunteer_id == vid,
                shifts.c.starts_at == starts,
                shifts.c.is_active.is_(True),
            )
        ).first()
        if dup is not None:
            raise TrackerInputError(
                f"{walk_in.first_name} {walk_in.last_name} already has a shift at {walk_in.slot:%H:%M} today"
            )
        location_id = conn.execute(
            sa.select(locations.c.location_id)
            .where(locations.c.instance == state, locations.c.office == office)
            .order_by(locations.c.location_id)
            .limit(1)
        ).scalar()
        shift_id = conn.execute(
            shifts.insert()
            .values(
                day=day,
                instance=state,
                source="walk_in",
                event_type_name=settings.walk_in_event_type,
                role_name=walk_in.activity,
                location_id=location_id,
                office=office,
                region=region,
                volunteer_id=vid,
                van_id=van_id,
                starts_at=starts,
                status="In",
                original_status=None,
                last_user=actor.name,
                updated_at=sa.func.now(),
            )
            .returning(shifts.c.id)
        ).scalar_one()
        description = f"walk-in, In at {walk_in.slot:%H:%M} ({walk_in.activity})" + (
            "; existing volunteer" if reused else "; new volunteer"
        )
        audit_created(conn, actor, day, state, office, "shift", shift_id, description)
        notify_change(conn, state, office, "shift", shift_id, 1, by=actor.name, region=region)
        return shift_row(conn, shift_id), reused
