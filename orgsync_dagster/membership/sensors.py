"""Sensors of the membership sync: new exports in S3 start a run (failed runs reach Slack via orgsync_dagster.alerts)."""

import json

import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.membership.assets import TAG_BUCKET, TAG_ETAG, TAG_KEY, TAG_MODIFIED, export_partitions
from orgsync_dagster.membership.jobs import membership_sync_job
from orgsync_dagster.membership.s3io import list_new_objects, partition_key_for
from orgsync_dagster.membership.settings import settings

_S = settings()


@dg.sensor(
    job=membership_sync_job,
    minimum_interval_seconds=_S.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="New ActionKit membership exports in S3 (SES e-mail, CSV or ZIP) become partitions and runs.",
)
def membership_export_sensor(context: dg.SensorEvaluationContext, s3: S3Resource):
    """Lists only keys after the cursor (S3 StartAfter), at most ``sensor_max_objects_per_tick`` per tick; the
    cursor is the last key listed, never a clock. One run per object (run_key = key + ETag)."""
    s = settings()
    if not s.s3_bucket:
        return dg.SkipReason("no bucket configured (membership.s3_bucket or ORGSYNC_S3_BUCKET)")
    state = json.loads(context.cursor) if context.cursor else {}
    objects, last_key = list_new_objects(
        s3.get_client(),
        s.s3_bucket,
        s.s3_prefix,
        state.get("start_after"),
        s.sensor_max_objects_per_tick,
        skip_prefixes=(s.archive_prefix,),
    )
    cursor = json.dumps({"start_after": last_key}) if last_key else context.cursor
    if not objects:
        return dg.SensorResult(skip_reason="no new exports", cursor=cursor)
    requests, keys = [], []
    for obj in objects:
        pk = partition_key_for(obj.key, obj.etag, s.s3_prefix)
        keys.append(pk)
        tags = {TAG_BUCKET: obj.bucket, TAG_KEY: obj.key, TAG_ETAG: obj.etag}
        if obj.last_modified is not None:
            tags[TAG_MODIFIED] = obj.last_modified.isoformat()
        requests.append(dg.RunRequest(run_key=f"{obj.key}:{obj.etag}", partition_key=pk, tags=tags))
    context.log.info(f"{len(objects)} new export(s): {', '.join(keys)}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[export_partitions.build_add_request(keys)],
        cursor=cursor,
    )
