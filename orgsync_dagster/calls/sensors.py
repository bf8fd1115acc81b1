"""Sensors of the calls sync: candidates -> partitions, new Livevox CDR files in S3, the missing-report watchdog and
the failure webhook. Configuration is read at tick time; a sensor never raises: it skips with one clear line."""

import datetime as dt
import heapq
import json
from zoneinfo import ZoneInfo

import dagster as dg
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls import logic, notify, runtime
from orgsync_dagster.calls.jobs import calls_load_cdr_job, calls_sync_job
from orgsync_dagster.calls.partitions import candidate_partitions, cdr_file_partitions
from orgsync_dagster.calls.tables import daily_reports
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource

MAX_FILES_PER_TICK = 25
LOOKBACK = dt.timedelta(minutes=5)  # re-offer files this close to the cursor (S3 times have 1 s resolution)


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Keeps the calls_candidates partitions equal to the candidates in the warehouse store: a candidate "
    "added in the web app or by `orgsync calls config import` becomes a partition, a removed one stops being one "
    "(its history stays).",
)
def calls_candidates_sensor(
    context: dg.SensorEvaluationContext, orgsync_config: OrgsyncConfigResource, warehouse: WarehouseResource
):
    try:
        wanted = set(runtime.store(orgsync_config, warehouse).candidate_slugs())
    except Exception as exc:
        return dg.SkipReason(f"cannot read the calls configuration: {_why(exc)}")
    have = set(context.instance.get_dynamic_partitions(candidate_partitions.name))
    add, remove = sorted(wanted - have), sorted(have - wanted)
    if not add and not remove:
        return dg.SkipReason(f"partitions match the {len(wanted)} candidate(s)")
    requests = []
    if add:
        requests.append(candidate_partitions.build_add_request(add))
    if remove:
        requests.append(candidate_partitions.build_delete_request(remove))
    context.log.info(f"candidates added: {add or 'none'}; removed: {remove or 'none'}")
    return dg.SensorResult(dynamic_partitions_requests=requests)


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


def s3_problem(exc: Exception, bucket: str, prefix: str) -> str:
    """One line saying what is wrong with S3 access (never a stack trace, never a credential)."""
    where = f"s3://{bucket}/{prefix}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return f"cannot list {where}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "error")
        if code in ("NoSuchBucket", "404"):
            return f"cannot list {where}: the bucket does not exist (set ORGSYNC_S3_BUCKET or calls.s3_bucket)"
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken"):
            return f"cannot list {where}: the AWS credentials are invalid or not allowed to read the bucket ({code})"
        return f"cannot list {where}: S3 answered {code}"
    return f"cannot list {where}: S3 is unreachable ({type(exc).__name__})"


@dg.sensor(
    job=calls_load_cdr_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Livevox 'Sync Export CDR' files under calls.cdr_prefix -> one load run per file and ETag. Skips "
    "with one clear line when the bucket or the credentials are missing.",
)
def livevox_cdr_sensor(context: dg.SensorEvaluationContext, s3: S3Resource, orgsync_config: OrgsyncConfigResource):
    try:
        deployment = runtime.deployment(orgsync_config)
    except Exception as exc:
        return dg.SkipReason(f"cannot read the calls configuration: {_why(exc)}")
    bucket, prefix = deployment.bucket(), deployment.cdr_prefix
    cursor = json.loads(context.cursor) if context.cursor else {}
    try:
        pages = s3.get_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        objects, new_cursor = select_new((o for page in pages for o in page.get("Contents", [])), cursor)
    except (ClientError, BotoCoreError) as exc:
        return dg.SkipReason(s3_problem(exc, bucket, prefix))
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


def missing_reports(engine, store: CallsStoreResource, settings, day: dt.date) -> list[str]:
    """Candidates expected to have a report for ``day`` (active, or with calls that day) that have none."""
    expected = set()
    for c in settings.candidates.values():
        start, end = logic.day_window(day, c.tz)
        if c.active or store.calls().find_one(store.day_query(c.district, start, end), {"_id": 1}):
            expected.add(c.slug)
    with engine.connect() as conn:
        have = {r[0] for r in conn.execute(sa.select(daily_reports.c.candidate).where(daily_reports.c.day == day))}
    return sorted(expected - have)


@dg.sensor(
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="After calls.report_deadline_hour, alert on Slack when yesterday's call report of a candidate is "
    "missing (candidates read from the warehouse at each tick).",
)
def calls_missing_report_sensor(
    context: dg.SensorEvaluationContext,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    slack: SlackResource,
    calls_store: CallsStoreResource,
):
    try:
        settings = runtime.settings(orgsync_config, warehouse)
    except Exception as exc:
        return dg.SkipReason(f"cannot read the calls configuration: {_why(exc)}")
    now = dt.datetime.now(ZoneInfo(settings.timezone))
    if now.hour < settings.report_deadline_hour:
        return dg.SkipReason(f"before the {settings.report_deadline_hour}:00 report deadline")
    day = now.date() - dt.timedelta(days=1)
    if context.cursor == day.isoformat():
        return dg.SkipReason(f"{day} already checked")
    missing = missing_reports(warehouse.get_engine(), calls_store, settings, day)
    if missing:
        names = ", ".join(f"{settings.candidates[s].display_name} ({s})" for s in missing)
        slack.post(
            f":warning: No dialer report for {day} yet: {names}. Check the calls_sync runs of those partitions "
            "(or backfill them)."
        )
    context.update_cursor(day.isoformat())
    return dg.SkipReason(f"{day}: missing reports {missing}" if missing else f"{day}: every report is there")


@dg.run_failure_sensor(
    monitored_jobs=[calls_sync_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed calls_sync run is announced on the candidate's failure webhook (failure_webhook_env), "
    "counts and the step names only.",
)
def calls_failure_webhook_sensor(
    context: dg.RunFailureSensorContext, orgsync_config: OrgsyncConfigResource, warehouse: WarehouseResource
):
    tags = context.dagster_run.tags
    slug, day = tags.get("dagster/partition/candidate"), tags.get("dagster/partition/day")
    if not slug or not day:
        return
    try:
        candidate = runtime.settings(orgsync_config, warehouse).candidates.get(slug)
    except Exception as exc:
        context.log.warning(f"failure webhook of {slug} not sent: cannot read the calls configuration: {_why(exc)}")
        return
    if candidate is None:
        return
    delivery = notify.notice(candidate, day, succeeded=False, error=context.failure_event.message or "run failed")
    if delivery is not None and not delivery.posted:
        context.log.warning(f"failure webhook of {slug} ({delivery.target}) not sent: {delivery.note}")
