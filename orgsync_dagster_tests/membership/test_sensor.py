"""The S3 sensor: every new object within one tick whatever its key's order, a capped number per tick, one run per
object, its own cursor; long keys become bounded partitions with the raw copy kept; never raises on S3 trouble."""

import datetime as dt
import json
import random
import string
import uuid

import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.membership import samples, store
from orgsync_dagster.membership.assets import TAG_ETAG, TAG_KEY, export_partitions
from orgsync_dagster.membership.s3io import (
    MAX_PARTITION_KEY,
    ExportObject,
    archive_key_for,
    key_from_partition,
    partition_key_for,
    plan_tick,
)
from orgsync_dagster.membership.settings import settings

from .pipeline_env import PREFIX, failure_message


def _ses_key(rng: random.Random) -> str:
    """A key as an SES receipt rule writes it: the prefix and a random message id."""
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(40))


def _drain(env, cursor):
    """Ticks until nothing is new; returns (requested S3 keys per tick, last cursor)."""
    ticks = []
    while True:
        result = env.sensor_tick(cursor)
        cursor = result.cursor
        if not result.run_requests:
            return ticks, cursor
        ticks.append([r.tags[TAG_KEY] for r in result.run_requests])


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
    state = json.loads(first.cursor)
    assert set(state) == {"since", "seen"} and len(state["seen"]) == cap
    second = env.sensor_tick(first.cursor)
    assert [r.tags[TAG_KEY] for r in second.run_requests] == [
        PREFIX + f"2026-11-{10 + i:02d}/export.csv" for i in (cap, cap + 1)
    ]
    third = env.sensor_tick(second.cursor)
    assert not third.run_requests and third.skip_reason.skip_message == "no new exports"
    assert len(env.instance.get_dynamic_partitions(export_partitions.name)) == cap + 2
    # a key ending in "/" that holds data is an export like any other (only empty markers are not)
    env.client.put_object(Bucket=env.bucket, Key=PREFIX + "odd-name/", Body=b"email\na@example.org\n")
    (req,) = env.sensor_tick(third.cursor).run_requests
    assert req.tags[TAG_KEY] == PREFIX + "odd-name/"


def test_sensor_sees_random_keys_arriving_in_any_order_beyond_the_cap(env):
    rng = random.Random(8)
    cap = settings().sensor_max_objects_per_tick
    put: list[str] = []
    body = b"email\na@example.org\n"
    # tick 1: a key sorting late
    put.append(env.put("zz" + _ses_key(rng), body))
    ticks, cursor = _drain(env, None)
    assert ticks == [[put[0]]]
    # between ticks: keys sorting before the last one (StartAfter would never list them), more than the cap
    batch = [env.put(prefix + _ses_key(rng), body) for prefix in ("00", "aa", "zz") for _ in range(cap)]
    put += batch
    ticks, cursor = _drain(env, cursor)
    assert [len(t) for t in ticks] == [cap, cap, cap]  # capped per tick, the rest on the next ticks
    assert sorted(k for t in ticks for k in t) == sorted(batch)  # every one, exactly once
    # an object overwritten (same key, new content) is a new export
    env.put(put[0].removeprefix(PREFIX), b"email\nb@example.org\n")
    ticks, cursor = _drain(env, cursor)
    assert ticks == [[put[0]]]
    state = json.loads(cursor)
    assert len(state["seen"]) <= len(put) + 1  # bounded by the overlap window, not the bucket's history
    # a lost (or old-format StartAfter) cursor requests nothing twice: existing partitions are the record
    assert not env.sensor_tick(None).run_requests
    assert not env.sensor_tick(json.dumps({"start_after": PREFIX + "zzzz"})).run_requests
    late = env.put("0" + _ses_key(rng), body)
    assert [r.tags[TAG_KEY] for r in env.sensor_tick(None).run_requests] == [late]
    put.append(late)
    parts = env.instance.get_dynamic_partitions(export_partitions.name)
    assert len(parts) == len(put) + 1 and all(len(p) <= MAX_PARTITION_KEY for p in parts)  # + the overwrite


