"""The calls assets, checks and sensors through Dagster, against the sandbox (VAN + S3), PostgreSQL and mongomock."""

import dataclasses
import datetime as dt
import uuid

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls import seed
from orgsync_dagster.calls.assets import call_sync_status, calls_daily_report, van_reference_data_asset
from orgsync_dagster.calls.cdr_assets import livevox_cdr
from orgsync_dagster.calls.partitions import SETTINGS, cdr_file_partitions, partition_key
from orgsync_dagster.calls.sensors import livevox_cdr_sensor, missing_reports
from orgsync_dagster.calls.tables import daily_reports
from orgsync_dagster.lib.tables import api_requests
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

DAY = "2026-03-05"
SYNC_ASSETS = [van_reference_data_asset, call_sync_status, calls_daily_report]


@pytest.fixture
def env(sandbox, api_key, pg_url, monkeypatch):
    bucket = f"calls-{uuid.uuid4().hex[:8]}"
    for k, v in {
        "ORGSYNC_S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    s3 = S3Resource(endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    s3.get_client().create_bucket(Bucket=bucket)
    store = CallsStoreResource(uri=f"mongomock://{uuid.uuid4().hex}")
    resources = {
        "warehouse": WarehouseResource(url=pg_url),
        "s3": s3,
        "calls_store": store,
        "slack": SlackResource(),
        "van": VanResource(
            api_keys=f"MI={api_key},WI={api_key}-wi", base_url=sandbox.urls.van_url, requests_per_second=500
        ),
    }
    return {"resources": resources, "store": store, "s3": s3, "bucket": bucket, "key": api_key, "pg_url": pg_url}


def meta(result, node):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else None


def test_a_candidate_day_end_to_end_with_report_and_budgeted_requests(env, sandbox):
    c = SETTINGS.candidate("mo01")
    env["store"].insert_many(list(seed.sample_calls(c.district, DAY, c.timezone, 30, seed=3)))
    with dg.instance_for_test() as instance:
        dry = dg.materialize(
            SYNC_ASSETS,
            partition_key=partition_key("mo01", DAY),
            resources=env["resources"],
            instance=instance,
            run_config={"ops": {"calls__call_sync_status": {"config": {"dry_run": True}}}},
        )
        planned = meta(dry, "calls__call_sync_status")
        assert planned["dry_run"] and planned["requests_spent"] == 0 and planned["planned"]["van"] > 0
        assert meta(dry, "calls__daily_report") == {"skipped": "dry run"}
        assert all(d.get("sync_status") is None for d in env["store"].stream({}))
        result = dg.materialize(
            SYNC_ASSETS, partition_key=partition_key("mo01", DAY), resources=env["resources"], instance=instance
        )
        assert result.success
        sync = meta(result, "calls__call_sync_status")
        assert sync["planned"] == planned["planned"]
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {"candidate_config_valid": True, "every_call_final": True}
        dump = sandbox.van.dump(env["key"])
        assert sync["requests_spent"] == len(dump["canvass_responses"]) == sync["planned"]["van"] > 0
        assert sync["status/finished"] + sync["status/ignored"] == 30 and sync["status/unsynced"] == 0
        assert meta(result, "van__reference_data")["requests_spent"] == 5  # reference data: once per run
        assert sync["csv_files"] and sync["csv_files"][0]["url"].startswith(f"s3://{env['bucket']}/calls/csv/mo01/")
        engine = sa.create_engine(env["pg_url"])
        with engine.connect() as conn:
            report = conn.execute(sa.select(daily_reports.c.contents)).scalar_one()
            gets = conn.execute(
                sa.select(sa.func.sum(api_requests.c.count)).where(api_requests.c.method == "GET")
            ).scalar()
            posts = conn.execute(
                sa.select(sa.func.sum(api_requests.c.count)).where(api_requests.c.method == "POST")
            ).scalar()
        engine.dispose()
        assert "Dialer results for MO-01" in report and "30 calls" in report
        assert gets == 10 and posts == sync["requests_spent"]  # 5 reference GETs in each of the two runs
        for doc in env["store"].stream({}):  # no names or phone numbers in the report
            assert doc["first_name"] not in report and doc["phone_dialed"] not in report
        assert missing_reports(engine_for(env), env["store"], dt.date.fromisoformat(DAY)) == ["mo05"]


def engine_for(env):
    from orgsync_dagster.resources.warehouse import engine_for as ef

    return ef(env["pg_url"])


def test_config_naming_ids_van_lacks_blocks_the_sync(env, sandbox, monkeypatch):
    c = SETTINGS.candidate("mo01")
    rule = dataclasses.replace(c.results["strong support"], responses=((109149, 999),))
    monkeypatch.setitem(
        SETTINGS.candidates, "mo01", dataclasses.replace(c, results={**c.results, "strong support": rule})
    )
    env["store"].insert_many(list(seed.sample_calls(c.district, DAY, c.timezone, 5, seed=3)))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            SYNC_ASSETS,
            partition_key=partition_key("mo01", DAY),
            resources=env["resources"],
            instance=instance,
            raise_on_error=False,
        )
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "999 is not a response of survey question 109149" in check.metadata["report"].value
    assert meta(result, "calls__call_sync_status") is None  # blocked: never ran
    assert sandbox.van.dump(env["key"])["canvass_responses"] == []
    assert all(d.get("sync_status") is None for d in env["store"].stream({}))


