"""The local playground: sample data for `orgsync dev` (and `orgsync sandbox --seed`), so that every job launched
from the Dagster UI has rows to work on. It reuses the domains' own sample data (events/seed.py,
membership/samples.py, calls/seed.py, shifts/seed.py) rather than inventing more.

- ActionKit events in the warehouse (`actionkit.events_event`), for `events_sync`;
- two weekly membership exports (an SES e-mail with a ZIP, and a ZIP) and yesterday's Livevox CDR files in the
  sandbox's S3 bucket, for `membership_export_sensor` / `membership_sync` and `livevox_cdr_sensor` /
  `calls_load_cdr` (their partitions are registered so the jobs can be launched at once);
- events with shifts and participants in each sandbox VAN instance, for `shifts_participants_refresh`.

The sandbox only accepts the playground's keys (others answer 401, as the real services do).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

VAN_INSTANCES = ("MI", "WI")
CALLS_SEED = Path(__file__).resolve().parent / "calls" / "candidates.yaml"


@dataclass(frozen=True)
class PlaygroundKeys:
    van: dict[str, str] = field(default_factory=lambda: {i: f"playground-{i.lower()}-key" for i in VAN_INSTANCES})
    action_network: str = "playground-an-key"
    bucket: str = "orgsync-playground"

    @classmethod
    def from_list(cls, keys: list[str]) -> PlaygroundKeys:
        """``--keys a,b,c``: the first keys are the VAN instances' (MI, WI), the last one Action Network's."""
        if len(keys) < len(VAN_INSTANCES) + 1:
            raise ValueError(f"--keys needs {len(VAN_INSTANCES) + 1} keys: one per VAN instance, then Action Network")
        return cls(van=dict(zip(VAN_INSTANCES, keys)), action_network=keys[len(VAN_INSTANCES)])

    def accepted(self) -> list[str]:
        return [*self.van.values(), self.action_network]


def environment(urls, keys: PlaygroundKeys) -> dict[str, str]:
    """What the code location needs to talk to the sandbox (exported for `dagster dev`); no real secret."""
    s3 = urls.s3_endpoint_url or ""
    return {
        "ORGSYNC_PROFILE": "local",
        "VAN_API_KEYS": json.dumps(keys.van),
        "VAN_URL": urls.van_url,
        "ACTION_NETWORK_API_KEY": keys.action_network,
        "ACTION_NETWORK_URL": urls.action_network_url,
        "ORGSYNC_S3_BUCKET": keys.bucket,
        "ORGSYNC_S3_ENDPOINT_URL": s3,
        "AWS_ENDPOINT_URL_S3": s3,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def _s3_client(urls):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=urls.s3_endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )


def seed_sandbox(urls, keys: PlaygroundKeys, say: Callable[[str], None] = print) -> dict:
    """Exports and CDR files into the sandbox bucket, events with participants into each sandbox VAN."""
    summary = {}
    client = _s3_client(urls)
    if keys.bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=keys.bucket)
    summary["membership exports"] = _membership_exports(client, keys.bucket)
    summary["CDR files"] = _cdr_files(client, keys.bucket)
    summary["VAN events with participants"] = _van_participants(urls, keys)
    say(
        f"playground: {summary['membership exports']} membership exports and {summary['CDR files']} CDR files in "
        f"s3://{keys.bucket}; {summary['VAN events with participants']} events with participants in sandbox VAN"
    )
    return summary


def seed_warehouse(engine, say: Callable[[str], None] = print) -> int:
    from orgsync_dagster.calls.config_parse import parse_deployment
    from orgsync_dagster.calls.config_store import ConfigStore
    from orgsync_dagster.events.seed import sample_events, seed_actionkit_events
    from orgsync_dagster.lib import config as cfg

    n = seed_actionkit_events(engine, sample_events(40))
    say(f"playground: {n} ActionKit events in the warehouse (actionkit.events_event)")
    # the calls configuration staff would edit: the seed candidates, imported as `orgsync calls config import` does
    store = ConfigStore(engine, parse_deployment(cfg.section("calls")))
    imported = store.import_yaml(CALLS_SEED.read_text(), by="orgsync dev (playground)")
    say(f"playground: calls configuration in the warehouse: {imported.summary()}")
    return n


def _membership_exports(client, bucket: str) -> int:
    from orgsync_dagster.membership import samples
    from orgsync_dagster.membership.settings import settings

    prefix = settings().s3_prefix
    pair = samples.week_pair(48, new=4, updated=3, lapsed=2)
    week1 = samples.to_eml([("membership_export.zip", samples.to_zip(samples.to_csv(pair.older)))])
    week2 = samples.to_zip(samples.to_csv(pair.newer))
    for name, body in (("2026-11-14/ses-message.eml", week1), ("2026-11-21/membership_export.zip", week2)):
        client.put_object(Bucket=bucket, Key=prefix + name, Body=body)
    return 2


def _seed_calls_settings():
    """The calls configuration the playground uses: the packaged seed (calls/candidates.yaml), the same file
    `seed_warehouse` imports into the warehouse store."""
    import yaml

    from orgsync_dagster.calls.config_parse import parse_deployment, parse_settings
    from orgsync_dagster.lib import config as cfg

    return parse_settings(yaml.safe_load(CALLS_SEED.read_text()), parse_deployment(cfg.section("calls")))


def _cdr_files(client, bucket: str) -> int:
    from zoneinfo import ZoneInfo

    from orgsync_dagster.calls import seed

    settings = _seed_calls_settings()
    day = (dt.datetime.now(ZoneInfo(settings.timezone)).date() - dt.timedelta(days=1)).isoformat()
    files = 0
    for i, c in enumerate(sorted(settings.candidates.values(), key=lambda c: c.slug)):
        if not c.active:
            continue
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(seed.CDR_HEADER)
        writer.writerows(
            seed.cdr_rows(seed.sample_calls(c.district, day, c.timezone, 40, seed=i + 1), settings.cdr_timezone)
        )
        client.put_object(
            Bucket=bucket, Key=f"{settings.cdr_prefix}{day}/{c.slug}-export.csv", Body=buf.getvalue().encode()
        )
        files += 1
    return files


def _van_participants(urls, keys: PlaygroundKeys) -> int:
    from orgsync_dagster.resources.config import OrgsyncConfigResource
    from orgsync_dagster.resources.van import VanResource
    from orgsync_dagster.shifts.assets import shifts_settings
    from orgsync_dagster.shifts.seed import seed_van

    settings = shifts_settings(OrgsyncConfigResource())

    van = VanResource(api_keys=json.dumps(keys.van), base_url=urls.van_url, requests_per_second=100)
    today = settings.today()
    events = 0
    for n, instance in enumerate(sorted(keys.van)):
        events += seed_van(van.client(instance), today, settings, offices=2, first_person=20 * n)["events"]
    return events


def register_partitions(instance, say: Callable[[str], None] = print) -> int:
    """Evaluate the export and CDR sensors once and add the partitions they find (no run is launched), so
    `membership_sync` and `calls_load_cdr` can be launched from the UI. Needs the playground's S3 environment."""
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from orgsync_dagster.calls.sensors import livevox_cdr_sensor
    from orgsync_dagster.membership.sensors import membership_export_sensor
    from orgsync_dagster.resources.config import OrgsyncConfigResource

    added = 0
    for sensor in (membership_export_sensor, livevox_cdr_sensor):
        resources = {"s3": S3Resource(), "orgsync_config": OrgsyncConfigResource()}
        with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
            result = sensor(ctx)
        for request in getattr(result, "dynamic_partitions_requests", None) or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            added += len(request.partition_keys)
    say(f"playground: {added} export/CDR partitions registered (launch membership_sync or calls_load_cdr on them)")
    return added
