"""The nightly job of one finished day of one VAN instance: back up its shifts, canvass groups, notes and edit audit,
verify the backup, reset the day tables, import the next day. One transaction per step, resumable from
``shifts.day_status`` (see nightly.py).

``hook(step)`` is called after each step has committed (tests raise from it to simulate a crash)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from orgsync_dagster.shifts import nightly
from orgsync_dagster.shifts.logic import ShiftsError
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.store import import_day
from orgsync_dagster.shifts.tables import DAY_TABLES, day_status

ds = day_status.c


@dataclass
class NightlyResult:
    day: dt.date
    instance: str
    stage: str
    steps_done: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)  # rows in the backup per table
    next_day: dict | None = None  # import of the next day (None: not imported by this run)


def _lock_stage(conn: Connection, day: dt.date, instance: str) -> str:
    conn.execute(
        pg_insert(day_status)
        .values(day=day, instance=instance, stage="open")
        .on_conflict_do_nothing(index_elements=["day", "instance"])
    )
    q = sa.select(ds.stage).where(ds.day == day, ds.instance == instance).with_for_update()
    return conn.execute(q).scalar_one()


def _of_day(table: sa.Table, day: dt.date, instance: str):
    return sa.and_(table.c.day == day, table.c.instance == instance)


def _fingerprint(conn: Connection, table: sa.Table, columns: list[str], day, instance, lock: bool = False):
    q = sa.select(*[table.c[c] for c in columns]).where(_of_day(table, day, instance))
    rows = [dict(r._mapping) for r in conn.execute(q.with_for_update() if lock else q)]
    return len(rows), nightly.digest(rows)


def _compare(conn: Connection, day: dt.date, instance: str, lock: bool) -> tuple[dict, list[str]]:
    live, backup = {}, {}
    for name, live_t, backup_t in DAY_TABLES:
        cols = [c.name for c in live_t.columns]
        live[name] = _fingerprint(conn, live_t, cols, day, instance, lock)
        backup[name] = _fingerprint(conn, backup_t, cols, day, instance)
    return live, nightly.compare(live, backup)


def _backup(conn: Connection, day: dt.date, instance: str, run_id: str, **_) -> dict:
    """Replace the day's backup with the live rows (delete + insert keyed by day, in this one transaction)."""
    counts = {}
    for name, live_t, backup_t in reversed(DAY_TABLES):
        cols = [c.name for c in live_t.columns]
        conn.execute(backup_t.delete().where(_of_day(backup_t, day, instance)))
        select = sa.select(*[live_t.c[c] for c in cols], sa.literal(run_id).label("backup_run_id")).where(
            _of_day(live_t, day, instance)
        )
        counts[name] = conn.execute(backup_t.insert().from_select([*cols, "backup_run_id"], select)).rowcount
    return {"counts": counts, "backed_up_at": sa.func.now(), "run_id": run_id}


def _verify(conn: Connection, day: dt.date, instance: str, **_) -> dict:
    live, problems = _compare(conn, day, instance, lock=False)
    if problems:
        raise ShiftsError(
            f"the backup of {day} ({instance}) does not match the day tables ({'; '.join(problems)}); nothing was "
            "reset. Re-run the partition: it backs the day up again."
        )
    return {"digests": {k: v[1] for k, v in live.items()}, "verified_at": sa.func.now()}


def _reset(conn: Connection, day: dt.date, instance: str, **_) -> dict:
    """Checked again under row locks in this transaction, so an edit made after the backup is never lost."""
    _live, problems = _compare(conn, day, instance, lock=True)
    if problems:
        raise ShiftsError(
            f"{day} ({instance}) changed after its backup ({'; '.join(problems)}); nothing was reset. Re-run the "
            "partition: it backs the day up again."
        )
    for _name, live_t, _backup_t in DAY_TABLES:  # children first
        conn.execute(live_t.delete().where(_of_day(live_t, day, instance)))
    return {"reset_at": sa.func.now()}


def _import_next(conn: Connection, day: dt.date, instance: str, settings: ShiftsSettings, today: dt.date, **_) -> dict:
    if not nightly.import_next_day(day, today):
        return {"imported_at": sa.func.now(), "next_day_imported": None, "_next": None}
    result = import_day(conn, settings, day + dt.timedelta(days=1), [instance], reset_daily_fields=True)
    return {"imported_at": sa.func.now(), "next_day_imported": result["created"], "_next": result}


STEP_FUNCS = {"backup": _backup, "verify": _verify, "reset": _reset, "import_next_day": _import_next}


def run_nightly(
    engine: Engine,
    settings: ShiftsSettings,
    day: dt.date,
    instance: str,
    *,
    run_id: str,
    today: dt.date | None = None,
    hook: Callable[[str], None] | None = None,
) -> NightlyResult:
    today = today or settings.today()
    nightly.check_day_closed(day, today, settings.timezone)
    with engine.begin() as conn:
        stage = _lock_stage(conn, day, instance)
    result = NightlyResult(day, instance, stage)
    mine = sa.and_(ds.day == day, ds.instance == instance)
    for step in nightly.steps_to_run(stage):
        with engine.begin() as conn:
            current = _lock_stage(conn, day, instance)  # serialises concurrent runs of the same day
            if step not in nightly.steps_to_run(current):
                result.stage = current
                continue
            values = STEP_FUNCS[step](conn, day, instance=instance, run_id=run_id, settings=settings, today=today)
            if "_next" in values:
                result.next_day = values.pop("_next")
            values["stage"] = nightly.STAGE_AFTER[step]
            conn.execute(day_status.update().where(mine).values(updated_at=sa.func.now(), **values))
        result.stage = nightly.STAGE_AFTER[step]
        result.steps_done.append(step)
        if hook is not None:
            hook(step)
    with engine.connect() as conn:
        result.counts = {
            name: conn.execute(sa.select(sa.func.count()).select_from(b).where(_of_day(b, day, instance))).scalar_one()
            for name, _l, b in DAY_TABLES
        }
        result.stage = conn.execute(sa.select(ds.stage).where(mine)).scalar_one()
    return result


def stage_of(engine: Engine, day: dt.date, instance: str) -> str:
    with engine.connect() as conn:
        q = sa.select(ds.stage).where(ds.day == day, ds.instance == instance)
        return conn.execute(q).scalar_one_or_none() or "open"


def is_archived(engine: Engine, day: dt.date, instance: str) -> bool:
    """True once the day was reset: its rows live in the backup tables from then on."""
    return nightly.archived(stage_of(engine, day, instance))
