"""Dagster assets of the shifts domain: VAN participants, the organizer tool's day, its nightly backup with day
metrics, and the status sync-back to VAN."""

import dataclasses
import datetime as dt

import dagster as dg
from pydantic import Field

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib.runtime import markdown_table, metered
from orgsync_dagster.partitions import API_RETRY, van_instance_partitions
from orgsync_dagster.resources.van import VanConfigError, VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts import metrics, nightly
from orgsync_dagster.shifts.backup import run_nightly
from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.logic import ShiftsError
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.statusync import sync_day
from orgsync_dagster.shifts.store import day_rows, import_day_tx


def settings() -> ShiftsSettings:
    return ShiftsSettings.from_config(cfg.section("shifts"))


SETTINGS = settings()
day_partitions = dg.DailyPartitionsDefinition(start_date=SETTINGS.partitions_start, timezone=SETTINGS.timezone)


def _failure(exc: ShiftsError, **metadata) -> dg.Failure:
    return dg.Failure(description=str(exc), metadata=metadata or None, allow_retries=exc.retryable)


class ParticipantsConfig(dg.Config):
    lookback_days: int | None = Field(
        default=None, description="Also export events of this many past days (default: shifts.lookback_days)."
    )


@dg.asset(
    key=["van", "event_participants"],
    partitions_def=van_instance_partitions,
    group_name="van",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[dg.AssetCheckSpec("no_quarantined_participants", asset=["van", "event_participants"])],
)
def van_event_participants(
    context: dg.AssetExecutionContext, config: ParticipantsConfig, warehouse: WarehouseResource, van: VanResource
):
    """VAN's Event Participant list of the upcoming events of the configured event types in one VAN instance
    (the old SyncShift), one list request per 50 events and one per 200 signups of each event."""
    instance = context.partition_key
    s = SETTINGS
    if config.lookback_days is not None:
        s = dataclasses.replace(SETTINGS, lookback_days=config.lookback_days)
    engine = warehouse.get_engine()
    with metered(engine) as meter:
        try:
            client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
            result = export_participants(engine, client, instance, s)
        except VanConfigError as exc:
            raise _failure(ShiftsError(str(exc))) from None
        except ShiftsError as exc:
            raise _failure(exc, instance=instance) from None
    for name in result.missing_types:
        context.log.warning(f"{instance}: event type {name!r} (shifts.event_types) does not exist in VAN")
    if result.problems:
        context.log.warning(f"{instance}: {len(result.problems)} signup(s) quarantined, see the metadata")
    yield dg.MaterializeResult(
        metadata={
            "instance": instance,
            "window": f"events starting after {result.window[0]} and before {result.window[1]}",
            "dagster/row_count": result.participants,
            "events": result.events,
            "participants": result.participants,
            "quarantined": len(result.problems),
            "requests_spent": result.requests,
            "reference_refreshed": result.reference_refreshed,
            "by_status": dg.MetadataValue.json(result.by_status),
            "event_types_missing_in_van": dg.MetadataValue.json(result.missing_types),
            "quarantine": dg.MetadataValue.md(
                markdown_table(result.problems, ["event_signup_id", "event_id", "reason"])
            ),
        }
    )
    yield dg.AssetCheckResult(
        check_name="no_quarantined_participants",
        passed=not result.problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": len(result.problems)},
    )


class DayConfig(dg.Config):
    day: str = Field(default="", description="Local day to import, YYYY-MM-DD (default: today in shifts.timezone).")


@dg.asset(
    key=["shifts", "day_shifts"],
    deps=[van_event_participants],
    partitions_def=van_instance_partitions,
    group_name="shifts",
    kinds={"postgres"},
)
def day_shifts(context: dg.AssetExecutionContext, config: DayConfig, warehouse: WarehouseResource):
    """The organizer tool's shifts of the day in one VAN instance, created from VAN's participants whose status is
    Invited, Left Msg, Confirmed, Scheduled or Sched-Web; shifts already there are never overwritten."""
    try:
        day = dt.date.fromisoformat(config.day) if config.day else SETTINGS.today()
    except ValueError:
        raise dg.Failure(description=f"day {config.day!r} is not a date (YYYY-MM-DD)", allow_retries=False) from None
    result = import_day_tx(warehouse.get_engine(), SETTINGS, day, [context.partition_key])
    return dg.MaterializeResult(
        metadata={
            "instance": context.partition_key,
            "day": result["day"],
            "participants_that_day": result["participants"],
            "created": result["created"],
            "already_there": result["already_there"],
            "no_location": result["no_location"],
            "not_imported_by_status": dg.MetadataValue.json(result["not_imported_by_status"]),
        }
    )


