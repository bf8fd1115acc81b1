"""Livevox "Sync Export CDR" files landing in S3 -> the calls store (one dynamic partition per file), with each
call's Livevox service name (the original's enrichment)."""

import codecs
import csv
import io
import tempfile
from collections import Counter

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field

from orgsync_dagster.calls import runtime
from orgsync_dagster.calls.cdr import CdrFormatError, parse_cdr, resolve_date_order
from orgsync_dagster.calls.config import CallsConfigError
from orgsync_dagster.calls.partitions import cdr_file_partitions
from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.http import ApiError
from orgsync_dagster.resources.livevox import LivevoxConfigError, LivevoxResource
from orgsync_dagster.resources.warehouse import WarehouseResource

BATCH = 1000
MAX_REJECTS_KEPT = 10_000
REJECT_CHECK = "no_rejected_rows"


class CdrLoadConfig(dg.Config):
    etag: str = Field(default="", description="ETag of the object the sensor saw (recorded for the audit trail).")
    bucket: str = Field(default="", description="Bucket (default: calls.s3_bucket or $ORGSYNC_S3_BUCKET).")


def _quarantine(client, bucket: str, key: str, prefix: str) -> str:
    target = f"{prefix}{key}"
    try:
        client.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
    except (ClientError, BotoCoreError):
        return "(copy to quarantine failed)"
    return f"s3://{bucket}/{target}"


def _write_rejects(client, bucket: str, key: str, prefix: str, rejects: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["line", "call_id", "reason"])
    writer.writerows(rejects)
    target = f"{prefix}{key}.rejected.csv"
    client.put_object(Bucket=bucket, Key=target, Body=buf.getvalue().encode(), ContentType="text/csv")
    return f"s3://{bucket}/{target}"


def enrich_service_names(calls_store, livevox: LivevoxResource, meter, source: str) -> dict:
    """Calls of this file without a service name get it from Livevox: one login, then per campaign its service
    (GET campaign) and the service's name (GET service), each asked once per run."""
    campaigns = sorted(
        str(c) for c in calls_store.distinct("campaign_id", {"source_file": source, "service_name": None}) if c
    )
    if not campaigns:
        return {"campaigns": 0, "calls_enriched": 0}
    try:
        client = livevox.client(meter=meter)
    except LivevoxConfigError as exc:
        return {"campaigns": len(campaigns), "calls_enriched": 0, "skipped": str(exc)}
    names: dict[int, str] = {}
    enriched, failed = 0, []
    for campaign in campaigns:
        try:
            service_id = int(client.get_campaign(int(campaign))["serviceId"])
            if service_id not in names:
                names[service_id] = str(client.get_service(service_id)["name"])
        except (ApiError, KeyError, TypeError, ValueError) as exc:
            failed.append(f"campaign {campaign}: {exc.status if isinstance(exc, ApiError) else type(exc).__name__}")
            continue
        enriched += calls_store.update_where(
            {"campaign_id": campaign, "service_name": None},
            {"service_id": service_id, "service_name": names[service_id]},
        )
    out = {"campaigns": len(campaigns), "calls_enriched": enriched, "livevox_requests": client.requests_sent}
    if failed:
        out["failed"] = failed[:20]
    return out


