"""The action_network/membership_sync asset: the diff pushed to Action Network through the ledger."""

import contextlib
import datetime as dt
import math

import dagster as dg
from pydantic import Field

from orgsync_dagster.lib.locks import LockBusy
from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.membership import store
from orgsync_dagster.membership.diff_asset import membership_diff
from orgsync_dagster.membership.guard import guard_with_settings
from orgsync_dagster.membership.keys import DIFF_KEY, PUSH_CHECK, SYNC_KEY, export_partitions
from orgsync_dagster.membership.mapping import scrub
from orgsync_dagster.membership.overrides import overrides_for_push
from orgsync_dagster.membership.push import (
    KeyRefused,
    TargetUnreachable,
    add_carry_over,
    estimate_seconds,
    known_person_ids,
    plan_push,
    push_lock,
    run_push,
    unfinished_keys,
)
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.http import ApiError, TokenBucket
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource


class MembershipSyncConfig(dg.Config):
    dry_run: bool = Field(default=False, description="Plan only: counts, requests and duration; send nothing.")
    requests_per_second: float = Field(
        default=0.0, description="Override the Action Network rate limit for this run (0 = the resource's, 4 req/s)."
    )
    lock_wait_seconds: float = Field(
        default=900.0,
        description="Wait this long for another push to the same Action Network group (CLI or run) to finish, "
        "then fail.",
    )


def _check_order(engine, pk: str, diff: dict, s) -> str | None:
    """Refuse pushes that would apply exports out of order (which would revert members)."""
    before = store.loaded_exports_before(engine, pk)
    base = before[0]["partition_key"] if before else None
    guard = guard_with_settings(
        s,
        older_rows=diff["older_rows"],
        newer_rows=diff["newer_rows"],
        lapsed=diff["lapsed"],
        decision=store.latest_decision(engine, pk),
        partition_key=pk,
        quarantined=int((store.get_export(engine, pk) or {}).get("rows_quarantined") or 0),
        held=int(diff.get("held") or 0),
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
    lapsed ones set to "False", one write per changed member (a lapse or
    an e-mail change also reads the person first, to verify the address) and none for the unchanged."""
    s = settings()
    engine = warehouse.get_engine()
    pk = context.partition_key
    # configuration first: nothing is read from or written to the ledger with a bad target
    rps = config.requests_per_second or action_network.requests_per_second
    if not math.isfinite(rps) or rps <= 0 or not math.isfinite(config.lock_wait_seconds):
        raise dg.Failure(
            f"Export {pk} not pushed: requests_per_second must be a positive number (got {rps!r}) and "
            "lock_wait_seconds finite.",
            allow_retries=False,
        )
    try:
        scope = action_network.target_scope(s.scope)
        action_network.client()  # raises on a missing key (builds a client, sends nothing)
    except ValueError as exc:
        raise dg.Failure(f"Export {pk} not pushed: {exc}.", allow_retries=False) from None
    diff = store.get_diff(engine, pk)
    if diff is None:
        raise dg.Failure(f"Export {pk} has no diff; materialize {'/'.join(DIFF_KEY)} first.", allow_retries=False)
    base = _check_order(engine, pk, diff, s)
    holder = f"orgsync membership_sync run {context.run.run_id[:8]}"
    try:
        lock = push_lock(engine, scope, wait_seconds=max(0.0, config.lock_wait_seconds), holder=holder)
        with lock if not config.dry_run else contextlib.nullcontext():
            plan, report, outcome, seconds, requests_spent, mirror = _plan_and_push(
                context, config, engine, action_network, s, pk, base, diff, scope, rps
            )
    except LockBusy as exc:
        raise dg.Failure(
            f"Export {pk} not pushed yet: {exc}. Nothing was planned or sent; re-run this partition's "
            "membership_sync when that push has finished.",
            allow_retries=False,
        ) from None
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


def _plan_and_push(context, config, engine, action_network, s, pk, base, diff, scope, rps):
    """Plan from the diff and the ledger, then push (under the target's lock unless a dry run)."""
    rows = store.load_diff_rows(engine, pk)
    moved = [r["member_key"] for r in rows["updated"] if "email" in (r.get("_changed_columns") or [])]
    old_emails: dict[str, str] = {}
    if moved and base:
        before = store.snapshot_rows_for(engine, base, moved)
        old_emails = {k: str(r["email"]).strip() for k, r in before.items() if r.get("email")}
    person_ids = known_person_ids(engine, scope, [r["member_key"] for r in rows["lapsed"]] + list(old_emails))
    plan = plan_push(
        key_column="member_key",
        new_rows=rows["new"],
        updated_rows=rows["updated"],
        lapsed_rows=rows["lapsed"],
        person_ids=person_ids,
        unchanged=diff["unchanged"],
        add_tags=s.add_tags,
        old_emails=old_emails,
    )
    add_carry_over(
        plan,
        unfinished_keys(engine, scope),
        lambda keys: store.snapshot_rows_for(engine, pk, keys),
        lambda keys: known_person_ids(engine, scope, keys),
        add_tags=s.add_tags,
        old_emails=old_emails,
    )
    for problem in plan.problems:
        context.log.warning(problem)
    with metered(engine) as meter:
        # override_<field> from the Action Network people mirror (refreshed by paging; a client of its own, so
        # requests_spent stays the writes)
        try:
            mirror = overrides_for_push(
                engine, plan.ops, client=action_network.client(meter=meter), max_age_minutes=s.mirror_max_age_minutes
            )
        except ApiError as exc:  # nothing is marked in flight yet: the export is pushed by a retry or the next run
            raise dg.Failure(
                description=f"Export {pk} not pushed: reading Action Network people (overrides) failed: "
                f"{scrub(str(exc))}.",
                allow_retries=exc.retryable or exc.not_sent,
            ) from None
        client = action_network.client(meter=meter)
        client.http.rate_limiter = TokenBucket(rps, capacity=1.0)
        started = dt.datetime.now(dt.UTC)
        try:
            report, outcome = run_push(
                engine,
                client,
                plan.ops,
                scope=scope,
                run_id=context.run.run_id,
                concurrency=s.concurrency,
                dry_run=config.dry_run,
                logger=context.log,
            )
        except KeyRefused as exc:
            raise dg.Failure(description=f"Export {pk} not pushed: {exc}.", allow_retries=False) from None
        except TargetUnreachable as exc:
            # not recorded as pushed: the export is pushed again (retry or next run) before any later one
            raise dg.Failure(
                description=f"Export {pk} not pushed: {scrub(str(exc))}.",
                metadata={k: v for k, v in exc.outcome.items()},
            ) from None
        seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        requests_spent = client.requests_sent
    return plan, report, outcome, seconds, requests_spent, mirror