def test_cdr_sensor_and_loader_with_a_malformed_file(env):
    client, bucket = env["s3"].get_client(), env["bucket"]
    calls = list(seed.sample_calls("mo01", DAY, "America/Chicago", 12, seed=5))
    rows = [
        seed.CDR_HEADER,
        *seed.cdr_rows(calls),
        ["x1", "TEST123-van-1", "T", "T", "1", "", "03/05/2026 10:00:00", "", "qa", "Busy", "1"],
        ["x2", "bad-account"] + [""] * 9,
    ]
    good = "\n".join(",".join(r) for r in rows) + "\n"
    client.put_object(Bucket=bucket, Key=f"{SETTINGS.cdr_prefix}{DAY}/a.csv", Body=good.encode())
    client.put_object(Bucket=bucket, Key=f"{SETTINGS.cdr_prefix}{DAY}/b.csv", Body=b"name,email\nPat,p@x.org\n")
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"s3": env["s3"]}) as ctx:
            tick = livevox_cdr_sensor(ctx)
        assert [r.partition_key for r in tick.run_requests] == [
            f"{SETTINGS.cdr_prefix}{DAY}/a.csv",
            f"{SETTINGS.cdr_prefix}{DAY}/b.csv",
        ]
        assert all(":" in r.run_key for r in tick.run_requests) and "lm" in tick.cursor
        with dg.build_sensor_context(instance=instance, resources={"s3": env["s3"]}, cursor=tick.cursor) as ctx:
            again = livevox_cdr_sensor(ctx)  # only look-back re-offers, with the same run keys (Dagster drops them)
        assert {r.run_key for r in again.run_requests} <= {r.run_key for r in tick.run_requests}
        instance.add_dynamic_partitions(cdr_file_partitions.name, [r.partition_key for r in tick.run_requests])
        ok = dg.materialize(
            [livevox_cdr],
            partition_key=tick.run_requests[0].partition_key,
            instance=instance,
            resources=env["resources"],
            run_config=tick.run_requests[0].run_config,
        )
        loaded = meta(ok, "calls__livevox_cdr")
        assert (loaded["rows"], loaded["inserted"], loaded["test_accounts_skipped"], loaded["rejected"]) == (
            12,
            12,
            1,
            1,
        )
        assert not ok.get_asset_check_evaluations()[0].passed
        twice = dg.materialize(
            [livevox_cdr],
            partition_key=tick.run_requests[0].partition_key,
            instance=instance,
            resources=env["resources"],
        )
        assert (meta(twice, "calls__livevox_cdr")["inserted"], meta(twice, "calls__livevox_cdr")["updated"]) == (0, 12)
        bad = dg.materialize(
            [livevox_cdr],
            partition_key=tick.run_requests[1].partition_key,
            instance=instance,
            resources=env["resources"],
            raise_on_error=False,
        )
    assert not bad.success
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
    text = failure.step_failure_data.error.message
    assert "not a Livevox CDR export" in text and "Traceback" not in text
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=SETTINGS.quarantine_prefix)["Contents"]]
    assert f"{SETTINGS.quarantine_prefix}{SETTINGS.cdr_prefix}{DAY}/b.csv" in keys
    assert f"{SETTINGS.quarantine_prefix}{SETTINGS.cdr_prefix}{DAY}/a.csv.rejected.csv" in keys
    assert env["store"].get(calls[0]["id"])["client"] == "mo01"


def test_schedule_requests_yesterday_at_each_candidates_local_sync_hour():
    from zoneinfo import ZoneInfo

    from orgsync_dagster.calls.jobs import due_requests

    at = dt.datetime(2026, 3, 6, 6, 3, tzinfo=ZoneInfo("America/Chicago"))
    reqs = due_requests(at)
    assert [(r.partition_key, r.run_key) for r in reqs] == [
        (partition_key("mo01", "2026-03-05"), "calls-mo01-2026-03-05"),
        (partition_key("mo05", "2026-03-05"), "calls-mo05-2026-03-05"),
    ]
    assert due_requests(at + dt.timedelta(hours=1)) == []


def test_missing_report_watchdog_runs_and_remembers_the_day(env):
    from orgsync_dagster.calls.sensors import calls_missing_report_sensor

    resources = {k: env["resources"][k] for k in ("warehouse", "slack", "calls_store")}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            first = calls_missing_report_sensor(ctx)
            cursor = ctx.cursor
        assert isinstance(first, dg.SkipReason)
        if cursor:  # after the deadline: yesterday was checked (both demo candidates are active -> alerted)
            assert "mo01" in first.skip_message and "mo05" in first.skip_message
            with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as ctx:
                assert "already checked" in calls_missing_report_sensor(ctx).skip_message
