"""Dagster assets of the ActionKit membership export -> Action Network sync (one partition per export).

Approving an export the mass-lapse guard blocked (or rejecting it): re-run the ``membership_sync`` job for
that partition with the run config

    ops:
      membership__diff:
        config: {decision: approve, decided_by: "Your Name", note: "national confirmed the purge"}

(``decision: reject`` discards the export: it is never pushed and later exports are compared with the one
before it). The decision is stored in ``membership.approvals``; inserting a row there has the same effect.
"""

import datetime as dt
import posixpath

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from orgsync_dagster.lib.runtime import markdown_table, metered
from orgsync_dagster.membership import store
from orgsync_dagster.membership.diff import CHANGED_COLUMNS, diff_snapshots
from orgsync_dagster.membership.exports import CANONICAL_COLUMNS, ExportError, read_export
from orgsync_dagster.membership.guard import evaluate_guard
from orgsync_dagster.membership.mapping import MAPPED_COLUMNS, mask_key, scrub
from orgsync_dagster.membership.push import (
    KeyRefused,
    add_carry_over,
    estimate_seconds,
    known_person_ids,
    plan_push,
    run_push,
    unfinished_keys,
)
from orgsync_dagster.membership.s3io import (
    ExportFetchError,
    ExportObject,
    archive_key_for,
    fetch_and_keep,
    head,
    key_from_partition,
    partition_key_for,
    short_etag,
)
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.partitions import API_RETRY
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.http import TokenBucket
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource

export_partitions = dg.DynamicPartitionsDefinition(name="actionkit_membership_exports")
TAG_BUCKET, TAG_KEY, TAG_ETAG, TAG_MODIFIED = (
    "membership/bucket",
    "membership/s3_key",
    "membership/etag",
    "membership/last_modified",
)
QUARANTINE_CHECK, GUARD_CHECK, PUSH_CHECK = "no_quarantined_rows", "mass_lapse_guard", "all_changes_pushed"
SNAPSHOT_KEY, DIFF_KEY, SYNC_KEY = (
    ["actionkit", "membership_snapshot"],
    ["membership", "diff"],
    [
        "action_network",
        "membership_sync",
    ],
)


def _locate(context: dg.AssetExecutionContext, engine, s, client) -> ExportObject:
    """The S3 object of this partition: from the sensor's run tags, the exports table, or the partition key."""
    pk = context.partition_key
    tags = context.run.tags
    if tags.get(TAG_KEY) and partition_key_for(tags[TAG_KEY], tags.get(TAG_ETAG, ""), s.s3_prefix) == pk:
        modified = dt.datetime.fromisoformat(tags[TAG_MODIFIED]) if tags.get(TAG_MODIFIED) else None
        return ExportObject(tags.get(TAG_BUCKET) or s.s3_bucket, tags[TAG_KEY], tags[TAG_ETAG], modified)
    row = store.get_export(engine, pk)
    if row:
        return ExportObject(row["bucket"], row["s3_key"], row["etag"] or "", row["last_modified"], row["size_bytes"])
    key = key_from_partition(pk, s.s3_prefix)
    try:
        obj = head(client, s.s3_bucket, key)
    except ExportFetchError:
        obj = None
    if obj is None or short_etag(obj.etag) != pk.rsplit("@", 1)[-1]:
        return ExportObject(s.s3_bucket, key, pk.rsplit("@", 1)[-1])  # replaced or gone: only a kept copy can serve
    return obj


def _fail(engine, pk: str, message: str, kept: str | None) -> dg.Failure:
    """Record why the export cannot be used and return the step failure to raise (no retries: same input)."""
    store.record_export(engine, pk, status="failed", error=message)
    where = f" The raw export is kept at {kept}." if kept else ""
    return dg.Failure(description=message + where, metadata={"kept_raw_export": kept or "none"}, allow_retries=False)


