"""The actionkit/membership_snapshot asset: one export read from S3, validated and stored."""

import datetime as dt
import posixpath

import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.lib import profile
from orgsync_dagster.lib.runtime import markdown_table
from orgsync_dagster.membership import intake, store
from orgsync_dagster.membership.exports import CANONICAL_COLUMNS, ExportError, stream_export
from orgsync_dagster.membership.keys import (
    QUARANTINE_CHECK,
    SNAPSHOT_KEY,
    TAG_BUCKET,
    TAG_ETAG,
    TAG_KEY,
    TAG_MODIFIED,
    export_partitions,
)
from orgsync_dagster.membership.s3io import (
    ExportFetchError,
    ExportObject,
    archive_key_for,
    fetch_and_keep,
    head,
    key_from_partition,
    partition_key_for,
    short_etag,
)
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.resources.warehouse import WarehouseResource


def _locate(context: dg.AssetExecutionContext, engine, s, client) -> ExportObject:
    """The S3 object of this partition: from the sensor's run tags, the exports table, or the partition key."""
    pk = context.partition_key
    tags = context.run.tags
    if tags.get(TAG_KEY) and partition_key_for(tags[TAG_KEY], tags.get(TAG_ETAG, ""), s.s3_prefix) == pk:
        modified = dt.datetime.fromisoformat(tags[TAG_MODIFIED]) if tags.get(TAG_MODIFIED) else None
        return ExportObject(tags.get(TAG_BUCKET) or s.s3_bucket, tags[TAG_KEY], tags[TAG_ETAG], modified)
    row = store.get_export(engine, pk)
    if row:
        return ExportObject(row["bucket"], row["s3_key"], row["etag"] or "", row["last_modified"], row["size_bytes"])
    key = key_from_partition(pk, s.s3_prefix)
    if key is None:
        raise dg.Failure(
            description=intake.scrub_message(
                f"Export {pk}: its S3 key was shortened in the partition key and is not in membership.exports; "
                "run it from the sensor's run (its tags hold the full key).",
                pk,
            ),
            allow_retries=False,
        )
    try:
        obj = head(client, s.s3_bucket, key)
    except ExportFetchError:
        obj = None
    if obj is None or short_etag(obj.etag) != pk.rsplit("@", 1)[-1]:
        return ExportObject(s.s3_bucket, key, pk.rsplit("@", 1)[-1])  # replaced or gone: only a kept copy can serve
    return obj


def _fail(engine, pk: str, message: str, kept: str | None) -> dg.Failure:
    """Record why the export cannot be used and return the step failure to raise (no retries: same input)."""
    message = intake.scrub_message(message, pk)
    store.record_export(engine, pk, status="failed", error=message)
    where = f" The raw export is kept at {kept}." if kept else ""
    return dg.Failure(description=message + where, metadata={"kept_raw_export": kept or "none"}, allow_retries=False)


def _reject(engine, pk: str, obj: ExportObject, verdict: intake.Verdict, kept: str) -> dg.Failure:
    """Record an intake rejection (exports status ``rejected`` + membership.intake_rejections); nothing is parsed."""
    detail = intake.scrub_message(verdict.detail)
    intake.record_rejection(
        engine,
        partition_key=pk,
        bucket=obj.bucket,
        key=obj.key,
        etag=obj.etag,
        reason=verdict.reason,
        detail=detail,
        kept=kept,
    )
    store.record_export(engine, pk, status="rejected", error=f"{verdict.reason}: {detail}", container=verdict.kind)
    return dg.Failure(
        description=intake.scrub_message(
            f"Export {pk} rejected by the intake allow-list ({verdict.reason}): {detail}. Nothing was parsed; the raw "
            f"export is kept at {kept} and the rejection is recorded in membership.intake_rejections.",
            pk,
        ),
        metadata={"kept_raw_export": kept, "intake_reason": verdict.reason, "sender": verdict.sender},
        allow_retries=False,
    )


