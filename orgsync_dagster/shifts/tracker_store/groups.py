"""Canvass groups (the KPH page): creating a group from the day's shifts and each step of its day (out,
check-ins, return, settings, members, disband, claim), with the members' statuses moved along."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.shifts import tracker
from orgsync_dagster.shifts.settings import ShiftsSettings, norm
from orgsync_dagster.shifts.tables import canvass_groups, shifts, volunteers
from orgsync_dagster.shifts.tracker import TrackerInputError
from orgsync_dagster.shifts.tracker_store.core import (
    Actor,
    Allowed,
    Conflict,
    apply_changes,
    audit_created,
    check_allowed,
    fetch_rows,
    lock_row,
    notify_change,
    office_region,
    seen_version,
)
from orgsync_dagster.shifts.tracker_store.reads import group_row


# -- canvass groups (KPH) ------------------------------------------------------------------------------------------
def _set_member_status(conn, actor: Actor, members: list[dict], frm: tuple[str, ...], to: str) -> None:
    for m in members:
        if norm(m["status"]) in frm:
            apply_changes(conn, shifts, "shift", m, {"status": to}, actor)


def _locked_members(conn, group_id: int) -> list[dict]:
    q = (
        sa.select(shifts)
        .where(shifts.c.canvass_group_id == group_id, shifts.c.is_active.is_(True))
        .order_by(shifts.c.id)
        .with_for_update()
    )
    return fetch_rows(conn, q)


def _member_checks(conn, ids: Iterable[int], state: str, office: str, group_id: int | None) -> list[dict]:
    rows = []
    for shift_id in ids:
        row = lock_row(conn, shifts, int(shift_id))
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
    region = office_region(settings, allowed, state, office)
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
        description = f"{len(members)} member(s), goal {values['goal']}"
        audit_created(conn, actor, day, state, office, "canvass_group", gid, description)
        for m in members:
            apply_changes(conn, shifts, "shift", m, {"canvass_group_id": gid}, actor)
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
    seen = seen_version(version)
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        group = check_allowed(lock_row(conn, canvass_groups, group_id), allowed, "canvass group")
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
            apply_changes(conn, shifts, "shift", m, {"canvass_group_id": group_id}, actor)
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
            apply_changes(conn, shifts, "shift", m, {"canvass_group_id": None}, actor)
        elif action == "disband":
            if group.get("departed_at") is not None and not group.get("is_returned"):
                raise TrackerInputError("the group is out: mark it returned before disbanding it")
            for m in members:
                apply_changes(conn, shifts, "shift", m, {"canvass_group_id": None}, actor)
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
            apply_changes(conn, canvass_groups, "canvass_group", group, changes, actor)
        return group_row(conn, group_id)
