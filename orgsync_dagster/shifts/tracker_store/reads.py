"""The tracker's reads: a day's shifts and canvass groups (live or archived) with their notes and members, one
row after an edit, the known offices, and the dashboard's metrics over what the user may see."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orgsync_dagster.shifts import metrics, nightly
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import (
    backup_canvass_groups,
    backup_shifts,
    canvass_groups,
    day_status,
    event_participants,
    locations,
    notes,
    shifts,
    volunteers,
)
from orgsync_dagster.shifts.tracker import Scope
from orgsync_dagster.shifts.tracker_store.core import Allowed, fetch_rows, scope_where


def _shift_select(table: sa.Table = shifts):
    s, v, p = table.c, volunteers.c, event_participants.c
    return sa.select(
        *[c for c in table.columns if c.name not in ("backed_up_at", "backup_run_id")],
        v.first_name,
        v.last_name,
        v.phone,
        v.email,
        v.version.label("volunteer_version"),
        p.status_name.label("van_status"),
    ).select_from(
        table.outerjoin(volunteers, v.id == s.volunteer_id).outerjoin(
            event_participants, sa.and_(p.instance == s.instance, p.event_signup_id == s.event_signup_id)
        )
    )


def is_archived(conn: Connection, day: dt.date, instance: str) -> bool:
    stage = conn.execute(
        sa.select(day_status.c.stage).where(day_status.c.day == day, day_status.c.instance == instance)
    ).scalar_one_or_none()
    return nightly.archived(stage)


def day_shifts(conn: Connection, day: dt.date, scope: Scope, *, archived: bool = False) -> list[dict]:
    table = backup_shifts if archived else shifts
    q = _shift_select(table).where(table.c.day == day, scope_where(table, scope), table.c.is_active.is_(True))
    rows = fetch_rows(conn, q.order_by(table.c.starts_at, table.c.office, volunteers.c.last_name, table.c.id))
    _attach_notes(conn, rows, "shift_id", archived)
    return rows


def shift_row(conn: Connection, shift_id: int) -> dict | None:
    rows = fetch_rows(conn, _shift_select().where(shifts.c.id == shift_id))
    _attach_notes(conn, rows, "shift_id", False)
    return rows[0] if rows else None


def _attach_notes(conn: Connection, rows: list[dict], key: str, archived: bool) -> None:
    from orgsync_dagster.shifts.tables import backup_notes

    table = backup_notes if archived else notes
    ids = [r["id"] for r in rows]
    by: dict[int, list[dict]] = defaultdict(list)
    if ids:
        for n in fetch_rows(conn, sa.select(table).where(table.c[key].in_(ids)).order_by(table.c.at, table.c.id)):
            by[n[key]].append(n)
    for r in rows:
        r["notes"] = by.get(r["id"], [])


def day_groups(conn: Connection, day: dt.date, scope: Scope, *, archived: bool = False) -> list[dict]:
    table = backup_canvass_groups if archived else canvass_groups
    s_table = backup_shifts if archived else shifts
    q = sa.select(table).where(table.c.day == day, scope_where(table, scope), table.c.is_active.is_(True))
    groups = fetch_rows(conn, q.order_by(table.c.id))
    _attach_members(conn, groups, s_table)
    _attach_notes(conn, groups, "canvass_group_id", archived)
    return groups


def group_row(conn: Connection, group_id: int) -> dict | None:
    groups = fetch_rows(conn, sa.select(canvass_groups).where(canvass_groups.c.id == group_id))
    _attach_members(conn, groups, shifts)
    _attach_notes(conn, groups, "canvass_group_id", False)
    return groups[0] if groups else None


def _attach_members(conn: Connection, groups: list[dict], s_table: sa.Table) -> None:
    ids = [g["id"] for g in groups]
    by: dict[int, list[dict]] = defaultdict(list)
    if ids:
        q = (
            sa.select(
                s_table.c.id,
                s_table.c.canvass_group_id,
                s_table.c.status,
                s_table.c.version,
                volunteers.c.first_name,
                volunteers.c.last_name,
            )
            .select_from(s_table.outerjoin(volunteers, volunteers.c.id == s_table.c.volunteer_id))
            .where(s_table.c.canvass_group_id.in_(ids), s_table.c.is_active.is_(True))
            .order_by(s_table.c.id)
        )
        for m in fetch_rows(conn, q):
            by[m["canvass_group_id"]].append(m)
    for g in groups:
        g["members"] = by.get(g["id"], [])


def offices(conn: Connection, state: str | None = None) -> list[dict]:
    """Known offices (from VAN locations and from the day tables): ``[{instance, office, region}]``."""
    parts = [
        sa.select(locations.c.instance, locations.c.office, locations.c.region),
        sa.select(shifts.c.instance, shifts.c.office, shifts.c.region).where(shifts.c.office.is_not(None)),
    ]
    union = sa.union(*parts).subquery()
    q = sa.select(union).order_by(union.c.instance, union.c.office)
    if state is not None:
        q = q.where(union.c.instance == state)
    return fetch_rows(conn, q)


# -- dashboard -----------------------------------------------------------------------------------------------------
def dashboard(conn: Connection, day: dt.date, settings: ShiftsSettings, allowed: Allowed, now: dt.datetime) -> list:
    """Office -> region -> state rows of the day's metrics, only over what the user may see."""
    s, g = shifts.c, canvass_groups.c
    rows = [
        r
        for r in fetch_rows(
            conn,
            sa.select(
                s.id,
                s.instance,
                s.office,
                s.region,
                s.status,
                s.source,
                s.flake,
                s.flake_pass,
                s.canvass_group_id,
                s.is_active,
                s.starts_at,
            ).where(s.day == day, s.is_active.is_(True)),
        )
        if allowed(r["instance"], r["office"], r["region"])
    ]
    groups = [
        r
        for r in fetch_rows(conn, sa.select(canvass_groups).where(g.day == day, g.is_active.is_(True)))
        if allowed(r["instance"], r["office"], settings.region_of(r["office"] or ""))
    ]
    return metrics.rollup(rows, groups, settings, now)
