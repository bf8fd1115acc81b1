"""The code location's shape, committed: asset keys (group, kinds, partitions, freshness), asset checks, jobs,
schedules and sensors. An accidental change shows in review as a diff of definitions_snapshot.json.

Regenerate after an intended change: ORGSYNC_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest \\
orgsync_dagster_tests/test_definitions_snapshot.py
"""

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def _partitions(pdef) -> str | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}: {_partitions(d.partitions_def)}" for d in pdef.partitions_defs)
    if isinstance(pdef, dg.DynamicPartitionsDefinition):
        return f"dynamic {pdef.name}"
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        return f"time window {pdef.cron_schedule} {pdef.timezone} from {pdef.start.date().isoformat()}"
    if isinstance(pdef, dg.StaticPartitionsDefinition):
        return "static " + ",".join(pdef.get_partition_keys())
    return type(pdef).__name__


def snapshot(defs: dg.Definitions) -> dict:
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        policy = node.freshness_policy
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "partitions": _partitions(node.partitions_def),
            "materializable": node.is_materializable,
            "freshness": type(policy).__name__ if policy else None,
        }
    checks = {}
    for check_key in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        spec = graph.get_check_spec(check_key)
        checks[f"{check_key.asset_key.to_user_string()}:{check_key.name}"] = {
            "blocking": bool(spec.blocking),
            "described": bool(spec.description),
        }
    jobs = {}
    for job in sorted(repo.get_all_jobs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = job.asset_layer.executable_asset_keys if job.asset_layer else set()
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in selected),
            "partitions": _partitions(job.partitions_def),
            "tags": {k: v for k, v in sorted(job.tags.items()) if k.startswith(("orgsync/", "dagster/max_retries"))},
        }
    schedules = {
        s.name: {
            "job": s.job_name,
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "default_status": s.default_status.value,
        }
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "type": s.sensor_type.value,
            "jobs": sorted(t.job_name for t in s.targets if t.job_name),
            "default_status": s.default_status.value,
            "min_interval_s": s.minimum_interval_seconds,
        }
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    return {"assets": assets, "asset_checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_definitions_match_the_committed_snapshot():
    import orgsync_dagster.definitions as d

    current = snapshot(d.defs)
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if os.environ.get("ORGSYNC_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"{SNAPSHOT.name} is missing: generate it with ORGSYNC_UPDATE_SNAPSHOT=1"
    committed = json.loads(SNAPSHOT.read_text())
    for section in current:
        assert current[section] == committed.get(section), (
            f"the code location's {section} changed; if intended, regenerate {SNAPSHOT.name} with "
            "ORGSYNC_UPDATE_SNAPSHOT=1 and commit it"
        )


def test_every_schedule_states_its_time_zone():
    import orgsync_dagster.definitions as d

    snap = snapshot(d.defs)
    assert snap["schedules"] and all(s["timezone"] for s in snap["schedules"].values()), snap["schedules"]
