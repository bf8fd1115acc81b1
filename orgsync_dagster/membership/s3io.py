"""S3 side of membership exports (boto3 client in, plain data out; no Dagster import).

* Listing what is new: SES receipt rules write ``<prefix><message id>``, random keys that do not sort by arrival,
  so the sensor lists the whole prefix and keeps a LastModified watermark plus the ids (key + ETag) it has
  already requested within an overlap window below the watermark (S3 LastModified has one-second granularity
  and clocks skew): an object is new when it is not in that set and not older than ``watermark - overlap``.
  At most ``sensor_max_objects_per_tick`` per tick, oldest first; the rest next tick (:func:`plan_tick`).
* Partition key of an export: its key below the prefix plus ``@`` and the first 8 characters of its ETag, so an
  overwritten object is a new export and the S3 key can be recovered from the partition key. A key too long for
  a readable partition key (S3 keys reach 1024 bytes) keeps a readable prefix plus ``~h`` and a hash of the full
  key; the full key is then only in the run tags and the exports table.
* The raw export is kept: a server-side copy under the archive prefix (bounded to S3's 1024-byte key limit the
  same way), made before parsing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from botocore.exceptions import ClientError

INVALID_PARTITION_SUBSTRINGS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
MAX_PARTITION_KEY = 200  # characters; longer keys are shortened with a hash of the full S3 key
MAX_S3_KEY_BYTES = 1024
_HASHED = re.compile(r"~h[0-9a-f]{16}$")


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


def _relative(key: str, prefix: str) -> str:
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


def _key_hash(key: str) -> str:
    return "~h" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _cut_bytes(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8", "surrogatepass")[: max(max_bytes, 0)].decode("utf-8", "ignore")


def partition_key_for(key: str, etag: str, prefix: str) -> str:
    """``<key below prefix>@<etag8>``, at most ``MAX_PARTITION_KEY`` characters (a readable prefix + a hash of the
    full key when longer)."""
    rel = _relative(key, prefix)
    tail = f"@{short_etag(etag)}"
    if len(rel) + len(tail) > MAX_PARTITION_KEY:
        rel = rel[: MAX_PARTITION_KEY - len(tail) - 18] + _key_hash(key)
    pk = rel + tail
    for bad in INVALID_PARTITION_SUBSTRINGS:
        pk = pk.replace(bad, "_")
    return pk


def key_from_partition(partition_key: str, prefix: str) -> str | None:
    """The S3 key of a partition key, or None when it was shortened (then only the run tags / exports table know)."""
    rel = partition_key.rsplit("@", 1)[0]
    if _HASHED.search(rel):
        return None
    return prefix + rel


def archive_key_for(obj: ExportObject, prefix: str, archive_prefix: str) -> str:
    """``<archive prefix><etag8>/<key below prefix>``, within S3's 1024-byte key limit (shortened with a hash)."""
    rel = _relative(obj.key, prefix)
    head = f"{archive_prefix}{short_etag(obj.etag)}/"
    full = head + rel
    if len(full.encode("utf-8", "surrogatepass")) <= MAX_S3_KEY_BYTES:
        return full
    budget = MAX_S3_KEY_BYTES - len(head.encode("utf-8", "surrogatepass")) - 18
    return head + _cut_bytes(rel, budget) + _key_hash(obj.key)


def object_id(obj: ExportObject) -> str:
    return f"{obj.key}\0{short_etag(obj.etag)}"


def list_objects(client, bucket: str, prefix: str, skip_prefixes: tuple[str, ...] = ()) -> list[ExportObject]:
    """Every object under ``prefix`` (all pages), except empty "folder" markers and keys under ``skip_prefixes``."""
    found = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents") or []:
            if (o["Key"].endswith("/") and not o.get("Size")) or any(
                o["Key"].startswith(p) for p in skip_prefixes if p
            ):
                continue  # empty "folder" markers and our own kept copies; anything else is an export to judge
            found.append(ExportObject(bucket, o["Key"], o.get("ETag", ""), o.get("LastModified"), o.get("Size")))
    return found


def _modified(obj: ExportObject) -> dt.datetime | None:
    lm = obj.last_modified
    return None if lm is None else (lm if lm.tzinfo else lm.replace(tzinfo=dt.UTC))


def plan_tick(
    listed: list[ExportObject], state: dict, cap: int, overlap_seconds: int
) -> tuple[list[ExportObject], dict]:
    """The objects to request this tick (oldest first, at most ``cap``) and the next cursor state.

    ``state`` = ``{"since": ISO watermark, "seen": [object ids requested within the overlap window]}``; an empty
    or older-format state (``start_after``) starts from scratch (the sensor's run keys dedupe what already ran).
    An object listed without LastModified (S3 always sends it) is never filtered by time and stays in ``seen``."""
    since = dt.datetime.fromisoformat(state["since"]) if state.get("since") else None
    seen = set(state.get("seen") or ())
    overlap = dt.timedelta(seconds=overlap_seconds)
    floor = since - overlap if since else None

    def recent(o: ExportObject, limit: dt.datetime | None) -> bool:
        lm = _modified(o)
        return limit is None or lm is None or lm >= limit

    fresh = sorted(
        (o for o in listed if object_id(o) not in seen and recent(o, floor)),
        key=lambda o: (_modified(o) is None, _modified(o) or dt.datetime.min.replace(tzinfo=dt.UTC), o.key),
    )
    batch = fresh[:cap]
    stamps = [lm for lm in (_modified(o) for o in batch) if lm is not None]
    if stamps:
        since = max([since, *stamps]) if since else max(stamps)
    taken = {object_id(o) for o in batch}
    keep_from = since - overlap if since else None
    still = sorted({object_id(o) for o in listed if object_id(o) in seen | taken and recent(o, keep_from)})
    if since is None and not still:
        return batch, {}
    out: dict = {"seen": still}
    if since is not None:
        out["since"] = since.isoformat()
    return batch, out


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
