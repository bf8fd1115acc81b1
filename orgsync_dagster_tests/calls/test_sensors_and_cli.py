"""Calls sensors, the schedule, the CDR loader with Livevox service names, the failure webhook and the command line."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from orgsync_dagster import cli
from orgsync_dagster.calls import seed
from orgsync_dagster.calls.assets import call_sync_status, every_call_final
from orgsync_dagster.calls.cdr_assets import livevox_cdr
from orgsync_dagster.calls.jobs import calls_sync_schedule, due_requests
from orgsync_dagster.calls.locks import LockBusy, candidate_lock
from orgsync_dagster.calls.partitions import candidate_partitions, cdr_file_partitions, partition_key
from orgsync_dagster.calls.reference_assets import van_reference_data_asset
from orgsync_dagster.calls.sensors import (
    calls_candidates_sensor,
    calls_failure_webhook_sensor,
    calls_missing_report_sensor,
    livevox_cdr_sensor,
    missing_reports,
)
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster_tests.calls.conftest import add_candidates
from orgsync_dagster_tests.scripted_server import ScriptedServer

DAY = "2026-03-05"


def meta(result, node):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else None


def test_cdr_sensor_and_loader_with_service_names_and_a_malformed_file(calls_env, sandbox):
    env = calls_env
    prefix = "livevox/cdr/"
    client, bucket = env["s3"].get_client(), env["bucket"]
    calls = list(seed.sample_calls("mo01", DAY, "America/Chicago", 12, seed=5))
    rows = [
        seed.CDR_HEADER,
        *seed.cdr_rows(calls),
        ["x1", "TEST123-van-1", "T", "T", "1", "", "03/05/2026 10:00:00", "", "qa", "Busy", "1"],
        ["x2", "bad-account"] + [""] * 9,
    ]
    good = "\n".join(",".join(r) for r in rows) + "\n"
    client.put_object(Bucket=bucket, Key=f"{prefix}{DAY}/a.csv", Body=good.encode())
    client.put_object(Bucket=bucket, Key=f"{prefix}{DAY}/b.csv", Body=b"name,email\nPat,p@x.org\n")
    sensor_resources = {"s3": env["s3"], "orgsync_config": env["resources"]["orgsync_config"]}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=sensor_resources) as ctx:
            tick = livevox_cdr_sensor(ctx)
        assert [r.partition_key for r in tick.run_requests] == [f"{prefix}{DAY}/a.csv", f"{prefix}{DAY}/b.csv"]
        with dg.build_sensor_context(instance=instance, resources=sensor_resources, cursor=tick.cursor) as ctx:
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
        assert (
            loaded["calls_loaded"],
            loaded["calls_inserted"],
            loaded["test_accounts_skipped"],
            loaded["rows_rejected"],
        ) == (12, 12, 1, 1)
        assert loaded["livevox_service_names"]["calls_enriched"] == 12
        assert loaded["livevox_service_names"]["livevox_requests"] == 3  # login, the campaign, its service
        assert not ok.get_asset_check_evaluations()[0].passed
        doc = env["store"].get(calls[0]["id"])
        assert (doc["client"], doc["service_id"], doc["service_name"]) == ("mo01", 901, "MO-01 Volunteer Recruitment")
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
    assert "not a Livevox CDR export" in text and "Traceback" not in text and "Pat" not in text
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="livevox/quarantine/")["Contents"]]
    assert (
        f"livevox/quarantine/{prefix}{DAY}/b.csv" in keys
        and f"livevox/quarantine/{prefix}{DAY}/a.csv.rejected.csv" in keys
    )


@pytest.mark.parametrize("problem", ["no bucket", "no credentials", "unreachable"])
def test_the_cdr_sensor_never_raises_it_skips_with_one_clear_line(calls_env, monkeypatch, problem, tmp_path):
    env = calls_env
    s3 = env["s3"]
    config = env["resources"]["orgsync_config"]
    if problem == "no bucket":
        from orgsync_dagster.resources.config import OrgsyncConfigResource
        from orgsync_dagster_tests.calls.conftest import write_config

        config = OrgsyncConfigResource(path=write_config(tmp_path / "c.yaml", s3_bucket="no-such-bucket"))
        expected = "the bucket does not exist"
    elif problem == "no credentials":
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        expected = "no AWS credentials"
    else:
        s3 = S3Resource(endpoint_url="http://127.0.0.1:9", region_name="us-east-1", max_attempts=1)
        expected = "S3 is unreachable"
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, resources={"s3": s3, "orgsync_config": config}) as ctx,
    ):
        result = livevox_cdr_sensor(ctx)
    assert isinstance(result, dg.SkipReason) and expected in result.skip_message
    assert "\n" not in result.skip_message and "Traceback" not in result.skip_message


def test_candidates_become_partitions_and_removed_ones_stop_being_partitions(calls_env):
    env = calls_env
    resources = {k: env["resources"][k] for k in ("orgsync_config", "warehouse")}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            first = calls_candidates_sensor(ctx)
        (add,) = first.dynamic_partitions_requests
        assert list(add.partition_keys) == ["mo01", "mo05"]
        instance.add_dynamic_partitions(candidate_partitions.name, list(add.partition_keys))
        body = {**env["config"].get_candidate("mo05").body, "district": "ny14", "display_name": "NY-14"}
        env["config"].save_candidate("ny14", body, by="staff", expected_version=0)
        env["config"].remove_candidate("mo05", by="staff", expected_version=1)
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            second = calls_candidates_sensor(ctx)
        kinds = {type(r).__name__: list(r.partition_keys) for r in second.dynamic_partitions_requests}
        assert kinds == {"AddDynamicPartitionsRequest": ["ny14"], "DeleteDynamicPartitionsRequest": ["mo05"]}
        assert env["config"].history("mo05")[-1].action == "remove"  # its history stays


def test_the_schedule_reads_candidates_at_tick_time_and_adds_new_partitions(calls_env):
    env = calls_env
    store = env["config"]
    body = {
        **store.get_candidate("mo05").body,
        "district": "ny14",
        "display_name": "NY-14",
        "timezone": "America/New_York",
        "sync_hour": 7,
    }
    store.save_candidate("ny14", body, by="staff", expected_version=0)
    store.remove_candidate("mo05", by="staff", expected_version=1)
    at = dt.datetime(2026, 3, 6, 6, 3, tzinfo=ZoneInfo("America/Chicago"))  # 6:03 Chicago = 7:03 New York
    resources = {k: env["resources"][k] for k in ("orgsync_config", "warehouse")}
    with dg.instance_for_test() as instance:
        add_candidates(instance, "mo01")
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=at, resources=resources) as ctx:
            reqs = calls_sync_schedule(ctx)
        assert [(r.partition_key, r.run_key) for r in reqs] == [
            (partition_key("mo01", "2026-03-05"), "calls-mo01-2026-03-05"),
            (partition_key("ny14", "2026-03-05"), "calls-ny14-2026-03-05"),
        ]
        assert sorted(instance.get_dynamic_partitions(candidate_partitions.name)) == ["mo01", "ny14"]
    assert due_requests(store.load_settings(), at + dt.timedelta(hours=1)) == []


def test_missing_report_watchdog_names_candidates_from_the_store(calls_env):
    env = calls_env
    settings = env["config"].load_settings()
    assert missing_reports(env["engine"], env["store"], settings, dt.date(2026, 3, 5)) == ["mo01", "mo05"]
    resources = {k: env["resources"][k] for k in ("orgsync_config", "warehouse", "slack", "calls_store")}
    with dg.instance_for_test() as instance, dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        first = calls_missing_report_sensor(ctx)
    assert isinstance(first, dg.SkipReason)


def test_a_failed_run_reaches_the_candidates_failure_webhook_without_personal_data(calls_env, sandbox, monkeypatch):
    env = calls_env
    with ScriptedServer() as hooks, dg.instance_for_test() as instance:
        monkeypatch.setenv("CALLS_FAILURE_WEBHOOK_MO01", hooks.url + "hooks/failure/secret")
        add_candidates(instance)
        resources = {
            **env["resources"],
            "van": VanResource(api_keys="WI=x", base_url=sandbox.urls.van_url),
        }  # no MI key
        failed = dg.materialize(
            [van_reference_data_asset, call_sync_status, every_call_final],
            partition_key=partition_key("mo01", DAY),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
        assert not failed.success
        with dg.build_run_status_sensor_context(
            sensor_name="calls_failure_webhook_sensor",
            dagster_instance=instance,
            dagster_run=failed.dagster_run,
            dagster_event=failed.get_run_failure_event(),
            resources={k: env["resources"][k] for k in ("orgsync_config", "warehouse")},
        ) as status_ctx:
            calls_failure_webhook_sensor(status_ctx.for_run_failure())
    (seen,) = hooks.seen
    body = json.loads(seen["body"])
    assert body["event"] == "calls_sync_failed" and body["candidate"] == "mo01" and body["day"] == DAY
    assert "van__reference_data" in body["error"]


def test_config_commands_round_trip_and_reset_waits_for_the_sync_lock(calls_env, tmp_path, capsys, monkeypatch):
    env = calls_env
    url = env["pg_url"]
    out = tmp_path / "calls.yaml"
    assert cli.main(["calls", "config", "export", "--warehouse-url", url, "--out", str(out)]) == 0
    text = out.read_text().replace(
        "sync_hour: 6\n    bulk_import_threshold: 20", "sync_hour: 8\n    bulk_import_threshold: 20"
    )
    out.write_text(text)
    assert cli.main(["calls", "config", "import", str(out), "--by", "ana", "--warehouse-url", url]) == 0
    assert "1 updated" in capsys.readouterr().out
    assert cli.main(["calls", "config", "history", "mo01", "--warehouse-url", url]) == 0
    assert "sync_hour: 6 -> 8" in capsys.readouterr().out
    out.write_text(text.replace("strategy: full", "strategy: sometimes"))
    assert cli.main(["calls", "config", "import", str(out), "--warehouse-url", url]) == 1
    assert "candidates.mo01.strategy: must be one of" in capsys.readouterr().err
    # `orgsync calls reset --apply` takes the candidate's lock, the one the sync asset holds
    from orgsync_dagster.calls.cli import reset_calls

    candidate = env["config"].load_settings().candidate("mo01")
    with candidate_lock(env["engine"], "mo01", holder="a running sync"):
        with pytest.raises(LockBusy, match="calls:candidate:mo01 is being written"):
            reset_calls(env["store"], env["engine"], candidate, DAY, ["attempted_error"], apply=True)
        assert reset_calls(env["store"], env["engine"], candidate, DAY, ["attempted_error"], apply=False) == {}
    assert reset_calls(env["store"], env["engine"], candidate, DAY, ["attempted_error"], apply=True) == {}


def test_the_sync_asset_refuses_to_run_beside_another_writer(calls_env, sandbox):
    env = calls_env
    c = env["config"].load_settings().candidate("mo05")
    env["store"].insert_many(list(seed.sample_calls(c.district, DAY, c.timezone, 5, seed=3)))
    with dg.instance_for_test() as instance, candidate_lock(env["engine"], "mo05", holder="orgsync calls reset"):
        add_candidates(instance)
        result = dg.materialize(
            [van_reference_data_asset, call_sync_status, every_call_final],
            partition_key=partition_key("mo05", DAY),
            resources=env["resources"],
            instance=instance,
            raise_on_error=False,
        )
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "calls:candidate:mo05 is being written" in failure.step_failure_data.error.message
    assert all(d.get("sync_status") is None for d in env["store"].stream({}))
