"""The sandbox server: routing, admin endpoints, injected latency/faults/rate limits, and `orgsync sandbox`."""

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import pytest
import requests

from orgsync_dagster.sandbox.server import SandboxServer


def van_get(url, key, path="events/types"):
    return requests.get(url + path, auth=("app", f"{key}|1"), timeout=10)


def test_routes_admin_and_s3(sandbox, api_key):
    urls = sandbox.urls
    assert urls.van_url.endswith("/v4/") and urls.action_network_url.endswith("/api/v2/")
    assert van_get(urls.van_url, api_key).status_code == 200
    base = urls.van_url[: -len("v4/")]
    dump = requests.get(f"{base}_sandbox/van/{api_key}", timeout=10).json()
    assert {"events", "event_types", "people"} <= set(dump)
    assert requests.post(f"{base}_sandbox/van/{api_key}/revoke", timeout=10).json() == {"revoked": True}
    r = van_get(urls.van_url, api_key)
    assert r.status_code == 401 and "errors" in r.json()
    assert requests.get(f"{base}nowhere", timeout=10).status_code == 404
    s3 = boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    s3.create_bucket(Bucket="probe")
    s3.put_object(Bucket="probe", Key="a.csv", Body=b"email\n")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="probe")["Contents"]] == ["a.csv"]


def test_rate_limit_answers_429_with_retry_after(api_key):
    rate = 2
    with SandboxServer(rate_limit=rate, with_s3=False) as srv:
        t0 = time.monotonic()
        codes = [van_get(srv.urls.van_url, api_key) for _ in range(12)]
        elapsed = time.monotonic() - t0
        other_key = van_get(srv.urls.van_url, api_key + "-other")  # limits are per key
    statuses = [r.status_code for r in codes]
    # never more than the one-second burst plus what the rate refilled meanwhile, however slow the machine
    assert statuses.count(200) <= rate + elapsed * rate + 1, (statuses, elapsed)
    assert other_key.status_code == 200
    limited = next(r for r in codes if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["errors"][0]["code"] == "TOO_MANY_REQUESTS"


def test_faults_500_and_drop_happen_after_processing(api_key):
    with SandboxServer(fault_rate=0.5, seed=3, with_s3=False) as srv:
        seen = {"ok": 0, "429": 0, "503": 0, "500": 0, "drop": 0}
        created = 0
        for i in range(80):
            body = {"name": f"Loc {i}", "address": {"zipOrPostalCode": f"{48000 + i}"}}
            try:
                r = requests.post(
                    srv.urls.van_url + "locations/findOrCreate", json=body, auth=("app", f"{api_key}|1"), timeout=10
                )
            except requests.ConnectionError:
                seen["drop"] += 1
                continue
            key = "ok" if r.status_code == 201 else str(r.status_code)
            seen[key] += 1
        created = len(srv.van.dump(api_key)["locations"])
        stats = srv.stats
    assert all(seen[k] > 0 for k in seen), seen
    # 500s and drops were processed; 429/503 were not
    assert created == seen["ok"] + seen["500"] + seen["drop"]
    assert stats["fault_500"] == seen["500"] and stats["fault_drop"] == seen["drop"]


def test_latency_is_added(api_key):
    with SandboxServer(latency_ms=150, with_s3=False) as srv:
        t = time.monotonic()
        van_get(srv.urls.van_url, api_key)
        assert time.monotonic() - t >= 0.15


def test_bad_fault_rate_rejected():
    with pytest.raises(ValueError):
        SandboxServer(fault_rate=1.5)


def test_cli_prints_one_json_line_and_stops_on_sigterm():
    proc = subprocess.Popen(
        [sys.executable, "-m", "orgsync_dagster.cli", "sandbox", "--port", "0", "--fault-rate", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        urls = json.loads(line)
        assert urls["van_url"].endswith("/v4/") and urls["action_network_url"].endswith("/api/v2/")
        assert urls["s3_endpoint_url"].startswith("http://127.0.0.1:")
        assert requests.get(urls["van_url"].replace("v4/", "_sandbox/health"), timeout=10).json()["ok"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""  # exactly one line
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_rejects_bad_fault_rate():
    r = subprocess.run(
        [sys.executable, "-m", "orgsync_dagster.cli", "sandbox", "--fault-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "fault-rate" in r.stderr and "Traceback" not in r.stderr
