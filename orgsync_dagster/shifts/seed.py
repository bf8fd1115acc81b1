"""Sample data for the demo and tests: VAN events with shifts and signups created through the real API (sandbox),
and a simulated organizer day in the warehouse (status flips, canvass groups, notes, a walk-in). Deterministic."""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.resources.van import VanClient
from orgsync_dagster.sandbox.van_seed import PEOPLE_FIRST_VAN_ID
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import canvass_groups, notes, shifts, volunteers

OFFICES = [
    (
        "R1A - North Side",
        {"addressLine1": "4300 Main St", "city": "St. Louis", "stateOrProvince": "MO", "zipOrPostalCode": "63104"},
    ),
    (
        "R2B - Riverside",
        {"addressLine1": "18 Grand Ave", "city": "Kansas City", "stateOrProvince": "MO", "zipOrPostalCode": "64105"},
    ),
    (
        "R2C - Eastside",
        {"addressLine1": "901 Locust St", "city": "Columbia", "stateOrProvince": "MO", "zipOrPostalCode": "65201"},
    ),
]
STATUS_CYCLE = ["Scheduled", "Invited", "Confirmed", "Left Msg", "Sched-Web", "Declined"]


def _at(day: dt.date, hour: float, settings: ShiftsSettings) -> str:
    return (dt.datetime.combine(day, dt.time(), tzinfo=settings.tz) + dt.timedelta(hours=hour)).isoformat()


def seed_van(
    client: VanClient,
    day: dt.date,
    settings: ShiftsSettings,
    *,
    offices: int = 2,
    per_shift: int = 4,
    first_person: int = 0,
) -> dict:
    """Canvasses (two shifts) per office on ``day`` and on the next day, and a phone bank with no location from
    20:00 to 00:30 (across midnight) on ``day``; ``per_shift`` signups per shift."""
    types = {t["name"]: t for t in client.event_types()}
    person = first_person
    counts = {"events": 0, "signups": 0}

    def event(name, type_name, role_name, shift_hours, on_day, location_id=None):
        nonlocal person
        etype = types[type_name]
        role_id = next(r["roleId"] for r in etype["roles"] if r["name"] == role_name)
        status_ids = {s["name"]: s["statusId"] for s in etype["statuses"]}
        body = {
            "name": name,
            "shortName": f"sd{counts['events']}",
            "eventType": {"eventTypeId": etype["eventTypeId"]},
            "startDate": _at(on_day, shift_hours[0][0], settings),
            "endDate": _at(on_day, shift_hours[-1][1], settings),
            "roles": [{"roleId": role_id}],
            "shifts": [
                {"name": f"{a:g}h", "startTime": _at(on_day, a, settings), "endTime": _at(on_day, b, settings)}
                for a, b in shift_hours
            ],
        }
        if location_id:
            body["locations"] = [{"locationId": location_id}]
        event_id = client.create_event(body)
        counts["events"] += 1
        for shift in client.get_event(event_id, expand=("shifts",))["shifts"]:
            for _ in range(per_shift):
                signup = {
                    "person": {"vanId": PEOPLE_FIRST_VAN_ID + person},
                    "event": {"eventId": event_id},
                    "shift": {"eventShiftId": shift["eventShiftId"]},
                    "role": {"roleId": role_id},
                    "status": {"statusId": status_ids[STATUS_CYCLE[person % len(STATUS_CYCLE)]]},
                }
                if location_id:
                    signup["location"] = {"locationId": location_id}
                client.upsert_signup(signup)
                counts["signups"] += 1
                person += 1

    for name, address in OFFICES[:offices]:
        loc = client.find_or_create_location({"name": name, "address": address})
        event(f"Canvass {name}", "Canvass", "Canvasser", [(10, 13), (13, 16)], day, loc)
        event(f"Canvass {name}", "Canvass", "Canvasser", [(10, 13), (13, 16)], day + dt.timedelta(days=1), loc)
    event("Evening phone bank", "Phone Bank", "Phone Banker", [(20, 24.5)], day)
    counts["people_used"] = person - first_person
    return counts


