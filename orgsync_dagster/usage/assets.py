"""The daily API usage and cost report, read from the request meter (orgsync.api_requests)."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa

from orgsync_dagster.lib.meter import PRICING, cost_usd
from orgsync_dagster.lib.runtime import markdown_table
from orgsync_dagster.lib.tables import api_requests
from orgsync_dagster.resources.warehouse import WarehouseResource

usage_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=1)


def usage_rows(engine, day: dt.date) -> list[dict]:
    """Requests of one UTC day per API, instance and endpoint, with errors and throttling counted apart."""
    c = api_requests.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                c.system,
                c.instance,
                c.method,
                c.endpoint,
                sa.func.sum(c.count).label("requests"),
                sa.func.sum(sa.case((c.status == 429, c.count), else_=0)).label("throttled"),
                sa.func.sum(sa.case(((c.status >= 400) | (c.status == 0), c.count), else_=0)).label("errors"),
            )
            .where(c.day == day)
            .group_by(c.system, c.instance, c.method, c.endpoint)
            .order_by(c.system, c.instance, sa.desc("requests"))
        ).all()
    return [dict(r._mapping) for r in rows]


def summarize(rows: list[dict]) -> list[dict]:
    """Per API and instance: requests, writes, throttled, errors, and the cost at that API's price."""
    per: dict[tuple[str, str], dict] = {}
    for r in rows:
        s = per.setdefault(
            (r["system"], r["instance"]),
            {"system": r["system"], "instance": r["instance"], "requests": 0, "writes": 0, "throttled": 0, "errors": 0},
        )
        s["requests"] += int(r["requests"])
        s["writes"] += int(r["requests"]) if r["method"] != "GET" else 0
        s["throttled"] += int(r["throttled"])
        s["errors"] += int(r["errors"])
    for s in per.values():
        s["cost_usd"] = round(cost_usd(s["system"], s["requests"]), 2)
    return sorted(per.values(), key=lambda s: (s["system"], s["instance"]))


@dg.asset(
    key=["orgsync", "api_usage"],
    partitions_def=usage_days,
    group_name="platform",
    kinds={"postgres"},
    automation_condition=dg.AutomationCondition.on_cron("55 * * * *"),
)
def api_usage(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """What every API cost on one day: requests per VAN instance and Action Network, writes, 429s and errors,
    and the bill at VAN's per-request price, from the meter that records every request sent."""
    day = dt.date.fromisoformat(context.partition_key)
    rows = usage_rows(warehouse.get_engine(), day)
    summary = summarize(rows)
    van = [s for s in summary if s["system"] == "van"]
    free = PRICING["van"]["free_per_day"]
    return dg.MaterializeResult(
        metadata={
            "day": day.isoformat(),
            "requests": sum(s["requests"] for s in summary),
            "van_requests": sum(s["requests"] for s in van),
            "van_cost_usd": dg.MetadataValue.float(round(sum(s["cost_usd"] for s in van), 2)),
            "van_instances_over_free_allowance": sum(1 for s in van if s["requests"] > free),
            "throttled_429": sum(s["throttled"] for s in summary),
            "errors": sum(s["errors"] for s in summary),
            "by_instance": dg.MetadataValue.md(
                markdown_table(
                    summary, ["system", "instance", "requests", "writes", "throttled", "errors", "cost_usd"], limit=100
                )
            ),
            "by_endpoint": dg.MetadataValue.md(
                markdown_table(
                    rows, ["system", "instance", "method", "endpoint", "requests", "throttled", "errors"], limit=60
                )
            ),
        }
    )
