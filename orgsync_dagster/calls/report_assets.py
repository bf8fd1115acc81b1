"""The daily report of a candidate-day: to the candidate's own Slack channel, the warehouse, and its success webhook."""

import datetime as dt

import dagster as dg
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.calls import logic, notify, report
from orgsync_dagster.calls.assets import call_sync_status, load_candidate
from orgsync_dagster.calls.day_sync import waiting_query
from orgsync_dagster.calls.partitions import calls_partitions, candidate_and_day
from orgsync_dagster.calls.tables import bulk_import_batches, daily_reports
from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource


def _roster(calls_store, s3: S3Resource, settings, candidate, day: str, query: dict) -> tuple[str | None, int, str]:
    rows = calls_store.count_by(query, ["caller_login", "contact", "dropped", "service_name"])
    if not rows:
        return None, 0, ""
    text, agents = report.roster_csv(rows)
    bucket = settings.bucket()
    d = dt.date.fromisoformat(day)
    key = f"{settings.csv_prefix}{candidate.slug}/{day}/{candidate.slug}-agents-{d:%m-%d-%Y}.csv"
    try:
        s3.get_client().put_object(Bucket=bucket, Key=key, Body=text.encode(), ContentType="text/csv")
    except (ClientError, BotoCoreError) as exc:
        return None, agents, f"agent roster not uploaded ({type(exc).__name__})"
    return f"s3://{bucket}/{key}", agents, ""


@dg.asset(
    key=["calls", "daily_report"],
    deps=[call_sync_status],
    partitions_def=calls_partitions,
    group_name="calls",
    kinds={"slack", "postgres", "s3"},
)
def calls_daily_report(
    context: dg.AssetExecutionContext,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    slack: SlackResource,
    calls_store: CallsStoreResource,
    s3: S3Resource,
):
    """The day's dialer results of one candidate - counts per result and status, calls waiting for VAN budget and
    why, drop rate, agent roster and CSV locations, VAN spend - posted to the candidate's own Slack channel, kept
    in calls.daily_reports, and announced on its success webhook; the watchdog alerts when a day has none."""
    slug, day = candidate_and_day(context)
    settings, candidate = load_candidate(context, orgsync_config, warehouse, slug)
    engine = warehouse.get_engine()
    start, end = logic.day_window(day, candidate.tz)
    query = calls_store.day_query(candidate.district, start, end)
    counts = logic.DayCounts()
    for row in calls_store.count_by(query, ["sync_status", "full_on_screen_result", "lv_result"]):
        counts.add(logic.status_of(row), logic.display_name_for(row, candidate), row["n"])
    facts = report.ReportFacts()
    for row in calls_store.count_by({**query, "sync_status": logic.FINISHED}, ["csv_key"]):
        if row.get("csv_key"):
            facts.csv_calls += row["n"]
        else:
            facts.van_calls += row["n"]
    facts.csv_files = sorted(r for r in calls_store.distinct("receipt", {**query, "csv_key": {"$ne": None}}) if r)
    waiting = calls_store.count_by(waiting_query(calls_store, candidate, end), ["waiting_reason"])
    facts.waiting_for_budget = sum(r["n"] for r in waiting)
    facts.waiting_reason = max(waiting, key=lambda r: r["n"])["waiting_reason"] if waiting else None
    facts.drop = report.drop_rate(calls_store.count_by(query, ["contact", "dropped"]))
    facts.roster, facts.roster_agents, roster_note = _roster(calls_store, s3, settings, candidate, day, query)
    with engine.connect() as conn:
        jobs = conn.execute(
            sa.select(bulk_import_batches).where(
                bulk_import_batches.c.candidate == slug, bulk_import_batches.c.day == dt.date.fromisoformat(day)
            )
        ).all()
    facts.bulk_jobs = [
        {"job_id": j.job_id, "rows": j.rows, "state": j.state, **(j.outcome or {})} for j in jobs if j.job_id
    ]
    if candidate.van_instance:
        inst = settings.instance(candidate.van_instance)
        with metered(engine) as meter:
            used = meter.spent_today("van", inst.name)
        facts.spend = {
            "instance": inst.name,
            "requests": used,
            "budget": inst.describe(),
            "cost_usd": inst.cost_usd(used),
        }
    text = report.summary_text(candidate, day, counts, facts)
    delivery = notify.send_report(candidate, text, slack)
    with engine.begin() as conn:
        stmt = pg_insert(daily_reports).values(
            candidate=slug,
            day=dt.date.fromisoformat(day),
            contents=text,
            counts=counts.as_metadata(),
            posted_to_slack=delivery.posted,
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
    done = notify.notice(candidate, day, succeeded=True, counts=counts.as_metadata()["by_status"])
    for note in (delivery.note, roster_note, done.note if done else ""):
        if note:
            context.log.warning(f"{slug} {day}: {note}")
    return dg.MaterializeResult(
        metadata={
            "candidate": slug,
            "candidate_name": candidate.display_name,
            "day": day,
            "calls_in_day": counts.total,
            "report_sent_to": delivery.target,
            "report_posted": delivery.posted,
            "calls_waiting_for_budget": facts.waiting_for_budget,
            "drop_rate": facts.drop["rate"] if facts.drop else 0.0,
            "agent_roster": facts.roster or "",
            "success_webhook": (
                f"{done.target}: {'sent' if done.posted else done.note}" if done else "none configured"
            ),
            "report": dg.MetadataValue.md(text.replace("\n", "  \n")),
        }
    )
