"""The tracker's reads and writes on the shifts.* warehouse tables (the ones the hourly import fills and the nightly
backup archives), for the web app's pages.

Every write:
* checks the caller may touch the row (``allowed(instance, office, region)``, the web app's permission layer)
  under the row's lock, before anything else is revealed;
* is optimistic: the caller sends the row version it saw; a stale one raises ``Conflict`` with the fresh row and
  changes nothing (never a silent overwrite);
* records each changed field in ``shifts.edits`` (who, when, old -> new) in the same transaction; the nightly backup
  keeps that audit with the day;
* notifies ``CHANNEL`` (PostgreSQL NOTIFY, delivered at commit) so every open page of that office updates live,
  whichever web process served the edit.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.shifts import metrics, tracker
from orgsync_dagster.shifts.settings import ShiftsSettings, norm
from orgsync_dagster.shifts.tables import (
    backup_canvass_groups,
    backup_shifts,
    canvass_groups,
    day_status,
    edits,
    event_participants,
    locations,
    notes,
    shifts,
    volunteers,
)
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError

CHANNEL = "orgsync_tracker"
Allowed = Callable[[str, str | None, str | None], bool]  # (instance, office, region) -> may the user touch it


@dataclass(frozen=True)
class Actor:
    """Who edits: recorded in the audit and shown to the other organizers."""

    email: str
    name: str
    initials: str
    color: str = "#555555"


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


class Conflict(Exception):
    """The row changed since the caller saw it: nothing was written; ``row`` is the fresh row."""

    def __init__(self, entity: str, row: dict, message: str | None = None):
        super().__init__(
            message or f"this {entity.replace('_', ' ')} was changed by {row.get('last_user') or 'someone'}"
        )
        self.entity, self.row = entity, row


# -- live notifications --------------------------------------------------------------------------------------------
def notify_change(
    conn: Connection,
    instance: str,
    office: str | None,
    entity: str,
    entity_id: int,
    version: int | None,
    *,
    by: str = "",
    region: str | None = None,
    day: dt.date | None = None,
) -> None:
    payload = {
        "i": instance,
        "o": office,
        "r": region,
        "e": entity,
        "id": int(entity_id),
        "v": version,
        "by": by,
        "d": day.isoformat() if day else None,
        "t": time.time(),
    }
    conn.execute(sa.select(sa.func.pg_notify(CHANNEL, json.dumps(payload))))


# -- reads ---------------------------------------------------------------------------------------------------------
def _scope_where(table: sa.Table, scope: Scope):
    cond = [table.c.instance == scope.state]
    if scope.office is not None:
        cond.append(table.c.office == scope.office)
    elif scope.region is not None:
        cond.append(table.c.region == scope.region)
    return sa.and_(*cond)


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


def _rows(conn: Connection, query) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(query)]


def is_archived(conn: Connection, day: dt.date, instance: str) -> bool:
    stage = conn.execute(
        sa.select(day_status.c.stage).where(day_status.c.day == day, day_status.c.instance == instance)
    ).scalar_one_or_none()
    return stage in ("reset", "imported")


def day_shifts(conn: Connection, day: dt.date, scope: Scope, *, archived: bool = False) -> list[dict]:
    table = backup_shifts if archived else shifts
    q = _shift_select(table).where(table.c.day == day, _scope_where(table, scope), table.c.is_active.is_(True))
    rows = _rows(conn, q.order_by(table.c.starts_at, table.c.office, volunteers.c.last_name, table.c.id))
    _attach_notes(conn, rows, "shift_id", archived)
    return rows


def shift_row(conn: Connection, shift_id: int) -> dict | None:
    rows = _rows(conn, _shift_select().where(shifts.c.id == shift_id))
    _attach_notes(conn, rows, "shift_id", False)
    return rows[0] if rows else None


def _attach_notes(conn: Connection, rows: list[dict], key: str, archived: bool) -> None:
    from orgsync_dagster.shifts.tables import backup_notes

    table = backup_notes if archived else notes
    ids = [r["id"] for r in rows]
    by: dict[int, list[dict]] = defaultdict(list)
    if ids:
        for n in _rows(conn, sa.select(table).where(table.c[key].in_(ids)).order_by(table.c.at, table.c.id)):
            by[n[key]].append(n)
    for r in rows:
        r["notes"] = by.get(r["id"], [])


def day_groups(conn: Connection, day: dt.date, scope: Scope, *, archived: bool = False) -> list[dict]:
    table = backup_canvass_groups if archived else canvass_groups
    s_table = backup_shifts if archived else shifts
    q = sa.select(table).where(table.c.day == day, _scope_where(table, scope), table.c.is_active.is_(True))
    groups = _rows(conn, q.order_by(table.c.id))
    _attach_members(conn, groups, s_table)
    _attach_notes(conn, groups, "canvass_group_id", archived)
    return groups


def group_row(conn: Connection, group_id: int) -> dict | None:
    groups = _rows(conn, sa.select(canvass_groups).where(canvass_groups.c.id == group_id))
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
        for m in _rows(conn, q):
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
    return _rows(conn, q)


# -- write helpers -------------------------------------------------------------------------------------------------
def _check(row, allowed: Allowed, what: str) -> dict:
    if row is None:
        raise NotFound(f"no such {what}")
    row = dict(row)
    if not allowed(row["instance"], row.get("office"), row.get("region")):
        raise Forbidden(f"this {what} belongs to an office you do not work in")
    return row


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def _apply(
    conn: Connection,
    table: sa.Table,
    entity: str,
    row: dict,
    changes: dict,
    actor: Actor,
    *,
    day: dt.date | None = None,
    notify: bool = True,
) -> int:
    """Write ``changes`` to one locked row with its version moved on, audit each changed field, notify."""
    changed = {k: v for k, v in changes.items() if row.get(k) != v}
    if not changed:
        return row["version"]
    values = {**changed, "version": table.c.version + 1, "last_user": actor.name, "updated_at": sa.func.now()}
    version = conn.execute(
        table.update().where(table.c.id == row["id"]).values(**values).returning(table.c.version)
    ).scalar_one()
    day = day or row.get("day")
    conn.execute(
        edits.insert(),
        [
            {
                "day": day,
                "instance": row["instance"],
                "office": row.get("office"),
                "entity": entity,
                "entity_id": row["id"],
                "field": k,
                "old_value": _text(row.get(k)),
                "new_value": _text(v),
                "version": version,
                "user_email": actor.email,
                "user_name": actor.name,
            }
            for k, v in changed.items()
        ],
    )
    if notify:
        notify_change(
            conn,
            row["instance"],
            row.get("office"),
            entity,
            row["id"],
            version,
            by=actor.name,
            region=row.get("region"),
        )
    return version


def _lock(conn: Connection, table: sa.Table, row_id: int) -> dict | None:
    r = conn.execute(sa.select(table).where(table.c.id == row_id).with_for_update()).first()
    return dict(r._mapping) if r is not None else None


def _version(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise TrackerInputError("the form lacks the row version it was made from; reload the page") from None


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
    seen = _version(version)
    with engine.begin() as conn:
        row = _check(_lock(conn, shifts, shift_id), allowed, "shift")
        if row["version"] != seen:
            raise Conflict("shift", shift_row(conn, shift_id))
        _apply(conn, shifts, "shift", row, tracker.shift_changes(row, field, raw, settings, actor.initials), actor)
        return shift_row(conn, shift_id)


def add_note(
    engine: Engine, actor: Actor, entity: str, entity_id: int, note_type, text, allowed: Allowed, now=None
) -> dict:
    """Notes are appended (never edited), so they need no version: two organizers' notes both stay."""
    table, key = (shifts, "shift_id") if entity == "shift" else (canvass_groups, "canvass_group_id")
    kind, body = tracker.note_type(note_type), tracker.note_text(text)
    with engine.begin() as conn:
        parent = _check(_lock(conn, table, entity_id), allowed, entity.replace("_", " "))
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