def simulate_day(engine: Engine, day: dt.date, settings: ShiftsSettings, *, seed: int = 5) -> dict:
    """What organizers do during a day: confirm, check in, send canvass groups out and back, chase flakes,
    write notes, add a walk-in. Returns how many statuses were changed."""
    rng = random.Random(seed)
    changed = 0
    with engine.begin() as conn:
        rows = conn.execute(sa.select(shifts).where(shifts.c.day == day).order_by(shifts.c.id)).all()
        canvassers: dict = {}
        for r in rows:
            roll = rng.random()
            if roll < 0.55:
                new, flake = "Completed", False
            elif roll < 0.72:
                new, flake = "No Show", True
            elif roll < 0.82:
                new, flake = "Same Day Confirmed", False
            elif roll < 0.9:
                new, flake = "Declined", True
            else:
                continue  # nobody touched it
            changed += new != r.status
            conn.execute(
                shifts.update()
                .where(shifts.c.id == r.id)
                .values(status=new, flake=flake, call_pass=1 + rng.randint(0, 2), updated_at=sa.func.now())
            )
            if flake:
                conn.execute(
                    notes.insert().values(
                        day=day,
                        instance=r.instance,
                        shift_id=r.id,
                        type="flake",
                        at=r.starts_at,
                        text="Left voicemail, will call back",
                        user_name="AB",
                    )
                )
            if new == "Completed" and r.event_type_name == "Canvass":
                canvassers.setdefault((r.instance, r.location_id, r.office, r.starts_at), []).append(r.id)
        for (instance, location_id, office, start), ids in canvassers.items():
            for i in range(0, len(ids), 3):
                members = ids[i : i + 3]
                out = start + dt.timedelta(minutes=20)
                back = out + dt.timedelta(hours=2, minutes=rng.randint(0, 40))
                gid = conn.execute(
                    canvass_groups.insert()
                    .values(
                        day=day,
                        instance=instance,
                        location_id=location_id,
                        office=office,
                        doors=rng.randint(25, 45) * len(members),
                        goal=40 * len(members),
                        packets_given=len(members),
                        is_returned=True,
                        departed_at=out,
                        returned_at=back,
                        last_check_in_at=back,
                        check_ins=2,
                        updated_at=sa.func.now(),
                    )
                    .returning(canvass_groups.c.id)
                ).scalar_one()
                conn.execute(shifts.update().where(shifts.c.id.in_(members)).values(canvass_group_id=gid))
                conn.execute(
                    notes.insert().values(
                        day=day,
                        instance=instance,
                        canvass_group_id=gid,
                        type="kph",
                        at=back,
                        text="Back early, rain",
                        user_name="CD",
                    )
                )
        if rows:
            first = rows[0]
            vid = conn.execute(
                volunteers.insert()
                .values(instance=first.instance, first_name="Walk", last_name="In")
                .returning(volunteers.c.id)
            ).scalar_one()
            conn.execute(
                shifts.insert().values(
                    day=day,
                    instance=first.instance,
                    source="walk_in",
                    office=first.office,
                    region=first.region,
                    location_id=first.location_id,
                    volunteer_id=vid,
                    starts_at=first.starts_at,
                    status="In",
                    original_status=None,
                    event_type_name="Volunteer DVC",
                )
            )
    return {"status_changes": changed}


def review_day(engine: Engine, day: dt.date, settings: ShiftsSettings, *, who: str = "Demo Organizer") -> dict:
    """The end-of-day review: an organizer approves every final status that differs from VAN (as on the tracker's
    Review page). Returns how many were approved."""
    from orgsync_dagster.shifts import tracker_store
    from orgsync_dagster.shifts.tracker import Scope

    actor = tracker_store.Actor(email="organizer@example.org", name=who, initials="DO")
    approved = 0
    with engine.connect() as conn:
        instances = sorted(set(conn.execute(sa.select(shifts.c.instance).where(shifts.c.day == day)).scalars()))
    for instance in instances:
        with engine.connect() as conn:
            rows = tracker_store.review_rows(conn, day, Scope(instance), settings)
        items = [(r["id"], r["version"]) for r in rows if r["review_state"] == "to_review"]
        result = tracker_store.set_approval(engine, settings, actor, items, lambda *_: True)
        approved += len(result["done"])
    return {"approved": approved}
