import threading

import sqlalchemy as sa

from orgsync_dagster.lib.ledger import IN_FLIGHT, Ledger
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op, SyncEngine
from orgsync_dagster.lib.tables import sync_attempts, sync_ledger
from orgsync_dagster.resources.http import ApiError, BudgetExceeded


class FakeTarget:
    """A remote system with a script of failures; `remote` is what really exists there."""

    sync, scope = "test.sync", "S1"

    def __init__(self, fail=None):
        self.remote: dict[str, dict] = {}
        self.sent: list[str] = []
        self.fail = dict(
            fail or {}
        )  # key -> list of behaviours: "uncertain_applied", "uncertain_lost", "400", "budget"
        self.reconcile_calls = 0
        self.lock = threading.Lock()

    def apply(self, op):
        with self.lock:
            self.sent.append(op.key)
            todo = self.fail.get(op.key) or []
            behaviour = todo.pop(0) if todo else None
        if behaviour == "budget":
            raise BudgetExceeded("budget")
        if behaviour == "400":
            raise ApiError("van", "POST", "/v4/x", 400, "bad")
        if behaviour == "uncertain_lost":
            raise ApiError("van", "POST", "/v4/x", 0, "connection lost", uncertain=True)
        with self.lock:
            self.remote[op.key] = op.payload
        if behaviour == "uncertain_applied":
            raise ApiError("van", "POST", "/v4/x", 500, "boom", uncertain=True)
        return f"id-{op.key}"

    def reconcile(self, ops):
        self.reconcile_calls += 1
        return {op.key: (f"id-{op.key}" if op.key in self.remote else None) for op in ops}


def ops(n, version=1):
    return [Op(str(i), "create", {"n": i, "v": version}) for i in range(n)]


def run(engine, target, the_ops, run_id="r1", **kw):
    dry = kw.pop("dry_run", False)
    found = kw.pop("found_remotely", None)
    return SyncEngine(ledger_factory(engine, run_id), **kw).run(target, the_ops, dry_run=dry, found_remotely=found)


def test_rerun_with_nothing_new_sends_nothing(engine):
    t = FakeTarget()
    r1 = run(engine, t, ops(5))
    assert r1.succeeded["create"] == 5 and r1.ok
    r2 = run(engine, t, ops(5), run_id="r2")
    assert r2.skipped_done == 5 and sum(r2.succeeded.values()) == 0
    assert len(t.sent) == 5
    # a changed payload is sent again
    r3 = run(engine, t, ops(5, version=2)[:1] + ops(5)[1:], run_id="r3")
    assert r3.succeeded["create"] == 1 and len(t.sent) == 6


def test_dry_run_plans_and_sends_nothing(engine):
    t = FakeTarget()
    the_ops = [Op("a", "create", {}, cost=2), Op("b", "update", {})]
    r = run(engine, t, the_ops, dry_run=True)
    assert r.dry_run and r.planned == {"create": 1, "update": 1} and r.planned_requests == 3
    assert t.sent == [] and Ledger(engine, t.sync, t.scope, "x").load() == {}


def test_lost_answers_are_reconciled_not_reposted(engine):
    t = FakeTarget(fail={"1": ["uncertain_applied"], "2": ["uncertain_lost"]})
    r = run(engine, t, ops(3))
    assert r.ok and r.reconciled == 1
    assert t.sent.count("1") == 1  # applied remotely: found by reconcile, never re-sent
    assert t.sent.count("2") == 2  # really lost: sent again
    assert set(t.remote) == {"0", "1", "2"}
    entries = Ledger(engine, t.sync, t.scope, "x").load()
    assert {e.status for e in entries.values()} == {"succeeded"} and entries["1"].receipt == "id-1"


def test_crash_leaves_in_flight_which_next_run_reconciles(engine):
    t = FakeTarget()
    led = Ledger(engine, t.sync, t.scope, "crashed-run")
    # simulate: marked in flight, the request reached the remote, then the process died
    the_ops = ops(2)
    led.mark_in_flight("0", "create", the_ops[0].payload_hash)
    t.remote["0"] = the_ops[0].payload
    led.mark_in_flight("1", "create", the_ops[1].payload_hash)  # died before sending this one
    r = run(engine, t, the_ops, run_id="r2")
    assert r.reconciled == 1 and r.succeeded["create"] == 2
    assert t.sent == ["1"]


