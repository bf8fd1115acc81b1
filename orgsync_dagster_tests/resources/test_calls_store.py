import datetime as dt
import uuid

from orgsync_dagster.resources.calls_store import CallsStoreResource


def store(uri=None, **kw) -> CallsStoreResource:
    return CallsStoreResource(uri=uri or f"mongomock://{uuid.uuid4().hex}", **kw)


def test_mongomock_state_persists_across_instances_with_the_same_uri():
    a = store()
    a.insert_many([{"id": "1", "district": "d"}])
    assert CallsStoreResource(uri=a.uri).get("1")["district"] == "d"
    assert store().get("1") is None  # another URI: another database
    assert CallsStoreResource(uri=a.uri, collection="other").get("1") is None


def test_claim_is_atomic_on_the_expected_status():
    s = store()
    s.insert_many([{"id": "1"}, {"id": "2", "sync_status": "finished"}])
    t0 = dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC)
    claimed = s.set_status(
        "1", [None], "in_progress", set_fields={"claimed_by": "r1"}, min_fields={"sync_attempted_at": t0}
    )
    assert claimed["sync_status"] == "in_progress"
    assert s.set_status("1", [None], "in_progress") is None  # already claimed
    assert s.set_status("2", [None, "in_progress"], "in_progress") is None  # finished stays finished
    # a re-claim keeps the first attempt's time
    again = s.set_status(
        "1", [None, "in_progress"], "in_progress", min_fields={"sync_attempted_at": t0 + dt.timedelta(hours=1)}
    )
    assert again["sync_attempted_at"].replace(tzinfo=dt.UTC) == t0
    s.set_status("1", ["in_progress"], None, unset=["sync_attempted_at"])
    assert "sync_attempted_at" not in s.get("1") and s.get("1")["sync_status"] is None


def test_upsert_by_call_id_never_touches_sync_state():
    s = store()
    assert s.upsert_calls([("1", {"id": "1", "lv_result": "busy"}, {})]) == (1, 0)
    s.set_status("1", [None], "finished", set_fields={"receipt": "r"})
    assert s.upsert_calls([("1", {"id": "1", "lv_result": "refused"}, {"sync_status": "unattempted_error"})]) == (0, 1)
    doc = s.get("1")
    assert (doc["lv_result"], doc["sync_status"], doc["receipt"]) == ("refused", "finished", "r")
    # a bad-time row only writes when the call is new
    s.upsert_calls([("1", None, {"id": "1", "timestamp": None, "sync_status": "unattempted_error"})])
    assert s.get("1")["sync_status"] == "finished"


def test_stream_day_query_status_filter_and_counts():
    s = store()
    day = dt.datetime(2026, 3, 5, 6, tzinfo=dt.UTC)
    s.insert_many(
        [
            {
                "id": str(i),
                "district": "d",
                "timestamp": day + dt.timedelta(hours=i),
                "sync_status": st,
                "lv_result": "x",
            }
            for i, st in enumerate([None, "unsynced", "finished", None])
        ]
        + [{"id": "other", "district": "e", "timestamp": day}]
    )
    q = s.day_query("d", day, day + dt.timedelta(hours=3), [None])
    assert [d["id"] for d in s.stream(q, {"id": 1}, sort=[("timestamp", -1)])] == ["1", "0"]
    assert s.set_status_many(["0", "1", "2"], [None], "ignored") == 2
    counts = {
        r["sync_status"]: r["n"] for r in s.count_by(s.day_query("d", day, day + dt.timedelta(days=1)), ["sync_status"])
    }
    assert counts == {"ignored": 2, "finished": 1, None: 1}


def test_partition_lock_is_exclusive_until_released_expired_or_stolen():
    s = store()
    assert s.acquire_lock("c1:2026-03-05", "run-a", 60) is None
    assert s.acquire_lock("c1:2026-03-05", "run-a", 60) is None  # renew
    assert s.acquire_lock("c1:2026-03-05", "run-b", 60) == "run-a"
    assert s.acquire_lock("c1:2026-03-05", "run-b", 60, steal_from=["run-a"]) is None  # run-a is known dead
    s.release_lock("c1:2026-03-05", "run-b")
    assert s.acquire_lock("c1:2026-03-05", "run-c", 0) is None
    assert s.acquire_lock("c1:2026-03-05", "run-d", 60) is None  # run-c's lease ran out


def test_production_refuses_mongomock_and_a_missing_uri(monkeypatch):
    import pytest

    from orgsync_dagster.lib.profile import ProfileError

    monkeypatch.setenv("ORGSYNC_PROFILE", "production")
    for uri in ("", f"mongomock://{uuid.uuid4().hex}", "mongomock+file:///tmp/orgsync-never/calls.json"):
        with pytest.raises(ProfileError, match="MONGODB_URI"):
            CallsStoreResource(uri=uri).get("1")


_CHILD = """
import datetime as dt, sys
from orgsync_dagster.resources.calls_store import CallsStoreResource
s = CallsStoreResource(uri=sys.argv[1])
if sys.argv[2] == "load":  # as a calls_load_cdr run: new calls
    t = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)
    print(s.upsert_calls([(str(i), {"district": "MI-01", "timestamp": t}, {"sync_status": None}) for i in range(5)]))
else:  # as a later calls_sync run, in another process: claims what the first one loaded
    print(sum(s.set_status(str(i), [None], "in_progress") is not None for i in range(5)))
"""


def test_the_file_backed_stand_in_is_shared_by_separate_processes(tmp_path):
    """`orgsync dev`'s calls store: each run is its own process, and a later run sees what an earlier one wrote."""
    import os
    import subprocess
    import sys

    uri = f"mongomock+file://{tmp_path / 'calls_store.json'}"
    env = {**os.environ, "ORGSYNC_PROFILE": "local"}

    def child(step: str) -> str:
        done = subprocess.run([sys.executable, "-c", _CHILD, uri, step], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert child("load") == "(5, 0)"
    assert child("sync") == "5"
    assert child("sync") == "0"  # already claimed: the second process saw the first one's writes
    reader = CallsStoreResource(uri=uri)
    assert {d["sync_status"] for d in reader.stream({})} == {"in_progress"}
