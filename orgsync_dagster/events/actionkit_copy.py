"""The warehouse copy of ActionKit's events and its validation, kept up to date incrementally.

Each refresh reads from ActionKit either the rows whose ``updated_at`` passed the watermark (minus a small overlap,
for transactions that committed late) or, periodically, every row (a full pass: the only way to see events deleted
at the source). The read is then applied to the warehouse in one transaction: the copy (``actionkit.
events_source_rows``), the validation of every event whose outcome can have changed (``actionkit.
events_validated``) and the new watermark (``actionkit.events_source_state``). A read that failed never reaches
this module, so nothing is ever synced from a partial read.

No Dagster here; the asset in ``assets.py`` wires it to the ActionKit and warehouse resources.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.events import logic
from orgsync_dagster.events.settings import EventsSettings, SourceSettings
from orgsync_dagster.events.tables import ak_events_source_rows, ak_events_source_state, ak_events_validated
from orgsync_dagster.lib.tables import TZ
from orgsync_dagster.resources.actionkit import naive_utc

DELETED_REASON = "deleted in ActionKit (gone from its events table)"
MASS_DELETION_FLOOR = 10  # fewer missing events than this never stop a full pass


class MassDeletion(RuntimeError):
    """A full pass did not find a large share of the events the copy knows: refused until a person accepts it."""


@dataclass(frozen=True)
class ReadPlan:
    full: bool
    since: dt.datetime | None  # naive UTC, None for a full pass
    why: str


@dataclass
class RefreshResult:
    source: str
    plan: ReadPlan
    rows_read: int = 0
    new: int = 0
    changed: int = 0
    deleted: int = 0  # events gone from ActionKit found by this full pass
    restored: int = 0  # events back after having been gone
    revalidated: int = 0
    rows_in_copy: int = 0
    watermark_before: dt.datetime | None = None
    watermark_after: dt.datetime | None = None
    changed_ids: list[int] = dataclasses.field(default_factory=list)


def load_state(engine: Engine, source: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(ak_events_source_state).where(ak_events_source_state.c.source == source)).first()
    return None if row is None else dict(row._mapping)


def plan_read(state: dict | None, now: dt.datetime, settings: SourceSettings, *, force_full: bool = False) -> ReadPlan:
    """Full pass or incremental read, and why (``now`` is aware)."""
    if force_full:
        return ReadPlan(True, None, "full pass asked for by the run's config")
    if state is None or state.get("watermark") is None:
        return ReadPlan(True, None, "first read of this source: every event")
    last_full = state.get("last_full_pass_at")
    if last_full is None or now - last_full >= dt.timedelta(hours=settings.full_pass_every_hours):
        return ReadPlan(
            True, None, f"periodic full pass (every {settings.full_pass_every_hours:g} h): finds deleted events"
        )
    since = state["watermark"] - dt.timedelta(minutes=settings.overlap_minutes)
    return ReadPlan(
        False, since, f"incremental: events with updated_at >= {since.isoformat(sep=' ')} UTC (watermark - overlap)"
    )


def _chunks(items: list, size: int = 5000) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _lock(conn: Connection, source: str) -> None:
    """One refresh at a time per source (a second one waits, then sees the first one's watermark)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": 7_214_100 + zlib.crc32(source.encode()) % 100_000})


def apply_read(
    engine: Engine,
    source: str,
    plan: ReadPlan,
    rows: list[dict],
    settings: EventsSettings,
    now: dt.datetime,
    *,
    accept_deletions: bool = False,
) -> RefreshResult:
    """Apply one complete read to the warehouse, in one transaction, and validate what it can have changed.
    ``now`` is when the read started: rows another run copied after that are left as that run copied them."""
    result = RefreshResult(source, plan, rows_read=len(rows))
    t = ak_events_source_rows
    with engine.begin() as conn:
        _lock(conn, source)
        state = conn.execute(sa.select(ak_events_source_state).where(ak_events_source_state.c.source == source)).first()
        result.watermark_before = state.watermark if state is not None else None
        by_id = {int(r["id"]): r for r in rows}
        existing: dict[int, tuple[dict, bool]] = {}
        copied_since_read: set[int] = set()  # copied by a run that read after this one: not judged by this read
        cols = (t.c.ak_event_id, t.c.source_row, t.c.deleted_in_source, t.c.read_at)
        if plan.full:
            for r in conn.execute(sa.select(*cols)):
                existing[r.ak_event_id] = (r.source_row, r.deleted_in_source)
                if r.read_at is not None and r.read_at > now:
                    copied_since_read.add(r.ak_event_id)
        else:
            for chunk in _chunks(list(by_id)):
                for r in conn.execute(sa.select(*cols).where(t.c.ak_event_id.in_(chunk))):
                    existing[r.ak_event_id] = (r.source_row, r.deleted_in_source)
                    if r.read_at is not None and r.read_at > now:
                        copied_since_read.add(r.ak_event_id)

        missing: list[int] = []
        if plan.full:
            known = [k for k, (_row, deleted) in existing.items() if not deleted]
            missing = sorted(k for k in known if k not in by_id and k not in copied_since_read)
            limit = settings.source.max_missing_share * len(known)
            if len(missing) > max(limit, MASS_DELETION_FLOOR) and not accept_deletions:
                raise MassDeletion(
                    f"the full pass of {source} did not find {len(missing)} of the {len(known)} events the warehouse "
                    f"copy knows (more than {settings.source.max_missing_share:.0%}): nothing was changed. If they "
                    "really were deleted in ActionKit, run actionkit/events again with config "
                    "{accept_deletions: true}; their VAN events are then cancelled"
                )

        upserts = []
        for ak_id, row in by_id.items():
            if ak_id in copied_since_read:
                continue  # a newer read already copied this event: never overwrite it with an older version
            before = existing.get(ak_id)
            if before is None:
                result.new += 1
            elif before[1]:
                result.restored += 1
            elif before[0] == row:
                continue
            else:
                result.changed += 1
            upserts.append(
                {
                    "ak_event_id": ak_id,
                    "source_row": row,
                    "source_updated_at": naive_utc(row.get("updated_at")),
                    "deleted_in_source": False,
                    "read_at": now,
                }
            )
        if upserts:
            stmt = pg_insert(t)
            cols = ("source_row", "source_updated_at", "deleted_in_source", "read_at")
            stmt = stmt.on_conflict_do_update(index_elements=["ak_event_id"], set_={c: stmt.excluded[c] for c in cols})
            for chunk in _chunks(upserts, 5000):
                # RETURNING makes SQLAlchemy batch the rows into multi-row VALUES (an upsert without it is sent one
                # row per round trip)
                conn.execute(stmt.returning(t.c.ak_event_id), chunk).all()
        for chunk in _chunks(missing):
            conn.execute(t.update().where(t.c.ak_event_id.in_(chunk)).values(deleted_in_source=True, read_at=now))
        result.deleted = len(missing)
        result.changed_ids = sorted(u["ak_event_id"] for u in upserts) + missing

        # validate every event whose outcome can have changed: what was read and changed, the eligible ones that
        # have started since (time passes), everything on a full pass or when the validation settings changed
        everything = plan.full or state is None or state.settings_hash != settings.validation_hash
        result.revalidated = _revalidate(conn, settings, now, None if everything else set(result.changed_ids))
        if plan.full:  # validated rows of events the copy does not know (from before the copy existed)
            v = ak_events_validated
            conn.execute(v.delete().where(~sa.exists().where(t.c.ak_event_id == v.c.ak_event_id)))

        newest = max((naive_utc(r.get("updated_at")) for r in rows if r.get("updated_at")), default=None)
        watermark = max(filter(None, [result.watermark_before, newest]), default=None)
        result.watermark_after = watermark
        result.rows_in_copy = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(t.c.deleted_in_source.is_(False))
        ).scalar_one()
        values = {
            "watermark": watermark,
            "settings_hash": settings.validation_hash,
            "rows_in_copy": result.rows_in_copy,
            "updated_at": now,
        }
        if plan.full:
            values["last_full_pass_at"] = now
        stmt = pg_insert(ak_events_source_state).values(source=source, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_=values))
    return result


