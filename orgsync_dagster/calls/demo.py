"""The calls part of `orgsync demo`: Livevox CDR files for two candidates (one full, one hybrid) land in S3, the
real sensor loads them, the real calls_sync job syncs the day, and a re-run spends nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections import Counter
from zoneinfo import ZoneInfo

DEMO_CALLS = {"mo01": 60, "mo05": 60}


def _metadata(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def _ensure_bucket(client, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:
        client.create_bucket(Bucket=bucket)


def run(ctx) -> dict:
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from orgsync_dagster.calls import seed
    from orgsync_dagster.calls.partitions import SETTINGS, partition_key
    from orgsync_dagster.calls.sensors import livevox_cdr_sensor

    s3 = S3Resource(
        endpoint_url=os.environ.get("ORGSYNC_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    client = s3.get_client()
    bucket = SETTINGS.bucket()
    _ensure_bucket(client, bucket)
    day = (dt.datetime.now(ZoneInfo(SETTINGS.timezone)).date() - dt.timedelta(days=1)).isoformat()
    for i, (slug, n) in enumerate(sorted(DEMO_CALLS.items())):
        c = SETTINGS.candidate(slug)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(seed.CDR_HEADER)
        writer.writerows(
            seed.cdr_rows(seed.sample_calls(c.district, day, c.timezone, n, seed=i + 1), SETTINGS.cdr_timezone)
        )
        writer.writerow(["9999", "TEST123-van-1", "Test", "Account", "3145550000", "", "", "", "qa", "Busy", "1"])
        client.put_object(
            Bucket=bucket, Key=f"{SETTINGS.cdr_prefix}{day}/{slug}-export.csv", Body=buf.getvalue().encode()
        )
    ctx.say(f"uploaded 2 Livevox CDR files for {day} to s3://{bucket}/{SETTINGS.cdr_prefix}")

    with dg.build_sensor_context(instance=ctx.instance, resources={"s3": s3}) as sctx:
        sensed = livevox_cdr_sensor(sctx)
    requests = getattr(sensed, "run_requests", None) or []
    for req in getattr(sensed, "dynamic_partitions_requests", None) or []:
        ctx.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    loaded = 0
    for rr in requests:
        res = ctx.run_job("calls_load_cdr", partition_key=rr.partition_key, run_config=rr.run_config)
        meta = _metadata(res, ["calls", "livevox_cdr"])
        loaded += meta.get("rows", 0)
        ctx.say(
            f"  CDR {rr.partition_key}: {'ok' if res.success else 'FAILED'}; {meta.get('rows', 0)} calls, "
            f"{meta.get('test_accounts_skipped', 0)} test account(s) skipped"
        )
    summary: dict = {"day": day, "CDR files loaded by the sensor": len(requests), "calls loaded": loaded}

    for attempt in ("first run", "re-run"):
        for slug in sorted(DEMO_CALLS):
            c = SETTINGS.candidate(slug)
            res = ctx.run_job("calls_sync", partition_key=partition_key(slug, day))
            meta = _metadata(res, ["calls", "call_sync_status"])
            statuses = {k.split("/", 1)[1]: v for k, v in meta.items() if k.startswith("status/") and v}
            routes = {k: v for k, v in (meta.get("planned") or {}).items() if v}
            ctx.say(
                f"  {attempt} {slug} ({c.strategy}, VAN {c.van_instance}): {'ok' if res.success else 'FAILED'}; "
                f"{statuses}; this run: {routes or 'nothing left to do'}; VAN requests "
                f"{meta.get('requests_spent', 0)}; CSV files {len(meta.get('csv_files') or [])}"
            )
            summary[f"{attempt} {slug} ({c.strategy}) status counts"] = statuses
            summary[f"{attempt} {slug} VAN requests"] = meta.get("requests_spent", 0)
    for slug in sorted(DEMO_CALLS):
        c = SETTINGS.candidate(slug)
        dump = ctx.sandbox.van.dump(ctx.van_keys[c.van_instance], c.van_mode)
        summary[f"canvass responses in sandbox VAN {c.van_instance}"] = len(dump["canvass_responses"])
        summary[f"canvass results by result code in {c.van_instance}"] = dict(
            Counter(str(r["resultCodeId"] or "responses") for r in dump["canvass_responses"])
        )
    return summary