@dg.asset(
    key=SNAPSHOT_KEY,
    partitions_def=export_partitions,
    group_name="membership",
    kinds={"actionkit", "s3", "postgres"},
    check_specs=[dg.AssetCheckSpec(QUARANTINE_CHECK, asset=SNAPSHOT_KEY)],
)
def membership_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
    """One weekly ActionKit membership export (raw e-mail, ZIP or CSV in S3) validated and stored in the warehouse,
    unusable rows quarantined with their reason and the raw export kept."""
    s = settings()
    engine = warehouse.get_engine()
    pk = context.partition_key
    client = s3.get_client()
    obj = _locate(context, engine, s, client)
    archive_key = archive_key_for(obj, s.s3_prefix, s.archive_prefix)
    kept = f"s3://{obj.bucket}/{archive_key}"
    store.record_export(
        engine,
        pk,
        bucket=obj.bucket,
        s3_key=obj.key,
        etag=obj.etag,
        last_modified=obj.last_modified,
        size_bytes=obj.size,
        archive_key=archive_key,
        status="received",
        error=None,
    )
    try:
        data, obj = fetch_and_keep(client, obj, archive_key)
    except ExportFetchError as exc:
        intake.record_rejection(
            engine,
            partition_key=pk,
            bucket=obj.bucket,
            key=obj.key,
            etag=obj.etag,
            reason="unreadable",
            detail=intake.scrub_message(str(exc)),
            kept=None,
        )
        raise _fail(engine, pk, f"Export {pk}: {exc}.", None) from None
    store.record_export(engine, pk, last_modified=obj.last_modified, size_bytes=len(data))
    verdict = intake.decide(data, s.intake, local=profile.is_local())
    if not verdict.accepted:
        raise _reject(engine, pk, obj, verdict, kept)

    class _TooFew(Exception):
        pass

    def accept(parsed) -> None:  # before the commit: too few usable rows rolls the load back
        if parsed.rows_ok < s.min_rows:
            counts = parsed.quarantine_counts
            what = (
                "has a header but no member rows"
                if parsed.rows_in == 0
                else f"has {parsed.rows_in} rows but only {parsed.rows_ok} usable (quarantined: {counts})"
            )
            raise _TooFew(f"Export {pk} {what}; at least {s.min_rows} member row(s) are needed.")

    # streamed: the bytes are spooled to a temporary file and parsed + COPYed chunk by chunk (bounded memory)
    try:
        with stream_export(data, posixpath.basename(obj.key), key_column=s.key_column) as parsed:
            del data
            if parsed.container == "email" and verdict.kind != "email":
                # the parser opened as an e-mail what the intake judged a plain file: never store it unjudged
                verdict = intake.Verdict(
                    False, "container_mismatch", "parsed as an e-mail but not recognised as one by intake"
                )
                raise _reject(engine, pk, obj, verdict, kept)
            store.store_snapshot_stream(engine, pk, parsed, accept=accept)
    except ExportError as exc:
        raise _fail(engine, pk, f"Export {pk} cannot be used: {exc}.", kept) from None
    except _TooFew as exc:
        raise _fail(engine, pk, str(exc), kept) from None
    counts = parsed.quarantine_counts
    store.record_export(
        engine,
        pk,
        status="loaded",
        error=None,
        container=parsed.container,
        member=parsed.member,
        encoding=parsed.encoding,
        key_column=parsed.key_column,
        columns=[c for c in parsed.columns if c in CANONICAL_COLUMNS],
        rows_in=parsed.rows_in,
        rows_ok=parsed.rows_ok,
        rows_quarantined=parsed.rows_quarantined,
        quarantine_counts=counts,
        warnings=parsed.warnings,
        loaded_at=dt.datetime.now(dt.UTC),
    )
    context.log.info(
        intake.scrub_message(
            f"{pk}: {parsed.rows_ok} members, {parsed.rows_quarantined} quarantined {counts or ''}", pk
        )
    )
    quarantine_lines = parsed.first_quarantined
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": parsed.rows_ok,
            "rows_in": parsed.rows_in,
            "members": parsed.rows_ok,
            "quarantined": parsed.rows_quarantined,
            "quarantine_reasons": dg.MetadataValue.json(counts),
            "container": parsed.container,
            "attachment_or_member": parsed.member or "",
            "encoding": parsed.encoding,
            "export_format": parsed.format_name,
            "parser": parsed.parser,
            "columns": dg.MetadataValue.json(parsed.columns),
            "warnings": dg.MetadataValue.json(parsed.warnings + verdict.warnings),
            "intake": verdict.detail or ("allowed (plain file)" if verdict.kind == "plain" else "allowed"),
            "sender": verdict.sender,
            "s3_object": intake.scrub_message(f"s3://{obj.bucket}/{obj.key}"),
            "kept_raw_export": kept,
        }
    )
    yield dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=parsed.rows_quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{parsed.rows_quarantined} row(s) quarantined: {counts}; see membership.quarantine_rows"
            if parsed.rows_quarantined
            else None
        ),
        metadata={
            "quarantined": parsed.rows_quarantined,
            "lines": dg.MetadataValue.md(
                markdown_table(
                    [{"line": r["_line"], "reason": r["_reason"]} for r in quarantine_lines], ["line", "reason"]
                )
            ),
        },
    )
