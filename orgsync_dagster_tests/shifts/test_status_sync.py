"""The status sync-back against the sandbox VAN: one POST /signups per changed signup, none for unchanged ones,
failures never marked synced, a revoked key, unknown statuses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.shifts.backup import run_nightly
from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.logic import STATUS_SYNC
from orgsync_dagster.shifts.statusync import sync_day
from orgsync_dagster.shifts.store import import_day_tx
from orgsync_dagster.shifts.tables import backup_shifts, shifts


@pytest.fixture
def day_shifts(engine, make_client, seeded, day, settings):
    export_participants(engine, make_client(), "MI", settings)
    import_day_tx(engine, settings, day)
    with engine.connect() as conn:
        q = sa.select(shifts).where(shifts.c.day == day).order_by(shifts.c.id)
        return [dict(r._mapping) for r in conn.execute(q)]


def set_status(engine, rows, status):
    with engine.begin() as conn:
        conn.execute(shifts.update().where(shifts.c.id.in_([r["id"] for r in rows])).values(status=status))


def van_statuses(sandbox, api_key) -> dict[int, str]:
    return {s["eventSignupId"]: s["status"]["name"] for s in sandbox.van.dump(api_key)["signups"]}


def synced(engine, day) -> dict[int, str | None]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(backup_shifts.c.event_signup_id, backup_shifts.c.synced_status).where(
                    backup_shifts.c.day == day
                )
            ).all()
        )


def test_one_request_per_changed_signup_and_none_on_rerun(
    engine, make_client, day_shifts, day, settings, sandbox, api_key
):
    completed, no_show = day_shifts[0:4], day_shifts[4:6]
    set_status(engine, completed, "In")  # the tool's status, pushed as VAN's Completed
    set_status(engine, no_show, "No Show")
    confirmed_again = [r for r in day_shifts[6:] if r["status"] == "Confirmed"][:1]
    set_status(engine, confirmed_again, "Same Day Confirmed")  # VAN already says Confirmed: nothing to send
    run_nightly(engine, settings, day, run_id="nightly")

    plan = sync_day(engine, make_client(), settings, day, run_id="dry", dry_run=True)
    assert plan.report.planned_requests == 6 and plan.requests == 0

    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync-1")
    assert result.source == "backup" and result.changed == 6 and result.already_in_van == len(confirmed_again)
    assert client.requests_sent == 6 == sum(result.report.succeeded.values())  # exactly one per changed signup
    in_van = van_statuses(sandbox, api_key)
    assert all(in_van[r["event_signup_id"]] == "Completed" for r in completed)
    assert all(in_van[r["event_signup_id"]] == "No Show" for r in no_show)
    marks = synced(engine, day)
    assert {k for k, v in marks.items() if v} == {r["event_signup_id"] for r in completed + no_show}
    assert Ledger(engine, STATUS_SYNC, "MI", "t").counts() == {"succeeded": 6}

    again = make_client()
    rerun = sync_day(engine, again, settings, day, run_id="sync-2")
    assert again.requests_sent == 0 and rerun.changed == 0 and rerun.already_in_van == 6 + len(confirmed_again)


def test_a_failed_write_is_never_marked_synced(engine, make_client, day_shifts, day, settings, sandbox, api_key):
    set_status(engine, day_shifts[:3], "Completed")
    db = sandbox.van.database(api_key)
    with sandbox.van._lock:  # the first signup's event was deleted in VAN during the day
        db.events[day_shifts[0]["event_id"]]["isActive"] = False
    lost = [r for r in day_shifts[:3] if r["event_id"] == day_shifts[0]["event_id"]]
    run_nightly(engine, settings, day, run_id="nightly")
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")
    assert client.requests_sent == 3 and result.report.failed == len(lost)
    assert "event.eventId" in result.report.errors[0]
    marks = synced(engine, day)
    assert all(marks[r["event_signup_id"]] is None for r in lost)
    entries = Ledger(engine, STATUS_SYNC, "MI", "t").load()
    assert {entries[str(r["event_signup_id"])].status for r in lost} == {"failed"}


def test_revoked_key_sends_one_request_and_marks_nothing(
    engine, make_client, day_shifts, day, settings, sandbox, api_key
):
    set_status(engine, day_shifts[:5], "Completed")
    run_nightly(engine, settings, day, run_id="nightly")
    sandbox.van.revoke_key(api_key)
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")
    assert "MI refused the API key (HTTP 401)" in result.error and api_key not in result.error
    assert client.requests_sent == 1 and result.report.failed == 5 and not result.report.succeeded
    assert not any(synced(engine, day).values())
    assert Ledger(engine, STATUS_SYNC, "MI", "t").counts() == {"failed": 5}


def test_unknown_status_and_walk_ins_are_reported_not_sent(engine, make_client, day_shifts, day, settings):
    set_status(engine, day_shifts[:1], "Maybe later")
    with engine.begin() as conn:
        conn.execute(shifts.insert().values(day=day, instance="MI", source="walk_in", status="In"))
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")  # before the nightly: from the live tables
    assert result.source == "live" and client.requests_sent == 0 and result.not_in_van == 1
    (q,) = result.quarantined
    assert q["event_signup_id"] == day_shifts[0]["event_signup_id"] and "not a VAN status" in q["reason"]
