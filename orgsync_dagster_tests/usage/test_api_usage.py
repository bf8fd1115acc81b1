import datetime as dt

import dagster as dg

from orgsync_dagster.lib.meter import WarehouseMeter
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.usage.assets import api_usage, summarize, usage_rows

DAY = dt.date(2026, 11, 20)


def test_usage_report_counts_writes_errors_and_van_cost(engine, pg_url):
    meter = WarehouseMeter(engine, today=lambda: DAY)
    for _ in range(1100):
        meter.record("van", "MI", "POST", "/v4/events", 201)
    for status in (200, 200, 429, 500):
        meter.record("van", "WI", "GET", "/v4/events", status)
    meter.record("action_network", "default", "POST", "/api/v2/people/", 200)
    meter.flush()
    other_day = WarehouseMeter(engine, today=lambda: DAY - dt.timedelta(days=1))
    other_day.record("van", "MI", "GET", "/v4/events", 200)
    other_day.flush()

    summary = {(s["system"], s["instance"]): s for s in summarize(usage_rows(engine, DAY))}
    assert summary[("van", "MI")] == {
        "system": "van",
        "instance": "MI",
        "requests": 1100,
        "writes": 1100,
        "throttled": 0,
        "errors": 0,
        "cost_usd": 1.0,
    }  # 100 over the free 1,000
    assert summary[("van", "WI")]["throttled"] == 1 and summary[("van", "WI")]["errors"] == 2
    assert summary[("action_network", "default")]["cost_usd"] == 0

    result = dg.materialize(
        [api_usage], partition_key=DAY.isoformat(), resources={"warehouse": WarehouseResource(url=pg_url)}
    )
    meta = result.asset_materializations_for_node("orgsync__api_usage")[0].metadata
    assert meta["van_requests"].value == 1104 and meta["van_cost_usd"].value == 1.0
    assert meta["van_instances_over_free_allowance"].value == 1 and meta["throttled_429"].value == 1
    assert "/v4/events" in meta["by_endpoint"].value
