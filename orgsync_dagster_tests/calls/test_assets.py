"""The calls assets and checks through Dagster, against the sandbox (VAN + S3), PostgreSQL and mongomock, with the
configuration read from the warehouse store at run time."""

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from orgsync_dagster.calls import seed
from orgsync_dagster.calls.assets import call_sync_status, every_call_final
from orgsync_dagster.calls.config_store import ConfigInvalid
from orgsync_dagster.calls.partitions import partition_key
from orgsync_dagster.calls.reference_assets import van_reference_data_asset
from orgsync_dagster.calls.report_assets import calls_daily_report
from orgsync_dagster.calls.tables import bulk_import_batches, daily_reports
from orgsync_dagster.lib.tables import api_requests
from orgsync_dagster_tests.calls.conftest import add_candidates
from orgsync_dagster_tests.scripted_server import ScriptedServer

DAY, NEXT_DAY = "2026-03-05", "2026-03-06"
SYNC_ASSETS = [van_reference_data_asset, call_sync_status, every_call_final, calls_daily_report]


def meta(result, node):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else None


def run(env, instance, slug, day, **kw):
    return dg.materialize(
        SYNC_ASSETS, partition_key=partition_key(slug, day), resources=env["resources"], instance=instance, **kw
    )


def sample(env, slug, day, n, seed_no=3):
    c = env["config"].load_settings().candidate(slug)
    env["store"].insert_many(list(seed.sample_calls(c.district, day, c.timezone, n, seed=seed_no)))


def test_a_large_day_goes_as_one_bulk_import_job_with_report_to_the_candidates_channel(calls_env, sandbox, monkeypatch):
    env = calls_env
    sample(env, "mo01", DAY, 60)
    with ScriptedServer() as hooks, dg.instance_for_test() as instance:
        monkeypatch.setenv("SLACK_WEBHOOK_MO01", hooks.url + "slack/T1/B1/secret-token")
        monkeypatch.setenv("CALLS_SUCCESS_WEBHOOK_MO01", hooks.url + "hooks/success/secret-token")
        add_candidates(instance)
        dry = run(
            env, instance, "mo01", DAY, run_config={"ops": {"calls__call_sync_status": {"config": {"dry_run": True}}}}
        )
        # a dry run is not a materialization: the plan is an observation; the report and the final check do not run
        assert dry.success and meta(dry, "calls__call_sync_status") is None and meta(dry, "calls__daily_report") is None
        (obs,) = [
            e for e in dry.get_asset_observation_events() if e.asset_key == dg.AssetKey(["calls", "call_sync_status"])
        ]
        plan = {k: v.value for k, v in obs.asset_observation_data.asset_observation.metadata.items()}
        planned_bulk = plan["planned_calls_by_route"]["van (bulk import)"]
        assert planned_bulk > 20 and plan["planned_van_requests"] == 3 and plan["planned_van_cost_usd"] == 0.0
        assert [e.check_name for e in dry.get_asset_check_evaluations()] == ["candidate_config_valid"]
        assert all(d.get("sync_status") is None for d in env["store"].stream({})) and not hooks.seen

        result = run(env, instance, "mo01", DAY)
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks == {"candidate_config_valid": True, "every_call_final": True}
        sync = meta(result, "calls__call_sync_status")
        assert sync["planned_calls_by_route"]["van (bulk import)"] == planned_bulk
        bulk = sync["van_bulk_import"]
        assert bulk["bulk_import_calls"] == {"finished": planned_bulk} and len(bulk["bulk_import_jobs"]) == 1
        rows = [r for r in sandbox.van.dump(env["key"])["canvass_responses"] if r["source"] == "bulk_import"]
        assert len(rows) == planned_bulk and sync["calls_finished"] + sync["calls_ignored"] == 60
        assert sync["van_requests_spent_this_run"] <= 5  # one POST, polls, the results file (not one per call)
        with env["engine"].connect() as conn:
            batch = conn.execute(sa.select(bulk_import_batches)).one()
            report = conn.execute(sa.select(daily_reports.c.contents)).scalar_one()
            requests_ = dict(
                conn.execute(
                    sa.select(api_requests.c.method, sa.func.sum(api_requests.c.count)).group_by(api_requests.c.method)
                ).all()
            )
        assert batch.state == "completed" and batch.outcome["finished"] == planned_bulk
        assert (
            requests_["POST"] == 1 and requests_["GET"] <= 10 + 4
        )  # 5 reference GETs per run (dry + real), polls, results
        # the report went to the candidate's own webhook; counts and s3:// locations only
        slack_msg, success = (json.loads(s["body"]) for s in hooks.seen)
        assert hooks.seen[0]["path"].endswith("/slack/T1/B1/secret-token") and slack_msg["channel"] == "#mo01-field"
        assert slack_msg["text"] == report and "Dialer results for MO-01" in report and "60 calls" in report
        assert f"VAN bulk import job {batch.job_id}: {planned_bulk} calls, {planned_bulk} applied" in report
        assert f"s3://{env['bucket']}/calls/csv/mo01/{DAY}/" in report and "Agent roster (7 callers)" in report
        assert "X-Amz" not in report and "Signature" not in report and "https://" not in report
        for doc in env["store"].stream({}):
            assert doc["first_name"] not in report and doc["phone_dialed"] not in report
        assert success["event"] == "calls_sync_succeeded" and success["candidate"] == "mo01" and success["day"] == DAY
        rep = meta(result, "calls__daily_report")
        assert rep["report_sent_to"] == "SLACK_WEBHOOK_MO01 (#mo01-field)" and rep["report_posted"] is True
        assert "secret-token" not in json.dumps(rep) and "secret-token" not in json.dumps(sync)

        again = run(env, instance, "mo01", DAY)  # a re-run spends nothing on VAN and posts nothing twice
        assert meta(again, "calls__call_sync_status")["van_requests_spent_this_run"] == 0
        assert (
            len([r for r in sandbox.van.dump(env["key"])["canvass_responses"] if r["source"] == "bulk_import"])
            == planned_bulk
        )


