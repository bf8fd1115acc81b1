"""Dagster assets of the shifts domain, each partitioned by day x VAN instance: VAN's participants, the organizer
tool's day, its nightly backup with day metrics, and the reviewed statuses written back to VAN."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from orgsync_dagster.lib.config import ConfigError
from orgsync_dagster.lib.runtime import markdown_table, metered
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanConfigError, VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts import metrics, nightly
from orgsync_dagster.shifts.backup import is_archived, run_nightly
from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.logic import ShiftsError
from orgsync_dagster.shifts.partitions import day_and_instance, shifts_partitions
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.statusync import sync_day
from orgsync_dagster.shifts.store import day_rows, import_day_tx
from orgsync_dagster.shifts.tables import backup_shifts, shifts


def shifts_settings(orgsync_config: OrgsyncConfigResource) -> ShiftsSettings:
    """The ``shifts:`` section of the injected configuration, validated (a bad value fails the run, clearly)."""
    try:
        return ShiftsSettings.from_config(orgsync_config.section("shifts"))
    except (ValueError, ConfigError) as exc:
        raise dg.Failure(description=f"shifts configuration: {exc}", allow_retries=False) from None


def _failure(exc: ShiftsError, **metadata) -> dg.Failure:
    return dg.Failure(description=str(exc), metadata=metadata or None, allow_retries=exc.retryable)


@dg.asset(
    key=["van", "event_participants"],
    partitions_def=shifts_partitions,
    group_name="van",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            "no_quarantined_participants",
            asset=["van", "event_participants"],
            description="Every VAN signup of the export could be read (VAN id, known status, start time); the "
            "others are listed with their reason in the metadata.",
        )
    ],
)
def van_event_participants(
    context: dg.AssetExecutionContext,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    van: VanResource,
):
    """VAN's Event Participant list (the old SyncShift) of one VAN instance for the partition's day and the days
    after it, with each volunteer's phone and e-mail from the signups: one list request per 50 events and one per
    200 signups of each event."""
    day, instance = day_and_instance(context)
    settings = shifts_settings(orgsync_config)
    engine = warehouse.get_engine()
    with metered(engine) as meter:
        try:
            client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
            result = export_participants(engine, client, instance, settings, day=day)
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
            "events_listed": result.events,
            "participants_exported": result.participants,
            "participants_with_phone": result.with_phone,
            "participants_with_email": result.with_email,
            "signups_quarantined": len(result.problems),
            "requests_spent": result.requests,
            "reference_data_refreshed": result.reference_refreshed,
            "participants_by_status": dg.MetadataValue.json(result.by_status),
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
        metadata={"signups_quarantined": len(result.problems)},
    )


@dg.asset(
    key=["shifts", "day_shifts"],
    deps=[van_event_participants],
    partitions_def=shifts_partitions,
    group_name="shifts",
    kinds={"postgres"},
)
def day_shifts(context: dg.AssetExecutionContext, orgsync_config: OrgsyncConfigResource, warehouse: WarehouseResource):
    """The organizer tool's shifts of the day in one VAN instance, created from VAN's participants whose status is
    Invited, Left Msg, Confirmed, Scheduled or Sched-Web; shifts already there are never overwritten."""
    day, instance = day_and_instance(context)
    settings = shifts_settings(orgsync_config)
    engine = warehouse.get_engine()
    if is_archived(engine, day, instance):
        context.log.info(f"{day} ({instance}) was already backed up and reset: nothing is imported again")
        return dg.MaterializeResult(metadata={"instance": instance, "day": day.isoformat(), "shifts_created": 0})
    result = import_day_tx(engine, settings, day, [instance])
    return dg.MaterializeResult(
        metadata={
            "instance": instance,
            "day": result["day"],
            "participants_that_day": result["participants"],
            "shifts_created": result["created"],
            "shifts_already_there": result["already_there"],
            "shifts_without_location": result["no_location"],
            "participants_not_imported_by_status": dg.MetadataValue.json(result["not_imported_by_status"]),
        }
    )


def _table_schema() -> dg.TableSchema:
    def kind(c):
        if c == "office":
            return "string"
        return "float" if c.endswith("pct") or c in ("pct_to_goal", "kph") else "int"

    return dg.TableSchema(columns=[dg.TableColumn(c, kind(c)) for c in metrics.COLUMNS])


@dg.asset(
    key=["shifts", "nightly_backup"],
    deps=[day_shifts],
    partitions_def=shifts_partitions,
    group_name="shifts",
    kinds={"postgres"},
    check_specs=[
        dg.AssetCheckSpec(
            "backup_verified",
            asset=["shifts", "nightly_backup"],
            description="The day's backup holds exactly the live rows (counts and contents of shifts, canvass "
            "groups, notes and the edit audit) and the day tables were reset only after that.",
        )
    ],
)
def nightly_backup(
    context: dg.AssetExecutionContext, orgsync_config: OrgsyncConfigResource, warehouse: WarehouseResource
):
    """One VAN instance's finished day (shifts, canvass groups, notes and the audit of every edit) backed up and
    verified, the day tables reset and the next day imported; with the day's metrics per office (scheduled,
    confirmed, completed, no-show, doors, knocks per hour)."""
    day, instance = day_and_instance(context)
    settings = shifts_settings(orgsync_config)
    engine = warehouse.get_engine()
    try:
        result = run_nightly(engine, settings, day, instance, run_id=context.run.run_id)
    except ShiftsError as exc:
        raise _failure(exc, day=day.isoformat(), instance=instance) from None
    context.log.info(f"{day} ({instance}): steps {result.steps_done or 'none (already done)'}; stage {result.stage}")
    archived = nightly.rank(result.stage) >= nightly.rank("reset")
    with engine.connect() as conn:
        rows, groups = day_rows(conn, day, from_backup=archived)
    rows = [r for r in rows if r["instance"] == instance]
    groups = [g for g in groups if g["instance"] == instance]
    table = metrics.day_metrics(rows, groups, settings)
    total = table[-1]
    nxt = result.next_day or {}
    yield dg.MaterializeResult(
        metadata={
            "day": day.isoformat(),
            "instance": instance,
            "stage": result.stage,
            "steps_done": dg.MetadataValue.json(result.steps_done),
            "dagster/row_count": result.counts.get("shifts", 0),
            "backed_up_shifts": result.counts.get("shifts", 0),
            "backed_up_canvass_groups": result.counts.get("canvass_groups", 0),
            "backed_up_notes": result.counts.get("notes", 0),
            "backed_up_edits": result.counts.get("edits", 0),
            "next_day_shifts_imported": nxt.get("created", 0),
            "shifts_scheduled": total["scheduled"],
            "shifts_confirmed": total["confirmed"],
            "shifts_completed": total["completed"],
            "no_shows": total["no_show"],
            "doors_knocked": total["doors"],
            "doors_goal": total["goal"],
            "knocks_per_canvasser_hour": total["kph"] if total["kph"] is not None else 0.0,
            "day_metrics": dg.MetadataValue.md(metrics.markdown(table, f"{day} ({instance}) by office")),
            "day_metrics_table": dg.MetadataValue.table(
                records=[dg.TableRecord({c: r[c] for c in metrics.COLUMNS}) for r in table], schema=_table_schema()
            ),
        }
    )
    yield dg.AssetCheckResult(
        check_name="backup_verified",
        passed=archived,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"stage": result.stage, **{f"backed_up_{k}": v for k, v in result.counts.items()}},
    )


class StatusSyncConfig(dg.Config):
    dry_run: bool = Field(
        default=False, description="Plan only: show the approved statuses that would be sent and their request cost."
    )


@dg.asset(
    key=["van", "shift_status_sync"],
    deps=[nightly_backup],
    partitions_def=shifts_partitions,
    group_name="van",
    kinds={"ngpvan"},
    pool="van_api",
    output_required=False,
)
def van_shift_status_sync(
    context: dg.AssetExecutionContext,
    config: StatusSyncConfig,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    van: VanResource,
):
    """The final statuses organizers approved in the tracker's review written back to one VAN instance: one signup
    upsert per approved signup VAN does not show yet, none for the others, each outcome in the sync ledger and on
    the shift (sent, failed with the reason, or not matched in VAN)."""
    day, instance = day_and_instance(context)
    settings = shifts_settings(orgsync_config)
    engine = warehouse.get_engine()
    with metered(engine) as meter:
        try:
            client = van.client(instance, meter=meter, budget_spent=meter.budget_counter("van", instance))
        except VanConfigError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        r = sync_day(
            engine, client, settings, day, run_id=context.run.run_id, dry_run=config.dry_run, logger=context.log
        )
    meta = {
        "day": day.isoformat(),
        "instance": instance,
        "read_from": r.source,
        "shifts_of_the_day": r.shifts,
        "approved_to_send": r.changed,
        "approved_already_in_van": r.already_in_van,
        "changed_awaiting_approval": r.awaiting_approval,
        "changed_after_approval": r.stale_approvals,
        "walk_ins_without_van_signup": r.not_in_van,
        "statuses_sent": sum(r.report.succeeded.values()) if r.report else 0,
        "statuses_failed": (r.report.failed + r.report.uncertain) if r.report else 0,
        "not_matched_in_van": r.not_matched,
        "statuses_quarantined": len(r.quarantined),
        "requests_spent": r.requests,
        "quarantine": dg.MetadataValue.md(
            markdown_table(r.quarantined, ["shift_id", "event_signup_id", "status", "reason"])
        ),
        "plan": dg.MetadataValue.md(markdown_table(r.plan, ["event_signup_id", "change"])),
    }
    if r.error:
        context.log.error(r.error)
        raise dg.Failure(description=r.error, metadata=meta, allow_retries=False)
    if config.dry_run:
        planned = r.report.planned_requests if r.report else 0
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                partition=context.partition_key,
                metadata={**meta, "dry_run": True, "planned_requests": planned},
            )
        )
        context.log.info(f"dry run: {r.changed} approved status(es) would be sent with {planned} request(s)")
        return
    yield dg.MaterializeResult(metadata=meta)


def _approved_outcomes(engine, day: dt.date, instance: str) -> dict[str, list[dict]]:
    archived = is_archived(engine, day, instance)
    t = backup_shifts if archived else shifts
    q = sa.select(t.c.id, t.c.event_signup_id, t.c.sync_outcome, t.c.sync_error).where(
        t.c.day == day,
        t.c.instance == instance,
        t.c.is_active.is_(True),
        t.c.approved_status.is_not(None),
        t.c.approved_status == t.c.status,
    )
    out: dict[str, list[dict]] = {}
    with engine.connect() as conn:
        for r in conn.execute(q):
            out.setdefault(r.sync_outcome or "not_sent", []).append(dict(r._mapping))
    return out


def _run_partition(context: dg.AssetCheckExecutionContext) -> tuple[dt.date, str]:
    """The day and VAN instance of the run the check belongs to (the check runs right after the sync)."""
    tags = context.run.tags
    return dt.date.fromisoformat(tags["dagster/partition/day"]), tags["dagster/partition/instance"]


@dg.asset_check(
    asset=van_shift_status_sync,
    description="Every status approved in the review is in VAN (sent, or VAN already showed it); failed and "
    "unsent ones are listed with VAN's reason. Skipped in a dry run.",
)
def all_approved_statuses_synced(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    day, instance = _run_partition(context)
    outcomes = _approved_outcomes(warehouse.get_engine(), day, instance)
    bad = outcomes.get("failed", []) + outcomes.get("not_sent", [])
    return dg.AssetCheckResult(
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "approved_sent": len(outcomes.get("sent", [])),
            "approved_already_in_van": len(outcomes.get("in_van", [])),
            "approved_failed": len(outcomes.get("failed", [])),
            "approved_not_sent": len(outcomes.get("not_sent", [])),
            "failures": dg.MetadataValue.md(
                markdown_table(bad, ["id", "event_signup_id", "sync_outcome", "sync_error"])
            ),
        },
    )


@dg.asset_check(
    asset=van_shift_status_sync,
    description="No approved shift is left for a person to flip by hand in VAN (walk-ins without a VAN signup, "
    "signups VAN no longer has); the tracker's review page lists them. Skipped in a dry run.",
)
def no_shifts_to_flip_manually(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    day, instance = _run_partition(context)
    manual = _approved_outcomes(warehouse.get_engine(), day, instance).get("not_matched", [])
    return dg.AssetCheckResult(
        passed=not manual,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "to_flip_manually": len(manual),
            "shifts": dg.MetadataValue.md(markdown_table(manual, ["id", "event_signup_id", "sync_error"])),
        },
    )
