"""The approval sensor: an export approved with ``orgsync membership approve`` or on /staff/membership is pushed
without hand-written run config.

Each tick reads the decisions recorded after the cursor (the last decision id seen) and requests one
membership_sync run of the diff and the push (the snapshot is already loaded) for each approval whose export is
not pushed yet (run_key = the decision's id, so a decision starts at most one run). The diff then finds the
approval (store.latest_decision) and its blocking guard passes. Rejections need no run.
"""

import dagster as dg

from orgsync_dagster.membership import approvals
from orgsync_dagster.membership.jobs import membership_sync_job
from orgsync_dagster.membership.keys import DIFF_KEY, SYNC_KEY, export_partitions
from orgsync_dagster.resources.warehouse import WarehouseResource

TAG_DECISION = "membership/decision_id"


@dg.sensor(
    job=membership_sync_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="An export approved after the mass-lapse guard blocked it (orgsync membership approve, or the web "
    "page /staff/membership) is diffed again and pushed: one run per approval.",
)
def membership_approval_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    after = int(context.cursor) if context.cursor and context.cursor.isdigit() else 0
    decisions = approvals.decisions_after(warehouse.get_engine(), after)
    if not decisions:
        return dg.SkipReason("no new decision")
    requests, skipped = [], []
    for d in decisions:
        pk = d["partition_key"]
        if d["decision"] != approvals.APPROVE:
            skipped.append(f"{pk}: rejected (no run)")
        elif d["pushed"]:
            skipped.append(f"{pk}: already pushed")
        elif not context.instance.has_dynamic_partition(export_partitions.name, pk):
            skipped.append(f"{pk}: not a partition of {export_partitions.name}")
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"membership-decision-{d['id']}",
                    partition_key=pk,
                    asset_selection=[dg.AssetKey(DIFF_KEY), dg.AssetKey(SYNC_KEY)],
                    tags={TAG_DECISION: str(d["id"])},
                )
            )
    for line in skipped:
        context.log.info(line)
    return dg.SensorResult(run_requests=requests, cursor=str(decisions[-1]["id"]))
