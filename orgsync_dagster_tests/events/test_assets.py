"""The events sync through the real Dagster APIs, real PostgreSQL and the sandbox VAN over HTTP."""

import datetime as dt
import json
import math

import dagster as dg
import sqlalchemy as sa

from orgsync_dagster.events.assets import actionkit_events, ak_events_source, van_event_sync, van_events_mirror
from orgsync_dagster.events.seed import seed_actionkit_events
from orgsync_dagster.events.tables import van_events
from orgsync_dagster.lib.meter import daily_report
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.sandbox.server import SandboxServer

ASSETS = [ak_events_source, actionkit_events, van_events_mirror, van_event_sync]


def eligible_events(n, state="MI", start_id=5000):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return [
        {
            "id": start_id + i,
            "campaign_id": 1 + i % 2,
            "title": f"Event {i}",
            "venue": f"Hall {i % 7}",
            "address1": f"{100 + i % 7} Main St",
            "city": "Detroit",
            "state": state,
            "zip": "48201",
            "country": "US",
            "starts_at_utc": now + dt.timedelta(days=2 + i % 20),
            "ends_at_utc": None,
            "timezone": "America/Detroit",
            "status": "active",
            "host_is_confirmed": 1,
        }
        for i in range(n)
    ]


def resources(pg_url, van_url, keys, rps=500.0):
    return {
        "warehouse": WarehouseResource(url=pg_url),
        "van": VanResource(api_keys=json.dumps(keys), base_url=van_url, requests_per_second=rps),
    }


def sync(instance, res, partition, dry_run=False):
    return dg.materialize(
        ASSETS,
        partition_key=partition,
        resources=res,
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"van__event_sync": {"config": {"dry_run": dry_run}}}},
    )


def meta(result, node):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()}


def van_events_in_sandbox(server, key):
    return [e for e in server.van.dump(key)["events"]]


def test_sync_creates_each_event_once_with_the_fewest_requests(engine, pg_url, sandbox, dagster_instance, api_key):
    rows = eligible_events(120)
    seed_actionkit_events(engine, rows)
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key + "wi"})
    first = sync(dagster_instance, res, "MI")
    assert first.success
    m = meta(first, "van__event_sync")
    assert m["created"] == 120 and m["failed"] == 0
    assert m["requests_spent"] <= 120 + 7  # N creates + one findOrCreate per distinct location
    assert m["locations_created"] == 7
    events = van_events_in_sandbox(sandbox, api_key)
    assert sorted(int(e["shortName"]) for e in events) == [r["id"] for r in rows]
    created = next(e for e in events if e["shortName"] == str(rows[0]["id"]))
    assert [s["name"] for s in created["shifts"]] == ["Single Shift"]
    assert {r["name"] for r in created["roles"]} == {"Host", "Participant"}
    assert created["startDate"].endswith("-05:00")  # local time with offset

    second = sync(dagster_instance, res, "MI")
    export = meta(second, "van__events")
    assert export["rows"] == 120
    assert export["requests_spent"] == 1 + math.ceil(120 / 50)  # event types + ceil(E/50) list pages
    m2 = meta(second, "van__event_sync")
    assert m2["created"] == 0 and m2["requests_spent"] == 0 and m2["unchanged"] == 120
    assert len(van_events_in_sandbox(sandbox, api_key)) == 120
    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks["one_van_event_per_actionkit_event"] and checks["all_eligible_events_synced"]
    # the meter saw every request
    spent = sum(r["requests"] for r in daily_report(engine) if r["instance"] == "MI")
    assert spent == m["requests_spent"] + meta(first, "van__events")["requests_spent"] + export["requests_spent"]


def test_changed_title_is_updated_with_one_put(engine, pg_url, sandbox, dagster_instance, api_key):
    rows = eligible_events(3)
    seed_actionkit_events(engine, rows)
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key})
    assert sync(dagster_instance, res, "MI").success
    rows[1]["title"] = "Renamed"
    seed_actionkit_events(engine, rows)
    result = sync(dagster_instance, res, "MI")
    m = meta(result, "van__event_sync")
    assert m["updates"] == 1 and m["updated"] == 1 and m["requests_spent"] == 1 and "title changed" in m["plan"]
    names = {e["shortName"]: e["name"] for e in van_events_in_sandbox(sandbox, api_key)}
    assert names[str(rows[1]["id"])] == "Renamed"


def test_dry_run_shows_plan_and_cost_and_sends_nothing(engine, pg_url, sandbox, dagster_instance, api_key):
    seed_actionkit_events(engine, eligible_events(10))
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key})
    result = sync(dagster_instance, res, "MI", dry_run=True)
    m = meta(result, "van__event_sync")
    assert m["creates"] == 10 and m["planned_requests"] == 10 + 7 and m["requests_spent"] == 0
    assert "not in VAN" in m["plan"]
    assert van_events_in_sandbox(sandbox, api_key) == []


