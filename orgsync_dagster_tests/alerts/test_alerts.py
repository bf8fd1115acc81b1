"""Alerts reach Slack routed per domain, with names and counts only: failed runs, failed ERROR checks, stale assets."""

import json

import dagster as dg
import pytest

from orgsync_dagster.alerts import messages
from orgsync_dagster.alerts.freshness import POLICIES, describe_policy
from orgsync_dagster.alerts.routing import asset_domains, domain_for
from orgsync_dagster.alerts.sensors import build_alert_sensors
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster_tests.scripted_server import ScriptedServer

PII = "Jane Roe <jane.roe@example.org> +1 (314) 555-0199 https://bucket.s3.amazonaws.com/x.csv?X-Amz-Signature=abc"


@pytest.fixture
def slack_hooks():
    with ScriptedServer() as srv:
        base = srv.url.replace("/v4/", "/hooks/")
        resource = SlackResource(
            webhook_url=base + "default", membership_webhook_url=base + "membership", events_webhook_url=""
        )
        yield srv, resource


def _posts(srv) -> list[tuple[str, str]]:
    return [(s["path"].rsplit("/", 1)[-1], json.loads(s["body"])["text"]) for s in srv.seen]


def test_scrub_removes_personal_data_and_bearer_links_but_keeps_s3_locations():
    text = messages.scrub(PII + " see s3://org-bucket/calls/2026-03-05.csv")
    assert "jane.roe" not in text and "555" not in text and "X-Amz-Signature" not in text
    assert "<e-mail>" in text and "<number>" in text and "<link removed>" in text
    assert "s3://org-bucket/calls/2026-03-05.csv" in text
    assert len(messages.scrub("x" * 1000)) == messages.MAX_DETAIL


def test_routing_uses_the_run_tag_then_the_assets_job_then_platform():
    import orgsync_dagster.definitions as d

    domains = asset_domains(d.defs)
    assert domains["van/event_sync"] == "events" and domains["calls/call_sync_status"] == "calls"
    assert domains["action_network/membership_sync"] == "membership" and domains["shifts/nightly_backup"] == "shifts"
    assert domain_for({"orgsync/domain": "calls"}, ["van/event_sync"], domains) == "calls"
    assert domain_for({}, ["van/event_sync"], domains) == "events"
    assert domain_for(None, ["orgsync/api_usage"], domains) == "platform"
    assert set(POLICIES) <= {k.to_user_string() for k in d.defs.resolve_asset_graph().get_all_asset_keys()}
    node = d.defs.resolve_asset_graph().get(dg.AssetKey(["van", "event_sync"]))
    assert node.freshness_policy is not None
    assert "hourly events sync" in describe_policy("van/event_sync")


def test_slack_resource_routes_per_domain_with_a_default(slack_hooks):
    srv, slack = slack_hooks
    assert slack.post("a", domain="membership") and slack.post("b", domain="events") and slack.post("c")
    assert [p for p, _ in _posts(srv)] == ["membership", "default", "default"]
    assert not SlackResource().post("nowhere")  # not configured: logged only


@dg.asset(key=["membership", "guarded"])
def guarded():
    raise RuntimeError(f"export broke for {PII}")


failing_job = dg.define_asset_job("guarded_job", selection=[guarded], tags={"orgsync/domain": "membership"})


def test_a_failed_run_reaches_its_domains_channel_without_personal_data(dagster_instance, slack_hooks):
    srv, slack = slack_hooks
    defs = dg.Definitions(assets=[guarded], jobs=[failing_job])
    result = defs.resolve_job_def("guarded_job").execute_in_process(instance=dagster_instance, raise_on_error=False)
    assert not result.success
    run_failure_alert = build_alert_sensors({})[0]
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    ctx = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert.name,
        dagster_instance=dagster_instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"slack": slack},
    ).for_run_failure()
    run_failure_alert(ctx)
    ((channel, text),) = _posts(srv)
    assert channel == "membership"
    assert "[membership]" in text and "guarded_job" in text and "1 step(s) failed" in text and "RuntimeError" in text
    assert "jane.roe" not in text and "555" not in text and "X-Amz-Signature" not in text


@dg.asset(key=["van", "synced"])
def synced():
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset_check(asset=synced, description="Every eligible row synced.")
def all_rows_synced():
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"unsynced: {PII}",
        metadata={"unsynced_rows": 2, "first_unsynced": PII, "share": 0.4},
    )


@dg.asset_check(asset=synced, description="A warning only.")
def soft_warning():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, metadata={"odd_rows": 1})


def test_failed_error_checks_and_stale_assets_reach_slack_with_counts_only(dagster_instance, slack_hooks):
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    srv, slack = slack_hooks
    sensor = build_alert_sensors({"van/synced": "events"})[1]
    with dg.build_sensor_context(instance=dagster_instance, resources={"slack": slack}) as ctx:
        assert "watching" in str(sensor(ctx))  # the first tick starts from now: no replay of history
        cursor = ctx.cursor
    dg.materialize([synced, all_rows_synced, soft_warning], instance=dagster_instance, raise_on_error=False)
    dagster_instance._report_runless_asset_event(
        FreshnessStateChange(
            key=dg.AssetKey(["van", "event_sync"]),
            previous_state=FreshnessState.PASS,
            new_state=FreshnessState.FAIL,
            state_change_timestamp=0.0,
        )
    )
    with dg.build_sensor_context(instance=dagster_instance, resources={"slack": slack}, cursor=cursor) as ctx:
        assert "2 alert(s) sent" in str(sensor(ctx))
        cursor = ctx.cursor
    posts = _posts(srv)
    assert len(posts) == 2  # the WARN-severity check is not an alert
    (check_channel, check_text), (fresh_channel, fresh_text) = posts
    assert check_channel == "default"  # events has no webhook of its own here: the default one
    assert "[events] check `all_rows_synced` on `van/synced` failed (ERROR)" in check_text
    assert "unsynced_rows 2" in check_text and "jane" not in check_text.lower() and "share" not in check_text
    assert "`van/event_sync` is fail" in fresh_text and "hourly events sync" in fresh_text
    with dg.build_sensor_context(instance=dagster_instance, resources={"slack": slack}, cursor=cursor) as ctx:
        assert "no failed ERROR check" in str(sensor(ctx))
    assert len(srv.seen) == 2
