"""Large candidate-days as one VAN bulk import job, against the sandbox VAN (jobs processed asynchronously from the
sandbox S3) and a real PostgreSQL ledger: exactly once whatever dies when, never re-posted."""

import uuid
from collections import Counter

import boto3
import pytest
import sqlalchemy as sa

from orgsync_dagster.calls import bulk
from orgsync_dagster.calls.day_sync import sync_day
from orgsync_dagster.calls.tables import bulk_import_batches
from orgsync_dagster.calls.target import CANVASS_SYNC
from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.meter import WarehouseMeter
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.http import ApiError
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.sandbox import van_bulk
from orgsync_dagster_tests.calls.helpers import call, settings
from orgsync_dagster_tests.calls.test_day_sync import MIX, Sink

DAY = "2026-03-05"


class Killed(BaseException):
    """The process dies here: nothing after this point runs."""


class Wrap:
    """The real client, with one remote call replaced (to die or to lose an answer at an exact point)."""

    def __init__(self, client, **replace):
        self._client, self._replace = client, replace
        self.instance = client.instance

    def __getattr__(self, name):
        return self._replace.get(name) or getattr(self._client, name)


@pytest.fixture
def env(sandbox, api_key, engine, monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    s3 = boto3.client("s3", endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    bucket = f"bulk-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)

    def uploader(key, data):
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)

    store = CallsStoreResource(uri=f"mongomock://{uuid.uuid4().hex}")
    return {
        "sandbox": sandbox,
        "key": api_key,
        "engine": engine,
        "store": store,
        "uploader": uploader,
        "s3": s3,
        "bucket": bucket,
    }


def run(env, s, *, allowance=1000, wrap=None, uploader=None):
    meter = WarehouseMeter(env["engine"])
    van = VanResource(api_keys=f"MI={env['key']}", base_url=env["sandbox"].urls.van_url, requests_per_second=500)
    client = van.client("MI", db_mode=1, meter=meter)
    client = wrap(client) if wrap else client
    run_id = uuid.uuid4().hex
    result = sync_day(
        store=env["store"],
        settings=s,
        candidate=s.candidate("c1"),
        day=DAY,
        run_id=run_id,
        allowance=allowance,
        client=client,
        ledger_factory=ledger_factory(env["engine"], run_id),
        csv_sink=Sink(),
        engine=env["engine"],
        bulk_uploader=uploader or env["uploader"],
        bulk_first_poll_seconds=0.2,
    )
    meter.flush()
    return result, meter


def bulk_rows(env):
    return [r for r in env["sandbox"].van.dump(env["key"])["canvass_responses"] if r["source"] == "bulk_import"]


def jobs(env):
    return van_bulk.jobs_of(env["sandbox"].van.database(env["key"], 1))


def batches(env):
    with env["engine"].connect() as conn:
        return conn.execute(sa.select(bulk_import_batches).order_by(bulk_import_batches.c.created_at)).all()


def statuses(env):
    return Counter(d.get("sync_status") for d in env["store"].stream({}))


def van_bound(n):
    return sum(
        1 for i in range(n) if MIX[i % len(MIX)] in ("strong support", "refused", "volunteer yes", "left message")
    )


def seed_calls(env, n, **over):
    env["store"].insert_many([call(i, MIX[i % len(MIX)], **over) for i in range(n)])


def test_one_job_for_the_day_every_row_recorded_and_a_rerun_sends_nothing(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 40)
    env["store"].insert_many([call(90, "strong support", van_id=999999)])  # VAN has no such person
    result, meter = run(env, s)
    expected = van_bound(40) + 1
    assert result.planned["van (bulk import)"] == expected and meter.spent("van") <= 4  # POST, polls, results file
    (batch,) = batches(env)
    assert batch.state == "completed" and batch.rows == expected and len(jobs(env)) == 1
    assert len(bulk_rows(env)) == expected - 1
    assert result.bulk.calls == Counter({"finished": expected - 1, "attempted_error": 1})
    bad = env["store"].get("call00090")
    assert bad["sync_status"] == "attempted_error" and "refused it: CanvassResults_1: Invalid VanID" in bad["error"]
    good = env["store"].get("call00000")
    assert good["receipt"] == f"van:MI:bulkImportJobs/{batch.job_id}"
    entries = Ledger(env["engine"], CANVASS_SYNC, "c1", "x").load(["call00000", "call00090"])
    assert entries["call00000"].status == "succeeded" and entries["call00000"].action == "bulk_import"
    assert entries["call00000"].receipt == f"van:MI:bulkImportJobs/{batch.job_id}#call=call00000"
    assert entries["call00090"].status == "failed"
    again, meter2 = run(env, s)
    assert meter2.spent("van") == 0 and len(jobs(env)) == 1 and again.planned["van (bulk import)"] == 0


def test_killed_while_the_job_runs_then_the_rerun_polls_it_and_never_posts_again(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 40)

    def die(job_id):
        raise Killed()

    with pytest.raises(Killed):
        run(env, s, wrap=lambda c: Wrap(c, get_bulk_import_job=die))
    (batch,) = batches(env)
    assert batch.state == "posted" and batch.job_id and statuses(env)["in_progress"] == van_bound(40)
    result, meter = run(env, s)
    assert len(jobs(env)) == 1 and meter.spent("van", writes_only=True) == 0  # polled, not re-posted
    assert len(bulk_rows(env)) == van_bound(40) and batches(env)[0].state == "completed"
    assert statuses(env)["finished"] == van_bound(40) + 5 and "in_progress" not in statuses(env)


def test_an_answer_lost_after_vans_job_was_created_is_never_reposted_and_a_person_can_attach_it(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 40)
    holder = {}

    def post_then_die(payload):
        holder["job"] = holder["client"].create_bulk_import_job(payload)
        raise Killed()  # the job exists at VAN; its id never reached the warehouse

    def wrap(c):
        holder["client"] = c
        return Wrap(c, create_bulk_import_job=post_then_die)

    with pytest.raises(Killed):
        run(env, s, wrap=wrap)
    assert batches(env)[0].state == "posting"
    result, meter = run(env, s)  # the rerun cannot know: unknown, never re-posted
    (batch,) = batches(env)
    assert batch.state == "unknown" and len(jobs(env)) == 1 and meter.spent("van", writes_only=True) == 0
    assert statuses(env)["attempted_error"] == van_bound(40)
    error = env["store"].get("call00000")["error"]
    assert "outcome unknown" in error and batch.description in error and "bulk-attach" in error
    assert result.bulk.calls["outcome_unknown"] == van_bound(40)
    # a person finds the job in VAN by its description and attaches it: the next run reads its results
    assert bulk.attach(env["engine"], env["store"], batch.token, holder["job"]) == van_bound(40)
    run(env, s)
    assert batches(env)[0].state == "completed" and len(jobs(env)) == 1 and len(bulk_rows(env)) == van_bound(40)
    assert statuses(env)["finished"] == van_bound(40) + 5 and "attempted_error" not in statuses(env)
    with pytest.raises(ValueError, match="is completed, not unknown"):
        bulk.attach(env["engine"], env["store"], batch.token, holder["job"])


def test_a_500_on_the_post_is_an_unknown_outcome_in_the_same_run(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 16)
    holder = {}

    def post_lose_answer(payload):
        holder["client"].create_bulk_import_job(payload)
        raise ApiError("van", "POST", "/v4/bulkImportJobs", 500, "An unknown error occurred", uncertain=True)

    def wrap(c):
        holder["client"] = c
        return Wrap(c, create_bulk_import_job=post_lose_answer)

    result, _ = run(env, s, wrap=wrap)
    assert batches(env)[0].state == "unknown" and statuses(env)["attempted_error"] == van_bound(16)
    run(env, s)
    assert len(jobs(env)) == 1  # never re-posted


def test_a_refused_job_sends_nothing_and_releases_the_calls(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 16)

    def refuse(payload):
        raise ApiError("van", "POST", "/v4/bulkImportJobs", 403, "bulk import is not enabled for this key")

    result, _ = run(env, s, wrap=lambda c: Wrap(c, create_bulk_import_job=refuse))
    assert batches(env)[0].state == "refused" and statuses(env)[None] == van_bound(16) and not jobs(env)
    assert any("VAN refused the bulk import job" in e for e in result.errors)
    run(env, s)  # once allowed, the released calls go in a new job
    assert [b.state for b in batches(env)] == ["refused", "completed"] and len(bulk_rows(env)) == van_bound(16)


def test_a_crash_before_the_post_abandons_the_batch_and_the_calls_go_in_the_next_one(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 16)

    def die(key, data):
        raise Killed()

    with pytest.raises(Killed):
        run(env, s, uploader=die)
    assert batches(env)[0].state == "prepared" and statuses(env)["in_progress"] == van_bound(16)
    run(env, s)
    assert [b.state for b in batches(env)] == ["abandoned", "completed"] and len(jobs(env)) == 1
    assert len(bulk_rows(env)) == van_bound(16) and "in_progress" not in statuses(env)


def test_a_job_van_fails_ends_in_errors_never_resent(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 16)

    def wrong_link(key, data):
        return env["s3"].generate_presigned_url("get_object", Params={"Bucket": env["bucket"], "Key": "missing.zip"})

    run(env, s, uploader=wrong_link)
    assert batches(env)[0].state == "failed" and statuses(env)["attempted_error"] == van_bound(16)
    assert (
        "VAN bulk import job" in env["store"].get("call00000")["error"]
        and "FILE_UNREADABLE" in env["store"].get("call00000")["error"]
    )
    run(env, s)
    assert len(jobs(env)) == 1 and not bulk_rows(env)


def test_without_enough_budget_for_a_job_the_calls_wait_and_say_why(env):
    s = settings("full", bulk_import_threshold=5)
    seed_calls(env, 16)
    result, meter = run(env, s, allowance=3)
    assert meter.spent("van") == 0 and not jobs(env) and result.deferred_budget == van_bound(16)
    assert "a bulk import job needs about 6 requests; 3 left" in result.waiting_reason
    doc = env["store"].get("call00000")
    assert doc.get("sync_status") is None and "bulk import job needs" in doc["waiting_reason"]
