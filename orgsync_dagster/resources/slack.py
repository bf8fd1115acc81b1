"""Slack incoming webhooks for sync summaries and alerts, routed per domain. Without a URL, messages are only
logged (the local profile; production requires SLACK_WEBHOOK_URL, see lib/profile.py)."""

from __future__ import annotations

import logging

import dagster as dg
import requests
from pydantic import Field

log = logging.getLogger(__name__)

DOMAINS = ("events", "membership", "calls", "shifts", "platform")


class SlackResource(dg.ConfigurableResource):
    """Posts to Slack through incoming webhooks: one default webhook (EnvVar SLACK_WEBHOOK_URL) and an optional
    one per domain (SLACK_WEBHOOK_URL_<DOMAIN>), so each team gets its own alerts."""

    webhook_url: str = Field(default="", description="Default incoming webhook URL (secret: use EnvVar).")
    events_webhook_url: str = Field(default="", description="Webhook for events alerts (empty: the default).")
    membership_webhook_url: str = Field(default="", description="Webhook for membership alerts (empty: the default).")
    calls_webhook_url: str = Field(default="", description="Webhook for calls alerts (empty: the default).")
    shifts_webhook_url: str = Field(default="", description="Webhook for shifts alerts (empty: the default).")
    platform_webhook_url: str = Field(default="", description="Webhook for platform alerts (empty: the default).")
    timeout_seconds: float = Field(default=10.0)

    def url_for(self, domain: str | None) -> str:
        """The webhook of ``domain`` if it has one, else the default (empty when nothing is configured)."""
        routed = getattr(self, f"{domain}_webhook_url", "") if domain in DOMAINS else ""
        return routed or self.webhook_url

    def post(self, text: str, domain: str | None = None) -> bool:
        """Send one message (to ``domain``'s webhook); returns False (and logs) when no webhook is configured or
        Slack refuses it. Never logs the webhook URL (it is a bearer secret)."""
        url = self.url_for(domain)
        if not url:
            log.info("slack (not configured): %s", text)
            return False
        try:
            resp = requests.post(url, json={"text": text}, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            log.warning("slack webhook unreachable: %s", type(exc).__name__)
            return False
        if resp.status_code >= 300:
            log.warning("slack webhook answered %s", resp.status_code)
            return False
        return True
