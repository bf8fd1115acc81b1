"""Dagster assets of the ActionKit -> NGP VAN events sync."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from orgsync_dagster.events import actionkit_copy, logic, report
from orgsync_dagster.events.settings import EventsSettings
from orgsync_dagster.events.tables import ak_events_validated, van_event_types, van_events
from orgsync_dagster.events.target import LOCATIONS_SYNC, VanEventsTarget, upsert_mirror
from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.profile import ProfileError
from orgsync_dagster.lib.runtime import api_failures, ledger_factory, metered
from orgsync_dagster.lib.sync import SyncEngine
from orgsync_dagster.partitions import API_RETRY, van_instance_partitions
from orgsync_dagster.resources.actionkit import ActionKitResource, SourceError
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

EVENTS_EVENT = dg.AssetKey(["actionkit", "events_event"])


def events_settings(orgsync_config: OrgsyncConfigResource) -> EventsSettings:
    """The events section of the injected configuration, checked (a bad one fails the step with its reason)."""
    try:
        return EventsSettings.from_config(
            orgsync_config.section("events"), orgsync_config.section("van").get("instances") or []
        )
    except ValueError as exc:
        raise dg.Failure(description=f"events configuration: {exc}", allow_retries=False) from None


def _source_failure(exc: Exception) -> dg.Failure:
    return dg.Failure(description=str(exc), allow_retries=False)


EVENTS_EVENT_SPEC = dg.AssetSpec(
    EVENTS_EVENT,
    group_name="actionkit",
    description="ActionKit's events table, where ActionKit keeps it (its read-only MySQL database, or a warehouse "
    "mirror): observed, never written; an observation records its newest updated_at and estimated row count.",
    kinds={"actionkit", "sql"},
)


@dg.multi_observable_source_asset(specs=[EVENTS_EVENT_SPEC], name="actionkit__events_event")
def actionkit_events_event(
    context: dg.AssetExecutionContext, actionkit: ActionKitResource, warehouse: WarehouseResource
):
    """Observe ActionKit's events table without scanning it: when the newest change happened, and about how
    many events it holds."""
    try:
        source = actionkit.open(warehouse)
    except (SourceError, ProfileError) as exc:
        raise _source_failure(exc) from None
    try:
        source.check()
        stats = source.stats()
    except SourceError as exc:
        raise _source_failure(exc) from None
    finally:
        source.dispose()
    newest = stats.newest_updated_at.isoformat(sep=" ") if stats.newest_updated_at else "none"
    estimate = "unknown" if stats.rows_estimated is None else f"about {stats.rows_estimated}"
    context.log.info(f"{source.label}: {estimate} events, newest change {newest} UTC")
    metadata = {"newest_updated_at_utc": newest, "source": source.label}
    if stats.rows_estimated is not None:
        metadata["rows_estimated"] = stats.rows_estimated
    # a new data version whenever an event changes (deletions show up in actionkit/events' full passes)
    return dg.ObserveResult(asset_key=EVENTS_EVENT, data_version=dg.DataVersion(newest), metadata=metadata)


class ActionKitEventsConfig(dg.Config):
    full_pass: bool = Field(
        default=False, description="Read every ActionKit event now instead of the changes since the watermark."
    )
    accept_deletions: bool = Field(
        default=False,
        description="A full pass that misses many known events stops; set this once you checked that they really "
        "were deleted in ActionKit (their VAN events are then cancelled).",
    )


@dg.asset(
    key=["actionkit", "events"],
    deps=[EVENTS_EVENT],
    group_name="actionkit",
    kinds={"actionkit", "postgres"},
    pool="actionkit_db",  # one read of ActionKit at a time (pools default to one slot: dagster.yaml)
    check_specs=[
        dg.AssetCheckSpec(
            "no_quarantined_events",
            asset=["actionkit", "events"],
            description="No ActionKit event is unusable (missing title or start, end before start, unknown time "
            "zone, a local time that a DST change makes ambiguous): quarantined events are never sent to VAN.",
        )
    ],
)
def actionkit_events(
    context: dg.AssetExecutionContext,
    config: ActionKitEventsConfig,
    actionkit: ActionKitResource,
    warehouse: WarehouseResource,
    orgsync_config: OrgsyncConfigResource,
):
    """ActionKit events checked and sorted: eligible for VAN (confirmed host, active, future, mapped campaign),
    not eligible with the reason, or quarantined as unusable; read from ActionKit incrementally."""
    s = events_settings(orgsync_config)
    engine = warehouse.get_engine()
    now = dt.datetime.now(dt.UTC)
    try:
        source = actionkit.open(warehouse)
    except (SourceError, ProfileError) as exc:
        raise _source_failure(exc) from None
    try:
        plan = actionkit_copy.plan_read(
            actionkit_copy.load_state(engine, source.label), now, s.source, force_full=config.full_pass
        )
        context.log.info(f"{source.label}: {plan.why}")
        source.check(need_campaigns=s.needs_campaign_names)
        rows = source.read(plan.since, need_campaigns=s.needs_campaign_names)
    except SourceError as exc:
        raise _source_failure(exc) from None
    finally:
        source.dispose()
    try:
        refreshed = actionkit_copy.apply_read(
            engine, source.label, plan, rows, s, now, accept_deletions=config.accept_deletions
        )
    except actionkit_copy.MassDeletion as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    summary = report.validated_summary(engine)
    context.log.info(
        f"read {refreshed.rows_read} row(s) from ActionKit ({'full pass' if plan.full else 'incremental'}): "
        f"{refreshed.new} new, {refreshed.changed} changed, {refreshed.deleted} deleted; "
        f"{summary.eligible} eligible, {summary.quarantined} quarantined"
    )
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary.rows,
            "read_mode": "full pass" if plan.full else "incremental",
            "read_why": plan.why,
            "rows_read_from_actionkit": refreshed.rows_read,
            "new_events": refreshed.new,
            "changed_events": refreshed.changed,
            "deleted_in_actionkit": refreshed.deleted,
            "restored_in_actionkit": refreshed.restored,
            "events_revalidated": refreshed.revalidated,
            "watermark_utc": refreshed.watermark_after.isoformat(sep=" ") if refreshed.watermark_after else "none",
            "source": source.label,
            "events": summary.rows,
            "eligible": summary.eligible,
            "not_eligible": summary.not_eligible,
            "quarantined": summary.quarantined,
            "eligible_by_instance": dg.MetadataValue.md(summary.by_instance_md()),
            "not_eligible_reasons": dg.MetadataValue.md(summary.reasons_md()),
            "quarantine": dg.MetadataValue.md(summary.quarantine_md()),
        }
    )
    yield dg.AssetCheckResult(
        check_name="no_quarantined_events",
        passed=not summary.quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if not summary.quarantined else f"{summary.quarantined} ActionKit event(s) quarantined",
        metadata={
            "quarantined": summary.quarantined,
            "ak_event_ids": dg.MetadataValue.json(summary.quarantined_ids[:50]),
        },
    )


@dg.asset(
    key=["van", "events"],
    partitions_def=van_instance_partitions,
    group_name="van",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "one_van_event_per_actionkit_event",
            asset=["van", "events"],
            description="No two VAN events of this instance carry the same ActionKit id in shortName (a duplicate "
            "means an event was created twice).",
        )
    ],
)
def van_events_mirror(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    van: VanResource,
    orgsync_config: OrgsyncConfigResource,
):
    """The VAN events of the synced event types in one VAN instance, mirrored into ngpvan.events with one
    list request per 50 events."""
    instance = context.partition_key
    s = events_settings(orgsync_config)
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
            "event_types_missing_in_van": ", ".join(missing) or "none",
        }
    )
    yield dg.AssetCheckResult(
        check_name="one_van_event_per_actionkit_event",
        passed=not dupes,
        description=None if not dupes else f"{len(dupes)} ActionKit event(s) have more than one VAN event",
        metadata={
            "duplicated": len(dupes),
            "duplicated_ak_event_ids": dg.MetadataValue.json([int(d[0]) for d in dupes[:50]]),
        },
    )


class EventSyncConfig(dg.Config):
    dry_run: bool = Field(
        default=False,
        description="Plan only: log the plan and its request cost as an observation; send nothing, record nothing.",
    )


def load_instance_state(engine, instance: str) -> tuple[list[dict], dict[int, dict], list[dict]]:
    """This instance's validated events (eligible or cancelled), its VAN mirror by ActionKit id, its event types."""
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
    return validated, mirror, types