@dg.asset(
    key=SNAPSHOT_KEY,
    partitions_def=export_partitions,
    group_name="membership",
    kinds={"actionkit", "s3", "postgres"},
    check_specs=[dg.AssetCheckSpec(QUARANTINE_CHECK, asset=SNAPSHOT_KEY)],
)
def membership_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource, s3: S3Resource):
    """One weekly ActionKit membership export (raw e-mail, ZIP or CSV in S3) validated and stored in the warehouse,
    unusable rows quarantined with their reason and the raw export kept."""
    s = settings()
    engine = warehouse.get_engine()
    pk = context.partition_key
    client = s3.get_client()
    obj = _locate(context, engine, s, client)
    archive_key = archive_key_for(obj, s.s3_prefix, s.archive_prefix)
    kept = f"s3://{obj.bucket}/{archive_key}"
    store.record_export(
        engine,
        pk,
        bucket=obj.bucket,
        s3_key=obj.key,
        etag=obj.etag,
        last_modified=obj.last_modified,
        size_bytes=obj.size,
        archive_key=archive_key,
        status="received",
        error=None,
    )
    try:
        data, obj = fetch_and_keep(client, obj, archive_key)
    except ExportFetchError as exc:
        raise _fail(engine, pk, f"Export {pk}: {exc}.", None) from None
    store.record_export(engine, pk, last_modified=obj.last_modified, size_bytes=len(data))
    try:
        parsed = read_export(data, posixpath.basename(obj.key), key_column=s.key_column)
    except ExportError as exc:
        raise _fail(engine, pk, f"Export {pk} cannot be used: {exc}.", kept) from None
    counts = parsed.quarantine_counts
    if parsed.rows_ok < s.min_rows:
        what = (
            "has a header but no member rows"
            if parsed.rows_in == 0
            else f"has {parsed.rows_in} rows but only {parsed.rows_ok} usable (quarantined: {counts})"
        )
        raise _fail(engine, pk, f"Export {pk} {what}; at least {s.min_rows} member row(s) are needed.", kept)
    store.store_snapshot(engine, pk, parsed)
    store.record_export(
        engine,
        pk,
        status="loaded",
        error=None,
        container=parsed.container,
        member=parsed.member,
        encoding=parsed.encoding,
        key_column=parsed.key_column,
        columns=[c for c in parsed.rows.columns if c in CANONICAL_COLUMNS],
        rows_in=parsed.rows_in,
        rows_ok=parsed.rows_ok,
        rows_quarantined=parsed.rows_quarantined,
        quarantine_counts=counts,
        warnings=parsed.warnings,
        loaded_at=dt.datetime.now(dt.UTC),
    )
    context.log.info(f"{pk}: {parsed.rows_ok} members, {parsed.rows_quarantined} quarantined {counts or ''}")
    quarantine_lines = parsed.quarantine.select("_line", "_reason").head(50).to_dicts()
    yield dg.MaterializeResult(
        metadata={
            "dagster/row_count": parsed.rows_ok,
            "rows_in": parsed.rows_in,
            "members": parsed.rows_ok,
            "quarantined": parsed.rows_quarantined,
            "quarantine_reasons": dg.MetadataValue.json(counts),
            "container": parsed.container,
            "attachment_or_member": parsed.member or "",
            "encoding": parsed.encoding,
            "parser": parsed.parser,
            "columns": dg.MetadataValue.json(parsed.columns),
            "warnings": dg.MetadataValue.json(parsed.warnings),
            "s3_object": f"s3://{obj.bucket}/{obj.key}",
            "kept_raw_export": kept,
        }
    )
    yield dg.AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=parsed.rows_quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{parsed.rows_quarantined} row(s) quarantined: {counts}; see membership.quarantine_rows"
            if parsed.rows_quarantined
            else None
        ),
        metadata={
            "quarantined": parsed.rows_quarantined,
            "lines": dg.MetadataValue.md(
                markdown_table(
                    [{"line": r["_line"], "reason": r["_reason"]} for r in quarantine_lines], ["line", "reason"]
                )
            ),
        },
    )


class DiffConfig(dg.Config):
    decision: str = Field(default="", description="'approve' or 'reject' this export after the guard blocked it.")
    decided_by: str = Field(default="", description="Who decides (required with a decision).")
    note: str = Field(default="")


