"""The end-of-day review: the shifts whose final status needs a look, and approving (or withdrawing the approval
of) final statuses, one shift at a time, before the status sync sends them to VAN."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.shifts import tracker
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import shifts
from orgsync_dagster.shifts.tracker import Scope
from orgsync_dagster.shifts.tracker_store.core import (
    Actor,
    Allowed,
    Forbidden,
    NotFound,
    apply_changes,
    check_allowed,
    lock_row,
)
from orgsync_dagster.shifts.tracker_store.reads import day_shifts, shift_row


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
                row = check_allowed(lock_row(conn, shifts, shift_id), allowed, "shift")
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
            apply_changes(conn, shifts, "shift", row, changes, actor)
            done.append(shift_id)
    return {"done": done, "conflicts": conflicts, "refused": refused}
