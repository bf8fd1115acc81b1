"""The per-call sync status of a candidate-day with its separate every_call_final check. (VAN reference data and
the blocking config check: reference_assets.py; the daily report: report_assets.py.)

Configuration is read at the start of each step from the warehouse store (``runtime.settings``): a change saved
in the web app or imported by the CLI is used by the next run, without a restart."""

import contextlib
import datetime as dt
import tempfile

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from pydantic import Field
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.calls import logic, runtime, validate
from orgsync_dagster.calls.config import CallsConfigError
from orgsync_dagster.calls.day_sync import TO_BULK, final_state_problems, sync_day
from orgsync_dagster.calls.locks import LockBusy, candidate_lock
from orgsync_dagster.calls.partitions import calls_partitions, candidate_and_day
from orgsync_dagster.calls.reference_assets import stored_reference, van_reference_data_asset
from orgsync_dagster.calls.tables import sync_outcomes
from orgsync_dagster.calls.target import CANVASS_SYNC
from orgsync_dagster.lib.runtime import ledger_factory, markdown_table, metered
from orgsync_dagster.lib.tables import sync_attempts
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanConfigError, VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

FINAL_CHECK = "every_call_final"
BULK_URL_HOURS = 24  # the presigned link VAN downloads a bulk import file from


def load_candidate(context, orgsync_config, warehouse, slug: str):
    """(settings, candidate) as stored NOW; a clear step failure when the candidate is gone or does not validate."""
    try:
        settings = runtime.settings(orgsync_config, warehouse)
        return settings, settings.candidate(slug)
    except CallsConfigError as exc:
        raise dg.Failure(description=f"calls configuration of {slug}: {exc}", allow_retries=False) from None


def van_client(van: VanResource, settings, candidate, meter):
    instance = candidate.van_instance
    return van.client(
        instance,
        db_mode=candidate.van_mode,
        daily_request_budget=settings.budget_for(instance),
        meter=meter,
        budget_spent=meter.budget_counter("van", instance),
    )


class CallSyncConfig(dg.Config):
    dry_run: bool = Field(
        default=False,
        description="Plan only: calls per route, VAN requests and their cost; nothing written or sent, and the asset "
        "is not materialized (the plan is an observation).",
    )


def candidate_spent_today(engine, slug: str) -> int:
    """Canvass posts recorded today for one candidate (its share of the instance's budget)."""
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    sync_attempts.c.sync == CANVASS_SYNC,
                    sync_attempts.c.scope == slug,
                    sync_attempts.c.action == "post",
                    sync_attempts.c.at >= midnight,
                    sync_attempts.c.outcome != "reconciled",
                    sa.or_(sync_attempts.c.error.is_(None), sa.not_(sync_attempts.c.error.like("not sent:%"))),
                )
            ).scalar_one()
        )


def allowance_for(settings, candidate, meter, engine) -> tuple[int, dict, str]:
    """Requests this run may send, what they cost, and - when calls must wait - the reason in words."""
    if candidate.strategy == "all_csv":
        return 0, {}, ""
    inst = settings.instance(candidate.van_instance)
    spent = meter.spent_today("van", inst.name)
    left = inst.daily_request_budget - spent
    info = {"van_instance": inst.name, "daily_budget": inst.describe(), "requests_spent_today_before": spent}
    reason = f"VAN {inst.name}'s budget of {inst.describe()} was used ({spent:,} spent today by every sync)"
    if candidate.daily_budget is not None:
        mine = candidate_spent_today(engine, candidate.slug)
        info.update(candidate_daily_share=candidate.daily_budget, candidate_posts_today_before=mine)
        if candidate.daily_budget - mine < left:
            left = candidate.daily_budget - mine
            reason = f"{candidate.slug}'s daily share of {candidate.daily_budget:,} VAN requests was used"
    return max(0, left), info, reason


