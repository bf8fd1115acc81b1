"""One candidate-day against the real sandbox VAN and a real PostgreSQL ledger/meter (no Dagster)."""

import datetime as dt
import uuid
from collections import Counter

import pytest

from orgsync_dagster.calls import logic
from orgsync_dagster.calls.day_sync import sync_day
from orgsync_dagster.calls.target import CANVASS_SYNC
from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.meter import WarehouseMeter
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster_tests.calls.helpers import call, settings

DAY = "2026-03-05"
MIX = ["strong support", "refused", "busy", "dropped", "volunteer yes", "left message", "mystery", "strong support"]


class Sink:
    def __init__(self):
        self.files = {}

    def __call__(self, key, rows):
        self.files[key] = list(rows)
        return f"s3://test-bucket/{key}"


def make_calls(n, **over):
    return [call(i, MIX[i % len(MIX)], **over) for i in range(n)]


def run(store, engine, urls, key, s, *, budget_left=None, run_id=None, clock=None, wrap=None):
    meter = WarehouseMeter(engine)
    van = VanResource(api_keys=f"MI={key}", base_url=urls.van_url, requests_per_second=500, max_retries=6)
    client = van.client(
        "MI",
        db_mode=1,
        daily_request_budget=s.budget_for("MI"),
        meter=meter,
        budget_spent=lambda: meter.spent_today("van", "MI"),
    )
    client.http.backoff_base = 0.01
    client = wrap(client) if wrap else client
    run_id = run_id or uuid.uuid4().hex
    cand = s.candidate("c1")
    allowance = budget_left if budget_left is not None else s.budget_for("MI") - meter.spent_today("van", "MI")
    kwargs = {"clock": clock} if clock else {}
    result = sync_day(
        store=store,
        settings=s,
        candidate=cand,
        day=DAY,
        run_id=run_id,
        allowance=allowance,
        client=client,
        ledger_factory=ledger_factory(engine, run_id),
        csv_sink=Sink(),
        **kwargs,
    )
    meter.flush()
    return result, meter


def statuses(store):
    return Counter(d.get("sync_status") for d in store.stream({}))


@pytest.fixture
def store():
    return CallsStoreResource(uri=f"mongomock://{uuid.uuid4().hex}")


def test_full_sync_one_request_per_van_call_none_for_the_rest_and_rerun_spends_nothing(store, engine, sandbox, api_key):
    s = settings("full")
    store.insert_many(make_calls(40) + [call(99, day="2026-03-06")])  # a call of another day stays untouched
    result, meter = run(store, engine, sandbox.urls, api_key, s)
    dump = sandbox.van.dump(api_key)
    van_calls = [d for d in store.stream({"receipt": {"$regex": "^van:"}})]
    assert len(dump["canvass_responses"]) == len(van_calls) == result.planned["van"] == 25
    assert meter.spent("van") == 25  # exactly one request per call synced, none for ignored / CSV calls
    assert dict(statuses(store)) == {"finished": 30, "ignored": 5, "unattempted_error": 5, None: 1}
    by = result.counts.by_status
    assert (by["finished"], by["ignored"], by["unattempted_error"], result.counts.total) == (30, 5, 5, 40)
    csv = next(iter(result.csv_files))
    assert csv["rows"] == 5 and csv["url"].startswith("s3://")
    assert store.get("call00002")["receipt"] == csv["url"]
    assert "no configuration for on-screen result 'mystery'" in store.get("call00006")["error"]
    assert store.get("call00099").get("sync_status") is None
    again, meter2 = run(store, engine, sandbox.urls, api_key, s)
    assert meter2.spent("van") == 0 and not again.csv_files and again.counts.by_status == result.counts.by_status


def test_hybrid_never_goes_above_budget_and_sends_the_rest_to_csv(store, engine, sandbox, api_key):
    s = settings("hybrid", daily_budget=6)
    store.insert_many(make_calls(40))
    result, meter = run(store, engine, sandbox.urls, api_key, s, budget_left=6)
    dump = sandbox.van.dump(api_key)
    assert meter.spent("van") == len(dump["canvass_responses"]) == 6
    sent = [d["lv_result"] for d in store.stream({"receipt": {"$regex": "^van:"}})]
    assert sorted(sent) == ["strong support"] + ["volunteer yes"] * 5  # highest values first
    assert result.counts.by_status["finished"] == 30 and "unsynced" not in result.counts.by_status
    assert result.csv_files[0]["rows"] == 30 - 6


def test_full_strategy_over_budget_defers_calls_to_a_later_run(store, engine, sandbox, api_key):
    s = settings("full")
    store.insert_many(make_calls(16))
    first, m1 = run(store, engine, sandbox.urls, api_key, s, budget_left=4)
    assert m1.spent("van") == 4 and first.deferred_budget == 6
    assert first.counts.by_status["unsynced"] == 6
    second, m2 = run(store, engine, sandbox.urls, api_key, s)
    assert m2.spent("van") == 6 and "unsynced" not in second.counts.by_status


