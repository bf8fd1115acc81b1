"""Dagster assets of the Livevox -> VAN call sync: VAN reference data with the blocking config check, the per-call
sync status of a candidate-day, and the daily report."""

import datetime as dt
import tempfile

import dagster as dg
import sqlalchemy as sa
from dagster_aws.s3 import S3Resource
from pydantic import Field
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.calls import logic, report, validate
from orgsync_dagster.calls.day_sync import final_state_problems, sync_day
from orgsync_dagster.calls.partitions import SETTINGS, calls_partitions, candidate_and_day
from orgsync_dagster.calls.tables import daily_reports, van_reference_data
from orgsync_dagster.calls.target import CANVASS_SYNC
from orgsync_dagster.lib.meter import cost_usd
from orgsync_dagster.lib.runtime import ledger_factory, markdown_table, metered
from orgsync_dagster.lib.tables import sync_attempts
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.http import ApiError, BudgetExceeded
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanConfigError, VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource

CONFIG_CHECK = "candidate_config_valid"
FINAL_CHECK = "every_call_final"
LOCK_LEASE_SECONDS = 1800
LIVE_RUN_STATUSES = {
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.CANCELING,
}


def fetch_reference(client, contact_type_id: int) -> dict:
    """Five requests: result codes for the contact type, contact types, input types, survey questions, activist codes."""
    return {
        "result_codes": client.result_codes_for_contact_type(contact_type_id),
        "contact_types": client.contact_types(),
        "input_types": client.input_types(),
        "survey_questions": list(client.survey_questions()),
        "activist_codes": list(client.activist_codes()),
    }


def stored_reference(engine, instance: str, mode: int) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(van_reference_data.c.data).where(
                van_reference_data.c.instance == instance, van_reference_data.c.mode == mode
            )
        ).first()
    return row[0] if row else None


def _van_client(van: VanResource, candidate, meter):
    instance = candidate.van_instance
    return van.client(
        instance,
        db_mode=candidate.van_mode,
        daily_request_budget=SETTINGS.budget_for(instance),
        meter=meter,
        budget_spent=meter.budget_counter("van", instance),
    )


@dg.asset(
    key=["van", "reference_data"],
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"ngpvan", "postgres"},
    pool="van_api",
    retry_policy=API_RETRY,
    check_specs=[
        dg.AssetCheckSpec(
            CONFIG_CHECK,
            asset=["van", "reference_data"],
            blocking=True,
            description="Every id in the candidate's config exists in VAN (the old /validate).",
        )
    ],
)
def van_reference_data_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, van: VanResource):
    """The VAN survey questions and responses, activist codes, result codes, contact and input types of a
    candidate's VAN database, fetched once per sync run and shown ready to copy into candidates.yaml."""
    slug, _day = candidate_and_day(context)
    candidate = SETTINGS.candidate(slug)
    if candidate.strategy == "all_csv":
        yield dg.MaterializeResult(metadata={"candidate": slug, "strategy": "all_csv", "requests_spent": 0})
        yield dg.AssetCheckResult(check_name=CONFIG_CHECK, passed=True, description="all_csv: nothing goes to VAN")
        return
    engine = warehouse.get_engine()
    source = "fetched"
    with metered(engine) as meter:
        try:
            client = _van_client(van, candidate, meter)
            ref = fetch_reference(client, candidate.contact_type_id)
        except BudgetExceeded:
            ref, source = stored_reference(engine, candidate.van_instance, candidate.van_mode), "cached (budget spent)"
            if ref is None:
                raise dg.Failure(
                    description=f"VAN {candidate.van_instance}: today's request budget is spent and no "
                    "reference data was fetched before",
                    allow_retries=False,
                ) from None
        except (ApiError, VanConfigError) as exc:
            raise dg.Failure(description=f"cannot read VAN reference data for {slug}: {exc}") from None
        spent = meter.spent("van")
    ref.update(
        instance=candidate.van_instance,
        mode=candidate.van_mode,
        fetched_at=ref.get("fetched_at") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    if source == "fetched":
        with engine.begin() as conn:
            stmt = pg_insert(van_reference_data).values(
                instance=candidate.van_instance, mode=candidate.van_mode, data=ref, fetched_at=sa.func.now()
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["instance", "mode"], set_={"data": stmt.excluded.data, "fetched_at": sa.func.now()}
                )
            )
    problems = validate.validate_candidate(candidate, ref)
    text = validate.validation_report(candidate, problems)
    for p in problems:
        context.log.error(f"{slug}: {p}")
    yield dg.MaterializeResult(
        metadata={
            "candidate": slug,
            "instance": candidate.van_instance,
            "mode": candidate.van_mode,
            "source": source,
            "requests_spent": spent,
            **{
                k: len(ref.get(k) or [])
                for k in ("result_codes", "survey_questions", "activist_codes", "contact_types")
            },
            "configure": dg.MetadataValue.md("```yaml\n" + validate.configure_text(candidate, ref) + "\n```"),
        }
    )
    yield dg.AssetCheckResult(
        check_name=CONFIG_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=text.splitlines()[-1] if not problems else f"{len(problems)} problem(s) in {slug}'s config",
        metadata={"problems": len(problems), "report": dg.MetadataValue.md(text.replace("\n", "  \n"))},
    )


class CallSyncConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Plan only: counts and request cost, nothing written or sent.")


def candidate_spent_today(engine, slug: str) -> int:
    """Canvass posts recorded today for one candidate (its share of the instance's budget)."""
    midnight = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    sync_attempts.c.sync == CANVASS_SYNC,
                    sync_attempts.c.scope == slug,
                    sync_attempts.c.at >= midnight,
                    sync_attempts.c.outcome != "reconciled",
                    sa.or_(sync_attempts.c.error.is_(None), sa.not_(sync_attempts.c.error.like("not sent:%"))),
                )
            ).scalar_one()
        )


def _allowance(candidate, meter, engine) -> tuple[int, dict]:
    if candidate.strategy == "all_csv":
        return 0, {}
    instance = candidate.van_instance
    budget = SETTINGS.budget_for(instance)
    spent = meter.spent_today("van", instance)
    left = budget - spent
    info = {"instance": instance, "budget": budget, "spent_today_before": spent}
    if candidate.daily_budget is not None:
        mine = candidate_spent_today(engine, candidate.slug)
        left = min(left, candidate.daily_budget - mine)
        info.update(candidate_budget=candidate.daily_budget, candidate_spent_today_before=mine)
    return max(0, left), info


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


def _take_lock(context, store: CallsStoreResource, name: str) -> None:
    run_id = context.run.run_id
    holder = store.acquire_lock(name, run_id, LOCK_LEASE_SECONDS)
    if holder is None:
        return
    run = context.instance.get_run_by_id(holder)
    if run is not None and run.status in LIVE_RUN_STATUSES:
        raise dg.Failure(
            description=f"run {holder} is syncing this candidate-day right now; not starting a second "
            "one (it would post the same calls)",
            allow_retries=False,
        )
    context.log.warning(f"taking over the lock of run {holder} ({run.status.value if run else 'unknown run'})")
    if store.acquire_lock(name, run_id, LOCK_LEASE_SECONDS, steal_from=[holder]) is not None:
        raise dg.Failure(description="another run took this candidate-day's lock first", allow_retries=False)


@dg.asset(
    key=["calls", "call_sync_status"],
    deps=[van_reference_data_asset],
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"mongodb", "ngpvan", "s3"},
    pool="van_api",
    check_specs=[
        dg.AssetCheckSpec(
            FINAL_CHECK,
            asset=["calls", "call_sync_status"],
            description="Every call of the day ended in exactly one final state.",
        )
    ],
)
def call_sync_status(
    context: dg.AssetExecutionContext,
    config: CallSyncConfig,
    warehouse: WarehouseResource,
    van: VanResource,
    calls_store: CallsStoreResource,
    s3: S3Resource,
):
    """Each Livevox call of one candidate-day moved to its final sync status: one VAN canvass response per call
    (never posted twice), the rest ignored or exported in a CSV whose S3 URL is the receipt."""
    slug, day = candidate_and_day(context)
    candidate = SETTINGS.candidate(slug)
    engine = warehouse.get_engine()
    if candidate.strategy != "all_csv":
        ref = stored_reference(engine, candidate.van_instance, candidate.van_mode)
        problems = validate.validate_candidate(candidate, ref) if ref else ["no VAN reference data fetched yet"]
        if problems:
            raise dg.Failure(description=validate.validation_report(candidate, problems), allow_retries=False)
    lock = f"calls:{slug}:{day}"
    if not config.dry_run:
        _take_lock(context, calls_store, lock)
    try:
        with metered(engine) as meter:
            allowance, budget_info = _allowance(candidate, meter, engine)
            client = _van_client(van, candidate, meter) if candidate.strategy != "all_csv" else None
            result = sync_day(
                store=calls_store,
                settings=SETTINGS,
                candidate=candidate,
                day=day,
                run_id=context.run.run_id,
                allowance=allowance,
                client=client,
                ledger_factory=ledger_factory(engine, context.run.run_id),
                csv_sink=s3_csv_sink(s3, SETTINGS.bucket()),
                dry_run=config.dry_run,
                logger=context.log,
            )
            spent = meter.spent("van")
            spent_today = meter.spent_today("van", candidate.van_instance) if candidate.van_instance else 0
    finally:
        if not config.dry_run:
            calls_store.release_lock(lock, context.run.run_id)
    counts = result.counts.as_metadata()
    van = result.van.as_metadata() if result.van else {}
    metadata = {
        "candidate": slug,
        "day": day,
        "strategy": candidate.strategy,
        "dry_run": config.dry_run,
        "dagster/row_count": result.counts.total,
        "calls": result.counts.total,
        **{f"status/{k}": v for k, v in counts["by_status"].items()},
        "planned": dg.MetadataValue.json(dict(result.planned)),
        "by_result": dg.MetadataValue.md(
            markdown_table(result.counts.result_rows(), ["result", "total", *logic.ALL_STATUSES], limit=50)
        ),
        "recovered_from_crash": dg.MetadataValue.json(dict(result.recovered)),
        "deferred_for_budget": result.deferred_budget,
        "van_allowance": allowance,
        "requests_spent": spent,
        "van_requests_today": spent_today,
        "van_cost_usd_today": round(cost_usd("van", spent_today), 2) if candidate.van_instance else 0.0,
        "budget": dg.MetadataValue.json(budget_info),
        "van_sync": dg.MetadataValue.json(van),
        "csv_files": dg.MetadataValue.json([{k: f[k] for k in ("url", "rows")} for f in result.csv_files]),
    }
    if result.errors:
        metadata["errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in result.errors[:20]))
    yield dg.MaterializeResult(metadata=metadata)
    problems = [] if config.dry_run else final_state_problems(result)
    yield dg.AssetCheckResult(
        check_name=FINAL_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or None,
        metadata={"deferred_for_budget": result.deferred_budget, **counts["by_status"]},
    )


def _presign(s3: S3Resource, url: str, hours: int) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    try:
        return s3.get_client().generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=hours * 3600
        )
    except Exception:  # a report without a link beats no report
        return url


