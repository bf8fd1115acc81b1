"""Sensors of the calls sync: new Livevox CDR files in S3, and the missing-report watchdog."""

import datetime as dt
import heapq
import json
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls import logic
from orgsync_dagster.calls.jobs import calls_load_cdr_job
from orgsync_dagster.calls.partitions import SETTINGS, cdr_file_partitions
from orgsync_dagster.calls.tables import daily_reports
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource

MAX_FILES_PER_TICK = 25
LOOKBACK = dt.timedelta(minutes=5)  # re-offer files this close to the cursor (S3 times have 1 s resolution)


def select_new(objects, cursor: dict, cap: int = MAX_FILES_PER_TICK) -> tuple[list[dict], dict]:
    """Objects after the cursor (LastModified, Key), oldest first, at most ``cap``, plus the ones within LOOKBACK
    of it (Dagster drops those whose run_key = key:etag already ran). The cursor only moves past what is returned.
    One pass over the listing; memory is bounded by ``cap`` plus the look-back."""
    c_lm = dt.datetime.fromisoformat(cursor["lm"]) if cursor.get("lm") else None
    c_pair = (c_lm, cursor.get("key", "")) if c_lm else None
    recent: list[dict] = []

    def fresh():
        for o in objects:
            key = o["Key"]
            if key.endswith("/") or not key.lower().endswith((".csv", ".txt")):
                continue
            if c_pair is None or (o["LastModified"], key) > c_pair:
                yield o
            elif o["LastModified"] >= c_lm - LOOKBACK:
                recent.append(o)

    chosen = heapq.nsmallest(cap, fresh(), key=lambda o: (o["LastModified"], o["Key"]))
    new_cursor = dict(cursor)
    if chosen:
        new_cursor = {"lm": chosen[-1]["LastModified"].isoformat(), "key": chosen[-1]["Key"]}
    return recent + chosen, new_cursor


@dg.sensor(
    job=calls_load_cdr_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Livevox 'Sync Export CDR' files under settings.cdr_prefix -> one load run per file and ETag.",
)
def livevox_cdr_sensor(context: dg.SensorEvaluationContext, s3: S3Resource):
    bucket = SETTINGS.bucket()
    cursor = json.loads(context.cursor) if context.cursor else {}
    try:
        pages = s3.get_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=SETTINGS.cdr_prefix)
        objects, new_cursor = select_new((o for page in pages for o in page.get("Contents", [])), cursor)
    except ClientError as exc:
        return dg.SkipReason(
            f"cannot list s3://{bucket}/{SETTINGS.cdr_prefix}: {exc.response.get('Error', {}).get('Code', 'error')}"
        )
    if not objects:
        return dg.SkipReason("no new CDR file")
    requests = [
        dg.RunRequest(
            run_key=f"{o['Key']}:{o.get('ETag', '').strip(chr(34))}",
            partition_key=o["Key"],
            run_config={
                "ops": {"calls__livevox_cdr": {"config": {"etag": o.get("ETag", "").strip('"'), "bucket": bucket}}}
            },
        )
        for o in objects
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[cdr_file_partitions.build_add_request(sorted({o["Key"] for o in objects}))],
        cursor=json.dumps(new_cursor),
    )


def missing_reports(engine, store: CallsStoreResource, day: dt.date) -> list[str]:
    """Candidates expected to have a report for ``day`` (active, or with calls that day) that have none."""
    expected = set()
    for c in SETTINGS.candidates.values():
        start, end = logic.day_window(day, c.tz)
        if c.active or store.calls().find_one(store.day_query(c.district, start, end), {"_id": 1}):
            expected.add(c.slug)
    with engine.connect() as conn:
        have = {r[0] for r in conn.execute(sa.select(daily_reports.c.candidate).where(daily_reports.c.day == day))}
    return sorted(expected - have)


@dg.sensor(
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After settings.report_deadline_hour, alert on Slack when yesterday's call report is missing.",
)
def calls_missing_report_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    slack: SlackResource,
    calls_store: CallsStoreResource,
):
    now = dt.datetime.now(ZoneInfo(SETTINGS.timezone))
    if now.hour < SETTINGS.report_deadline_hour:
        return dg.SkipReason(f"before the {SETTINGS.report_deadline_hour}:00 report deadline")
    day = now.date() - dt.timedelta(days=1)
    if context.cursor == day.isoformat():
        return dg.SkipReason(f"{day} already checked")
    missing = missing_reports(warehouse.get_engine(), calls_store, day)
    if missing:
        slack.post(
            f":warning: No dialer report for {day} yet: {', '.join(missing)}. "
            "Check the calls_sync runs of those partitions (or backfill them)."
        )
    context.update_cursor(day.isoformat())
    return dg.SkipReason(f"{day}: missing reports {missing}" if missing else f"{day}: every report is there")