# -- canvass groups (KPH) ------------------------------------------------------------------------------------------
def _set_member_status(conn, actor: Actor, members: list[dict], frm: tuple[str, ...], to: str) -> None:
    for m in members:
        if norm(m["status"]) in frm:
            _apply(conn, shifts, "shift", m, {"status": to}, actor)


def _locked_members(conn, group_id: int) -> list[dict]:
    q = (
        sa.select(shifts)
        .where(shifts.c.canvass_group_id == group_id, shifts.c.is_active.is_(True))
        .order_by(shifts.c.id)
        .with_for_update()
    )
    return _rows(conn, q)


def _member_checks(conn, ids: Iterable[int], state: str, office: str, group_id: int | None) -> list[dict]:
    rows = []
    for shift_id in ids:
        row = _lock(conn, shifts, int(shift_id))
        if row is None or row["instance"] != state or row.get("office") != office:
            raise TrackerInputError(f"shift {shift_id} is not a shift of {office}")
        if row.get("canvass_group_id") is not None and row["canvass_group_id"] != group_id:
            other = conn.execute(
                sa.select(canvass_groups.c.is_active).where(canvass_groups.c.id == row["canvass_group_id"])
            ).scalar()
            row["group_active"] = bool(other)
        problem = tracker.member_problem(row, group_id)
        if problem:
            name = conn.execute(
                sa.select(volunteers.c.first_name, volunteers.c.last_name).where(volunteers.c.id == row["volunteer_id"])
            ).first()
            who = " ".join(p for p in (name or ()) if p) or f"shift {shift_id}"
            raise TrackerInputError(f"{who}: {problem}")
        rows.append(row)
    return rows


