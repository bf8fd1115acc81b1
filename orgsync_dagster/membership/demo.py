"""The membership part of `orgsync demo`: two weekly ActionKit exports land in S3 (the first as the raw SES
e-mail with a ZIP attachment, the second as a ZIP); the sensor picks them up, each becomes a partition, and the
job loads, diffs and pushes them to the sandbox's Action Network. A re-run then spends nothing."""

from __future__ import annotations

import os

import boto3
import dagster as dg

from orgsync_dagster.membership import samples
from orgsync_dagster.membership.assets import DIFF_KEY, SNAPSHOT_KEY, SYNC_KEY, export_partitions
from orgsync_dagster.membership.sensors import membership_export_sensor
from orgsync_dagster.membership.settings import settings


def _meta(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def run(ctx) -> dict:
    s = settings()
    client = boto3.client(
        "s3",
        endpoint_url=os.environ.get("ORGSYNC_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if ctx.s3_bucket not in existing:
        client.create_bucket(Bucket=ctx.s3_bucket)
    pair = samples.week_pair(48, new=4, updated=3, lapsed=2)
    week1 = samples.to_eml([("membership_export.zip", samples.to_zip(samples.to_csv(pair.older)))])
    week2 = samples.to_zip(samples.to_csv(pair.newer))
    for name, body in (("2026-11-14/ses-message.eml", week1), ("2026-11-21/membership_export.zip", week2)):
        client.put_object(Bucket=ctx.s3_bucket, Key=s.s3_prefix + name, Body=body)
    ctx.say(f"dropped 2 weekly exports into s3://{ctx.s3_bucket}/{s.s3_prefix} (an SES e-mail and a ZIP)")

    s3 = ctx.defs.resources["s3"]
    with dg.build_sensor_context(instance=ctx.instance, resources={"s3": s3}, cursor=None) as sctx:
        tick = membership_export_sensor(sctx)
    for req in tick.dynamic_partitions_requests or []:
        ctx.instance.add_dynamic_partitions(export_partitions.name, list(req.partition_keys))
    ctx.say(
        f"sensor: {len(tick.run_requests)} new export(s) -> partitions "
        f"{', '.join(r.partition_key for r in tick.run_requests)}"
    )

    summary: dict = {}
    for week, req in enumerate(tick.run_requests, start=1):
        result = ctx.run_job("membership_sync", partition_key=req.partition_key, tags=req.tags)
        snap, diff, sync = _meta(result, SNAPSHOT_KEY), _meta(result, DIFF_KEY), _meta(result, SYNC_KEY)
        ctx.say(
            f"  week {week}: {'ok' if result.success else 'FAILED'}; {snap.get('members')} members "
            f"({snap.get('container')}), new {diff.get('new')}, updated {diff.get('updated')}, lapsed "
            f"{diff.get('lapsed')}, unchanged {diff.get('unchanged')}; Action Network requests "
            f"{sync.get('requests_spent')}"
        )
        summary[f"week {week}: new/updated/lapsed/unchanged"] = (
            f"{diff.get('new')}/{diff.get('updated')}/{diff.get('lapsed')}/{diff.get('unchanged')}"
        )
        summary[f"week {week}: Action Network requests"] = sync.get("requests_spent")

    with dg.build_sensor_context(instance=ctx.instance, resources={"s3": s3}, cursor=tick.cursor) as sctx:
        again = membership_export_sensor(sctx)
    summary["sensor tick after both: new exports"] = len(getattr(again, "run_requests", []) or [])
    last = tick.run_requests[-1]
    rerun = ctx.run_job("membership_sync", partition_key=last.partition_key, tags=last.tags)
    summary["re-run of week 2: Action Network requests"] = _meta(rerun, SYNC_KEY).get("requests_spent")
    ctx.say(f"  re-run of week 2: {summary['re-run of week 2: Action Network requests']} requests (ledger)")

    people = ctx.sandbox.action_network.dump(ctx.action_network_key)["people"]
    flags = [p["custom_fields"].get("is_member") for p in people]
    summary["people in sandbox Action Network"] = len(people)
    summary["is_member True/False"] = f"{flags.count('True')}/{flags.count('False')}"
    return summary