@dg.asset(
    key=["shifts", "nightly_backup"],
    deps=[dg.AssetDep(day_shifts, partition_mapping=dg.AllPartitionMapping())],
    partitions_def=day_partitions,
    group_name="shifts",
    kinds={"postgres"},
    check_specs=[dg.AssetCheckSpec("backup_verified", asset=["shifts", "nightly_backup"])],
)
def nightly_backup(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """The finished day's shifts, canvass groups and notes backed up and verified, the day tables reset and the
    next day imported; with the day's metrics per office (scheduled, confirmed, completed, no-show, doors, KPH)."""
    day = dt.date.fromisoformat(context.partition_key)
    engine = warehouse.get_engine()
    try:
        result = run_nightly(engine, SETTINGS, day, run_id=context.run.run_id, instances=cfg.van_instances())
    except ShiftsError as exc:
        raise _failure(exc, day=day.isoformat()) from None
    context.log.info(f"{day}: steps {result.steps_done or 'none (already done)'}; stage {result.stage}")
    with engine.connect() as conn:
        rows, groups = day_rows(conn, day, from_backup=nightly.rank(result.stage) >= nightly.rank("reset"))
    table = metrics.day_metrics(rows, groups, SETTINGS)
    total = table[-1]
    nxt = result.next_day or {}
    yield dg.MaterializeResult(
        metadata={
            "day": day.isoformat(),
            "stage": result.stage,
            "steps_done": dg.MetadataValue.json(result.steps_done),
            "dagster/row_count": result.counts.get("shifts", 0),
            "backed_up_shifts": result.counts.get("shifts", 0),
            "backed_up_canvass_groups": result.counts.get("canvass_groups", 0),
            "backed_up_notes": result.counts.get("notes", 0),
            "next_day_shifts_imported": nxt.get("created", 0),
            "shifts_scheduled": total["scheduled"],
            "shifts_confirmed": total["confirmed"],
            "shifts_completed": total["completed"],
            "no_shows": total["no_show"],
            "doors": total["doors"],
            "doors_goal": total["goal"],
            "knocks_per_hour": total["kph"] if total["kph"] is not None else 0.0,
            "day_metrics": dg.MetadataValue.md(metrics.markdown(table, f"{day} by office")),
            "day_metrics_table": dg.MetadataValue.table(
                records=[dg.TableRecord({c: r[c] for c in metrics.COLUMNS}) for r in table],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn(
                            c,
                            "string"
                            if c == "office"
                            else "float"
                            if c.endswith("pct") or c in ("pct_to_goal", "kph")
                            else "int",
                        )
                        for c in metrics.COLUMNS
                    ]
                ),
            ),
        }
    )
    yield dg.AssetCheckResult(
        check_name="backup_verified",
        passed=nightly.rank(result.stage) >= nightly.rank("reset"),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"stage": result.stage, **result.counts},
    )


class StatusSyncConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Plan only: show the changed statuses and their request cost.")


@dg.asset(
    key=["van", "shift_status_sync"],
    deps=[nightly_backup],
    partitions_def=day_partitions,
    group_name="van",
    kinds={"ngpvan"},
    pool="van_api",
    check_specs=[
        dg.AssetCheckSpec("all_changed_statuses_synced", asset=["van", "shift_status_sync"]),
        dg.AssetCheckSpec("no_unmappable_statuses", asset=["van", "shift_status_sync"]),
    ],
)
def van_shift_status_sync(
    context: dg.AssetExecutionContext, config: StatusSyncConfig, warehouse: WarehouseResource, van: VanResource
):
    """The statuses organizers changed during the day written back to each VAN instance: one signup upsert per
    changed signup, none for unchanged ones, each outcome in the sync ledger."""
    day = dt.date.fromisoformat(context.partition_key)
    engine = warehouse.get_engine()
    results, errors = [], []
    with metered(engine) as meter:
        for instance in cfg.van_instances():
            try:
                client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
            except VanConfigError as exc:
                errors.append(str(exc))
                continue
            r = sync_day(
                engine, client, SETTINGS, day, run_id=context.run.run_id, dry_run=config.dry_run, logger=context.log
            )
            results.append(r)
            if r.error:
                errors.append(r.error)
                context.log.error(r.error)
    summary = [
        {
            "instance": r.instance,
            "source": r.source,
            "shifts": r.shifts,
            "changed": r.changed,
            "unchanged": r.unchanged + r.already_in_van,
            "walk_ins": r.not_in_van,
            "quarantined": len(r.quarantined),
            "synced": sum(r.report.succeeded.values()) if r.report else 0,
            "failed": (r.report.failed + r.report.uncertain) if r.report else 0,
            "requests": r.requests,
        }
        for r in results
    ]
    quarantined = [{"instance": r.instance, **q} for r in results for q in r.quarantined]
    meta = {
        "day": day.isoformat(),
        "dry_run": config.dry_run,
        "changed": sum(x["changed"] for x in summary),
        "synced": sum(x["synced"] for x in summary),
        "failed": sum(x["failed"] for x in summary),
        "quarantined": len(quarantined),
        "requests_spent": sum(x["requests"] for x in summary),
        "by_instance": dg.MetadataValue.md(markdown_table(summary, list(summary[0]) if summary else ["instance"])),
        "quarantine": dg.MetadataValue.md(
            markdown_table(quarantined, ["instance", "shift_id", "event_signup_id", "status", "reason"])
        ),
        "plan": dg.MetadataValue.md(
            markdown_table(
                [{"instance": r.instance, **p} for r in results for p in r.plan],
                ["instance", "event_signup_id", "change"],
            )
        ),
    }
    if errors:
        raise dg.Failure(description="\n".join(errors), metadata=meta, allow_retries=False)
    yield dg.MaterializeResult(metadata=meta)
    yield dg.AssetCheckResult(
        check_name="all_changed_statuses_synced",
        passed=config.dry_run or meta["failed"] == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"failed": meta["failed"]},
    )
    yield dg.AssetCheckResult(
        check_name="no_unmappable_statuses",
        passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": len(quarantined)},
    )
