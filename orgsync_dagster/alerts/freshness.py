"""Freshness policies of the scheduled assets, keyed by asset key: how old the last materialization may get
before the asset counts as stale. Dagster's freshness daemon evaluates them (the asset's health in the UI); the
alert sensor posts a WARN/FAIL state change to the domain's Slack channel.

(Dagster 1.13 supersedes the ``build_last_update_freshness_checks`` factories by ``FreshnessPolicy``; this module
uses the current API. A key that no longer exists is an error, so a renamed asset cannot silently lose its policy.)
"""

import datetime as dt
import warnings

import dagster as dg

H = dt.timedelta(hours=1)

# asset key -> (fail window, warn window, why)
POLICIES: dict[str, tuple[dt.timedelta, dt.timedelta, str]] = {
    # events_sync: hourly at :20, one run per VAN instance
    "actionkit/events": (3 * H, 2 * H, "hourly events sync"),
    "van/events": (3 * H, 2 * H, "hourly events sync"),
    "van/event_sync": (3 * H, 2 * H, "hourly events sync"),
    # calls_sync: each candidate once a day at its sync hour
    "van/reference_data": (30 * H, 26 * H, "daily calls sync per candidate"),
    "calls/call_sync_status": (30 * H, 26 * H, "daily calls sync per candidate"),
    "calls/daily_report": (30 * H, 26 * H, "daily calls sync per candidate"),
    # shifts: hourly 07:00-21:00 participants refresh (overnight gap), nightly job after midnight
    "van/event_participants": (12 * H, 11 * H, "hourly participants refresh, 07:00-21:00"),
    "shifts/day_shifts": (12 * H, 11 * H, "hourly participants refresh, 07:00-21:00"),
    "shifts/nightly_backup": (26 * H, 25 * H, "nightly backup"),
    "van/shift_status_sync": (26 * H, 25 * H, "nightly backup"),
    # the hourly cost report
    "orgsync/api_usage": (3 * H, 2 * H, "hourly API usage report"),
}


def policy_for(key: str) -> dg.FreshnessPolicy:
    fail, warn, _why = POLICIES[key]
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def describe_policy(key: str) -> str:
    if key not in POLICIES:
        return "no policy"
    fail, warn, why = POLICIES[key]
    return f"{why}: warn after {warn.total_seconds() / 3600:g} h, fail after {fail.total_seconds() / 3600:g} h"


def with_freshness(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with each listed asset's freshness policy attached; raises if a listed key is not in the graph."""
    known = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    missing = sorted(set(POLICIES) - known)
    if missing:
        raise ValueError(f"freshness policies name assets that do not exist: {', '.join(missing)}")
    keys = [dg.AssetKey.from_user_string(k) for k in POLICIES]
    with warnings.catch_warnings():  # the API is "preview" in 1.13; the warning would be printed on every load
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(
            func=lambda spec: spec.replace_attributes(freshness_policy=policy_for(spec.key.to_user_string())),
            selection=keys,
        )