@dg.asset(
    key=["van", "event_sync"],
    deps=[actionkit_events, van_events_mirror],
    partitions_def=van_instance_partitions,
    group_name="van",
    kinds={"ngpvan", "actionkit"},
    pool="van_api",
    retry_policy=API_RETRY,
    output_required=False,  # a dry run is not a materialization
)
def van_event_sync(
    context: dg.AssetExecutionContext,
    config: EventSyncConfig,
    warehouse: WarehouseResource,
    van: VanResource,
    orgsync_config: OrgsyncConfigResource,
):
    """Eligible ActionKit events created in their state's VAN instance exactly once (shortName = ActionKit id),
    and changed ones updated, each push recorded in the sync ledger."""
    instance = context.partition_key
    s = events_settings(orgsync_config)
    engine = warehouse.get_engine()
    validated, mirror, types = load_instance_state(engine, instance)
    run_id = context.run.run_id
    location_ledger = Ledger(engine, LOCATIONS_SYNC, instance, run_id)
    with metered(engine) as meter, api_failures(f"VAN event sync for {instance}"):
        client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
        target = VanEventsTarget(client, engine, location_ledger, s.shift_name)
        plan = logic.plan_instance(validated, mirror, types, s, set(target.location_ids))
        # events VAN already has as they should be: a ledger entry a lost answer left unresolved is reconciled
        found = {str(k): str(m["van_event_id"]) for k, m in mirror.items()}
        sync_report = SyncEngine(ledger_factory(engine, run_id), logger=context.log).run(
            target, plan.ops, dry_run=config.dry_run, found_remotely=found
        )
        requests_spent = client.requests_sent
    for problem in plan.problems:
        context.log.error(f"{instance}: {problem}")
    titles = {v["ak_event_id"]: (v.get("payload") or {}).get("title") for v in validated}
    metadata = report.sync_metadata(instance, validated, plan, sync_report, titles)
    if config.dry_run:
        context.log.info(
            f"dry run for {instance}: {len(plan.ops)} change(s) planned, {sync_report.planned_requests} request(s); "
            "nothing sent"
        )
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, partition=instance, metadata=metadata))
        return
    metadata.update(report.done_metadata(sync_report, requests_spent, target.locations_created))
    yield dg.MaterializeResult(metadata=metadata)
