"""`orgsync doctor` against the sandbox: good keys pass, a revoked key and an unreachable URL are problems (exit 1),
and no secret is ever printed."""

import json
import os
import socket
import subprocess
import sys

import boto3
import pytest

from orgsync_dagster import doctor
from orgsync_dagster_tests.scripted_server import ScriptedServer


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v4/"


@pytest.fixture
def env(sandbox, pg_url, api_key):
    bucket = f"doctor-{api_key}"
    s3 = boto3.client(
        "s3", endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
    )  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    return {
        "ORGSYNC_PROFILE": "local",
        "ORGSYNC_WAREHOUSE_URL": pg_url,
        "DAGSTER_PG_URL": pg_url,
        "VAN_API_KEYS": json.dumps({"MI": f"{api_key}-mi", "WI": f"{api_key}-wi"}),
        "VAN_URL": sandbox.urls.van_url,
        "ACTION_NETWORK_API_KEY": f"{api_key}-an",
        "ACTION_NETWORK_URL": sandbox.urls.action_network_url,
        "ORGSYNC_S3_BUCKET": bucket,
        "AWS_ENDPOINT_URL_S3": sandbox.urls.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": "sandbox-access",
        "AWS_SECRET_ACCESS_KEY": "sandbox-secret-value",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MONGODB_URI": "mongomock://doctor",
    }


def _run(env) -> tuple[int, str]:
    lines = []
    code = doctor.run(env, timeout=3, say=lines.append)
    return code, "\n".join(lines)


def _secrets(env) -> list[str]:
    keys = json.loads(env["VAN_API_KEYS"]).values()
    return [
        *keys,
        env["ACTION_NETWORK_API_KEY"],
        env["AWS_SECRET_ACCESS_KEY"],
        *filter(None, [env.get("SLACK_WEBHOOK_URL")]),
    ]


def _row(text: str, check: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(check))


def test_good_keys_and_servers_pass_and_print_no_secret(env):
    with ScriptedServer() as slack:
        slack.answer(400, "invalid_payload")  # what a live Slack webhook answers to an empty POST
        env["SLACK_WEBHOOK_URL"] = slack.url.replace("/v4/", "/services/T0/B0/secret-token")
        code, text = _run(env)
        assert slack.seen[0]["method"] == "POST"
    assert code == 0, text
    assert "Everything is ready." in text
    for check in ("warehouse", "Dagster storage", "VAN MI", "VAN WI", "Action Network", "S3 bucket"):
        assert " ok " in _row(text, check), text
    assert "Slack (SLACK_WEBHOOK_URL)" in text and " ok " in _row(text, "Slack (SLACK_WEBHOOK_URL)")
    assert "in-process mongomock" in _row(text, "MongoDB")
    for secret in _secrets(env):
        assert secret not in text
    assert "secret-token" not in text


def test_a_revoked_key_and_an_unreachable_url_are_problems(env, sandbox):
    sandbox.van.revoke_key(json.loads(env["VAN_API_KEYS"])["WI"])
    env["ACTION_NETWORK_URL"] = _closed_port_url().replace("/v4/", "/api/v2/")
    code, text = _run(env)
    assert code == 1
    assert " ok " in _row(text, "VAN MI")
    assert "PROBLEM" in _row(text, "VAN WI") and "HTTP 401" in _row(text, "VAN WI")
    assert "PROBLEM" in _row(text, "Action Network") and "unreachable" in _row(text, "Action Network")
    assert "2 problem(s)." in text
    for secret in _secrets(env):
        assert secret not in text


def test_unreachable_van_and_a_wrong_database_password_are_problems(env):
    env["VAN_URL"] = _closed_port_url()
    env["DAGSTER_PG_URL"] = "postgresql://postgres:hunter2-secret@127.0.0.1:1/dagster"
    code, text = _run(env)
    assert code == 1
    assert "unreachable" in _row(text, "VAN MI") and "PROBLEM" in _row(text, "Dagster storage")
    assert "hunter2" not in text and "127.0.0.1:1/dagster" in text


def test_production_without_settings_lists_them_and_exits_1():
    names = {
        "ORGSYNC_WAREHOUSE_URL", "DAGSTER_PG_URL", "VAN_API_KEYS", "ACTION_NETWORK_API_KEY", "MONGODB_URI",
        "ORGSYNC_S3_BUCKET", "SLACK_WEBHOOK_URL", "DAGSTER_HOME",
    }  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["ORGSYNC_PROFILE"] = "production"
    proc = subprocess.run(
        [sys.executable, "-m", "orgsync_dagster.cli", "doctor", "--json", "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    missing = {r["check"] for r in report["configuration"] if r["status"] == "PROBLEM"}
    assert missing >= names - {"DAGSTER_HOME"}
    assert report["problems"] >= len(missing)