def create_group(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    day: dt.date,
    state: str,
    office: str,
    member_ids: list[int],
    form: dict,
    allowed: Allowed,
) -> dict:
    region = settings.region_of(office)
    if not allowed(state, office, region):
        raise Forbidden("you do not work in this office")
    if not member_ids:
        raise TrackerInputError("choose at least one volunteer for the group")
    values = tracker.group_settings(form.get("goal"), form.get("packets_given"), form.get("packet_names"))
    with engine.begin() as conn:
        members = _member_checks(conn, member_ids, state, office, None)
        gid = conn.execute(
            canvass_groups.insert()
            .values(
                day=day,
                instance=state,
                office=office,
                location_id=members[0].get("location_id"),
                last_user=actor.name,
                updated_at=sa.func.now(),
                **values,
            )
            .returning(canvass_groups.c.id)
        ).scalar_one()
        conn.execute(
            edits.insert().values(
                day=day,
                instance=state,
                office=office,
                entity="canvass_group",
                entity_id=gid,
                field="created",
                new_value=f"{len(members)} member(s), goal {values['goal']}",
                version=1,
                user_email=actor.email,
                user_name=actor.name,
            )
        )
        for m in members:
            _apply(conn, shifts, "shift", m, {"canvass_group_id": gid}, actor)
        notify_change(conn, state, office, "canvass_group", gid, 1, by=actor.name, region=region)
        return group_row(conn, gid)


GROUP_ACTIONS = ("out", "check_in", "return", "settings", "add_member", "remove_member", "disband", "claim", "unclaim")