def s3_csv_sink(s3: S3Resource, bucket: str):
    import csv

    def sink(key: str, rows) -> str:
        client = s3.get_client()
        with tempfile.NamedTemporaryFile("w+", newline="", suffix=".csv", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(logic.CSV_COLUMNS)
            writer.writerows(rows)
            f.flush()
            client.upload_file(f.name, bucket, key, ExtraArgs={"ContentType": "text/csv"})
        return f"s3://{bucket}/{key}"

    return sink


def s3_bulk_uploader(s3: S3Resource, bucket: str):
    """Uploads a bulk import zip and returns the presigned link VAN downloads it from (a secret: never logged)."""

    def upload(key: str, data: bytes) -> str:
        client = s3.get_client()
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/zip")
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=BULK_URL_HOURS * 3600
        )

    return upload


def _plan_metadata(result, inst, spent_today: int, allowance: int, info: dict) -> dict:
    planned = {k: v for k, v in result.planned.items() if v}
    cost_before = inst.cost_usd(spent_today) if inst else 0.0
    cost_after = inst.cost_usd(spent_today + result.planned_requests) if inst else 0.0
    return {
        "planned_calls_by_route": dg.MetadataValue.json(planned),
        "planned_van_requests": result.planned_requests,
        "planned_van_cost_usd": round(cost_after - cost_before, 2),
        "van_allowance_at_start": allowance,
        "van_budget": dg.MetadataValue.json(info),
        "calls_carried_over_from_earlier_days": result.carried_over,
        "calls_left_waiting_for_budget": result.deferred_budget,
        "waiting_reason": result.waiting_reason or "",
    }


