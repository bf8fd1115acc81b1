"""Shared builders for the calls tests: settings from a dict, call documents."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

from orgsync_dagster.calls import yaml_format
from orgsync_dagster.calls.config import CallsDeployment, parse_settings

SEED = Path(__file__).resolve().parents[2] / "orgsync_dagster" / "calls" / "candidates.yaml"
DEPLOYMENT = CallsDeployment(s3_bucket="test-bucket")

RESULTS = {
    "strong support": {
        "success": True,
        "responses": [[109149, 465468]],
        "sync_to_van": True,
        "include_in_csv": True,
        "value": 100,
    },
    "volunteer yes": {
        "success": True,
        "responses": [[109150, 465473]],
        "activist_codes": [18917],
        "sync_to_van": True,
        "include_in_csv": True,
        "value": 120,
    },
    "refused": {"success": False, "result_code": 21, "sync_to_van": True, "include_in_csv": True, "value": 30},
    "left message": {"success": False, "result_code": 17, "sync_to_van": True, "include_in_csv": False, "value": 10},
    "busy": {"success": False, "result_code": 18, "sync_to_van": False, "include_in_csv": True},
    "dropped": {"sync_to_van": False, "include_in_csv": False},
}


def seed_data() -> dict:
    """The repo's seed configuration (orgsync_dagster/calls/candidates.yaml) as data."""
    return yaml_format.load(SEED.read_text())


def repo_settings():
    return parse_settings(seed_data(), DEPLOYMENT)


def settings(strategy: str = "full", *, daily_budget=None, results=None, instance_budget=1000, **extra):
    cand = {
        "district": "mo01",
        "van_instance": "MI",
        "van_mode": "myc",
        "strategy": strategy,
        "timezone": "America/Chicago",
        "results": copy.deepcopy(results or RESULTS),
        **extra,
    }
    if daily_budget is not None:
        cand["daily_budget"] = daily_budget
    return parse_settings(
        {
            "van_instances": {"MI": {"daily_free_requests": instance_budget}},
            "term_codes": {"agent - strong support": {"full_on_screen_result": "strong support"}},
            "candidates": {"c1": cand},
        },
        DEPLOYMENT,
    )


def call(i: int, result: str = "strong support", *, day="2026-03-05", van_id=None, **over) -> dict:
    at = dt.datetime.fromisoformat(f"{day}T16:00:00+00:00") + dt.timedelta(minutes=i)
    doc = {
        "id": f"call{i:05d}",
        "district": "mo01",
        "system_id": "van",
        "voter_id": str(van_id if van_id is not None else 100000 + i),
        "first_name": "Pat",
        "last_name": "Doe",
        "phone_dialed": "3145550100",
        "timestamp": at,
        "caller_login": "caller1",
        "lv_result": result,
        "full_on_screen_result": result,
    }
    doc.update(over)
    return doc