def validate_copied(row: dict, deleted: bool, settings: EventsSettings, now: dt.datetime) -> dict:
    """One copied row -> its events_validated row; an event deleted at the source is validated as cancelled."""
    if deleted:
        v = logic.validate_event({**row, "status": "deleted"}, settings, now)
        v.eligible, v.cancelled = False, True
        v.reason = DELETED_REASON if not v.quarantined else v.reason
        return v.as_row()
    return logic.validate_event(row, settings, now).as_row()


def _revalidate(conn: Connection, settings: EventsSettings, now: dt.datetime, ids: set[int] | None) -> int:
    t, v = ak_events_source_rows, ak_events_validated
    q = sa.select(t.c.ak_event_id, t.c.source_row, t.c.deleted_in_source)
    if ids is not None:
        started = sa.select(v.c.ak_event_id).where(
            v.c.eligible.is_(True), sa.cast(v.c.payload["start"].as_string(), TZ) < now
        )
        q = q.where(t.c.ak_event_id.in_(started) | t.c.ak_event_id.in_(sorted(ids)))
    n = 0
    batch: list[dict] = []
    for r in conn.execute(q).all():
        row = validate_copied(r.source_row, r.deleted_in_source, settings, now)
        row["validated_at"] = now
        batch.append(row)
        if len(batch) >= 5000:
            n += _upsert_validated(conn, batch)
            batch = []
    if batch:
        n += _upsert_validated(conn, batch)
    return n


def _upsert_validated(conn: Connection, rows: list[dict]) -> int:
    stmt = pg_insert(ak_events_validated)
    cols = [c.name for c in ak_events_validated.columns if c.name != "ak_event_id"]
    stmt = stmt.on_conflict_do_update(index_elements=["ak_event_id"], set_={c: stmt.excluded[c] for c in cols})
    conn.execute(stmt.returning(ak_events_validated.c.ak_event_id), rows).all()  # batched (see apply_read)
    return len(rows)
