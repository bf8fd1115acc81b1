"""The action_network/membership_sync asset: the diff pushed to Action Network through the ledger."""

import datetime as dt

import dagster as dg
from pydantic import Field

from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.membership import store
from orgsync_dagster.membership.diff_asset import membership_diff
from orgsync_dagster.membership.guard import evaluate_guard
from orgsync_dagster.membership.keys import DIFF_KEY, PUSH_CHECK, SYNC_KEY, export_partitions
from orgsync_dagster.membership.mapping import scrub
from orgsync_dagster.membership.overrides import overrides_for_push
from orgsync_dagster.membership.push import (
    KeyRefused,
    add_carry_over,
    estimate_seconds,
    known_person_ids,
    plan_push,
    run_push,
    unfinished_keys,
)
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.http import TokenBucket
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource


class MembershipSyncConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Plan only: counts, requests and duration; send nothing.")
    requests_per_second: float = Field(
        default=0.0, description="Override the Action Network rate limit for this run (0 = the resource's, 4 req/s)."
    )


def _check_order(engine, pk: str, diff: dict, s) -> str | None:
    """Refuse pushes that would apply exports out of order (which would revert members)."""
    before = store.loaded_exports_before(engine, pk)
    base = before[0]["partition_key"] if before else None
    guard = evaluate_guard(
        older_rows=diff["older_rows"],
        newer_rows=diff["newer_rows"],
        lapsed=diff["lapsed"],
        max_lapsed_share=s.max_lapsed_share,
        max_shrink_share=s.max_shrink_share,
        decision=store.latest_decision(engine, pk),
        partition_key=pk,
    )
    if not guard.passed:
        raise dg.Failure(f"Export {pk} is not pushed: {guard.description}", allow_retries=False)
    if diff["base_partition"] != base:
        raise dg.Failure(
            f"The diff of {pk} was computed against {diff['base_partition']} but the previous export "
            f"is now {base}: re-run the whole membership_sync job for this partition.",
            allow_retries=False,
        )
    later = store.pushed_partitions(engine, store.exports_after(engine, pk))
    if later:
        raise dg.Failure(
            f"A newer export ({sorted(later)[-1]}) was already pushed; pushing the older {pk} would "
            "revert members to an earlier state.",
            allow_retries=False,
        )
    if base and base not in store.pushed_partitions(engine, [base]):
        raise dg.Failure(
            f"The previous export {base} has not been pushed yet: push it first (or reject it), then {pk}.",
            allow_retries=False,
        )
    return base


@dg.asset(
    key=SYNC_KEY,
    deps=[membership_diff],
    partitions_def=export_partitions,
    group_name="membership",
    kinds={"actionnetwork"},
    pool="action_network_api",
    retry_policy=API_RETRY,
    check_specs=[dg.AssetCheckSpec(PUSH_CHECK, asset=SYNC_KEY)],
)
def membership_sync(
    context: dg.AssetExecutionContext,
    config: MembershipSyncConfig,
    warehouse: WarehouseResource,
    action_network: ActionNetworkResource,
    slack: SlackResource,
):
    """Action Network kept in step with the export: new and changed members upserted with is_member "True",
    lapsed ones set to "False", one request per changed member and none for the unchanged."""
    s = settings()
    engine = warehouse.get_engine()
    pk = context.partition_key
    diff = store.get_diff(engine, pk)
    if diff is None:
        raise dg.Failure(f"Export {pk} has no diff; materialize {'/'.join(DIFF_KEY)} first.", allow_retries=False)
    base = _check_order(engine, pk, diff, s)
    rows = store.load_diff_rows(engine, pk)
    person_ids = known_person_ids(engine, s.scope, [r["member_key"] for r in rows["lapsed"]])
    plan = plan_push(
        key_column="member_key",
        new_rows=rows["new"],
        updated_rows=rows["updated"],
        lapsed_rows=rows["lapsed"],
        person_ids=person_ids,
        unchanged=diff["unchanged"],
        add_tags=s.add_tags,
    )
    add_carry_over(
        plan,
        unfinished_keys(engine, s.scope),
        lambda keys: store.snapshot_rows_for(engine, pk, keys),
        lambda keys: known_person_ids(engine, s.scope, keys),
        add_tags=s.add_tags,
    )
    for problem in plan.problems:
        context.log.warning(problem)
    with metered(engine) as meter:
        # override_<field> from the Action Network people mirror (refreshed by paging; a client of its own, so
        # requests_spent stays the writes)
        mirror = overrides_for_push(
            engine, plan.ops, client=action_network.client(meter=meter), max_age_minutes=s.mirror_max_age_minutes
        )
        client = action_network.client(meter=meter)
        rps = config.requests_per_second or action_network.requests_per_second
        client.http.rate_limiter = TokenBucket(rps, capacity=1.0)
        started = dt.datetime.now(dt.UTC)
        try:
            report, outcome = run_push(
                engine,
                client,
                plan.ops,
                scope=s.scope,
                run_id=context.run.run_id,
                concurrency=s.concurrency,
                dry_run=config.dry_run,
                logger=context.log,
            )
        except KeyRefused as exc:
            raise dg.Failure(description=f"Export {pk} not pushed: {exc}.", allow_retries=False) from None
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        requests_spent = client.requests_sent
    if not config.dry_run:
        store.record_push(
            engine,
            pk,
            base_partition=base,
            status="complete" if report.ok else "partial",
            planned=sum(report.planned.values()),
            succeeded=sum(report.succeeded.values()),
            failed=report.failed,
            uncertain=report.uncertain,
            requests=requests_spent,
            run_id=context.run.run_id,
        )
        c = plan.counts
        text = (
            f"Membership export `{pk}` synced to Action Network: {c['new']} new, {c['updated']} updated, "
            f"{c['lapsed']} lapsed ({outcome['lapsed_not_in_action_network']} not in Action Network), "
            f"{c['unchanged']} unchanged; {requests_spent} requests in {seconds:.0f} s."
        )
        if not report.ok:
            text += (
                f" :warning: {report.failed} failed and {report.uncertain} unresolved member(s); they are "
                "retried on the next run."
            )
        slack.post(text)
    errors = [scrub(e) for e in report.errors] if not s.show_personal_data else report.errors
    yield dg.MaterializeResult(
        metadata={
            "dry_run": config.dry_run,
            **{k: v for k, v in plan.counts.items()},
            "planned_requests": report.planned_requests,
            "estimated_seconds": round(estimate_seconds(report.planned_requests, rps, s.concurrency), 1),
            **outcome,
            "requests_spent": requests_spent,
            **mirror,
            "seconds": round(seconds, 1),
            "requests_per_second": round(requests_spent / seconds, 2) if seconds > 0 else 0.0,
            "errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in errors) or "_none_"),
        }
    )
    yield dg.AssetCheckResult(
        check_name=PUSH_CHECK,
        passed=config.dry_run or report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if report.ok else f"{report.failed} failed, {report.uncertain} unresolved; retried next run",
        metadata={"failed": report.failed, "uncertain": report.uncertain},
    )
