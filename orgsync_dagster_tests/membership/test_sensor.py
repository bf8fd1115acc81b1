"""The S3 sensor: lists only what is new, a capped number per tick, one run per object, its own cursor."""

import json

import dagster as dg

from orgsync_dagster.membership.assets import TAG_ETAG, TAG_KEY, export_partitions
from orgsync_dagster.membership.settings import settings

from .pipeline_env import PREFIX


def test_sensor_pages_through_new_exports_with_its_cursor(env):
    cap = settings().sensor_max_objects_per_tick
    for i in range(cap + 2):
        env.put(f"2026-11-{10 + i:02d}/export.csv", f"email\nm{i}@example.org\n".encode())
    env.client.put_object(Bucket=env.bucket, Key=PREFIX + "2026-11-30/", Body=b"")  # a "folder"
    env.client.put_object(Bucket=env.bucket, Key=settings().archive_prefix + "old/x.csv", Body=b"email\n")
    first = env.sensor_tick(None)
    assert len(first.run_requests) == cap
    req = first.run_requests[0]
    assert req.partition_key == f"2026-11-10/export.csv@{req.tags[TAG_ETAG].strip(chr(34))[:8]}"
    assert req.run_key == f"{req.tags[TAG_KEY]}:{req.tags[TAG_ETAG]}"
    assert list(first.dynamic_partitions_requests[0].partition_keys) == [r.partition_key for r in first.run_requests]
    assert json.loads(first.cursor) == {"start_after": PREFIX + f"2026-11-{10 + cap - 1:02d}/export.csv"}
    second = env.sensor_tick(first.cursor)
    assert [r.tags[TAG_KEY] for r in second.run_requests] == [
        PREFIX + f"2026-11-{10 + i:02d}/export.csv" for i in (cap, cap + 1)
    ]
    third = env.sensor_tick(second.cursor)
    assert not third.run_requests and third.cursor == json.dumps({"start_after": PREFIX + "2026-11-30/"})
    assert len(env.instance.get_dynamic_partitions(export_partitions.name)) == cap + 2


def test_sensor_skips_without_a_bucket(env, monkeypatch):
    monkeypatch.delenv("ORGSYNC_S3_BUCKET")
    result = env.sensor_tick(None)
    assert isinstance(result, dg.SkipReason) and "no bucket configured" in result.skip_message