@dg.asset(
    key=["calls", "call_sync_status"],
    deps=[van_reference_data_asset],  # (its blocking check stops the sync)
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"mongodb", "ngpvan", "s3"},
    pool="van_api",
    output_required=False,
)
def call_sync_status(
    context: dg.AssetExecutionContext,
    config: CallSyncConfig,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    van: VanResource,
    calls_store: CallsStoreResource,
    s3: S3Resource,
):
    """Each Livevox call of one candidate-day moved to its final sync status: one VAN canvass response per call
    (or one VAN bulk import job for a large day; never posted twice), the rest ignored or exported in a CSV whose
    S3 location is the receipt; calls the VAN budget does not cover wait for the next run, named with why."""
    slug, day = candidate_and_day(context)
    settings, candidate = load_candidate(context, orgsync_config, warehouse, slug)
    engine = warehouse.get_engine()
    if candidate.strategy != "all_csv":
        ref = stored_reference(engine, candidate.van_instance, candidate.van_mode)
        problems = validate.validate_candidate(candidate, ref) if ref else ["no VAN reference data fetched yet"]
        if problems:
            raise dg.Failure(description=validate.validation_report(candidate, problems), allow_retries=False)
    run_id = context.run.run_id
    with contextlib.ExitStack() as held:
        if not config.dry_run:
            try:
                held.enter_context(candidate_lock(engine, slug, holder=f"dagster run {run_id[:8]} calls/{slug}"))
            except LockBusy as exc:
                raise dg.Failure(
                    description=f"{exc} (one writer per candidate: a second one would send the same calls)",
                    allow_retries=False,
                ) from None
        with metered(engine) as meter:
            allowance, budget_info, reason = allowance_for(settings, candidate, meter, engine)
            inst = settings.instance(candidate.van_instance) if candidate.van_instance else None
            spent_before = meter.spent_today("van", inst.name) if inst else 0
            try:
                client = van_client(van, settings, candidate, meter) if candidate.strategy != "all_csv" else None
            except VanConfigError as exc:
                raise dg.Failure(description=f"calls sync of {slug}: {exc}", allow_retries=False) from None
            bucket = settings.bucket()
            result = sync_day(
                store=calls_store,
                settings=settings,
                candidate=candidate,
                day=day,
                run_id=run_id,
                allowance=allowance,
                client=client,
                ledger_factory=ledger_factory(engine, run_id),
                csv_sink=s3_csv_sink(s3, bucket),
                dry_run=config.dry_run,
                logger=context.log,
                budget_reason=reason,
                engine=engine,
                bulk_uploader=s3_bulk_uploader(s3, bucket),
            )
            spent = meter.spent("van")
            spent_today = meter.spent_today("van", inst.name) if inst else 0
    counts = result.counts.as_metadata()
    plan = _plan_metadata(result, inst, spent_before, allowance, budget_info)
    if config.dry_run:
        context.log_event(
            dg.AssetObservation(
                asset_key=context.asset_key,
                partition=context.partition_key,
                metadata={
                    "dry_run": True,
                    "candidate": slug,
                    "day": day,
                    "config_version": candidate.version,
                    **plan,
                    "calls_by_status_after_plan": dg.MetadataValue.json(counts["by_status"]),
                },
            )
        )
        context.log.info(
            f"dry run of {slug} {day}: {result.planned.get('van', 0) + result.planned.get(TO_BULK, 0)} call(s) to VAN "
            f"({result.planned_requests} request(s), ${plan['planned_van_cost_usd']:.2f}); nothing written or sent"
        )
        return
    problems = final_state_problems(result)
    with engine.begin() as conn:
        conn.execute(
            pg_insert(sync_outcomes)
            .values(
                run_id=run_id,
                candidate=slug,
                day=dt.date.fromisoformat(day),
                counts=counts,
                problems=problems,
                waiting_for_budget=result.waiting_in_day,
            )
            .on_conflict_do_nothing()
        )
    metadata = {
        "candidate": slug,
        "candidate_name": candidate.display_name,
        "day": day,
        "strategy": candidate.strategy,
        "config_version": candidate.version,
        "dagster/row_count": result.counts.total,
        "calls_in_day": result.counts.total,
        **{f"calls_{k}": v for k, v in counts["by_status"].items()},
        **plan,
        "calls_of_this_day_waiting_for_budget": result.waiting_in_day,
        "calls_waiting_for_budget_all_days": result.waiting_total,
        "calls_by_result": dg.MetadataValue.md(
            markdown_table(result.counts.result_rows(), ["result", "total", *logic.ALL_STATUSES], limit=50)
        ),
        "recovered_from_crash": dg.MetadataValue.json(dict(result.recovered)),
        "van_requests_spent_this_run": spent,
        "van_cost_usd_this_run": round(inst.cost_usd(spent_today) - inst.cost_usd(spent_today - spent), 2)
        if inst
        else 0.0,
        "van_requests_today_on_instance": spent_today,
        "van_cost_usd_today_on_instance": inst.cost_usd(spent_today) if inst else 0.0,
        "van_posts_one_by_one": dg.MetadataValue.json(result.van.as_metadata() if result.van else {}),
        "van_bulk_import": dg.MetadataValue.json(result.bulk.as_metadata() if result.bulk else {}),
        "csv_files": dg.MetadataValue.json([{k: f[k] for k in ("url", "rows")} for f in result.csv_files]),
    }
    if result.errors:
        metadata["errors_sample"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in result.errors[:20]))
    yield dg.MaterializeResult(metadata=metadata)


@dg.asset_check(
    asset=call_sync_status,
    name=FINAL_CHECK,
    description=(
        "Every call of the candidate-day ended in exactly one final state (finished, ignored or an error), except "
        "calls waiting for VAN budget (the report says how many and why). Read from calls.sync_outcomes; not run "
        "for a dry run."
    ),
)
def every_call_final(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get_engine().connect() as conn:
        row = conn.execute(sa.select(sync_outcomes).where(sync_outcomes.c.run_id == context.run.run_id)).first()
    if row is None:
        return dg.AssetCheckResult(passed=False, description="the sync step of this run recorded no outcome")
    return dg.AssetCheckResult(
        passed=not row.problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(row.problems) or None,
        metadata={
            "candidate": row.candidate,
            "day": row.day.isoformat(),
            "calls_waiting_for_budget": row.waiting_for_budget,
            **{f"calls_{k}": v for k, v in (row.counts.get("by_status") or {}).items()},
        },
    )
