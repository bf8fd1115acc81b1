"""The mass-lapse guard (no Dagster import): a truncated or wrong export must not lapse the membership.

The push of an export waits for a person when, against the previous export, more than ``max_lapsed_share``
of the members lapsed or the snapshot shrank by more than ``max_shrink_share``. A person then records a
decision for that export (see docs in ``assets.py``): ``approve`` (push it as it is) or ``reject`` (never push
it; it is also skipped as the base of later diffs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardResult:
    passed: bool
    tripped: bool  # the thresholds were exceeded (passed anyway if approved)
    lapsed_share: float
    shrink_share: float
    description: str


def evaluate_guard(
    *,
    older_rows: int,
    newer_rows: int,
    lapsed: int,
    max_lapsed_share: float,
    max_shrink_share: float,
    decision: dict | None = None,
    partition_key: str = "",
) -> GuardResult:
    if older_rows <= 0:
        return GuardResult(True, False, 0.0, 0.0, "first export: nothing to compare with")
    lapsed_share = lapsed / older_rows
    shrink_share = max(0.0, (older_rows - newer_rows) / older_rows)
    reasons = []
    if lapsed_share > max_lapsed_share:
        reasons.append(f"{lapsed} of {older_rows} members lapsed ({lapsed_share:.1%} > {max_lapsed_share:.0%})")
    if shrink_share > max_shrink_share:
        reasons.append(
            f"the export shrank from {older_rows} to {newer_rows} members ({shrink_share:.1%} > {max_shrink_share:.0%})"
        )
    figures = f"lapsed {lapsed_share:.1%}, shrink {shrink_share:.1%}"
    if decision and decision.get("decision") == "reject":
        return GuardResult(
            False,
            bool(reasons),
            lapsed_share,
            shrink_share,
            f"rejected by {decision['decided_by']}: this export is never pushed ({figures})",
        )
    if not reasons:
        return GuardResult(True, False, lapsed_share, shrink_share, f"within limits ({figures})")
    if decision and decision.get("decision") == "approve":
        return GuardResult(
            True,
            True,
            lapsed_share,
            shrink_share,
            f"approved by {decision['decided_by']} despite: " + "; ".join(reasons),
        )
    how = "Check the export"
    if partition_key:
        how += (
            f"; to push it anyway re-run the membership_sync job for partition '{partition_key}' with run config "
            "ops: {membership__diff: {config: {decision: approve, decided_by: <your name>}}} (decision: reject "
            "discards it)"
        )
    return GuardResult(False, True, lapsed_share, shrink_share, "Blocked: " + "; ".join(reasons) + ". " + how)
