"""A small organizer day written straight into the warehouse (for tests that need no VAN)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from orgsync_dagster.shifts.tables import canvass_groups, edits, event_participants, notes, shifts, volunteers


def make_day(engine, day: dt.date, settings, n: int = 6, instance: str = "MI") -> dict:
    start = dt.datetime.combine(day, dt.time(10), tzinfo=settings.tz)
    with engine.begin() as conn:
        vids = [
            conn.execute(
                volunteers.insert()
                .values(instance=instance, van_id=100000 + i + 1000 * day.day)
                .returning(volunteers.c.id)
            ).scalar_one()
            for i in range(n)
        ]
        gid = conn.execute(
            canvass_groups.insert()
            .values(
                day=day,
                instance=instance,
                office="R1A",
                doors=80,
                goal=100,
                departed_at=start,
                returned_at=start + dt.timedelta(hours=2),
                is_returned=True,
            )
            .returning(canvass_groups.c.id)
        ).scalar_one()
        ids = []
        for i, vid in enumerate(vids):
            ids.append(
                conn.execute(
                    shifts.insert()
                    .values(
                        day=day,
                        instance=instance,
                        event_signup_id=700000 + 100 * day.day + i,
                        event_id=1001,
                        event_shift_id=7,
                        event_type_id=143857,
                        role_id=111690,
                        office="R1A",
                        volunteer_id=vid,
                        van_id=100000 + i,
                        starts_at=start,
                        status="Completed" if i % 2 else "No Show",
                        original_status="Scheduled",
                        canvass_group_id=gid if i % 2 else None,
                    )
                    .returning(shifts.c.id)
                ).scalar_one()
            )
        conn.execute(
            notes.insert(),
            [
                {
                    "day": day,
                    "instance": instance,
                    "shift_id": ids[0],
                    "canvass_group_id": None,
                    "type": "flake",
                    "text": "called twice",
                },
                {
                    "day": day,
                    "instance": instance,
                    "shift_id": None,
                    "canvass_group_id": gid,
                    "type": "kph",
                    "text": "back at 12",
                },
            ],
        )
        conn.execute(
            edits.insert().values(
                day=day,
                instance=instance,
                office="R1A",
                entity="shift",
                entity_id=ids[0],
                field="status",
                old_value="Scheduled",
                new_value="No Show",
                version=2,
                user_email="fo@example.org",
                user_name="Field Organizer",
            )
        )
    return {"shifts": n, "canvass_groups": 1, "notes": 2, "edits": 1}


def add_participants(engine, day: dt.date, settings, n: int = 3, instance: str = "MI") -> None:
    start = dt.datetime.combine(day, dt.time(10), tzinfo=settings.tz)
    rows = [
        {
            "instance": instance,
            "event_signup_id": 800000 + 100 * day.day + i,
            "van_id": 100100 + i,
            "event_id": 2001,
            "event_date": day.isoformat(),
            "event_type_id": 143857,
            "event_type_name": "Canvass",
            "event_shift_id": 9,
            "role_id": 111690,
            "status_id": 1,
            "status_name": "Scheduled",
            "location_id": 201,
            "location_name": "R1A - North Side",
            "starts_at": start,
        }
        for i in range(n)
    ]
    with engine.begin() as conn:
        conn.execute(event_participants.insert(), rows)


def count(engine, table, day: dt.date, instance: str | None = None) -> int:
    q = sa.select(sa.func.count()).select_from(table).where(table.c.day == day)
    if instance is not None:
        q = q.where(table.c.instance == instance)
    with engine.connect() as conn:
        return conn.execute(q).scalar_one()
