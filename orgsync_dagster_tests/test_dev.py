"""`orgsync dev` for real, in a subprocess: the embedded PostgreSQL, the seeded sandbox and `dagster dev` come up,
the code location loads (local profile, every setting exported), and one SIGTERM stops every process it started
(dagster dev's children survive a SIGTERM to their group: orgsync dev must stop the whole tree)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from orgsync_dagster.lib import processes

QUERY = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename "
    "... on PythonError { message } ... on RepositoryLocation { repositories { jobs { name } } } } } } } }"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _location(url: str) -> dict | None:
    try:
        data = requests.post(f"{url}/graphql", json={"query": QUERY}, timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
    entries = data.get("data", {}).get("workspaceOrError", {}).get("locationEntries") or []
    return entries[0] if entries and entries[0].get("locationOrLoadError") else None


@pytest.mark.slow
def test_orgsync_dev_starts_the_playground_and_stops_every_process(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ORGSYNC_WAREHOUSE_URL", "DAGSTER_PG_URL", "DAGSTER_HOME")}
    env.update({"ORGSYNC_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "orgsync_dagster.cli", "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, entry = time.monotonic() + 150, None
        while entry is None:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "dagster dev did not come up"
            time.sleep(1)
            entry = _location(url)
        loaded = entry["locationOrLoadError"]
        assert entry["name"] == "orgsync_dagster"
        assert loaded["__typename"] == "RepositoryLocation", loaded.get("message")
        jobs = {j["name"] for r in loaded["repositories"] for j in r["jobs"]}
        assert {"events_sync", "membership_sync", "calls_sync", "shifts_nightly"} <= jobs
        tree = [proc.pid, *processes.descendants(proc.pid)]
        assert len(tree) >= 5, tree  # orgsync dev, dagster dev, code server, webserver, daemon (+ postgres)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        output = proc.stdout.read()
        time.sleep(1)
        left = [p for p in tree if processes.alive(p)]
        assert not left, f"still running after orgsync dev stopped: {left}"
        assert "playground: 40 ActionKit events" in output and "2 membership exports and 2 CDR files" in output
        assert "stopped dagster dev, its processes, the sandbox and the embedded PostgreSQL" in output
        with pytest.raises(requests.RequestException):
            requests.get(f"{url}/server_info", timeout=2)
    finally:
        if proc.poll() is None:
            processes.stop_tree(proc.pid, grace_seconds=2)
            proc.wait()
        # belt and braces: nothing of this test may outlive it
        for pid in processes.descendants(proc.pid):
            os.kill(pid, signal.SIGKILL)


def test_sandbox_keys_refuse_unknown_keys_like_the_real_services():
    from orgsync_dagster.sandbox.server import SandboxServer

    with SandboxServer(with_s3=False, keys=["good-key", "an-key"]) as srv:
        ok = requests.get(srv.urls.van_url + "events/types", auth=("app", "good-key|1"), timeout=10)
        bad = requests.get(srv.urls.van_url + "events/types", auth=("app", "typo-key|1"), timeout=10)
        assert ok.status_code == 200
        assert bad.status_code == 401 and bad.json()["errors"][0]["code"] == "INVALID_CREDENTIALS"
        an_ok = requests.get(srv.urls.action_network_url, headers={"OSDI-API-Token": "an-key"}, timeout=10)
        an_bad = requests.get(srv.urls.action_network_url, headers={"OSDI-API-Token": "nope"}, timeout=10)
        assert an_ok.status_code == 200 and an_bad.status_code == 401


def test_cli_sandbox_seed_prints_the_environment_and_seeds_vans_and_s3():
    proc = subprocess.Popen(
        [sys.executable, "-m", "orgsync_dagster.cli", "sandbox", "--seed", "--keys", "k-mi,k-wi,k-an"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "ORGSYNC_WAREHOUSE_URL": ""},
    )
    try:
        out = json.loads(proc.stdout.readline())
        env = out["env"]
        assert json.loads(env["VAN_API_KEYS"]) == {"MI": "k-mi", "WI": "k-wi"}
        assert env["ACTION_NETWORK_API_KEY"] == "k-an" and env["AWS_ENDPOINT_URL_S3"] == out["s3_endpoint_url"]
        events = requests.get(out["van_url"] + "events", params={"$top": 50}, auth=("app", "k-mi|1"), timeout=10).json()
        assert events["count"] > 0  # participants' events seeded in VAN
        assert requests.get(out["van_url"] + "events", auth=("app", "other|1"), timeout=10).status_code == 401
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=out["s3_endpoint_url"], region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=env["ORGSYNC_S3_BUCKET"]).get("Contents", [])]
        assert sum(k.startswith("actionkit/exports/") for k in keys) == 2 and any("cdr" in k for k in keys)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
