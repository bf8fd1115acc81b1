"""Dagster assets of the ActionKit -> NGP VAN events sync."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from orgsync_dagster.events import logic
from orgsync_dagster.events.tables import ak_events_event, ak_events_validated, van_event_types, van_events
from orgsync_dagster.events.target import LOCATIONS_SYNC, VanEventsTarget, upsert_mirror
from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.runtime import api_failures, ledger_factory, markdown_table, metered
from orgsync_dagster.lib.sync import SyncEngine
from orgsync_dagster.partitions import API_RETRY, van_instance_partitions
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

ak_events_source = dg.AssetSpec(
    ["actionkit", "events_event"],
    description="The live copy of ActionKit's events table, replicated into the warehouse by the ActionKit mirror.",
    group_name="actionkit",
    kinds={"actionkit", "postgres"},
)


def settings() -> logic.EventsSettings:
    return logic.EventsSettings.from_config(cfg.section("events"), cfg.van_instances())


@dg.asset(
    key=["actionkit", "events"],
    deps=[ak_events_source],
    group_name="actionkit",
    kinds={"actionkit", "postgres"},
    check_specs=[dg.AssetCheckSpec("no_quarantined_events", asset=["actionkit", "events"])],
)
def actionkit_events(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """ActionKit events checked and sorted: eligible for VAN (confirmed host, active, future, mapped campaign),
    not eligible with the reason, or quarantined as unusable."""
    s = settings()
    engine = warehouse.get_engine()
    now = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(ak_events_event).order_by(ak_events_event.c.id))]
    validated = [logic.validate_event(r, s, now).as_row() for r in rows]
    with engine.begin() as conn:
        conn.execute(ak_events_validated.delete())
        for i in range(0, len(validated), 1000):
            conn.execute(ak_events_validated.insert(), validated[i : i + 1000])
    eligible = [v for v in validated if v["eligible"]]
    quarantined = [v for v in validated if v["quarantined"]]
    per_instance: dict[str, int] = {}
    for v in eligible:
        per_instance[v["instance"]] = per_instance.get(v["instance"], 0) + 1
    reasons: dict[str, int] = {}
    for v in validated:
        if not v["eligible"] and not v["quarantined"]:
            for reason in (v["reason"] or "").split("; "):
                key = reason.split(" for state ")[0]
                reasons[key] = reasons.get(key, 0) + 1
    context.log.info(f"{len(rows)} ActionKit events: {len(eligible)} eligible, {len(quarantined)} quarantined")
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "rows": len(rows),
            "eligible": len(eligible),
            "not_eligible": len(rows) - len(eligible) - len(quarantined),
            "quarantined": len(quarantined),
            "eligible_by_instance": dg.MetadataValue.json(per_instance),
            "not_eligible_reasons": dg.MetadataValue.json(reasons),
            "quarantine": dg.MetadataValue.md(markdown_table(quarantined, ["ak_event_id", "reason"])),
        }
    )
    yield dg.AssetCheckResult(
        check_name="no_quarantined_events",
        passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined": len(quarantined),
            "ids": dg.MetadataValue.json([q["ak_event_id"] for q in quarantined[:50]]),
        },
    )


@dg.asset(
    key=["van", "events"],
    partitions_def=van_instance_partitions,
    group_name="van",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[dg.AssetCheckSpec("one_van_event_per_actionkit_event", asset=["van", "events"])],
)
def van_events_mirror(context: dg.AssetExecutionContext, warehouse: WarehouseResource, van: VanResource):
    """The VAN events of the synced event types in one VAN instance, mirrored into ngpvan.events with one
    list request per 50 events."""
    instance = context.partition_key
    s = settings()
    engine = warehouse.get_engine()
    with metered(engine) as meter, api_failures(f"VAN export for {instance}"):
        client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
        types = client.event_types()
        with engine.begin() as conn:
            conn.execute(van_event_types.delete().where(van_event_types.c.instance == instance))
            if types:
                conn.execute(
                    van_event_types.insert(),
                    [
                        {"instance": instance, "event_type_id": t["eventTypeId"], "name": t["name"], "raw": t}
                        for t in types
                    ],
                )
        wanted = {n.lower() for n in s.event_type_campaigns}
        type_ids = [t["eventTypeId"] for t in types if t["name"].lower() in wanted]
        items = []
        if type_ids:
            since = (dt.date.today() - dt.timedelta(days=s.export_lookback_days)).isoformat()
            items = list(client.list_events(event_type_ids=type_ids, starting_after=since))
        upsert_mirror(engine, [logic.mirror_row(instance, i) for i in items])
        requests_spent = client.requests_sent
    with engine.connect() as conn:
        dupes = conn.execute(
            sa.select(van_events.c.ak_event_id, sa.func.count())
            .where(van_events.c.instance == instance, van_events.c.ak_event_id.is_not(None))
            .group_by(van_events.c.ak_event_id)
            .having(sa.func.count() > 1)
        ).all()
    missing = sorted(wanted - {t["name"].lower() for t in types})
    yield dg.MaterializeResult(
        metadata={
            "instance": instance,
            "dagster/row_count": len(items),
            "rows": len(items),
            "requests_spent": requests_spent,
            "event_types_missing_in_van": dg.MetadataValue.json(missing),
        }
    )
    yield dg.AssetCheckResult(
        check_name="one_van_event_per_actionkit_event",
        passed=not dupes,
        metadata={"duplicated_ak_event_ids": dg.MetadataValue.json([int(d[0]) for d in dupes[:50]])},
    )


class EventSyncConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Plan only: show what would be sent and its request cost.")


@dg.asset(
    key=["van", "event_sync"],
    deps=[actionkit_events, van_events_mirror],
    partitions_def=van_instance_partitions,
    group_name="van",
    kinds={"ngpvan", "actionkit"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[dg.AssetCheckSpec("all_eligible_events_synced", asset=["van", "event_sync"])],
)
def van_event_sync(
    context: dg.AssetExecutionContext, config: EventSyncConfig, warehouse: WarehouseResource, van: VanResource
):
    """Eligible ActionKit events created in their state's VAN instance exactly once (shortName = ActionKit id),
    and changed ones updated, each push recorded in the sync ledger."""
    instance = context.partition_key
    s = settings()
    engine = warehouse.get_engine()
    with engine.connect() as conn:
        validated = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(ak_events_validated).where(
                    ak_events_validated.c.instance == instance,
                    ak_events_validated.c.eligible.is_(True) | ak_events_validated.c.cancelled.is_(True),
                )
            )
        ]
        mirror = {
            r.ak_event_id: dict(r._mapping)
            for r in conn.execute(
                sa.select(van_events).where(van_events.c.instance == instance, van_events.c.ak_event_id.is_not(None))
            )
        }
        types = [
            r.raw for r in conn.execute(sa.select(van_event_types.c.raw).where(van_event_types.c.instance == instance))
        ]
    run_id = context.run.run_id
    location_ledger = Ledger(engine, LOCATIONS_SYNC, instance, run_id)
    with metered(engine) as meter, api_failures(f"VAN event sync for {instance}"):
        client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
        target = VanEventsTarget(client, engine, location_ledger, s.shift_name)
        plan = logic.plan_instance(validated, mirror, types, s, set(target.location_ids))
        engine_ = SyncEngine(ledger_factory(engine, run_id), logger=context.log)
        report = engine_.run(target, plan.ops, dry_run=config.dry_run)
        requests_spent = client.requests_sent
    for problem in plan.problems:
        context.log.error(f"{instance}: {problem}")
    plan_rows = [
        {"ak_event_id": op.key, "action": op.action, "reason": op.reason, "requests": op.cost} for op in plan.ops
    ]
    metadata = {
        "instance": instance,
        "dry_run": config.dry_run,
        "eligible": sum(1 for v in validated if v["eligible"]),
        "creates": report.planned.get("create", 0),
        "updates": report.planned.get("update", 0),
        "cancels": report.planned.get("cancel", 0),
        "unchanged": plan.unchanged,
        "planned_requests": report.planned_requests,
        "new_locations": plan.new_locations,
        "created": report.succeeded.get("create", 0),
        "updated": report.succeeded.get("update", 0),
        "cancelled": report.succeeded.get("cancel", 0),
        "failed": report.failed,
        "uncertain": report.uncertain,
        "reconciled": report.reconciled,
        "requests_spent": requests_spent,
        "locations_created": target.locations_created,
        "plan": dg.MetadataValue.md(markdown_table(plan_rows, ["ak_event_id", "action", "reason", "requests"])),
        "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in plan.problems) or "_none_"),
    }
    if report.errors:
        metadata["errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in report.errors))
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="all_eligible_events_synced",
        passed=config.dry_run or (report.ok and not plan.problems),
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(plan.problems) or None,
        metadata={"failed": report.failed, "uncertain": report.uncertain, "blocked_by_problems": plan.blocked},
    )