def group_action(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    group_id: int,
    version,
    action: str,
    form: dict,
    allowed: Allowed,
    now: dt.datetime | None = None,
) -> dict:
    """One step of a canvass group's day: out (first check-in due +45 min; SDC members become In), hourly
    check-ins with doors, return (members Completed), goal/packets, members, claim."""
    if action not in GROUP_ACTIONS:
        raise TrackerInputError(f"unknown canvass group action {action!r}")
    seen = _version(version)
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        group = _check(_lock(conn, canvass_groups, group_id), allowed, "canvass group")
        group["region"] = settings.region_of(group.get("office") or "")
        if group["version"] != seen:
            raise Conflict("canvass_group", group_row(conn, group_id))
        if not group["is_active"]:
            raise TrackerInputError("this canvass group was disbanded")
        members = _locked_members(conn, group_id)
        changes: dict = {}
        if action == "out":
            if group.get("departed_at") is not None and not group.get("is_returned"):
                raise TrackerInputError("the group is already out")
            if not members:
                raise TrackerInputError("the group has no members")
            changes = tracker.group_out(now, settings)
            _set_member_status(conn, actor, members, ("same day confirmed", "completed"), "In")
        elif action == "check_in":
            changes = tracker.group_check_in(group, form.get("doors"), now, settings)
        elif action == "return":
            changes = tracker.group_return(group, form.get("doors"), now)
            _set_member_status(conn, actor, members, ("in", "same day confirmed"), "Completed")
        elif action == "settings":
            changes = tracker.group_settings(form.get("goal"), form.get("packets_given"), form.get("packet_names"))
        elif action == "add_member":
            (m,) = _member_checks(conn, [form.get("shift_id")], group["instance"], group["office"], group_id)
            _apply(conn, shifts, "shift", m, {"canvass_group_id": group_id}, actor)
            if group.get("departed_at") is not None and not group.get("is_returned"):
                _set_member_status(conn, actor, [m], ("same day confirmed",), "In")
        elif action == "remove_member":
            try:
                shift_id = int(form.get("shift_id"))
            except (TypeError, ValueError):
                raise TrackerInputError("choose the member to remove") from None
            m = next((m for m in members if m["id"] == shift_id), None)
            if m is None:
                raise TrackerInputError("that volunteer is not in this group")
            _apply(conn, shifts, "shift", m, {"canvass_group_id": None}, actor)
        elif action == "disband":
            if group.get("departed_at") is not None and not group.get("is_returned"):
                raise TrackerInputError("the group is out: mark it returned before disbanding it")
            for m in members:
                _apply(conn, shifts, "shift", m, {"canvass_group_id": None}, actor)
            changes = {"is_active": False}
        elif action == "claim":
            changes = {"claim": actor.initials}
        elif action == "unclaim":
            changes = {"claim": None}
        if action in ("add_member", "remove_member"):  # membership is part of the group: its version moves on
            conn.execute(
                canvass_groups.update()
                .where(canvass_groups.c.id == group_id)
                .values(version=canvass_groups.c.version + 1, last_user=actor.name, updated_at=sa.func.now())
            )
            notify_change(conn, group["instance"], group["office"], "canvass_group", group_id, None, by=actor.name)
        else:
            _apply(conn, canvass_groups, "canvass_group", group, changes, actor)
        return group_row(conn, group_id)


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
    region = settings.region_of(office)
    if not allowed(state, office, region):
        raise Forbidden("you do not work in this office")
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
        conn.execute(
            edits.insert().values(
                day=day,
                instance=state,
                office=office,
                entity="shift",
                entity_id=shift_id,
                field="created",
                new_value=f"walk-in, In at {walk_in.slot:%H:%M} ({walk_in.activity})"
                + ("; existing volunteer" if reused else "; new volunteer"),
                version=1,
                user_email=actor.email,
                user_name=actor.name,
            )
        )
        notify_change(conn, state, office, "shift", shift_id, 1, by=actor.name, region=region)
        return shift_row(conn, shift_id), reused


# -- the review ----------------------------------------------------------------------------------------------------
def review_rows(conn: Connection, day: dt.date, scope: Scope, settings: ShiftsSettings, *, archived=False) -> list:
    rows = day_shifts(conn, day, scope, archived=archived)
    out = []
    for r in rows:
        state = tracker.review_state(r, settings)
        if state is not None:
            r["review_state"] = state
            out.append(r)
    return out


