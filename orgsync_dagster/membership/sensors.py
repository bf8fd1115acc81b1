"""Sensors of the membership sync: new exports in S3 start a run (failed runs reach Slack via orgsync_dagster.alerts)."""

import json

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership.assets import TAG_BUCKET, TAG_ETAG, TAG_KEY, TAG_MODIFIED, export_partitions
from orgsync_dagster.membership.intake import safe_partition_key
from orgsync_dagster.membership.jobs import membership_sync_job
from orgsync_dagster.membership.s3io import list_objects, partition_key_for, plan_tick
from orgsync_dagster.membership.settings import settings

_INTERVAL_SECONDS = settings().sensor_interval_seconds  # the decorator's only need at import


def _s3_problem(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error") or {}
        return f"{err.get('Code', '?')} {err.get('Message', '')}".strip()
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


@dg.sensor(
    job=membership_sync_job,
    minimum_interval_seconds=_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="New ActionKit membership exports in S3 (SES e-mail, CSV or ZIP) become partitions and runs.",
)
def membership_export_sensor(context: dg.SensorEvaluationContext, s3: S3Resource):
    """Lists the prefix and requests every object not requested before, whatever its key's sort order (SES keys
    are random): the cursor is a LastModified watermark plus the objects already requested within
    ``sensor_overlap_seconds`` of it, and an object whose partition already exists is never requested again. At most ``sensor_max_objects_per_tick`` per tick, oldest first. One run per
    object (run_key = key + ETag); the snapshot asset decides (intake allow-list) and records any rejection."""
    try:
        s = settings()
    except cfg.ConfigError as exc:
        return dg.SkipReason(f"membership settings are invalid: {exc}")
    if not s.s3_bucket:
        return dg.SkipReason("no bucket configured (membership.s3_bucket or ORGSYNC_S3_BUCKET)")
    try:
        state = json.loads(context.cursor) if context.cursor else {}
    except ValueError:
        state = {}
    try:
        listed = list_objects(s3.get_client(), s.s3_bucket, s.s3_prefix, skip_prefixes=(s.archive_prefix,))
    except (BotoCoreError, ClientError) as exc:
        return dg.SensorResult(
            skip_reason=f"cannot list s3://{s.s3_bucket}/{s.s3_prefix} ({_s3_problem(exc)}); nothing was skipped, "
            "the next tick tries again",
            cursor=context.cursor,
        )
    # an object whose partition exists was requested already (the instance's record; a lost or old-format cursor
    # then costs no re-request)
    known = set(context.instance.get_dynamic_partitions(export_partitions.name))
    listed = [o for o in listed if partition_key_for(o.key, o.etag, s.s3_prefix) not in known]
    batch, new_state = plan_tick(listed, state, s.sensor_max_objects_per_tick, s.sensor_overlap_seconds)
    cursor = json.dumps(new_state) if new_state else context.cursor
    if not batch:
        return dg.SensorResult(skip_reason="no new exports", cursor=cursor)
    requests, keys = [], []
    for obj in batch:
        pk = partition_key_for(obj.key, obj.etag, s.s3_prefix)
        keys.append(pk)
        tags = {TAG_BUCKET: obj.bucket, TAG_KEY: obj.key, TAG_ETAG: obj.etag}
        if obj.last_modified is not None:
            tags[TAG_MODIFIED] = obj.last_modified.isoformat()
        requests.append(dg.RunRequest(run_key=f"{obj.key}:{obj.etag}", partition_key=pk, tags=tags))
    more = " (the per-tick cap; any others next tick)" if len(batch) == s.sensor_max_objects_per_tick else ""
    context.log.info(f"{len(batch)} new export(s){more}: {', '.join(safe_partition_key(k) for k in keys)}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[export_partitions.build_add_request(keys)],
        cursor=cursor,
    )
