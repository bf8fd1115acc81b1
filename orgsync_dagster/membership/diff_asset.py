"""The membership/diff asset and its blocking mass-lapse guard."""

import dagster as dg
from pydantic import Field

from orgsync_dagster.lib.runtime import markdown_table
from orgsync_dagster.membership import store
from orgsync_dagster.membership.diff import CHANGED_COLUMNS, diff_snapshots
from orgsync_dagster.membership.guard import evaluate_guard
from orgsync_dagster.membership.keys import DIFF_KEY, GUARD_CHECK, SNAPSHOT_KEY, export_partitions
from orgsync_dagster.membership.mapping import mapped_columns, mask_key
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.membership.snapshot_asset import membership_snapshot
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource


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
    new_cols = [key] + [c for c in mapped_columns(s.member_rule) if c != key and c in me["columns"]]
    old_cols = [key] + [c for c in mapped_columns(s.member_rule) if c != key and c in (base or me)["columns"]]
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
