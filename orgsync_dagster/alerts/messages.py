"""Alert texts (pure, no Dagster import): counts and names only, never personal data or bearer links.

Every free text that reaches Slack goes through ``scrub``: e-mail addresses, phone-like numbers and http(s) links
(a presigned S3 URL is a bearer credential) are replaced, an ``s3://bucket/key`` location is kept as it is.
"""

from __future__ import annotations

import re

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
LINK_RE = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
PHONE_RE = re.compile(r"(?<![\w/.-])\+?\d[\d\s().-]{8,}\d(?![\w/-])")
MAX_DETAIL = 300


def scrub(text: str | None, limit: int = MAX_DETAIL) -> str:
    """One line of ``text`` without e-mails, phone numbers or links, cut to ``limit`` characters."""
    line = " ".join((text or "").split())
    line = LINK_RE.sub("<link removed>", line)
    line = EMAIL_RE.sub("<e-mail>", line)
    line = PHONE_RE.sub("<number>", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _where(partition: str | None) -> str:
    return f" for partition `{partition}`" if partition else ""


def run_failure_text(
    *, domain: str, job: str, run_id: str, partition: str | None, failed_steps: list[str], detail: str | None
) -> str:
    steps = ", ".join(f"`{s}`" for s in failed_steps[:5]) or "the run worker"
    more = f" (+{len(failed_steps) - 5} more)" if len(failed_steps) > 5 else ""
    text = (
        f":rotating_light: [{domain}] run `{run_id[:8]}` of job `{job}`{_where(partition)} failed: "
        f"{len(failed_steps)} step(s) failed ({steps}{more})."
    )
    reason = scrub(detail)
    return f"{text} Reason: {reason}" if reason else text


def check_failure_text(
    *, domain: str, asset: str, check: str, partition: str | None, run_id: str | None, counts: dict[str, int]
) -> str:
    figures = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    run = f" in run `{run_id[:8]}`" if run_id else ""
    text = f":warning: [{domain}] check `{check}` on `{asset}`{_where(partition)} failed (ERROR){run}."
    return f"{text} {figures}." if figures else text


def freshness_text(*, domain: str, asset: str, state: str, policy: str) -> str:
    return f":hourglass: [{domain}] `{asset}` is {state.lower()} against its freshness policy ({policy})."


def dead_run_text(*, domain: str, job: str, run_id: str, pid: int, freed_slots: int) -> str:
    slots = f"; {freed_slots} pool slot(s) freed" if freed_slots else ""
    return (
        f":skull: [{domain}] run `{run_id[:8]}` of job `{job}` lost its run worker (pid {pid} is gone): "
        f"marked failed{slots}, so the next run can proceed."
    )
