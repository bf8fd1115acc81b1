"""What the events sync tells people: the metadata of its assets and checks, read from the warehouse or from the
sync's plan and report. Names are unambiguous (``planned_creates`` is the plan, ``creates_done`` what VAN
confirmed); tables show the event's title beside its ids.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.events.tables import ak_events_validated
from orgsync_dagster.lib.runtime import markdown_table


@dataclass
class ValidatedSummary:
    rows: int = 0
    eligible: int = 0
    not_eligible: int = 0
    quarantined: int = 0
    by_instance: Counter = field(default_factory=Counter)  # eligible events per VAN instance
    reasons: Counter = field(default_factory=Counter)  # why not eligible (an event may have several reasons)
    quarantine: list[dict] = field(default_factory=list)  # ak_event_id, reason

    @property
    def quarantined_ids(self) -> list[int]:
        return [q["ak_event_id"] for q in self.quarantine]

    def by_instance_md(self) -> str:
        rows = [{"VAN instance": k, "eligible events": v} for k, v in sorted(self.by_instance.items())]
        return markdown_table(rows, ["VAN instance", "eligible events"])

    def reasons_md(self) -> str:
        rows = [{"reason": k, "events": v} for k, v in self.reasons.most_common()]
        return markdown_table(rows, ["reason", "events"])

    def quarantine_md(self) -> str:
        return markdown_table(self.quarantine, ["ak_event_id", "reason"])


def validated_summary(engine: Engine) -> ValidatedSummary:
    v = ak_events_validated
    out = ValidatedSummary()
    with engine.connect() as conn:
        for instance, eligible, quarantined, reason, n in conn.execute(
            sa.select(v.c.instance, v.c.eligible, v.c.quarantined, v.c.reason, sa.func.count()).group_by(
                v.c.instance, v.c.eligible, v.c.quarantined, v.c.reason
            )
        ):
            out.rows += n
            if eligible:
                out.eligible += n
                out.by_instance[instance] += n
            elif quarantined:
                out.quarantined += n
            else:
                out.not_eligible += n
                for part in (reason or "no reason recorded").split("; "):
                    out.reasons[part] += n
        out.quarantine = [
            {"ak_event_id": r.ak_event_id, "reason": r.reason}
            for r in conn.execute(
                sa.select(v.c.ak_event_id, v.c.reason).where(v.c.quarantined.is_(True)).order_by(v.c.ak_event_id)
            )
        ]
    return out


def plan_rows(plan, titles: dict[int, str | None]) -> list[dict]:
    """The plan as a person reads it: which event (title and ids), what will be done and why, at what cost."""
    rows = []
    for op in plan.ops:
        ak_id = int(op.key)
        title = (op.payload or {}).get("title") if op.action in ("create", "update") else None
        rows.append(
            {
                "ak_event_id": ak_id,
                "title": title or titles.get(ak_id) or "",
                "van_event_id": op.context.get("van_event_id", "(new)"),
                "action": op.action,
                "reason": op.reason,
                "requests": op.cost,
            }
        )
    return rows


def sync_metadata(instance: str, validated: list[dict], plan, sync_report, titles: dict[int, str | None]) -> dict:
    """What was planned (a dry run shows only this): counts, the request cost, and the plan itself."""
    planned = sync_report.planned
    return {
        "instance": instance,
        "dry_run": sync_report.dry_run,
        "eligible_events": sum(1 for v in validated if v["eligible"]),
        "planned_creates": planned.get("create", 0),
        "planned_updates": planned.get("update", 0),
        "planned_cancels": planned.get("cancel", 0),
        "unchanged": plan.unchanged,
        "already_done_in_ledger": sync_report.skipped_done,
        "planned_requests": sync_report.planned_requests,
        "planned_new_locations": plan.new_locations,
        "reconciled_found_in_van": sync_report.reconciled_found_remotely,
        "plan": dg.MetadataValue.md(
            markdown_table(
                plan_rows(plan, titles), ["ak_event_id", "title", "van_event_id", "action", "reason", "requests"]
            )
        ),
        "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in plan.problems) or "_none_"),
    }


def done_metadata(sync_report, requests_spent: int, locations_created: int) -> dict:
    """What VAN confirmed, and what it cost."""
    done = sync_report.succeeded
    out = {
        "creates_done": done.get("create", 0),
        "updates_done": done.get("update", 0),
        "cancels_done": done.get("cancel", 0),
        "failed": sync_report.failed,
        "uncertain": sync_report.uncertain,
        "not_sent_daily_budget": sync_report.not_sent_budget,
        "reconciled": sync_report.reconciled,
        "locations_created": locations_created,
        "requests_spent": requests_spent,
    }
    if sync_report.errors:
        out["errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in sync_report.errors))
    return out