def set_approval(
    engine: Engine,
    settings: ShiftsSettings,
    actor: Actor,
    items: list[tuple[int, int]],
    allowed: Allowed,
    *,
    approve: bool = True,
) -> dict:
    """Approve (or withdraw the approval of) the final statuses of ``items`` = [(shift id, version seen)].
    Each shift is handled on its own: a conflict or a refusal on one never blocks the others."""
    done, conflicts, refused = [], [], []
    with engine.begin() as conn:
        for shift_id, seen in items:
            try:
                row = _check(_lock(conn, shifts, shift_id), allowed, "shift")
            except (NotFound, Forbidden) as exc:
                refused.append({"id": shift_id, "reason": str(exc)})
                continue
            if row["version"] != seen:
                conflicts.append(shift_row(conn, shift_id))
                continue
            if approve:
                problem = tracker.approvable(row, settings)
                changes = {
                    "approved_status": row["status"],
                    "approved_by": actor.name,
                    "approved_at": dt.datetime.now(dt.UTC),
                    "sync_outcome": None,
                    "sync_error": None,
                }
            else:
                problem = None if row.get("approved_status") else "not approved"
                if row.get("sync_outcome") in ("sent", "in_van"):
                    problem = "already sent to VAN"
                changes = {"approved_status": None, "approved_by": None, "approved_at": None}
            if problem:
                refused.append({"id": shift_id, "reason": problem})
                continue
            _apply(conn, shifts, "shift", row, changes, actor)
            done.append(shift_id)
    return {"done": done, "conflicts": conflicts, "refused": refused}


# -- dashboard -----------------------------------------------------------------------------------------------------
def dashboard(conn: Connection, day: dt.date, settings: ShiftsSettings, allowed: Allowed, now: dt.datetime) -> list:
    """Office -> region -> state rows of the day's metrics, only over what the user may see."""
    s, g = shifts.c, canvass_groups.c
    rows = [
        r
        for r in _rows(
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
        for r in _rows(conn, sa.select(canvass_groups).where(g.day == day, g.is_active.is_(True)))
        if allowed(r["instance"], r["office"], settings.region_of(r["office"] or ""))
    ]
    return metrics.rollup(rows, groups, settings, now)


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
        past += [{**r, "source": source} for r in _rows(conn, q)]
    past.sort(key=lambda r: (r["day"], r["starts_at"] or now), reverse=True)
    upcoming = []
    if vol.get("van_id") is not None:
        p = event_participants.c
        upcoming = _rows(
            conn,
            sa.select(p.event_name, p.event_type_name, p.role_name, p.status_name, p.location_name, p.starts_at)
            .where(p.instance == vol["instance"], p.van_id == vol["van_id"], p.starts_at >= now)
            .order_by(p.starts_at),
        )
    changes = _rows(
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
        *[sa.select(t.c.volunteer_id.label("vid")).where(_scope_where(t, scope)) for t in (shifts, backup_shifts)]
    ).subquery()
    v = volunteers.c
    q = sa.select(volunteers).where(v.id.in_(sa.select(ids.c.vid)))
    for w in words:
        like = f"{w.replace('%', '').replace('_', '')}%"
        q = q.where(sa.or_(v.first_name.ilike(like), v.last_name.ilike(like)))
    return _rows(conn, q.order_by(v.last_name, v.first_name).limit(limit))


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
    seen = _version(version)
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
        row = _lock(conn, volunteers, volunteer_id)
        if row is None:
            raise NotFound("no such volunteer")
        if not may_edit(row, conn):
            raise Forbidden("this volunteer has no shift in an office you work in")
        if row["version"] != seen:
            raise Conflict("volunteer", volunteer(conn, volunteer_id))
        row.setdefault("office", None)
        _apply(conn, volunteers, "volunteer", row, changes, actor, day=settings.today(), notify=False)
        return volunteer(conn, volunteer_id)
