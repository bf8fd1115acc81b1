"""Fixtures of the calls tests: the Dagster resources against the sandbox (VAN, Livevox, S3), a fresh PostgreSQL
warehouse holding the seed configuration, and an in-process calls store."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls.config import parse_deployment
from orgsync_dagster.calls.config_store import ConfigStore
from orgsync_dagster.calls.partitions import candidate_partitions
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.livevox import LivevoxResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource, engine_for
from orgsync_dagster_tests.calls.helpers import SEED

AWS_ENV = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}


def write_config(path: Path, **calls) -> str:
    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "orgsync_dagster/config/orgsync.yaml").read_text())
    data["calls"].update(calls)
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def calls_env(sandbox, api_key, pg_url, tmp_path, monkeypatch):
    bucket = f"calls-{uuid.uuid4().hex[:8]}"
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    s3 = S3Resource(endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    s3.get_client().create_bucket(Bucket=bucket)
    config_path = write_config(tmp_path / "orgsync.yaml", s3_bucket=bucket)
    orgsync_config = OrgsyncConfigResource(path=config_path)
    engine = engine_for(pg_url)
    store = ConfigStore(engine, parse_deployment(orgsync_config.section("calls")))
    store.import_yaml(SEED.read_text(), by="tests")
    calls = CallsStoreResource(uri=f"mongomock://{uuid.uuid4().hex}")
    livevox_url = sandbox.urls.van_url.replace("/v4/", "/livevox/")
    resources = {
        "orgsync_config": orgsync_config,
        "warehouse": WarehouseResource(url=pg_url),
        "s3": s3,
        "calls_store": calls,
        "slack": SlackResource(),
        "van": VanResource(
            api_keys=f"MI={api_key},WI={api_key}-wi", base_url=sandbox.urls.van_url, requests_per_second=500
        ),
        "livevox": LivevoxResource(
            base_url=livevox_url, access_token=f"lv-{api_key}", client_name="jd", user_name="api", password="pw"
        ),
    }
    return {
        "resources": resources,
        "store": calls,
        "config": store,
        "engine": engine,
        "s3": s3,
        "bucket": bucket,
        "key": api_key,
        "pg_url": pg_url,
        "config_path": config_path,
        "livevox_token": f"lv-{api_key}",
    }


def add_candidates(instance, *slugs: str) -> None:
    instance.add_dynamic_partitions(candidate_partitions.name, list(slugs or ("mo01", "mo05")))
