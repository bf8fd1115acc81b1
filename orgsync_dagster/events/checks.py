"""Asset checks of the events sync that run after the sync, as their own steps (skipped by a dry run)."""

import dagster as dg

from orgsync_dagster.events import logic
from orgsync_dagster.events.assets import events_settings, load_instance_state, van_event_sync
from orgsync_dagster.events.report import plan_rows
from orgsync_dagster.events.target import VanEventsTarget
from orgsync_dagster.lib.ledger_checks import unresolved_ledger_check
from orgsync_dagster.lib.runtime import markdown_table
from orgsync_dagster.partitions import van_instance_partitions
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.warehouse import WarehouseResource


@dg.asset_check(
    asset=van_event_sync,
    partitions_def=van_instance_partitions,
    description="Every eligible ActionKit event of this VAN instance is in VAN as it should be, and every "
    "cancelled one is inactive there: planning again against the VAN mirror finds nothing left to do. Fails with "
    "the reason (an event type missing in VAN, failed or unanswered requests, the daily request budget).",
)
def all_eligible_events_synced(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, orgsync_config: OrgsyncConfigResource
):
    instance = context.partition_key
    s = events_settings(orgsync_config)
    validated, mirror, types = load_instance_state(warehouse.get_engine(), instance)
    # location ids do not change whether an event is synced, only what syncing it would cost
    plan = logic.plan_instance(validated, mirror, types, s, known_locations=set())
    by_action = {a: sum(1 for op in plan.ops if op.action == a) for a in ("create", "update", "cancel")}
    left = len(plan.ops) + plan.blocked
    problems = list(plan.problems)
    if plan.ops:
        problems.append(
            f"{len(plan.ops)} event(s) still differ from VAN ({by_action['create']} not created, "
            f"{by_action['update']} not updated, {by_action['cancel']} not cancelled); see the sync's errors"
        )
    titles = {v["ak_event_id"]: (v.get("payload") or {}).get("title") for v in validated}
    return dg.AssetCheckResult(
        passed=left == 0 and not plan.problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) or None,
        metadata={
            "instance": instance,
            "eligible_events": sum(1 for v in validated if v["eligible"]),
            "events_not_synced": left,
            "not_created": by_action["create"],
            "not_updated": by_action["update"],
            "not_cancelled": by_action["cancel"],
            "blocked_by_problems": plan.blocked,
            "left_to_do": dg.MetadataValue.md(
                markdown_table(plan_rows(plan, titles), ["ak_event_id", "title", "van_event_id", "action", "reason"])
            ),
        },
    )


van_event_sync_ledger_resolved = unresolved_ledger_check(
    van_event_sync.key,
    VanEventsTarget.sync,
    partitions_def=van_instance_partitions,
    description="Every VAN event push of this instance has a known outcome: no sync-ledger entry is left in_flight "
    "or uncertain by an earlier run (a create whose answer was lost is reconciled when the next export finds it).",
)

events_checks = [all_eligible_events_synced, van_event_sync_ledger_resolved]
