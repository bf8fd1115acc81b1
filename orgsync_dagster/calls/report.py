"""The daily summary per candidate (its Slack channel and the reports table), the drop rate and the agent roster.
Counts only: never a name or a phone number, and files as ``s3://`` locations (never a presigned link)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from orgsync_dagster.calls.config import Candidate
from orgsync_dagster.calls.logic import ATTEMPTED_ERROR, FINISHED, IGNORED, UNATTEMPTED_ERROR, DayCounts

STRATEGY_NOTE = {
    "full": "Every configured result goes to VAN; calls the day's VAN budget does not cover wait for the next run.",
    "hybrid": "To save you money, the most valuable results went to VAN and the rest to the CSV.",
    "all_csv": "All results are in the CSV (nothing was sent to VAN).",
}
ROSTER_COLUMNS = ["Login", "Calls", "Contacts", "Dropped", "Services"]


@dataclass
class ReportFacts:
    van_calls: int = 0  # finished with a VAN receipt
    csv_calls: int = 0  # finished in a CSV
    csv_files: list[str] = field(default_factory=list)  # s3:// locations
    waiting_for_budget: int = 0  # this candidate's calls (this day and earlier) waiting for VAN budget
    waiting_reason: str | None = None
    spend: dict | None = None  # instance, requests, budget (text), cost_usd
    drop: dict | None = None  # dropped, contacts, rate
    roster: str | None = None  # s3:// location of the agent roster
    roster_agents: int = 0
    bulk_jobs: list[dict] = field(default_factory=list)  # job_id, rows, finished, attempted_error


def drop_rate(rows: list[dict]) -> dict | None:
    """``count_by(query, ["contact", "dropped"])`` rows -> dropped / (dropped + contacts), the original's metric
    (calls whose term code says contact: true vs dropped: true)."""
    dropped = sum(r["n"] for r in rows if r.get("dropped") is True)
    contacts = sum(r["n"] for r in rows if r.get("contact") is True)
    if dropped + contacts == 0:
        return None
    return {"dropped": dropped, "contacts": contacts, "rate": round(dropped / (dropped + contacts), 4)}


def roster_csv(rows: list[dict]) -> tuple[str, int]:
    """``count_by(query, ["caller_login", "contact", "dropped", "service_name"])`` rows -> the agent roster CSV
    (one line per caller login) and the number of agents. Logins are dialer accounts, not voters."""
    per: dict[str, Counter] = {}
    services: dict[str, set] = {}
    for r in rows:
        login = str(r.get("caller_login") or "(none)")
        c = per.setdefault(login, Counter())
        c["calls"] += r["n"]
        c["contacts"] += r["n"] if r.get("contact") is True else 0
        c["dropped"] += r["n"] if r.get("dropped") is True else 0
        if r.get("service_name"):
            services.setdefault(login, set()).add(str(r["service_name"]))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(ROSTER_COLUMNS)
    for login in sorted(per):
        c = per[login]
        writer.writerow([login, c["calls"], c["contacts"], c["dropped"], "; ".join(sorted(services.get(login, ())))])
    return buf.getvalue(), len(per)


def summary_text(candidate: Candidate, day: str, counts: DayCounts, facts: ReportFacts) -> str:
    by = counts.by_status
    lines = []
    if counts.total == 0:
        lines.append(f"Dialer results for {candidate.display_name}, {day}: no calls that day.")
    else:
        errors = by.get(ATTEMPTED_ERROR, 0) + by.get(UNATTEMPTED_ERROR, 0)
        lines += [
            f"Dialer results for {candidate.display_name}, {day} ({candidate.strategy}): {counts.total} calls",
            f"- synced to VAN: {facts.van_calls}; in the CSV: {facts.csv_calls}; finished in all: {by.get(FINISHED, 0)}",
            f"- ignored: {by.get(IGNORED, 0)}; errors: {errors}"
            f" ({by.get(ATTEMPTED_ERROR, 0)} sent but refused or unknown, {by.get(UNATTEMPTED_ERROR, 0)} could not be sent)",
        ]
        other = by.get("in_progress", 0) + by.get("queued_for_csv", 0)
        if other:
            lines.append(f"- not finished yet: {other} (a VAN bulk import job still running, or a re-run is needed)")
        lines.append(STRATEGY_NOTE.get(candidate.strategy, ""))
        lines.append("By result:")
        for row in counts.result_rows():
            detail = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("result", "total"))
            lines.append(f"  {row['result']}: {row['total']} ({detail})")
    if facts.waiting_for_budget:
        lines.append(
            f"Waiting for VAN budget: {facts.waiting_for_budget} call(s) (this day and earlier) were not sent because "
            f"{facts.waiting_reason or 'the day s VAN budget was used'}; the next run sends them first, oldest first."
        )
    for job in facts.bulk_jobs:
        if job.get("job_id"):
            lines.append(
                f"VAN bulk import job {job['job_id']}: {job.get('rows', 0)} calls, {job.get('finished', 0)} applied, "
                f"{job.get('attempted_error', 0)} refused ({job.get('state')})"
            )
    if facts.drop:
        d = facts.drop
        lines.append(f"Drop rate: {d['rate']:.1%} ({d['dropped']} dropped of {d['dropped'] + d['contacts']} connected)")
    for location in facts.csv_files:
        lines.append(f"CSV for VAN upload: {location}")
    if facts.roster:
        lines.append(f"Agent roster ({facts.roster_agents} callers): {facts.roster}")
    if facts.spend:
        s = facts.spend
        lines.append(
            f"VAN requests today on {s['instance']}: {s['requests']:,} of {s['budget']} "
            f"(cost at VAN pricing: ${s['cost_usd']:.2f})"
        )
    return "\n".join(line for line in lines if line)
