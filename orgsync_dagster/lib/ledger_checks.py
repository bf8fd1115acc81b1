"""A reusable asset check: sync-ledger entries left unresolved longer than one run.

A push whose answer was lost (or whose run died) leaves its ledger entry ``in_flight``/``uncertain``; the next run
reconciles it (by looking the record up, or because the plan found it remotely). An entry still unresolved after a
later run has gone through means a record nobody will look at again unless a person does: this check reports them,
with counts only (record keys can be personal data such as e-mail addresses).

    from orgsync_dagster.lib.ledger_checks import unresolved_ledger_check

    van_event_sync_unresolved = unresolved_ledger_check(["van", "event_sync"], "van.events",
                                                        partitions_def=van_instance_partitions)

Attach the returned check definition to the domain's ``Definitions(asset_checks=[...])``. It is skipped, like any
check of its asset, when the asset is not materialized in the run (a dry run).
"""

import datetime as dt
from collections.abc import Callable, Sequence

import dagster as dg

from orgsync_dagster.lib.ledger import unresolved_summary
from orgsync_dagster.resources.warehouse import WarehouseResource

DEFAULT_NAME = "no_unresolved_ledger_entries"


def partition_scope(context: dg.AssetCheckExecutionContext) -> str | None:
    """The ledger scope of a partitioned sync is its partition key (e.g. the VAN instance); unpartitioned: all."""
    return context.partition_key if context.has_partition_key else None


def unresolved_ledger_check(
    asset_key: dg.AssetKey | Sequence[str] | str,
    sync: str,
    *,
    name: str = DEFAULT_NAME,
    scope: Callable[[dg.AssetCheckExecutionContext], str | None] | str | None = partition_scope,
    partitions_def: dg.PartitionsDefinition | None = None,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    blocking: bool = False,
    description: str | None = None,
) -> dg.AssetChecksDefinition:
    """An asset check on ``asset_key`` that fails when sync ledger ``sync`` holds entries left ``in_flight`` or
    ``uncertain`` by an earlier run than the one being checked.

    ``scope``: the ledger scope to look at: a fixed string, a function of the check's context (default: the
    partition key when there is one), or None for every scope of the sync. The check needs the ``warehouse``
    resource. Metadata: counts and the age of the oldest entry, never record keys.
    """
    key = dg.AssetKey.from_coercible(asset_key)
    text = description or (
        f"Every push recorded in the sync ledger {sync!r} has a known outcome: no entry is left in_flight or "
        "uncertain by an earlier run (such a record is never planned again without reconciliation)."
    )

    @dg.asset_check(
        asset=key,
        name=name,
        description=text,
        blocking=blocking,
        partitions_def=partitions_def,
    )
    def _unresolved_ledger_check(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
        the_scope = scope(context) if callable(scope) else scope
        summary = unresolved_summary(warehouse.get_engine(), sync, the_scope, exclude_run_id=context.run.run_id)
        age_hours = None
        if summary.oldest_updated_at is not None:
            oldest = summary.oldest_updated_at
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=dt.UTC)
            age_hours = round((dt.datetime.now(dt.UTC) - oldest).total_seconds() / 3600, 1)
        where = f"{sync}/{the_scope}" if the_scope is not None else f"{sync} (all scopes)"
        return dg.AssetCheckResult(
            passed=summary.total == 0,
            severity=severity,
            description=None
            if summary.total == 0
            else (
                f"{summary.total} push(es) in {where} left without a known outcome by an earlier run "
                f"({summary.in_flight} in_flight, {summary.uncertain} uncertain); they are reconciled when found "
                "remotely or planned again, otherwise look them up by hand in orgsync.sync_ledger"
            ),
            metadata={
                "unresolved_from_earlier_runs": summary.total,
                "in_flight": summary.in_flight,
                "uncertain": summary.uncertain,
                "scopes_affected": summary.scopes,
                "oldest_unresolved_age_hours": dg.MetadataValue.float(age_hours)
                if age_hours is not None
                else dg.MetadataValue.null(),
            },
        )

    return _unresolved_ledger_check
