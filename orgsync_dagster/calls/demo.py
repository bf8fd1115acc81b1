"""The calls part of `orgsync demo`: the seed configuration is imported into the warehouse, candidates become
partitions, Livevox CDR files for two candidates (one full with VAN bulk import, one hybrid) land in S3, the real
sensor loads them, the real calls_sync job syncs the day, and a re-run spends nothing."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections import Counter
from pathlib import Path
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sync_line(c, meta: dict, ok: bool) -> str:
    if not ok:
        return f"{c.display_name} ({c.slug}): the run FAILED (see the Dagster run)"
    bulk = (meta.get("van_bulk_import") or {}).get("bulk_import_jobs") or []
    sent = sum(meta.get("planned_calls_by_route", {}).get(k, 0) for k in ("van", "van (bulk import)"))
    how = f"as VAN bulk import job {bulk[-1]['job_id']}" if bulk and bulk[-1].get("job_id") else "one request each"
    this_run = [f"sent {_plural(sent, 'call')} to VAN {c.van_instance} {how}" if sent else "had nothing left to send"]
    csv_rows = sum(f.get("rows", 0) for f in meta.get("csv_files") or [])
    if csv_rows:
        this_run.append(f"wrote {_plural(csv_rows, 'call')} to a CSV for VAN upload")
    requests = meta.get("van_requests_spent_this_run", 0)
    day = f"{meta.get('calls_finished', 0)} finished, {meta.get('calls_ignored', 0)} ignored (no answer or dropped)"
    if meta.get("calls_of_this_day_waiting_for_budget"):
        day += f", {meta['calls_of_this_day_waiting_for_budget']} waiting for VAN budget"
    return (
        f"{c.display_name} ({c.slug}, {c.strategy} strategy): this run {' and '.join(this_run)}, spending "
        f"{_plural(requests, 'VAN request')} (${meta.get('van_cost_usd_this_run', 0.0):.2f} above VAN's free "
        f"allowance); the day's {meta.get('calls_in_day', 0)} calls: {day}"
    )


def run(ctx) -> dict:
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from orgsync_dagster.calls import seed
    from orgsync_dagster.calls.config import parse_deployment
    from orgsync_dagster.calls.config_store import ConfigStore
    from orgsync_dagster.calls.partitions import partition_key
    from orgsync_dagster.calls.sensors import calls_candidates_sensor, livevox_cdr_sensor
    from orgsync_dagster.lib import config as cfg
    from orgsync_dagster.resources.config import OrgsyncConfigResource
    from orgsync_dagster.resources.warehouse import WarehouseResource

    deployment = parse_deployment(cfg.section("calls"))
    store = ConfigStore(ctx.engine, deployment)
    imported = store.import_yaml((Path(__file__).parent / "candidates.yaml").read_text(), by="orgsync demo")
    settings = store.load_settings()
    ctx.say(f"calls configuration imported into the warehouse: {imported.summary()}")
    resources = {
        "orgsync_config": OrgsyncConfigResource(),
        "warehouse": WarehouseResource(url=os.environ.get("ORGSYNC_WAREHOUSE_URL")),
    }
    with dg.build_sensor_context(instance=ctx.instance, resources=resources) as sctx:
        added = calls_candidates_sensor(sctx)
    for req in getattr(added, "dynamic_partitions_requests", None) or []:
        ctx.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))

    s3 = S3Resource(
        endpoint_url=os.environ.get("ORGSYNC_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    )
    client = s3.get_client()
    bucket = settings.bucket()
    _ensure_bucket(client, bucket)
    day = (dt.datetime.now(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1)).isoformat()
    for i, (slug, n) in enumerate(sorted(DEMO_CALLS.items())):
        c = settings.candidate(slug)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(seed.CDR_HEADER)
        writer.writerows(
            seed.cdr_rows(seed.sample_calls(c.district, day, c.timezone, n, seed=i + 1), settings.cdr_timezone)
        )
        writer.writerow(["9999", "TEST123-van-1", "Test", "Account", "3145550000", "", "", "", "qa", "Busy", "1"])
        client.put_object(
            Bucket=bucket, Key=f"{settings.cdr_prefix}{day}/{slug}-export.csv", Body=buf.getvalue().encode()
        )
    ctx.say(f"uploaded 2 Livevox CDR files for {day} to s3://{bucket}/{settings.cdr_prefix}")

    with dg.build_sensor_context(
        instance=ctx.instance, resources={"s3": s3, "orgsync_config": resources["orgsync_config"]}
    ) as sctx:
        sensed = livevox_cdr_sensor(sctx)
    requests = getattr(sensed, "run_requests", None) or []
    for req in getattr(sensed, "dynamic_partitions_requests", None) or []:
        ctx.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    loaded = skipped = 0
    for rr in requests:
        res = ctx.run_job("calls_load_cdr", partition_key=rr.partition_key, run_config=rr.run_config)
        meta = _metadata(res, ["calls", "livevox_cdr"])
        loaded += meta.get("calls_loaded", 0)
        skipped += meta.get("test_accounts_skipped", 0)
        ctx.say(
            f"  CDR file {rr.partition_key}: {'loaded' if res.success else 'FAILED'}, "
            f"{_plural(meta.get('calls_loaded', 0), 'call')}, {_plural(meta.get('test_accounts_skipped', 0), 'test account')} skipped"
        )
    summary: dict = {
        "day synced": f"{day} (each candidate's own local day)",
        "candidates (from the warehouse)": ", ".join(
            f"{c.display_name} [{c.slug}]" for c in settings.candidates.values()
        ),
        "CDR files": f"{len(requests)} found by the S3 sensor, {_plural(loaded, 'call')} loaded, {skipped} test-account row(s) skipped",
    }
    for attempt in ("first run", "re-run"):
        for slug in sorted(DEMO_CALLS):
            c = settings.candidate(slug)
            res = ctx.run_job("calls_sync", partition_key=partition_key(slug, day))
            meta = _metadata(res, ["calls", "call_sync_status"])
            line = _sync_line(c, meta, res.success)
            ctx.say(f"  {attempt}: {line}")
            summary[f"{attempt} {slug}"] = line
            if attempt == "re-run":
                summary[f"re-run {slug} VAN requests"] = meta.get("van_requests_spent_this_run", 0)
    for slug in sorted(DEMO_CALLS):
        c = settings.candidate(slug)
        dump = ctx.sandbox.van.dump(ctx.van_keys[c.van_instance], c.van_mode)
        kinds = Counter(
            "bulk import" if r.get("source") == "bulk_import" else "one by one" for r in dump["canvass_responses"]
        )
        summary[f"sandbox VAN {c.van_instance} now holds"] = (
            f"{_plural(len(dump['canvass_responses']), 'canvass response')} from {c.display_name} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'none'})"
        )
    return summary