def test_failures_are_recorded_and_retried_next_run(engine):
    t = FakeTarget(fail={"0": ["400"]})
    r = run(engine, t, ops(2))
    assert r.failed == 1 and not r.ok and "bad" in r.errors[0]
    entry = Ledger(engine, t.sync, t.scope, "x").load()["0"]
    assert entry.status == "failed" and "bad" in entry.error and entry.attempts == 1
    r2 = run(engine, t, ops(2), run_id="r2")
    assert r2.succeeded["create"] == 1 and r2.skipped_done == 1
    with engine.connect() as conn:
        outcomes = [
            row.outcome
            for row in conn.execute(
                sa.select(sync_attempts.c.outcome).where(sync_attempts.c.record_key == "0").order_by(sync_attempts.c.id)
            )
        ]
    assert outcomes == ["failed", "succeeded"]


def test_budget_stops_cleanly(engine):
    t = FakeTarget(fail={"2": ["budget"]})
    r = run(engine, t, ops(5))
    assert r.succeeded["create"] == 2 and r.not_sent_budget == 3 and not r.ok
    assert len(t.sent) == 3  # nothing after the budget was hit


def test_concurrent_apply_records_each_op_once(engine):
    t = FakeTarget(fail={str(i): ["uncertain_lost"] for i in range(0, 100, 7)})
    r = run(engine, t, ops(100), concurrency=8)
    assert r.ok and r.succeeded["create"] == 100 and len(t.remote) == 100
    with engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(sync_ledger)).scalar_one()
        inflight = conn.execute(
            sa.select(sa.func.count()).select_from(sync_ledger).where(sync_ledger.c.status == IN_FLIGHT)
        ).scalar_one()
    assert n == 100 and inflight == 0


def test_records_found_remotely_reconcile_entries_left_unresolved(engine):
    """A create whose answer was lost, then found by the next export: the plan has no op for it any more, and the
    engine reconciles the ledger entry with the receipt the plan found."""
    t = FakeTarget(fail={"0": ["uncertain_applied"]})
    t.reconcile = lambda ops: (_ for _ in ()).throw(ApiError("van", "GET", "/v4/x", 503, "down"))  # lookup fails too
    r1 = run(engine, t, ops(2))
    assert r1.uncertain == 1 and t.remote.keys() == {"0", "1"}
    ledger = Ledger(engine, t.sync, t.scope, "x")
    assert ledger.load()["0"].status == "uncertain"
    # next run: the export found "0" remotely, so the plan no longer has an op for it
    r2 = run(engine, t, [], run_id="r2", found_remotely={"0": "id-0", "1": "id-1"})
    entry = ledger.load()["0"]
    assert entry.status == "succeeded" and entry.receipt == "id-0" and entry.run_id == "r2"
    assert (
        r2.reconciled == 1 and r2.reconciled_found_remotely == 1 and r2.as_metadata()["reconciled_found_remotely"] == 1
    )
    assert ledger.load()["1"].status == "succeeded" and ledger.load()["1"].run_id == "r1"  # a done entry: untouched
    assert len(t.sent) == 2  # nothing sent again
    with engine.connect() as conn:
        outcomes = [
            row.outcome
            for row in conn.execute(
                sa.select(sync_attempts.c.outcome).where(sync_attempts.c.record_key == "0").order_by(sync_attempts.c.id)
            )
        ]
    assert outcomes == ["uncertain", "reconciled"]


def test_found_remotely_leaves_keys_with_an_op_to_the_op_and_dry_run_records_nothing(engine):
    t = FakeTarget()
    led = Ledger(engine, t.sync, t.scope, "crashed-run")
    the_ops = ops(2)
    led.mark_in_flight("0", "create", the_ops[0].payload_hash)  # died before sending
    led.mark_in_flight("1", "create", the_ops[1].payload_hash)
    dry = run(engine, t, the_ops[:1], run_id="dry", dry_run=True, found_remotely={"0": "id-0", "1": "id-1"})
    assert dry.reconciled_found_remotely == 1  # "1" would be reconciled
    assert {e.status for e in led.load().values()} == {"in_flight"}  # a dry run writes nothing
    r = run(engine, t, the_ops[:1], run_id="r2", found_remotely={"0": "id-0", "1": "id-1"})
    # "0" has an op: it goes the op's way (looked up, not found, sent); "1" is reconciled as found remotely
    assert t.sent == ["0"] and r.reconciled_found_remotely == 1
    entries = led.load()
    assert entries["0"].status == entries["1"].status == "succeeded" and entries["1"].receipt == "id-1"


def test_old_call_sites_keep_the_old_behaviour(engine):
    """Without found_remotely (other domains' call sites), an unresolved entry without an op stays unresolved."""
    t = FakeTarget()
    Ledger(engine, t.sync, t.scope, "crashed-run").mark_in_flight("9", "create", "h")
    r = run(engine, t, ops(1), run_id="r2")
    assert r.reconciled_found_remotely == 0
    assert Ledger(engine, t.sync, t.scope, "x").load()["9"].status == "in_flight"