def test_a_change_saved_in_the_store_is_used_by_the_next_run_without_a_restart(calls_env, sandbox):
    env = calls_env
    sample(env, "mo05", DAY, 40, seed_no=5)
    sample(env, "mo05", NEXT_DAY, 40, seed_no=6)
    with dg.instance_for_test() as instance:
        add_candidates(instance)
        first = meta(run(env, instance, "mo05", DAY), "calls__call_sync_status")
        assert (
            first["config_version"] == 1 and first["strategy"] == "hybrid" and first["van_requests_spent_this_run"] > 0
        )
        # a staff member switches mo05 to CSV only, in the web app's store (same process, same Dagster instance)
        doc = env["config"].get_candidate("mo05")
        version = env["config"].save_candidate(
            "mo05", {**doc.body, "strategy": "all_csv"}, by="staff@example.org", expected_version=doc.version
        )
        second = meta(run(env, instance, "mo05", NEXT_DAY), "calls__call_sync_status")
    assert version == 2 and second["config_version"] == 2 and second["strategy"] == "all_csv"
    assert second["van_requests_spent_this_run"] == 0 and second["planned_calls_by_route"].get("van", 0) == 0
    history = env["config"].history("mo05")
    assert [h.action for h in history] == ["create", "update"] and history[-1].changed_by == "staff@example.org"
    assert history[-1].changes == [{"field": "strategy", "old": "hybrid", "new": "all_csv"}]


def test_ids_van_lacks_block_the_sync_and_the_same_validation_refuses_the_save(calls_env, sandbox):
    env = calls_env
    store = env["config"]
    doc = store.get_candidate("mo01")
    results = {
        **doc.body["results"],
        "strong support": {**doc.body["results"]["strong support"], "responses": [[109149, 999]]},
    }
    # saved before any VAN reference data existed: only the shape can be checked, so it is accepted ...
    store.save_candidate("mo01", {**doc.body, "results": results}, by="staff", expected_version=doc.version)
    sample(env, "mo01", DAY, 5)
    with dg.instance_for_test() as instance:
        add_candidates(instance)
        result = run(env, instance, "mo01", DAY, raise_on_error=False)
    assert not result.success
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "999 is not a response of survey question 109149" in check.metadata["report"].value
    assert meta(result, "calls__call_sync_status") is None  # blocked: never ran
    assert sandbox.van.dump(env["key"])["canvass_responses"] == []
    # ... and now that the reference data is stored, the store refuses it with the field that is wrong
    current = store.get_candidate("mo01")
    errors = store.validate_candidate(current.body, "mo01")
    assert [e.field for e in errors] == ["results['strong support'].responses[0]"]
    with pytest.raises(
        ConfigInvalid, match=r"results\['strong support'\].responses\[0\]: result 'strong support': 999"
    ):
        store.save_candidate("mo01", current.body, by="staff", expected_version=current.version)


def test_full_strategy_over_budget_says_why_calls_wait_and_the_next_run_takes_them_first(calls_env, sandbox):
    env = calls_env
    store = env["config"]
    doc = store.get_candidate("mo01")
    body = {k: v for k, v in doc.body.items() if k != "bulk_import_threshold"}
    store.save_candidate("mo01", {**body, "daily_budget": 6}, by="staff", expected_version=doc.version)
    sample(env, "mo01", DAY, 30)
    sample(env, "mo01", NEXT_DAY, 4, seed_no=9)
    with dg.instance_for_test() as instance:
        add_candidates(instance)
        first = run(env, instance, "mo01", DAY)
        sync = meta(first, "calls__call_sync_status")
        assert sync["van_requests_spent_this_run"] == 6 and sync["calls_left_waiting_for_budget"] > 0
        waiting = sync["calls_of_this_day_waiting_for_budget"]
        assert "mo01's daily share of 6 VAN requests was used" in sync["waiting_reason"]
        checks = {e.check_name: e for e in first.get_asset_check_evaluations()}
        assert checks["every_call_final"].passed  # waiting for budget is expected, not a problem
        report = meta(first, "calls__daily_report")["report"]
        assert f"Waiting for VAN budget: {waiting} call(s)" in report and "the next run sends them first" in report
        # next day (a new day's budget share): earlier days' waiting calls go first, oldest first
        store.save_candidate("mo01", {**body, "daily_budget": 1000}, by="staff", expected_version=2)
        second = meta(run(env, instance, "mo01", NEXT_DAY), "calls__call_sync_status")
    assert second["calls_carried_over_from_earlier_days"] == waiting
    assert second["calls_waiting_for_budget_all_days"] == 0
    left = [d for d in env["store"].stream({"district": "mo01"}) if d.get("sync_status") in (None, "unsynced")]
    assert left == []