def test_faults_and_a_crash_mid_run_end_in_one_final_state_without_duplicates(store, engine, api_key):
    """fault_rate 0.2 (429/503 before, 500/dropped after processing) plus rows left exactly as a killed run leaves
    them: in_progress in the store, in_flight in the ledger, some already posted to VAN, some not."""
    from orgsync_dagster.sandbox.server import SandboxServer

    s = settings("full")
    calls = make_calls(64)
    store.insert_many(calls)
    cand = s.candidate("c1")
    now = dt.datetime.now(dt.UTC)
    crashed = Ledger(engine, CANVASS_SYNC, "c1", "crashed-run")
    with SandboxServer(fault_rate=0.2, seed=11, with_s3=False) as server:
        van_calls = [c for c in calls if logic.plan_call(c, cand).route == logic.TO_VAN]
        clean = VanResource(api_keys=f"MI={api_key}", base_url=server.urls.van_url).client("MI")
        server.fault_rate = 0.0
        for i, c in enumerate(van_calls[:8]):  # the crashed run's claims: i < 4 were posted before the kill
            d = logic.plan_call(c, cand)
            first = now - (dt.timedelta(hours=2) if i in (0, 4) else dt.timedelta(minutes=5))
            store.set_status(
                c["id"], [None], "in_progress", set_fields={"claimed_by": "crashed-run", "sync_attempted_at": first}
            )
            op = Op(c["id"], "post", d.payload)
            crashed.mark_in_flight(c["id"], "post", "changed-config" if i == 7 else op.payload_hash)
            if i < 4:
                clean.post_canvass_response(d.van_id, d.payload)
        server.fault_rate = 0.2
        result, _meter = run(store, engine, server.urls, api_key, s)
        dump = server.van.dump(api_key)
        assert server.stats["fault_500"] + server.stats["fault_drop"] > 0
    final = statuses(store)
    assert set(final) <= {"finished", "ignored", "unattempted_error", "attempted_error"}, final
    # the two old in-flight calls are not re-posted: their outcome is unknown beyond VAN's 60-minute window
    old = [van_calls[0]["id"], van_calls[4]["id"], van_calls[7]["id"]]  # (7: payload changed since: not re-sent)
    assert all("outcome unknown" in store.get(k)["error"] for k in old)
    assert final["attempted_error"] >= 3
    posted = Counter(r["vanId"] for r in dump["canvass_responses"])
    assert max(posted.values()) == 1  # never posted twice
    finished_van = {int(d["voter_id"]) for d in store.stream({"receipt": {"$regex": "^van:"}})}
    assert finished_van <= set(posted)
    assert set(posted) - finished_van == {int(van_calls[0]["voter_id"])}  # the old one that had reached VAN
    assert result.recovered["in_flight: reconciled"] == 7 and result.recovered["outcome unknown"] == 1


class Killed(BaseException):
    """The process dies: nothing after this point runs (not an Exception, so nobody catches it)."""


class DyingClient:
    """Wraps the real client; the process 'dies' right after the k-th POST reached VAN, before anything is recorded."""

    def __init__(self, client, k):
        self.client, self.k, self.instance = client, k, client.instance

    def post_canvass_response(self, van_id, payload):
        self.client.post_canvass_response(van_id, payload)
        self.k -= 1
        if self.k == 0:
            raise Killed()


def test_killed_right_after_a_post_then_rerun_posts_each_call_once(store, engine, sandbox, api_key):
    s = settings("full")
    store.insert_many(make_calls(24))
    with pytest.raises(Killed):
        run(store, engine, sandbox.urls, api_key, s, wrap=lambda c: DyingClient(c, 7))
    assert statuses(store)["in_progress"] == 1  # the call being posted when the process died
    assert len(sandbox.van.dump(api_key)["canvass_responses"]) == 7
    result, _meter = run(store, engine, sandbox.urls, api_key, s)
    dump = sandbox.van.dump(api_key)
    posted = Counter(r["vanId"] for r in dump["canvass_responses"])
    assert len(posted) == 15 and max(posted.values()) == 1  # every VAN call once, the in-flight one not doubled
    assert dump["canvass_responses_deduplicated"] == 1  # its re-send inside VAN's window was matched by VAN
    assert set(statuses(store)) <= {"finished", "ignored", "unattempted_error"}
    assert result.recovered["in_flight: reconciled"] == 1


def test_operator_reset_resends_an_unknown_outcome_once(store, engine, sandbox, api_key):
    from orgsync_dagster.calls.cli import reset_calls

    s = settings("full")
    store.insert_many(make_calls(2))
    ledger = Ledger(engine, CANVASS_SYNC, "c1", "crashed")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    store.set_status("call00000", [None], "in_progress", set_fields={"sync_attempted_at": old})
    ledger.mark_in_flight("call00000", "post", "x")
    run(store, engine, sandbox.urls, api_key, s)
    assert store.get("call00000")["sync_status"] == "attempted_error"
    n_before = len(sandbox.van.dump(api_key)["canvass_responses"])
    found = reset_calls(store, engine, s.candidate("c1"), DAY, ["attempted_error"], apply=False)
    assert found == {"attempted_error": 1} and store.get("call00000")["sync_status"] == "attempted_error"
    reset_calls(store, engine, s.candidate("c1"), DAY, ["attempted_error"], apply=True)
    run(store, engine, sandbox.urls, api_key, s)
    assert store.get("call00000")["sync_status"] == "finished"
    assert len(sandbox.van.dump(api_key)["canvass_responses"]) == n_before + 1


def test_a_call_the_ledger_knows_as_posted_is_never_posted_again(store, engine, sandbox, api_key):
    s = settings("full")
    store.insert_many(make_calls(1))  # unsynced in the store (e.g. a restored backup) but posted per the ledger
    Ledger(engine, CANVASS_SYNC, "c1", "earlier").record("call00000", "post", "old-payload", "succeeded", receipt="r0")
    result, meter = run(store, engine, sandbox.urls, api_key, s)
    assert meter.spent("van") == 0 and store.get("call00000")["receipt"] == "r0"
    assert store.get("call00000")["sync_status"] == "finished" and result.recovered["finished (ledger)"] == 1
