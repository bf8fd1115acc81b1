"""The nightly job on a real PostgreSQL: backup -> verify -> reset -> import next day, killed at every step and
re-run, edits after the backup, backfills, and a day that has not ended."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from orgsync_dagster.shifts import backup as backup_mod
from orgsync_dagster.shifts.backup import run_nightly, stage_of
from orgsync_dagster.shifts.logic import ShiftsError
from orgsync_dagster.shifts.nightly import STEPS
from orgsync_dagster.shifts.tables import DAY_TABLES, backup_shifts, shifts

from .daydata import add_participants, count, make_day


class Crash(Exception):
    """The process dies here (after the step's transaction committed)."""


def crash_after(step_name):
    def hook(step):
        if step == step_name:
            raise Crash(step)

    return hook


@pytest.fixture
def prepared(engine, day, settings):
    expected = make_day(engine, day, settings)
    add_participants(engine, day + dt.timedelta(days=1), settings)
    return expected


def assert_done(engine, day, expected):
    for name, live, backup in DAY_TABLES:
        assert count(engine, live, day, "MI") == 0, f"{name} of {day} not reset"
        assert count(engine, backup, day, "MI") == expected[name], f"{name} backup incomplete or duplicated"
    assert count(engine, shifts, day + dt.timedelta(days=1)) == 3  # next day imported exactly once
    assert stage_of(engine, day, "MI") == "imported"


def test_nightly_backs_up_resets_and_imports_next_day(engine, prepared, day, settings):
    result = run_nightly(engine, settings, day, "MI", run_id="run-1")
    assert result.steps_done == list(STEPS) and result.counts == prepared
    assert result.next_day["created"] == 3
    assert_done(engine, day, prepared)
    again = run_nightly(engine, settings, day, "MI", run_id="run-2")  # re-running a finished partition changes nothing
    assert again.steps_done == [] and again.counts == prepared
    assert_done(engine, day, prepared)


@pytest.mark.parametrize("step", STEPS)
def test_killed_after_any_step_then_rerun_loses_nothing_and_duplicates_nothing(engine, prepared, day, settings, step):
    with pytest.raises(Crash):
        run_nightly(engine, settings, day, "MI", run_id="killed", hook=crash_after(step))
    result = run_nightly(engine, settings, day, "MI", run_id="rerun")
    # before the reset the live day is the truth and is backed up again; after it, only what is left is done
    resumed = {"backup": list(STEPS), "verify": list(STEPS), "reset": ["import_next_day"], "import_next_day": []}
    assert result.steps_done == resumed[step]
    assert_done(engine, day, prepared)


def test_failure_inside_the_reset_transaction_deletes_nothing(engine, prepared, day, settings, monkeypatch):
    real_reset = backup_mod._reset

    def dying_reset(conn, day, **kw):
        real_reset(conn, day, **kw)  # rows deleted in the transaction...
        raise Crash("reset")  # ...then the process dies before the commit

    monkeypatch.setitem(backup_mod.STEP_FUNCS, "reset", dying_reset)
    with pytest.raises(Crash):
        run_nightly(engine, settings, day, "MI", run_id="killed")
    assert count(engine, shifts, day) == prepared["shifts"] and stage_of(engine, day, "MI") == "verified"
    monkeypatch.undo()
    run_nightly(engine, settings, day, "MI", run_id="rerun")
    assert_done(engine, day, prepared)


def test_edit_after_backup_is_backed_up_by_the_rerun(engine, prepared, day, settings):
    with pytest.raises(Crash):
        run_nightly(engine, settings, day, "MI", run_id="killed", hook=crash_after("verify"))
    with engine.begin() as conn:  # an organizer still working after the backup
        conn.execute(shifts.update().where(shifts.c.day == day).values(status="Completed"))
    run_nightly(engine, settings, day, "MI", run_id="rerun")
    with engine.connect() as conn:
        statuses = set(conn.execute(sa.select(backup_shifts.c.status).where(backup_shifts.c.day == day)).scalars())
    assert statuses == {"Completed"}
    assert_done(engine, day, prepared)


def test_edit_between_verify_and_reset_stops_the_reset(engine, prepared, day, settings):
    def late_edit(step):
        if step == "verify":
            with engine.begin() as conn:
                conn.execute(shifts.update().where(shifts.c.day == day).values(call_pass=9))

    with pytest.raises(ShiftsError, match="changed after its backup.*nothing was reset"):
        run_nightly(engine, settings, day, "MI", run_id="r1", hook=late_edit)
    assert count(engine, shifts, day) == prepared["shifts"]
    run_nightly(engine, settings, day, "MI", run_id="r2")
    with engine.connect() as conn:
        q = sa.select(backup_shifts.c.call_pass).where(backup_shifts.c.day == day)
        assert set(conn.execute(q).scalars()) == {9}
    assert_done(engine, day, prepared)


def test_a_day_that_has_not_ended_is_refused(engine, prepared, settings):
    with pytest.raises(ShiftsError, match="has not ended yet in America/Chicago"):
        run_nightly(engine, settings, settings.today(), "MI", run_id="r")


def test_backfill_of_an_old_day_works_and_imports_nothing(engine, prepared, day, settings):
    old = day - dt.timedelta(days=30)
    make_day(engine, old, settings, n=2)
    add_participants(engine, old + dt.timedelta(days=1), settings)  # long gone: must not come back
    result = run_nightly(engine, settings, old, "MI", run_id="backfill")
    assert result.counts == {"shifts": 2, "canvass_groups": 1, "notes": 2, "edits": 1} and result.next_day is None
    assert count(engine, shifts, old + dt.timedelta(days=1)) == 0 and count(engine, shifts, old) == 0
    empty = run_nightly(engine, settings, old - dt.timedelta(days=1), "MI", run_id="backfill")  # a day with no data
    assert empty.stage == "imported" and empty.counts == {"shifts": 0, "canvass_groups": 0, "notes": 0, "edits": 0}
    assert count(engine, shifts, day) == prepared["shifts"]  # other days untouched


def test_two_runs_of_the_same_day_at_once(engine, prepared, day, settings):
    """A backfill and the schedule racing on one day: the steps serialise on the day's row, nothing doubles."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda n: run_nightly(engine, settings, day, "MI", run_id=f"race-{n}"), range(2)))
    assert all(r.stage == "imported" for r in results)
    assert sum(r.steps_done.count("reset") for r in results) == 1
    assert_done(engine, day, prepared)


def test_each_instance_has_its_own_day(engine, prepared, day, settings):
    """The partition is day x VAN instance: closing MI's day leaves WI's day, its rows and its stage alone."""
    wi = make_day(engine, day, settings, n=3, instance="WI")
    run_nightly(engine, settings, day, "MI", run_id="mi")
    assert stage_of(engine, day, "WI") == "open"
    for name, live, _backup in DAY_TABLES:
        assert count(engine, live, day, "WI") == wi[name], f"WI's {name} touched by MI's nightly"
    result = run_nightly(engine, settings, day, "WI", run_id="wi")
    assert result.counts == wi and stage_of(engine, day, "WI") == "imported"
    assert_done(engine, day, prepared)


def test_an_audited_edit_after_the_backup_stops_the_reset(engine, prepared, day, settings):
    """The edit audit is part of the day: an edit recorded after the backup means the backup is stale."""
    from orgsync_dagster.shifts.tables import backup_edits, edits

    def late_audit(step):
        if step == "verify":
            with engine.begin() as conn:
                conn.execute(
                    edits.insert().values(
                        day=day, instance="MI", entity="shift", entity_id=1, field="call_pass", user_email="x@y.org"
                    )
                )

    with pytest.raises(ShiftsError, match="changed after its backup"):
        run_nightly(engine, settings, day, "MI", run_id="r1", hook=late_audit)
    run_nightly(engine, settings, day, "MI", run_id="r2")
    assert count(engine, backup_edits, day) == prepared["edits"] + 1 and count(engine, edits, day) == 0
