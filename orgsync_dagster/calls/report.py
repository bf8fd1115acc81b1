"""The daily summary per candidate (Slack and the reports table): counts only, never names or phone numbers."""

from __future__ import annotations

from orgsync_dagster.calls.config import Candidate
from orgsync_dagster.calls.logic import ATTEMPTED_ERROR, FINISHED, IGNORED, UNATTEMPTED_ERROR, DayCounts

STRATEGY_NOTE = {
    "full": "Every configured result was synced to VAN.",
    "hybrid": "To save you money, some results were not synced to VAN but put in the CSV.",
    "all_csv": "All results are in the CSV (nothing was sent to VAN).",
}


def summary_text(
    candidate: Candidate,
    day: str,
    counts: DayCounts,
    *,
    van_calls: int,
    csv_calls: int,
    csv_links: list[str],
    spend: dict | None,
    expiry_hours: int,
) -> str:
    by = counts.by_status
    if counts.total == 0:
        return f"Dialer results for {candidate.display_name}, {day}: no calls that day."
    errors = by.get(ATTEMPTED_ERROR, 0) + by.get(UNATTEMPTED_ERROR, 0)
    lines = [
        f"Dialer results for {candidate.display_name}, {day} ({candidate.strategy}): {counts.total} calls",
        f"- synced to VAN: {van_calls}; in the CSV: {csv_calls}; finished in all: {by.get(FINISHED, 0)}",
        f"- ignored: {by.get(IGNORED, 0)}; errors: {errors}"
        f" ({by.get(ATTEMPTED_ERROR, 0)} attempted, {by.get(UNATTEMPTED_ERROR, 0)} not attempted)",
    ]
    waiting = by.get("unsynced", 0) + by.get("in_progress", 0) + by.get("queued_for_csv", 0)
    if waiting:
        lines.append(f"- not finished yet: {waiting} (waiting for budget or a re-run)")
    lines.append(STRATEGY_NOTE.get(candidate.strategy, ""))
    lines.append("By result:")
    for row in counts.result_rows():
        detail = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("result", "total"))
        lines.append(f"  {row['result']}: {row['total']} ({detail})")
    for link in csv_links:
        lines.append(f"CSV download (expires after {expiry_hours} hours): {link}")
    if spend:
        lines.append(
            f"VAN requests today on {spend['instance']}: {spend['requests']} of {spend['budget']} "
            f"(cost at VAN pricing ${spend['cost_usd']:.2f})"
        )
    return "\n".join(line for line in lines if line)