def test_plan_tick_overlap_window_oldest_first_and_bounded_seen():
    t0 = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)

    def obj(key, seconds):
        return ExportObject(
            "b", key, f'"{uuid.uuid5(uuid.NAMESPACE_URL, key).hex}"', t0 + dt.timedelta(seconds=seconds)
        )

    listed = [obj("k3", 30), obj("k1", 10), obj("k2", 10)]
    batch, state = plan_tick(listed, {}, cap=2, overlap_seconds=60)
    assert [o.key for o in batch] == ["k1", "k2"]  # oldest first, key order within a second
    batch, state = plan_tick(listed, state, cap=2, overlap_seconds=60)
    assert [o.key for o in batch] == ["k3"]
    # a late object stamped before the watermark (clock skew, same second) is still seen within the overlap
    listed.append(obj("late", 25))
    batch, state = plan_tick(listed, state, cap=2, overlap_seconds=60)
    assert [o.key for o in batch] == ["late"]
    assert not plan_tick(listed, state, cap=2, overlap_seconds=60)[0]
    # once the watermark moves on, the seen set forgets objects older than the window
    listed.append(obj("much-later", 3600))
    batch, state = plan_tick(listed, state, cap=2, overlap_seconds=60)
    assert [o.key for o in batch] == ["much-later"] and len(state["seen"]) == 1
    # an object listed without LastModified is never lost to the time filter, and requested once
    undated = ExportObject("b", "undated", '"00ff"', None)
    batch, state = plan_tick([*listed, undated], state, cap=2, overlap_seconds=60)
    assert [o.key for o in batch] == ["undated"] and not plan_tick([*listed, undated], state, 2, 60)[0]
    # an older-format cursor (StartAfter) starts over rather than skipping keys sorting before it
    batch, _ = plan_tick(listed, {"start_after": "zzz"}, cap=10, overlap_seconds=60)
    assert len(batch) == len(listed)


def test_long_key_becomes_a_bounded_partition_and_loads_with_its_raw_copy_kept(env):
    long_name = "2026-11-21/" + "very-long-export-name-" * 45 + ".csv"  # ~1000 bytes with the prefix
    assert len((PREFIX + long_name).encode()) <= 1024
    data = samples.to_csv([{"email": f"m{i}@example.org"} for i in range(3)])
    key = env.put(long_name, data)
    (req,) = env.sensor_tick(None).run_requests
    pk = req.partition_key
    assert len(pk) <= MAX_PARTITION_KEY and pk.startswith("2026-11-21/very-long-export-name-") and "~h" in pk
    assert key_from_partition(pk, PREFIX) is None and req.tags[TAG_KEY] == key
    result = env.run(pk, tags=req.tags)
    assert result.success, failure_message(result)
    row = store.get_export(env.engine, pk)
    assert row["status"] == "loaded" and row["s3_key"] == key and row["rows_ok"] == 3  # the full key stored
    assert len(row["archive_key"].encode()) <= 1024
    assert env.client.get_object(Bucket=env.bucket, Key=row["archive_key"])["Body"].read() == data
    # a re-run without the sensor's tags finds the object through the exports table
    assert env.run(pk).success


def test_archive_key_stays_within_s3s_limit_with_a_long_archive_prefix():
    key = "actionkit/exports/" + "é" * 500  # 1018 bytes
    obj = ExportObject("b", key, '"0123456789abcdef"')
    archive = archive_key_for(obj, "actionkit/exports/", "actionkit/archive/of/the/membership/sync/")
    assert len(archive.encode()) <= 1024 and archive.startswith("actionkit/archive/of/the/membership/sync/01234567/é")
    other = archive_key_for(ExportObject("b", key + "x", '"0123456789abcdef"'), "actionkit/exports/", "a/")
    assert other != archive_key_for(ExportObject("b", key + "y", '"0123456789abcdef"'), "actionkit/exports/", "a/")
    short = partition_key_for("actionkit/exports/2026-11-21/export.csv", '"0123456789"', "actionkit/exports/")
    assert short == "2026-11-21/export.csv@01234567" and key_from_partition(short, "p/") == "p/2026-11-21/export.csv"


def test_sensor_skips_without_a_bucket(env, monkeypatch):
    monkeypatch.delenv("ORGSYNC_S3_BUCKET")
    result = env.sensor_tick(None)
    assert isinstance(result, dg.SkipReason) and "no bucket configured" in result.skip_message


def _tick_with(resource, cursor=None):
    from orgsync_dagster.membership.sensors import membership_export_sensor

    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"s3": resource}, cursor=cursor
    ) as ctx:
        return membership_export_sensor(ctx)


def test_sensor_never_raises_on_a_missing_bucket_or_credentials(env, monkeypatch, tmp_path):
    monkeypatch.setenv("ORGSYNC_S3_BUCKET", "orgsync-test-does-not-exist")
    result = env.sensor_tick('{"since": "2026-11-21T12:00:00+00:00", "seen": []}')
    assert not result.run_requests and "NoSuchBucket" in result.skip_reason.skip_message
    assert result.cursor == '{"since": "2026-11-21T12:00:00+00:00", "seen": []}'  # nothing skipped
    monkeypatch.setenv("ORGSYNC_S3_BUCKET", env.bucket)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    no_creds = S3Resource(endpoint_url=env.sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    result = _tick_with(no_creds)
    assert (
        not result.run_requests
        and "cannot list" in result.skip_reason.skip_message
        and "NoCredentials" in result.skip_reason.skip_message
    )