@dg.asset(
    key=["calls", "livevox_cdr"],
    partitions_def=cdr_file_partitions,
    group_name="calls",
    kinds={"s3", "mongodb"},
    check_specs=[
        dg.AssetCheckSpec(
            REJECT_CHECK,
            asset=["calls", "livevox_cdr"],
            description="Every row of the CDR file was loaded or skipped as a test account (rejected rows and "
            "their reasons are in the quarantine file).",
        )
    ],
)
def livevox_cdr(
    context: dg.AssetExecutionContext,
    config: CdrLoadConfig,
    s3: S3Resource,
    calls_store: CallsStoreResource,
    orgsync_config: OrgsyncConfigResource,
    warehouse: WarehouseResource,
    livevox: LivevoxResource,
):
    """One Livevox CDR export file loaded into the calls store: calls upserted by Livevox call id (re-loading is
    harmless and never touches sync status), test accounts skipped, unusable rows quarantined with their reason,
    and each call's Livevox service name added."""
    key = context.partition_key
    try:
        settings = runtime.settings(orgsync_config, warehouse)
    except CallsConfigError as exc:
        raise dg.Failure(description=f"calls configuration: {exc}", allow_retries=False) from None
    bucket = config.bucket or settings.bucket()
    prefix = settings.quarantine_prefix
    client = s3.get_client()
    source = f"s3://{bucket}/{key}"
    counts: Counter = Counter()
    warnings: Counter = Counter()
    rejects: list[tuple] = []
    batch: list[tuple] = []

    def flush():
        inserted, matched = calls_store.upsert_calls(batch)
        counts["inserted"] += inserted
        counts["updated"] += matched
        batch.clear()

    with tempfile.TemporaryFile("w+b") as spool:  # two passes: the date order first, then the rows
        try:
            client.download_fileobj(bucket, key, spool)
        except (ClientError, BotoCoreError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code", "error")
                if isinstance(exc, ClientError)
                else type(exc).__name__
            )
            raise dg.Failure(description=f"cannot read {source}: {code}") from None

        def lines():
            spool.seek(0)
            return codecs.getreader("utf-8-sig")(spool)

        try:
            order = resolve_date_order(lines(), settings)
            for o in parse_cdr(lines(), settings, source, order):
                if o.error:
                    counts["rejected"] += 1
                    if len(rejects) < MAX_REJECTS_KEPT:
                        rejects.append((o.line, o.call_id or "", o.error))
                    continue
                if o.skipped_test:
                    counts["test_accounts_skipped"] += 1
                    continue
                counts["rows"] += 1
                for w in (o.warning or "").split("; "):
                    if w:
                        warnings[w] += 1
                batch.append((o.call_id, o.set_fields, o.on_insert))
                if len(batch) >= BATCH:
                    flush()
            flush()
        except (CdrFormatError, UnicodeDecodeError) as exc:
            where = _quarantine(client, bucket, key, prefix)
            what = str(exc) if isinstance(exc, CdrFormatError) else "the file is not UTF-8 text"
            loaded = counts["inserted"] + counts["updated"]
            raise dg.Failure(
                description=f"{source}: {what}. Copied to {where}. {loaded} row(s) before the problem were loaded; "
                "fix the file (or the configuration) and upload it again (loading is idempotent).",
                allow_retries=False,
                metadata={"rows_loaded": loaded},
            ) from None
    quarantine = _write_rejects(client, bucket, key, prefix, rejects) if rejects else None
    with metered(warehouse.get_engine()) as meter:
        services = enrich_service_names(calls_store, livevox, meter, source)
    if services.get("skipped"):
        context.log.info(f"service names not added: {services['skipped']}")
    context.log.info(
        f"{source}: {counts['rows']} calls, {counts['rejected']} rejected, "
        f"{counts['test_accounts_skipped']} test accounts, {services.get('calls_enriched', 0)} service names added"
    )
    yield dg.MaterializeResult(
        metadata={
            "file": source,
            "etag": config.etag,
            "dagster/row_count": counts["rows"],
            "calls_loaded": counts["rows"],
            "calls_inserted": counts["inserted"],
            "calls_updated": counts["updated"],
            "test_accounts_skipped": counts["test_accounts_skipped"],
            "rows_rejected": counts["rejected"],
            "date_order_detected": order or "(configured per candidate, or ISO dates)",
            "warnings": dg.MetadataValue.json(dict(warnings)),
            "rejected_rows_file": quarantine or "",
            "livevox_service_names": dg.MetadataValue.json(services),
        }
    )
    yield dg.AssetCheckResult(
        check_name=REJECT_CHECK,
        passed=counts["rejected"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{counts['rejected']} row(s) rejected; reasons in {quarantine}" if quarantine else None,
        metadata={
            "rows_rejected": counts["rejected"],
            "reasons": dg.MetadataValue.json(dict(Counter(r[2].split(":")[0] for r in rejects))),
        },
    )
