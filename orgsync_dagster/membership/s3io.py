"""S3 side of membership exports (boto3 client in, plain data out; no Dagster import).

* Listing only what is new: ``list_objects_v2`` with ``StartAfter`` = the last key seen and ``MaxKeys`` = the
  per-tick cap, so a growing bucket is never re-listed. This relies on keys sorting in arrival order (put a
  date in the key). SES receipt rules write ``<prefix><message id>``, which does not sort by time: a key that
  sorts before the cursor is never listed, so have SES write to a staging prefix and copy each message to a
  dated key under ``membership.s3_prefix`` (e.g. with an S3-event Lambda), or drop exports there directly.
* Partition key of an export: its key below the prefix plus ``@`` and the first 8 characters of its ETag,
  so an overwritten object is a new export and the S3 key can be recovered from the partition key.
* The raw export is kept: a server-side copy under the archive prefix, made before parsing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from botocore.exceptions import ClientError

INVALID_PARTITION_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")


@dataclass(frozen=True)
class ExportObject:
    bucket: str
    key: str
    etag: str
    last_modified: dt.datetime | None = None
    size: int | None = None


class ExportFetchError(Exception):
    """The export object cannot be read (gone, changed, no permission)."""


def short_etag(etag: str) -> str:
    return (etag or "").strip('"')[:8] or "noetag"


def partition_key_for(key: str, etag: str, prefix: str) -> str:
    rel = key[len(prefix) :] if prefix and key.startswith(prefix) else key
    pk = f"{rel}@{short_etag(etag)}"
    for bad in INVALID_PARTITION_SUBSTRINGS:
        pk = pk.replace(bad, "_")
    return pk


def key_from_partition(partition_key: str, prefix: str) -> str:
    return prefix + partition_key.rsplit("@", 1)[0]


def archive_key_for(obj: ExportObject, prefix: str, archive_prefix: str) -> str:
    rel = obj.key[len(prefix) :] if prefix and obj.key.startswith(prefix) else obj.key
    return f"{archive_prefix}{short_etag(obj.etag)}/{rel}"


def list_new_objects(
    client, bucket: str, prefix: str, start_after: str | None, max_keys: int, skip_prefixes: tuple[str, ...] = ()
) -> tuple[list[ExportObject], str | None]:
    """Objects after ``start_after`` (at most ``max_keys``) and the last key listed (the next cursor)."""
    kwargs = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": max_keys}
    if start_after:
        kwargs["StartAfter"] = start_after
    resp = client.list_objects_v2(**kwargs)
    contents = resp.get("Contents") or []
    found = [
        ExportObject(bucket, o["Key"], o.get("ETag", ""), o.get("LastModified"), o.get("Size"))
        for o in contents
        if not o["Key"].endswith("/") and not any(o["Key"].startswith(p) for p in skip_prefixes if p)
    ]
    return found, (contents[-1]["Key"] if contents else start_after)


def head(client, bucket: str, key: str) -> ExportObject:
    try:
        h = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        raise ExportFetchError(f"s3://{bucket}/{key} cannot be read: {_code(exc)}") from None
    return ExportObject(bucket, key, h.get("ETag", ""), h.get("LastModified"), h.get("ContentLength"))


def _code(exc: ClientError) -> str:
    err = exc.response.get("Error") or {}
    return f"{err.get('Code', '?')} {err.get('Message', '')}".strip()


def fetch_and_keep(client, obj: ExportObject, archive_key: str) -> tuple[bytes, ExportObject]:
    """Keep a copy of the raw export under ``archive_key`` (server-side copy) and return its bytes.

    Reads the copy when the original is gone or was overwritten since the sensor saw it (same ETag only)."""
    want = short_etag(obj.etag)
    try:
        client.copy_object(
            Bucket=obj.bucket,
            Key=archive_key,
            CopySource={"Bucket": obj.bucket, "Key": obj.key},
            CopySourceIfMatch=obj.etag,
            MetadataDirective="COPY",
        )
    except ClientError as exc:
        code = (exc.response.get("Error") or {}).get("Code", "")
        if code not in ("NoSuchKey", "404", "PreconditionFailed", "412"):
            raise ExportFetchError(f"cannot keep a copy of s3://{obj.bucket}/{obj.key}: {_code(exc)}") from None
    try:
        resp = client.get_object(Bucket=obj.bucket, Key=archive_key)
    except ClientError as exc:
        raise ExportFetchError(
            f"s3://{obj.bucket}/{obj.key} (ETag {want}) is gone or was replaced before it could be kept, and no kept "
            f"copy exists at {archive_key}: {_code(exc)}"
        ) from None
    got = short_etag(resp.get("ETag", ""))
    if got != want and resp.get("ContentLength", 0) > 0 and "-" not in obj.etag:
        raise ExportFetchError(f"kept copy {archive_key} has ETag {got}, expected {want}")
    kept = ExportObject(
        obj.bucket,
        obj.key,
        obj.etag,
        resp.get("LastModified") if obj.last_modified is None else obj.last_modified,
        resp.get("ContentLength"),
    )
    return resp["Body"].read(), kept
