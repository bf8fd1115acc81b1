"""The status sync-back against the sandbox VAN: only statuses approved in the review are sent, one POST /signups
per changed approved signup, none for unchanged ones; every approved shift ends with an outcome (sent, failed with
VAN's reason, not matched in VAN); a revoked key, unknown statuses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.backup import run_nightly
from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.logic import STATUS_SYNC
from orgsync_dagster.shifts.statusync import sync_day
from orgsync_dagster.shifts.store import import_day_tx
from orgsync_dagster.shifts.tables import backup_shifts, shifts

ADMIN = tracker_store.Actor(email="fd@example.org", name="Field Director", initials="FD")


@pytest.fixture
def day_shifts(engine, make_client, seeded, day, settings):
    export_participants(engine, make_client(), "MI", settings)
    import_day_tx(engine, settings, day)
    with engine.connect() as conn:
        q = sa.select(shifts).where(shifts.c.day == day).order_by(shifts.c.id)
        return [dict(r._mapping) for r in conn.execute(q)]


def set_status(engine, rows, status, *, approve=True):
    """What organizers do in the tracker: flip the status, then (at the end of the day) approve it."""
    with engine.begin() as conn:
        values = {"status": status, "version": shifts.c.version + 1}
        if approve:
            values["approved_status"] = status
        conn.execute(shifts.update().where(shifts.c.id.in_([r["id"] for r in rows])).values(**values))


def outcomes(engine, day, table=backup_shifts) -> dict[int, tuple[str | None, str | None]]:
    with engine.connect() as conn:
        q = sa.select(table.c.event_signup_id, table.c.sync_outcome, table.c.sync_error).where(table.c.day == day)
        return {r.event_signup_id: (r.sync_outcome, r.sync_error) for r in conn.execute(q)}


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
    run_nightly(engine, settings, day, "MI", run_id="nightly")

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
    # sent ones, and the approved one VAN already showed (in_van): nothing else is marked
    assert {k for k, v in marks.items() if v} == {r["event_signup_id"] for r in completed + no_show + confirmed_again}
    assert Ledger(engine, STATUS_SYNC, "MI", "t").counts() == {"succeeded": 6}
    shown = outcomes(engine, day)
    assert all(shown[r["event_signup_id"]] == ("sent", None) for r in completed + no_show)

    again = make_client()
    rerun = sync_day(engine, again, settings, day, run_id="sync-2")
    assert again.requests_sent == 0 and rerun.changed == 0 and rerun.already_in_van == 6 + len(confirmed_again)


def test_only_approved_statuses_are_sent(engine, make_client, day_shifts, day, settings, sandbox, api_key):
    approved, not_approved = day_shifts[0:2], day_shifts[2:5]
    set_status(engine, approved, "Completed")
    set_status(engine, not_approved, "No Show", approve=False)  # flipped, but nobody approved it in the review
    changed_after = day_shifts[5:6]
    set_status(engine, changed_after, "Completed")
    set_status(engine, changed_after, "Declined", approve=False)  # approved, then changed: needs a new approval
    before = van_statuses(sandbox, api_key)
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")  # the live day, before the nightly
    assert result.source == "live" and client.requests_sent == 2 == result.changed
    assert (result.awaiting_approval, result.stale_approvals) == (3, 1)
    after = van_statuses(sandbox, api_key)
    assert {k for k in after if after[k] != before[k]} == {r["event_signup_id"] for r in approved}
    shown = outcomes(engine, day, shifts)
    assert all(shown[r["event_signup_id"]] == (None, None) for r in not_approved + changed_after)


def test_a_failed_write_is_never_marked_synced(engine, make_client, day_shifts, day, settings, sandbox, api_key):
    set_status(engine, day_shifts[:3], "Completed")
    db = sandbox.van.database(api_key)
    with sandbox.van._lock:  # the first signup's event was deleted in VAN during the day
        db.events[day_shifts[0]["event_id"]]["isActive"] = False
    lost = [r for r in day_shifts[:3] if r["event_id"] == day_shifts[0]["event_id"]]
    run_nightly(engine, settings, day, "MI", run_id="nightly")
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")
    assert client.requests_sent == 3 and result.report.failed == len(lost)
    assert "event.eventId" in result.report.errors[0]
    marks = synced(engine, day)
    assert all(marks[r["event_signup_id"]] is None for r in lost)
    entries = Ledger(engine, STATUS_SYNC, "MI", "t").load()
    assert {entries[str(r["event_signup_id"])].status for r in lost} == {"failed"}
    shown = outcomes(engine, day)
    for r in lost:  # VAN no longer knows the event: a person must flip it, and the page says so with the reason
        outcome, reason = shown[r["event_signup_id"]]
        assert outcome == "not_matched" and "event.eventId" in reason and "flip it manually" in reason
    expected = {"sent": 3 - len(lost), "not_matched": len(lost)}
    assert result.outcomes == {k: v for k, v in expected.items() if v}


def test_revoked_key_sends_one_request_and_marks_nothing(
    engine, make_client, day_shifts, day, settings, sandbox, api_key
):
    set_status(engine, day_shifts[:5], "Completed")
    run_nightly(engine, settings, day, "MI", run_id="nightly")
    sandbox.van.revoke_key(api_key)
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")
    assert "MI refused the API key (HTTP 401)" in result.error and api_key not in result.error
    assert client.requests_sent == 1 and result.report.failed == 5 and not result.report.succeeded
    assert not any(synced(engine, day).values())
    assert Ledger(engine, STATUS_SYNC, "MI", "t").counts() == {"failed": 5}
    shown = outcomes(engine, day)
    assert [shown[r["event_signup_id"]][0] for r in day_shifts[:5]] == ["failed"] * 5
    assert "401" in shown[day_shifts[0]["event_signup_id"]][1]


def test_unknown_status_and_walk_ins_are_reported_not_sent(engine, make_client, day_shifts, day, settings):
    set_status(engine, day_shifts[:1], "Maybe later")
    with engine.begin() as conn:
        walk_in = conn.execute(
            shifts.insert()
            .values(day=day, instance="MI", source="walk_in", status="In", approved_status="In")
            .returning(shifts.c.id)
        ).scalar_one()
    client = make_client()
    result = sync_day(engine, client, settings, day, run_id="sync")  # before the nightly: from the live tables
    assert result.source == "live" and client.requests_sent == 0 and result.not_in_van == 1
    (q,) = result.quarantined
    assert q["event_signup_id"] == day_shifts[0]["event_signup_id"] and "not a VAN status" in q["reason"]
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                sa.select(shifts.c.id, shifts.c.sync_outcome).where(shifts.c.id.in_([walk_in, day_shifts[0]["id"]]))
            ).all()
        )
    assert rows == {walk_in: "not_matched", day_shifts[0]["id"]: "failed"}  # shown on the review page, never silent


def test_approval_through_the_tracker_store(engine, make_client, day_shifts, day, settings, sandbox, api_key):
    """The review page's approve: a stale version is refused, the rest approved; only those reach VAN."""
    from orgsync_dagster.shifts.tracker import Scope

    set_status(engine, day_shifts[:3], "Completed", approve=False)
    with engine.connect() as conn:
        rows = {r["id"]: r for r in tracker_store.review_rows(conn, day, Scope("MI"), settings)}
    assert {r["id"] for r in day_shifts[:3]} <= set(rows)
    items = [(r["id"], rows[r["id"]]["version"]) for r in day_shifts[:3]]
    items[0] = (items[0][0], items[0][1] - 1)  # a page loaded before the last edit
    result = tracker_store.set_approval(engine, settings, ADMIN, items, lambda *_: True)
    assert result["done"] == [r["id"] for r in day_shifts[1:3]] and len(result["conflicts"]) == 1
    client = make_client()
    sync = sync_day(engine, client, settings, day, run_id="sync")
    assert client.requests_sent == 2 and sync.awaiting_approval == 1
