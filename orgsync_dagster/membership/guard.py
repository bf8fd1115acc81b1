"""The mass-lapse guard (no Dagster import): a truncated or wrong export must not lapse the membership.

The push of an export waits for a person when, against the previous export, more than ``max_lapsed_share``
of the members lapsed or the snapshot shrank by more than ``max_shrink_share``, or when more than
``max_quarantined_share`` of the export's rows were quarantined. Quarantined rows are not trusted: they are not
members of the newer snapshot (the shrink counts valid rows only), and the members *held* because their key is in
a quarantined row (not lapsed, see ``diff.py``) count toward the lapsed share. A person then records a
decision for that export (``orgsync membership approve|reject``, the web app's /staff/membership page; rules in
``approvals.py``): ``approve`` (push it as it is) or ``reject`` (never push
it; it is also skipped as the base of later diffs).
"""

from __future__ import annotations

from dataclasses import dataclass

from orgsync_dagster.membership.mapping import scrub


@dataclass(frozen=True)
class GuardResult:
    passed: bool
    tripped: bool  # the thresholds were exceeded (passed anyway if approved)
    lapsed_share: float
    shrink_share: float
    description: str
    quarantined_share: float = 0.0


DEFAULT_MAX_QUARANTINED_SHARE = 0.05


def evaluate_guard(
    *,
    older_rows: int,
    newer_rows: int,
    lapsed: int,
    max_lapsed_share: float,
    max_shrink_share: float,
    decision: dict | None = None,
    partition_key: str = "",
    quarantined: int = 0,
    held: int = 0,
    max_quarantined_share: float = DEFAULT_MAX_QUARANTINED_SHARE,
) -> GuardResult:
    """``newer_rows``: the valid rows of the newer export; ``quarantined``: its quarantined rows; ``held``: older
    members not lapsed only because their key is in a quarantined row."""
    quarantined_share = quarantined / (newer_rows + quarantined) if quarantined > 0 else 0.0
    q_reason = (
        f"{quarantined} of {newer_rows + quarantined} rows of the export were quarantined "
        f"({quarantined_share:.1%} > {max_quarantined_share:.0%})"
        if quarantined_share > max_quarantined_share
        else ""
    )
    if older_rows <= 0:
        if q_reason and not (decision and decision.get("decision") in ("approve", "reject")):
            return GuardResult(False, True, 0.0, 0.0, f"Blocked: {q_reason}. Check the export", quarantined_share)
        return GuardResult(True, bool(q_reason), 0.0, 0.0, "first export: nothing to compare with", quarantined_share)
    lapsed_share = (lapsed + held) / older_rows
    shrink_share = max(0.0, (older_rows - newer_rows) / older_rows)
    reasons = []
    if lapsed_share > max_lapsed_share:
        held_txt = f" (+ {held} held by quarantined rows)" if held else ""
        reasons.append(
            f"{lapsed} of {older_rows} members lapsed{held_txt} ({lapsed_share:.1%} > {max_lapsed_share:.0%})"
        )
    if shrink_share > max_shrink_share:
        reasons.append(
            f"the export shrank from {older_rows} to {newer_rows} members ({shrink_share:.1%} > {max_shrink_share:.0%})"
        )
    if q_reason:
        reasons.append(q_reason)
    figures = f"lapsed {lapsed_share:.1%}, shrink {shrink_share:.1%}"
    if quarantined:
        figures += f", quarantined {quarantined_share:.1%}"
    if decision and decision.get("decision") == "reject":
        return GuardResult(
            False,
            bool(reasons),
            lapsed_share,
            shrink_share,
            f"rejected by {scrub(decision['decided_by'])}: this export is never pushed ({figures})",
            quarantined_share,
        )
    if not reasons:
        return GuardResult(True, False, lapsed_share, shrink_share, f"within limits ({figures})", quarantined_share)
    if decision and decision.get("decision") == "approve":
        return GuardResult(
            True,
            True,
            lapsed_share,
            shrink_share,
            f"approved by {scrub(decision['decided_by'])} despite: " + "; ".join(reasons),
            quarantined_share,
        )
    how = "Check the export"
    if partition_key:
        how += (
            f", then decide: orgsync membership approve '{partition_key}' --by NAME --note \"what you checked\" "
            f"(the push then starts by itself) or orgsync membership reject '{partition_key}' --by NAME --note "
            '"why"; or on the web app\'s Membership approvals page (/staff/membership)'
        )
    return GuardResult(
        False, True, lapsed_share, shrink_share, "Blocked: " + "; ".join(reasons) + ". " + how, quarantined_share
    )


def guard_with_settings(s, **counts) -> GuardResult:
    """:func:`evaluate_guard` with the thresholds of the membership settings ``s`` (``max_lapsed_share``,
    ``max_shrink_share``, ``max_quarantined_share``): the one way the CLI, the assets and the approvals judge an
    export, so none of them can leave a threshold out. ``counts``: older_rows, newer_rows, lapsed, quarantined, held,
    decision, partition_key."""
    return evaluate_guard(
        max_lapsed_share=s.max_lapsed_share,
        max_shrink_share=s.max_shrink_share,
        max_quarantined_share=s.max_quarantined_share,
        **counts,
    )
