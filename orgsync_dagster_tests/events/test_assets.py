"""The events sync through the real Dagster APIs, real PostgreSQL and the sandbox VAN over HTTP."""

import datetime as dt
import math

import dagster as dg
import sqlalchemy as sa

from orgsync_dagster.events.seed import seed_actionkit_events
from orgsync_dagster.events.tables import van_events
from orgsync_dagster.lib.meter import daily_report
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.sandbox.server import SandboxServer
from orgsync_dagster_tests.events.conftest import EventsRunner, failure_messages, make_resources


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


def meta(result, node):
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()}


def checks(result):
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def van_events_in_sandbox(server, key):
    return list(server.van.dump(key)["events"])


def test_sync_creates_each_event_once_with_the_fewest_requests(
    engine, pg_url, sandbox, dagster_instance, api_key, config_path
):
    rows = eligible_events(120)
    seed_actionkit_events(engine, rows)
    runner = EventsRunner(
        dagster_instance,
        make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key + "wi"}, config_path),
    )
    first = runner.tick("MI")
    assert first.success
    m = meta(first, "van__event_sync")
    assert m["planned_creates"] == 120 and m["creates_done"] == 120 and m["failed"] == 0
    assert m["requests_spent"] <= 120 + 7  # N creates + one findOrCreate per distinct location
    assert m["locations_created"] == 7
    events = van_events_in_sandbox(sandbox, api_key)
    assert sorted(int(e["shortName"]) for e in events) == [r["id"] for r in rows]
    created = next(e for e in events if e["shortName"] == str(rows[0]["id"]))
    assert [s["name"] for s in created["shifts"]] == ["Single Shift"]
    assert {r["name"] for r in created["roles"]} == {"Host", "Participant"}
    assert created["startDate"].endswith("-05:00")  # local time with offset
    assert "Event 0" in m["plan"]  # the plan names events beside their ids

    second = runner.tick("MI")
    export = meta(second, "van__events")
    assert export["rows"] == 120
    assert export["requests_spent"] == 1 + math.ceil(120 / 50)  # event types + ceil(E/50) list pages
    m2 = meta(second, "van__event_sync")
    assert m2["creates_done"] == 0 and m2["requests_spent"] == 0 and m2["unchanged"] == 120
    assert len(van_events_in_sandbox(sandbox, api_key)) == 120
    evaluations = checks(second)
    assert evaluations["one_van_event_per_actionkit_event"].passed and evaluations["all_eligible_events_synced"].passed
    assert evaluations["no_unresolved_ledger_entries"].passed
    # the meter saw every request
    spent = sum(r["requests"] for r in daily_report(engine) if r["instance"] == "MI")
    assert spent == m["requests_spent"] + meta(first, "van__events")["requests_spent"] + export["requests_spent"]


def test_changed_title_is_read_incrementally_and_updated_with_one_put(
    engine, pg_url, sandbox, dagster_instance, api_key, config_path
):
    rows = eligible_events(3)
    seed_actionkit_events(engine, rows)
    runner = EventsRunner(
        dagster_instance, make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key}, config_path)
    )
    assert runner.tick("MI").success
    rows[1]["title"] = "Renamed"
    seed_actionkit_events(engine, [rows[1]])  # updated_at = now: past the watermark
    ak = runner.read_actionkit()
    read = meta(ak, "actionkit__events")
    assert read["read_mode"] == "incremental" and read["changed_events"] == 1
    assert read["rows_read_from_actionkit"] <= 3  # the changed row and those within the overlap, not a full pass
    result = runner.sync_instance("MI")
    m = meta(result, "van__event_sync")
    assert m["planned_updates"] == 1 and m["updates_done"] == 1 and m["requests_spent"] == 1
    assert "title changed" in m["plan"] and "Renamed" in m["plan"]
    assert checks(result)["all_eligible_events_synced"].passed  # the mirror holds what was sent
    names = {e["shortName"]: e["name"] for e in van_events_in_sandbox(sandbox, api_key)}
    assert names[str(rows[1]["id"])] == "Renamed"


def test_dry_run_is_an_observation_with_plan_and_cost_and_sends_nothing(
    engine, pg_url, sandbox, dagster_instance, api_key, config_path
):
    seed_actionkit_events(engine, eligible_events(10))
    runner = EventsRunner(
        dagster_instance, make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key}, config_path)
    )
    result = runner.tick("MI", dry_run=True)
    assert result.success
    assert result.asset_materializations_for_node("van__event_sync") == []  # the asset stays as it was
    observations = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION" and e.step_key == "van__event_sync"
    ]
    assert len(observations) == 1
    m = {k: v.value for k, v in observations[0].metadata.items()}
    assert m["dry_run"] is True and m["planned_creates"] == 10 and m["planned_requests"] == 10 + 7
    assert "not in VAN" in m["plan"] and "Event 3" in m["plan"]
    assert "creates_done" not in m and "requests_spent" not in m
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert {"van__event_sync_all_eligible_events_synced", "van__event_sync_no_unresolved_ledger_entries"} <= skipped
    assert van_events_in_sandbox(sandbox, api_key) == []
    latest = dagster_instance.get_latest_materialization_event(dg.AssetKey(["van", "event_sync"]))
    assert latest is None


