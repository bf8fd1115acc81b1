"""Livevox "Sync Export CDR" files landing in S3 -> the calls store (one dynamic partition per file)."""

import codecs
import csv
import io
from collections import Counter

import dagster as dg
from botocore.exceptions import ClientError
from dagster_aws.s3 import S3Resource
from pydantic import Field

from orgsync_dagster.calls.cdr import CdrFormatError, parse_cdr
from orgsync_dagster.calls.partitions import SETTINGS, cdr_file_partitions
from orgsync_dagster.resources.calls_store import CallsStoreResource

BATCH = 1000
MAX_REJECTS_KEPT = 10_000
REJECT_CHECK = "no_rejected_rows"


class CdrLoadConfig(dg.Config):
    etag: str = Field(default="", description="ETag of the object the sensor saw (recorded for the audit trail).")
    bucket: str = Field(default="", description="Bucket (default: settings.s3_bucket or $ORGSYNC_S3_BUCKET).")


def _quarantine(client, bucket: str, key: str) -> str:
    target = f"{SETTINGS.quarantine_prefix}{key}"
    try:
        client.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
    except ClientError:
        return "(copy to quarantine failed)"
    return f"s3://{bucket}/{target}"


def _write_rejects(client, bucket: str, key: str, rejects: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["line", "call_id", "reason"])
    writer.writerows(rejects)
    target = f"{SETTINGS.quarantine_prefix}{key}.rejected.csv"
    client.put_object(Bucket=bucket, Key=target, Body=buf.getvalue().encode(), ContentType="text/csv")
    return f"s3://{bucket}/{target}"


@dg.asset(
    key=["calls", "livevox_cdr"],
    partitions_def=cdr_file_partitions,
    group_name="calls",
    kinds={"s3", "mongodb"},
    check_specs=[
        dg.AssetCheckSpec(
            REJECT_CHECK,
            asset=["calls", "livevox_cdr"],
            description="Every row of the CDR file was loaded or skipped as a test account.",
        )
    ],
)
def livevox_cdr(
    context: dg.AssetExecutionContext, config: CdrLoadConfig, s3: S3Resource, calls_store: CallsStoreResource
):
    """One Livevox CDR export file loaded into the calls store: calls upserted by Livevox call id (re-loading is
    harmless and never touches sync status), test accounts skipped, unusable rows quarantined with their reason."""
    key = context.partition_key
    bucket = config.bucket or SETTINGS.bucket()
    client = s3.get_client()
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        raise dg.Failure(
            description=f"cannot read s3://{bucket}/{key}: {exc.response.get('Error', {}).get('Code', 'error')}"
        ) from None
    counts: Counter = Counter()
    warnings: Counter = Counter()
    rejects: list[tuple] = []
    batch: list[tuple] = []

    def flush():
        inserted, matched = calls_store.upsert_calls(batch)
        counts["inserted"] += inserted
        counts["updated"] += matched
        batch.clear()

    source = f"s3://{bucket}/{key}"
    try:
        for o in parse_cdr(codecs.getreader("utf-8-sig")(body), SETTINGS, source):
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
        where = _quarantine(client, bucket, key)
        what = str(exc) if isinstance(exc, CdrFormatError) else "the file is not UTF-8 text"
        loaded = counts["inserted"] + counts["updated"]
        raise dg.Failure(
            description=f"{source}: {what}. Copied to {where}. {loaded} row(s) before the problem were loaded; "
            "fix the file and upload it again (loading is idempotent).",
            allow_retries=False,
            metadata={"rows_loaded": loaded},
        ) from None
    quarantine = _write_rejects(client, bucket, key, rejects) if rejects else None
    context.log.info(
        f"{source}: {counts['rows']} calls, {counts['rejected']} rejected, "
        f"{counts['test_accounts_skipped']} test accounts"
    )
    yield dg.MaterializeResult(
        metadata={
            "file": source,
            "etag": config.etag,
            "dagster/row_count": counts["rows"],
            **{k: counts[k] for k in ("rows", "inserted", "updated", "test_accounts_skipped", "rejected")},
            "warnings": dg.MetadataValue.json(dict(warnings)),
            "rejected_rows_file": quarantine or "",
        }
    )
    yield dg.AssetCheckResult(
        check_name=REJECT_CHECK,
        passed=counts["rejected"] == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{counts['rejected']} row(s) rejected; reasons in {quarantine}" if quarantine else None,
        metadata={
            "rejected": counts["rejected"],
            "reasons": dg.MetadataValue.json(dict(Counter(r[2].split(":")[0] for r in rejects))),
        },
    )