def _sample_rows(result, key: str, show: bool, limit: int) -> list[dict]:
    rows = []
    for status in ("new", "updated", "lapsed"):
        for r in result.sample.get(status, [])[:limit]:
            rows.append(
                {
                    "member": r.get(key) if show else mask_key(r.get(key)),
                    "status": status,
                    "changed_columns": ", ".join(r.get(CHANGED_COLUMNS) or []),
                }
            )
    return rows


@dg.asset(
    key=DIFF_KEY,
    deps=[membership_snapshot],
    partitions_def=export_partitions,
    group_name="membership",
    kinds={"polars", "postgres"},
    check_specs=[
        dg.AssetCheckSpec(
            GUARD_CHECK,
            asset=DIFF_KEY,
            blocking=True,
            description="Blocks the push when too many members lapse or the export shrinks.",
        )
    ],
)
def membership_diff(
    context: dg.AssetExecutionContext, config: DiffConfig, warehouse: WarehouseResource, slack: SlackResource
):
    """Who joined, changed (in the columns Action Network receives), lapsed or stayed the same since the
    previous export."""
    s = settings()
    engine = warehouse.get_engine()
    pk = context.partition_key
    me = store.get_export(engine, pk)
    if not me or me["status"] != "loaded":
        raise dg.Failure(f"Export {pk} has no loaded snapshot; materialize {'/'.join(SNAPSHOT_KEY)} first.")
    if config.decision:
        store.record_decision(engine, pk, config.decision.strip().lower(), config.decided_by, config.note)
    before = store.loaded_exports_before(engine, pk)
    base = before[0] if before else None
    key = me["key_column"]
    if base and base["key_column"] != key:
        raise dg.Failure(
            f"Export {pk} is keyed on {key!r} but the previous export {base['partition_key']} on "
            f"{base['key_column']!r}; both must use the same membership.key_column."
        )
    new_cols = [key] + [c for c in MAPPED_COLUMNS if c != key and c in me["columns"]]
    old_cols = [key] + [c for c in MAPPED_COLUMNS if c != key and c in (base or me)["columns"]]
    compare = [c for c in new_cols if c != key and c in old_cols]
    newer = store.load_snapshot(engine, pk, new_cols)
    older = store.load_snapshot(engine, base["partition_key"], old_cols) if base else newer.clear()
    result = diff_snapshots(older, newer, key=key, compare_columns=compare, sample_size=s.sample_size)
    store.store_diff(engine, pk, base["partition_key"] if base else None, result, CHANGED_COLUMNS)
    guard = evaluate_guard(
        older_rows=result.older_rows,
        newer_rows=result.newer_rows,
        lapsed=result.counts["lapsed"],
        max_lapsed_share=s.max_lapsed_share,
        max_shrink_share=s.max_shrink_share,
        decision=store.latest_decision(engine, pk),
        partition_key=pk,
    )
    counts = result.to_dict()
    context.log.info(f"{pk} vs {base['partition_key'] if base else 'nothing'}: {counts}; guard: {guard.description}")
    if guard.tripped and not guard.passed and "rejected" not in guard.description:
        slack.post(
            f":octagonal_sign: Membership export `{pk}` is waiting for approval before it is pushed to "
            f"Action Network. {guard.description}"
        )
    sample = _sample_rows(result, key, s.show_personal_data, s.sample_size)
    yield dg.MaterializeResult(
        metadata={
            "base_export": base["partition_key"] if base else "none (first export: everyone is new)",
            **counts,
            "older_rows": result.older_rows,
            "newer_rows": result.newer_rows,
            "lapsed_share": round(guard.lapsed_share, 4),
            "shrink_share": round(guard.shrink_share, 4),
            "compare_columns": dg.MetadataValue.json(result.compare_columns),
            "sample": dg.MetadataValue.md(markdown_table(sample, ["member", "status", "changed_columns"], limit=30)),
        }
    )
    yield dg.AssetCheckResult(
        check_name=GUARD_CHECK,
        passed=guard.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=guard.description,
        metadata={
            "lapsed_share": round(guard.lapsed_share, 4),
            "shrink_share": round(guard.shrink_share, 4),
            "max_lapsed_share": s.max_lapsed_share,
            "max_shrink_share": s.max_shrink_share,
        },
    )


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
