"""Slack incoming webhook for sync summaries and alerts. Without a URL, messages are only logged."""

from __future__ import annotations

import logging

import dagster as dg
import requests
from pydantic import Field

log = logging.getLogger(__name__)


class SlackResource(dg.ConfigurableResource):
    """Posts summaries to a Slack channel through an incoming webhook (URL via EnvVar SLACK_WEBHOOK_URL)."""

    webhook_url: str = Field(default="", description="Incoming webhook URL (secret: use EnvVar).")
    timeout_seconds: float = Field(default=10.0)

    def post(self, text: str) -> bool:
        """Send one message; returns False (and logs) when no webhook is configured or Slack refuses it."""
        if not self.webhook_url:
            log.info("slack (not configured): %s", text)
            return False
        try:
            resp = requests.post(self.webhook_url, json={"text": text}, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            log.warning("slack webhook unreachable: %s", type(exc).__name__)
            return False
        if resp.status_code >= 300:
            log.warning("slack webhook answered %s", resp.status_code)
            return False
        return True