def _was_dry_run(context) -> bool:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["calls", "call_sync_status"]), asset_partitions=[context.partition_key]
        ),
        limit=1,
    ).records
    if not records:
        return False
    meta = records[0].asset_materialization.metadata
    return bool(meta.get("dry_run").value) if meta.get("dry_run") else False


@dg.asset(
    key=["calls", "daily_report"],
    deps=[call_sync_status],
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"slack", "postgres"},
)
def calls_daily_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    slack: SlackResource,
    calls_store: CallsStoreResource,
    s3: S3Resource,
):
    """The day's dialer results of one candidate (counts per result and status, CSV link, VAN spend) posted to
    Slack and kept in calls.daily_reports; the watchdog alerts when a day has none."""
    slug, day = candidate_and_day(context)
    candidate = SETTINGS.candidate(slug)
    if _was_dry_run(context):
        context.log.info("the sync of this partition was a dry run: no report")
        return dg.MaterializeResult(metadata={"skipped": "dry run"})
    start, end = logic.day_window(day, candidate.tz)
    query = calls_store.day_query(candidate.district, start, end)
    counts = logic.DayCounts()
    van_calls = csv_calls = 0
    for row in calls_store.count_by(query, ["sync_status", "full_on_screen_result", "lv_result"]):
        counts.add(logic.status_of(row), logic.display_name_for(row, candidate), row["n"])
    for row in calls_store.count_by({**query, "sync_status": logic.FINISHED}, ["csv_key"]):
        if row.get("csv_key"):
            csv_calls += row["n"]
        else:
            van_calls += row["n"]
    receipts = [r for r in calls_store.distinct("receipt", {**query, "csv_key": {"$ne": None}}) if r]
    links = [_presign(s3, r, SETTINGS.csv_link_expiry_hours) for r in sorted(receipts)]
    spend = None
    if candidate.van_instance:
        with metered(warehouse.get_engine()) as meter:
            used = meter.spent_today("van", candidate.van_instance)
        spend = {
            "instance": candidate.van_instance,
            "requests": used,
            "budget": SETTINGS.budget_for(candidate.van_instance),
            "cost_usd": cost_usd("van", used),
        }
    text = report.summary_text(
        candidate,
        day,
        counts,
        van_calls=van_calls,
        csv_calls=csv_calls,
        csv_links=links,
        spend=spend,
        expiry_hours=SETTINGS.csv_link_expiry_hours,
    )
    posted = slack.post(text)
    stored_text = report.summary_text(
        candidate,
        day,
        counts,
        van_calls=van_calls,
        csv_calls=csv_calls,
        csv_links=sorted(receipts),
        spend=spend,
        expiry_hours=SETTINGS.csv_link_expiry_hours,
    )
    with warehouse.get_engine().begin() as conn:
        stmt = pg_insert(daily_reports).values(
            candidate=slug,
            day=dt.date.fromisoformat(day),
            contents=stored_text,
            counts=counts.as_metadata(),
            posted_to_slack=posted,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["candidate", "day"],
                set_={
                    "contents": stmt.excluded.contents,
                    "counts": stmt.excluded.counts,
                    "posted_to_slack": stmt.excluded.posted_to_slack,
                    "created_at": sa.func.now(),
                },
            )
        )
    return dg.MaterializeResult(
        metadata={
            "candidate": slug,
            "day": day,
            "calls": counts.total,
            "posted_to_slack": posted,
            "report": dg.MetadataValue.md(stored_text.replace("\n", "  \n")),
        }
    )