def test_missing_event_type_is_a_clear_failed_check_and_others_sync(
    engine, pg_url, dagster_instance, api_key, tmp_path
):
    config = tmp_path / "orgsync.yaml"
    config.write_text("van: {instances: [MI, WI]}\nevents:\n  event_type_campaigns: {Barnstorm: [1], Town Hall: [2]}\n")
    seed_actionkit_events(engine, eligible_events(6))
    with SandboxServer(with_s3=False) as srv:
        runner = EventsRunner(dagster_instance, make_resources(pg_url, srv.urls.van_url, {"MI": api_key}, config))
        result = runner.tick("MI")
        created = len(van_events_in_sandbox(srv, api_key))
    m = meta(result, "van__event_sync")
    assert created == 3 and m["creates_done"] == 3
    check = checks(result)["all_eligible_events_synced"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "'Town Hall' does not exist" in check.description
    assert "Barnstorm" in check.description  # lists what is available
    assert check.metadata["blocked_by_problems"].value == 3


def test_one_bad_state_does_not_stop_the_others(engine, pg_url, sandbox, dagster_instance, api_key, config_path):
    seed_actionkit_events(engine, eligible_events(4, "MI") + eligible_events(4, "WI", start_id=6000))
    wi_key = api_key + "-wi"
    sandbox.van.revoke_key(wi_key)
    runner = EventsRunner(
        dagster_instance, make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": wi_key}, config_path)
    )
    wi = runner.tick("WI")
    assert not wi.success
    message = failure_messages(wi)[0]
    assert "401" in message and wi_key not in message
    mi = runner.sync_instance("MI")
    assert mi.success and meta(mi, "van__event_sync")["creates_done"] == 4


def test_with_injected_faults_every_event_exists_exactly_once(engine, pg_url, dagster_instance, api_key, config_path):
    rows = eligible_events(60)
    seed_actionkit_events(engine, rows)
    with SandboxServer(fault_rate=0.2, seed=11, with_s3=False) as srv:
        res = make_resources(pg_url, srv.urls.van_url, {"MI": api_key}, config_path, max_retries=8)
        runner = EventsRunner(dagster_instance, res)
        assert runner.read_actionkit().success
        for _ in range(3):  # a run may fail on an exhausted retry; the next one completes the job
            result = runner.sync_instance("MI")
            if result.success and meta(result, "van__event_sync")["failed"] == 0:
                break
        shorts = [e["shortName"] for e in van_events_in_sandbox(srv, api_key)]
        faults = srv.stats
    assert sorted(map(int, shorts)) == [r["id"] for r in rows]  # each exactly once
    assert faults["fault_500"] + faults["fault_drop"] > 0  # answers really were lost after processing
    with engine.connect() as conn:
        mirrored = conn.execute(sa.select(sa.func.count()).select_from(van_events)).scalar_one()
    assert mirrored == 60


def test_daily_budget_stops_sending_and_says_so(engine, pg_url, sandbox, dagster_instance, api_key, config_path):
    seed_actionkit_events(engine, eligible_events(10))
    res = make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key}, config_path)
    res["van"] = VanResource(
        api_keys=f'{{"MI": "{api_key}"}}',
        base_url=sandbox.urls.van_url,
        requests_per_second=500,
        daily_request_budget=6,
    )
    result = EventsRunner(dagster_instance, res).tick("MI")
    m = meta(result, "van__event_sync")
    # export spent 2 (types + one page); 4 left: (location + create) x 2 — each event has its own venue —
    # then the budget stops the push before a 7th request
    assert len(van_events_in_sandbox(sandbox, api_key)) == m["creates_done"] == 2
    assert m["not_sent_daily_budget"] == 8
    assert sum(r["requests"] for r in daily_report(engine) if r["instance"] == "MI") == 6
    check = checks(result)["all_eligible_events_synced"]
    assert not check.passed and check.metadata["not_created"].value == 8


def test_event_cancelled_in_actionkit_is_cancelled_in_van_with_one_patch(
    engine, pg_url, sandbox, dagster_instance, api_key, config_path
):
    rows = eligible_events(3)
    seed_actionkit_events(engine, rows)
    runner = EventsRunner(
        dagster_instance, make_resources(pg_url, sandbox.urls.van_url, {"MI": api_key, "WI": api_key}, config_path)
    )
    assert runner.tick("MI").success
    rows[0]["status"] = "cancelled"
    seed_actionkit_events(engine, [rows[0]])
    result = runner.tick("MI")
    m = meta(result, "van__event_sync")
    assert m["planned_cancels"] == 1 and m["cancels_done"] == 1 and m["requests_spent"] == 1
    assert m["eligible_events"] == 2
    by_short = {e["shortName"]: e for e in van_events_in_sandbox(sandbox, api_key)}
    assert by_short[str(rows[0]["id"])]["isActive"] is False and by_short[str(rows[1]["id"])]["isActive"] is True
    again = meta(runner.tick("MI"), "van__event_sync")
    assert again["planned_cancels"] == 0 and again["requests_spent"] == 0
