"""The organizer tool's day tables: importing a day's shifts from the VAN participants (idempotent: a shift
already there is never changed from VAN, as in the original), and reading a day back (live or from its backup)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.shifts import logic
from orgsync_dagster.shifts.settings import ShiftsSettings, norm
from orgsync_dagster.shifts.tables import (
    backup_canvass_groups,
    backup_shifts,
    canvass_groups,
    event_participants,
    locations,
    shifts,
    volunteers,
)


def import_day(
    conn: Connection,
    settings: ShiftsSettings,
    day: dt.date,
    instances: list[str] | None = None,
    *,
    reset_daily_fields: bool = False,
) -> dict:
    """Create the shifts of ``day`` from the participants (statuses Invited / Left Msg / Confirmed / Scheduled /
    Sched-Web). Returns counts; participants not imported are counted by status, never silently dropped."""
    start, end = settings.day_bounds(day)
    p = event_participants.c
    q = sa.select(event_participants).where(p.starts_at >= start, p.starts_at < end)
    if instances is not None:
        q = q.where(p.instance.in_(instances))
    participants = [dict(r._mapping) for r in conn.execute(q)]
    chosen, skipped = logic.select_for_import(participants, settings, day)
    result = {
        "day": day.isoformat(),
        "participants": len(participants),
        "created": 0,
        "already_there": 0,
        "not_imported_by_status": dict(skipped),
        "no_location": sum(1 for c in chosen if c["location_id"] is None),
    }
    if not chosen:
        return result
    loc_rows = {(c["instance"], c["location_id"]): c["location_name"] for c in chosen if c["location_id"] is not None}
    if loc_rows:
        stmt = pg_insert(locations).values(
            [
                {
                    "instance": i,
                    "location_id": lid,
                    "van_name": name,
                    "office": settings.office_of(name),
                    "region": settings.region_of(settings.office_of(name)),
                }
                for (i, lid), name in loc_rows.items()
            ]
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["instance", "location_id"],
                set_={
                    "van_name": stmt.excluded.van_name,
                    "office": stmt.excluded.office,
                    "region": stmt.excluded.region,
                    "updated_at": sa.func.now(),
                },
            )
        )
    people = {(c["instance"], c["van_id"]): c for c in chosen}
    stmt = pg_insert(volunteers).values(
        [
            {
                "instance": i,
                "van_id": v,
                "first_name": c["first_name"],
                "last_name": c["last_name"],
                "phone": c.get("phone"),
                "email": c.get("email"),
            }
            for (i, v), c in people.items()
        ]
    )
    # contact details from VAN fill what is missing; what organizers corrected in the tracker is kept
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["instance", "van_id"],
            set_={
                "phone": sa.func.coalesce(volunteers.c.phone, stmt.excluded.phone),
                "email": sa.func.coalesce(volunteers.c.email, stmt.excluded.email),
            },
        )
    )
    vol_ids = _volunteer_ids(conn, people)
    rows = [logic.shift_row(c, day, vol_ids[(c["instance"], c["van_id"])], settings) for c in chosen]
    created = conn.execute(
        pg_insert(shifts).values(rows).on_conflict_do_nothing(constraint="uq_shifts_day_signup").returning(shifts.c.id)
    ).all()
    result["created"], result["already_there"] = len(created), len(rows) - len(created)
    _set_next_shifts(conn, settings, end, people, vol_ids, reset_daily_fields)
    return result


def _volunteer_ids(conn: Connection, people: dict) -> dict[tuple[str, int], int]:
    out = {}
    for instance in {i for i, _ in people}:
        van_ids = [v for i, v in people if i == instance]
        for r in conn.execute(
            sa.select(volunteers.c.id, volunteers.c.van_id).where(
                volunteers.c.instance == instance, volunteers.c.van_id.in_(van_ids)
            )
        ):
            out[(instance, r.van_id)] = r.id
    return out


def _set_next_shifts(conn, settings, after: dt.datetime, people: dict, vol_ids: dict, reset_daily: bool) -> None:
    """Each volunteer's next shift after the day (for pitching) and whether it is confirmed."""
    p = event_participants.c
    nxt: dict = {}
    for r in conn.execute(
        sa.select(p.instance, p.van_id, p.starts_at, p.status_name)
        .where(p.starts_at >= after, p.van_id.in_(sorted({v for _, v in people})))
        .order_by(p.starts_at)
    ):
        if (r.instance, r.van_id) in people and settings.is_import_status(r.status_name):
            nxt.setdefault((r.instance, r.van_id), (r.starts_at, norm(r.status_name) == "confirmed"))
    values = {"next_shift_at": sa.bindparam("b_at"), "next_shift_confirmed": sa.bindparam("b_confirmed")}
    if reset_daily:
        values.update(has_pitched_today=False, extra_shifts_sched=0)
    params = [
        {"b_id": vid, "b_at": nxt.get(key, (None, None))[0], "b_confirmed": nxt.get(key, (None, None))[1]}
        for key, vid in vol_ids.items()
    ]
    if params:
        conn.execute(volunteers.update().where(volunteers.c.id == sa.bindparam("b_id")).values(**values), params)


def import_day_tx(engine: Engine, settings: ShiftsSettings, day: dt.date, instances: list[str] | None = None) -> dict:
    with engine.begin() as conn:
        return import_day(conn, settings, day, instances)


def day_rows(conn: Connection, day: dt.date, from_backup: bool) -> tuple[list[dict], list[dict]]:
    """(shifts, canvass groups) of a day, from the live tables or from the backup."""
    s_table, g_table = (backup_shifts, backup_canvass_groups) if from_backup else (shifts, canvass_groups)
    rows = [dict(r._mapping) for r in conn.execute(sa.select(s_table).where(s_table.c.day == day))]
    groups = [dict(r._mapping) for r in conn.execute(sa.select(g_table).where(g_table.c.day == day))]
    return rows, groups


def status_counts(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(r.get("status") or "(none)" for r in rows))
