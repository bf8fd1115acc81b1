"""Helpers of the membership pipeline tests: one world per test (bucket, database, AN key, Dagster instance)."""

from __future__ import annotations

import uuid

import boto3
import dagster as dg
from dagster_aws.s3 import S3Resource

from orgsync_dagster.membership.assets import export_partitions, membership_diff, membership_snapshot, membership_sync
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.warehouse import WarehouseResource, engine_for

PREFIX = settings().s3_prefix if settings().s3_prefix else ""


class RecordingSlack:
    def __init__(self):
        self.messages: list[str] = []

    def post(self, text: str) -> bool:
        self.messages.append(text)
        return True


class Env:
    """One test's world: its own bucket, database, Action Network key and Dagster instance."""

    def __init__(self, sandbox, pg_url, api_key, instance, monkeypatch):
        self.sandbox, self.pg_url, self.api_key, self.instance = sandbox, pg_url, api_key, instance
        self.bucket = f"orgsync-test-{uuid.uuid4().hex[:10]}"
        monkeypatch.setenv("ORGSYNC_S3_BUCKET", self.bucket)
        self.s3 = S3Resource(
            endpoint_url=sandbox.urls.s3_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=sandbox.urls.s3_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="sandbox",
            aws_secret_access_key="sandbox",
        )
        self.client.create_bucket(Bucket=self.bucket)
        self.slack = RecordingSlack()
        self.engine = engine_for(pg_url)

    def put(self, name: str, data: bytes) -> str:
        key = PREFIX + name
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return key

    def resources(self, rps: float = 200.0) -> dict:
        return {
            "warehouse": WarehouseResource(url=self.pg_url),
            "s3": self.s3,
            "action_network": ActionNetworkResource(
                api_key=self.api_key, base_url=self.sandbox.urls.action_network_url, requests_per_second=rps
            ),
            "slack": self.slack,
        }

    def sensor_tick(self, cursor: str | None = None):
        from orgsync_dagster.membership.sensors import membership_export_sensor

        with dg.build_sensor_context(instance=self.instance, resources={"s3": self.s3}, cursor=cursor) as ctx:
            result = membership_export_sensor(ctx)
        for req in getattr(result, "dynamic_partitions_requests", None) or []:
            self.instance.add_dynamic_partitions(export_partitions.name, list(req.partition_keys))
        return result

    def run(self, partition_key: str, *, tags: dict | None = None, assets=None, run_config: dict | None = None):
        return dg.materialize(
            assets or [membership_snapshot, membership_diff, membership_sync],
            partition_key=partition_key,
            resources=self.resources(),
            instance=self.instance,
            tags=tags,
            run_config=run_config,
            raise_on_error=False,
        )

    def ingest(self, name: str, data: bytes, **kw):
        """Drop an export into S3, let the sensor see it, and run the job for it."""
        self.put(name, data)
        result = self.sensor_tick(self.cursor)
        self.cursor = result.cursor
        (req,) = result.run_requests
        return req.partition_key, self.run(req.partition_key, tags=req.tags, **kw)

    cursor: str | None = None

    def dump(self) -> dict:
        return self.sandbox.action_network.dump(self.api_key)


def mat_meta(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def check_result(result, name: str):
    evals = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evals[-1] if evals else None


def failure_message(result) -> str:
    """The messages of the failed steps (a dg.Failure's description, else the error message)."""
    out = []
    for e in result.all_events:
        if e.event_type_value != "STEP_FAILURE":
            continue
        data = e.step_failure_data
        out.append(
            (data.user_failure_data.description if data.user_failure_data else "")
            or (data.error.message if data.error else "")
        )
    return " ".join(out)