def test_missing_event_type_is_a_clear_failed_check_and_others_sync(
    engine, pg_url, dagster_instance, api_key, monkeypatch, tmp_path
):
    config = tmp_path / "orgsync.yaml"
    config.write_text("van: {instances: [MI, WI]}\nevents:\n  event_type_campaigns: {Barnstorm: [1], Town Hall: [2]}\n")
    monkeypatch.setenv("ORGSYNC_CONFIG", str(config))
    seed_actionkit_events(engine, eligible_events(6))
    with SandboxServer(with_s3=False) as srv:
        res = resources(pg_url, srv.urls.van_url, {"MI": api_key, "WI": api_key})
        result = sync(dagster_instance, res, "MI")
        created = len(van_events_in_sandbox(srv, api_key))
    m = meta(result, "van__event_sync")
    assert created == 3 and m["created"] == 3
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "all_eligible_events_synced")
    assert not check.passed and "'Town Hall' does not exist" in check.description
    assert "Barnstorm" in check.description  # lists what is available


def test_one_bad_state_does_not_stop_the_others(engine, pg_url, sandbox, dagster_instance, api_key):
    seed_actionkit_events(engine, eligible_events(4, "MI") + eligible_events(4, "WI", start_id=6000))
    wi_key = api_key + "-wi"
    sandbox.van.revoke_key(wi_key)
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": wi_key})
    wi = sync(dagster_instance, res, "WI")
    assert not wi.success
    failure = next(e for e in wi.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.event_specific_data.error.message
    assert "401" in message and wi_key not in message
    mi = sync(dagster_instance, res, "MI")
    assert mi.success and meta(mi, "van__event_sync")["created"] == 4


def test_with_injected_faults_every_event_exists_exactly_once(engine, pg_url, dagster_instance, api_key):
    rows = eligible_events(60)
    seed_actionkit_events(engine, rows)
    with SandboxServer(fault_rate=0.2, seed=11, with_s3=False) as srv:
        res = resources(pg_url, srv.urls.van_url, {"MI": api_key, "WI": api_key})
        res["van"] = VanResource(
            api_keys=json.dumps({"MI": api_key}), base_url=srv.urls.van_url, requests_per_second=500, max_retries=8
        )
        for _ in range(3):  # a run may fail on an exhausted retry; the next one completes the job
            result = sync(dagster_instance, res, "MI")
            if result.success and meta(result, "van__event_sync")["failed"] == 0:
                break
        shorts = [e["shortName"] for e in van_events_in_sandbox(srv, api_key)]
        faults = srv.stats
    assert sorted(map(int, shorts)) == [r["id"] for r in rows]  # each exactly once
    assert faults["fault_500"] + faults["fault_drop"] > 0  # answers really were lost after processing
    with engine.connect() as conn:
        mirrored = conn.execute(sa.select(sa.func.count()).select_from(van_events)).scalar_one()
    assert mirrored == 60


def test_daily_budget_stops_sending_and_says_so(engine, pg_url, sandbox, dagster_instance, api_key):
    seed_actionkit_events(engine, eligible_events(10))
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key})
    res["van"] = VanResource(
        api_keys=json.dumps({"MI": api_key}),
        base_url=sandbox.urls.van_url,
        requests_per_second=500,
        daily_request_budget=6,
    )
    result = sync(dagster_instance, res, "MI")
    m = meta(result, "van__event_sync")
    # export spent 2 (types + one page); 4 left: (location + create) x 2 — each event has its own venue —
    # then the budget stops the push before a 7th request
    assert len(van_events_in_sandbox(sandbox, api_key)) == m["created"] == 2
    assert sum(r["requests"] for r in daily_report(engine) if r["instance"] == "MI") == 6
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "all_eligible_events_synced")
    assert not check.passed


def test_event_cancelled_in_actionkit_is_cancelled_in_van_with_one_patch(
    engine, pg_url, sandbox, dagster_instance, api_key
):
    rows = eligible_events(3)
    seed_actionkit_events(engine, rows)
    res = resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key})
    assert sync(dagster_instance, res, "MI").success
    rows[0]["status"] = "cancelled"
    seed_actionkit_events(engine, rows)
    result = sync(dagster_instance, res, "MI")
    m = meta(result, "van__event_sync")
    assert m["cancels"] == 1 and m["cancelled"] == 1 and m["requests_spent"] == 1 and m["eligible"] == 2
    by_short = {e["shortName"]: e for e in van_events_in_sandbox(sandbox, api_key)}
    assert by_short[str(rows[0]["id"])]["isActive"] is False and by_short[str(rows[1]["id"])]["isActive"] is True
    again = meta(sync(dagster_instance, res, "MI"), "van__event_sync")
    assert again["cancels"] == 0 and again["requests_spent"] == 0
