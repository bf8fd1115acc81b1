"""What every read and write of the tracker store shares: who edits (``Actor``), the errors, the live
notification, and the write protocol (permission check under the row lock, optimistic row version, audit of
each changed field in ``shifts.edits``, NOTIFY at commit)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import edits
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


# -- query helpers -----------------------------------------------------------------------------------------------------
def scope_where(table: sa.Table, scope: Scope):
    cond = [table.c.instance == scope.state]
    if scope.office is not None:
        cond.append(table.c.office == scope.office)
    elif scope.region is not None:
        cond.append(table.c.region == scope.region)
    return sa.and_(*cond)


def fetch_rows(conn: Connection, query) -> list[dict]:
    return [dict(r._mapping) for r in conn.execute(query)]


# -- write helpers -------------------------------------------------------------------------------------------------
def check_allowed(row, allowed: Allowed, what: str) -> dict:
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


def apply_changes(
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


def office_region(settings: ShiftsSettings, allowed: Allowed, state: str, office: str) -> str | None:
    """The office's region, once the user is known to work in that office (else ``Forbidden``)."""
    region = settings.region_of(office)
    if not allowed(state, office, region):
        raise Forbidden("you do not work in this office")
    return region


def audit_created(
    conn: Connection,
    actor: Actor,
    day: dt.date,
    instance: str,
    office: str | None,
    entity: str,
    entity_id: int,
    description: str,
) -> None:
    """The audit line of a row just created (its version 1)."""
    conn.execute(
        edits.insert().values(
            day=day,
            instance=instance,
            office=office,
            entity=entity,
            entity_id=entity_id,
            field="created",
            new_value=description,
            version=1,
            user_email=actor.email,
            user_name=actor.name,
        )
    )


def lock_row(conn: Connection, table: sa.Table, row_id: int) -> dict | None:
    r = conn.execute(sa.select(table).where(table.c.id == row_id).with_for_update()).first()
    return dict(r._mapping) if r is not None else None


def seen_version(raw) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise TrackerInputError("the form lacks the row version it was made from; reload the page") from None
