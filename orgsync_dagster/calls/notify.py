"""Where a candidate's report and its success/failure notices go (the original's "Send Report To" and its
success/failure webhooks). No Dagster import.

Webhook URLs are bearer secrets: the configuration only NAMES an environment variable of the code location
(``report_webhook_env: SLACK_WEBHOOK_NY14``); the URL is read when the message is sent and never appears in
configuration, metadata, logs or error messages (a failure is reported as "answered 404", never with the URL).
Messages carry counts only.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from orgsync_dagster.calls.config import Candidate
from orgsync_dagster.resources.http import ApiError, HttpClient

DEFAULT_CHANNEL = "the default Slack channel (SLACK_WEBHOOK_URL)"


@dataclass(frozen=True)
class Delivery:
    target: str  # which recipient, by environment variable name (never the URL)
    posted: bool
    note: str = ""


def post_json(url: str, body: dict, timeout: float = 10.0) -> tuple[bool, str]:
    """POST a JSON message through the shared HTTP layer (429/503 retried). Returns (ok, note without the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False, "the variable does not hold an http(s) URL"
    http = HttpClient(
        f"{parts.scheme}://{parts.netloc}/",
        system="webhook",
        timeout=timeout,
        max_retries=2,
        headers={"Content-Type": "application/json"},
    )
    try:
        http.request("POST", url, json=body)
    except ApiError as exc:
        return False, f"answered {exc.status or 'no response'}"
    return True, ""


def send_report(candidate: Candidate, text: str, default_slack) -> Delivery:
    """The report to the candidate's own Slack webhook; without one (or when its variable is unset) to the default
    channel, so a report is never silently lost."""
    note = ""
    if candidate.report_webhook_env:
        url = os.environ.get(candidate.report_webhook_env)
        if url:
            body = {"text": text, **({"channel": candidate.report_channel} if candidate.report_channel else {})}
            ok, why = post_json(url, body)
            target = candidate.report_webhook_env + (
                f" ({candidate.report_channel})" if candidate.report_channel else ""
            )
            return Delivery(target, ok, why)
        note = (
            f"{candidate.report_webhook_env} is not set in the code location's environment; sent to the default channel"
        )
    return Delivery(DEFAULT_CHANNEL, bool(default_slack.post(text)), note)


def notice(
    candidate: Candidate, day: str, *, succeeded: bool, counts: dict | None = None, error: str | None = None
) -> Delivery | None:
    """The success or failure webhook of a candidate-day, if the candidate names one (None otherwise)."""
    env = candidate.success_webhook_env if succeeded else candidate.failure_webhook_env
    if not env:
        return None
    url = os.environ.get(env)
    if not url:
        return Delivery(env, False, f"{env} is not set in the code location's environment")
    body = {
        "event": "calls_sync_succeeded" if succeeded else "calls_sync_failed",
        "candidate": candidate.slug,
        "day": day,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if counts is not None:
        body["counts"] = counts
    if error:
        body["error"] = error[:500]
    ok, why = post_json(url, body)
    return Delivery(env, ok, why)
