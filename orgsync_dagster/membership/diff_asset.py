"""The membership/diff asset and its blocking mass-lapse guard."""

import json

import dagster as dg
import polars as pl
import sqlalchemy as sa
from pydantic import Field

from orgsync_dagster.lib.runtime import markdown_table
from orgsync_dagster.membership import approvals, store
from orgsync_dagster.membership.diff import CHANGED_COLUMNS, diff_snapshots
from orgsync_dagster.membership.guard import guard_with_settings
from orgsync_dagster.membership.keys import DIFF_KEY, GUARD_CHECK, SNAPSHOT_KEY, export_partitions
from orgsync_dagster.membership.mapping import mapped_columns, mask_key
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.membership.snapshot_asset import membership_snapshot
from orgsync_dagster.membership.tables import quarantine_rows
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.warehouse import WarehouseResource


class DiffConfig(dg.Config):
    decision: str = Field(default="", description="'approve' or 'reject' this export after the guard blocked it.")
    decided_by: str = Field(default="", description="Who decides (required with a decision).")
    note: str = Field(default="", description="Why (required with a decision: the audit record).")


def _load_quarantine(engine, partition_key: str) -> pl.DataFrame:
    """The partition's quarantined rows as ``ParsedExport.quarantine`` has them: ``_line``, ``_reason`` and the
    original values (from ``membership.quarantine_rows.data``)."""
    q = quarantine_rows.c
    with engine.connect() as conn:
        found = conn.execute(sa.select(q.line, q.reason, q.data).where(q.partition_key == partition_key)).all()
    records = []
    for line, reason, data in found:
        values = data if isinstance(data, dict) else json.loads(data or "{}")
        records.append(
            {"_line": line, "_reason": reason} | {k: None if v is None else str(v) for k, v in (values or {}).items()}
        )
    if not records:
        return pl.DataFrame({"_line": pl.Series([], dtype=pl.Int64), "_reason": pl.Series([], dtype=pl.String)})
    columns = list(dict.fromkeys(k for r in records for k in r))
    return pl.DataFrame(
        {c: pl.Series(c, [r.get(c) for r in records], dtype=pl.Int64 if c == "_line" else pl.String) for c in columns}
    )


def _sample_rows(result, key: str, show: bool, limit: int) -> list[dict]:
    rows = []
    for status in ("new", "updated", "lapsed", "held"):
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
    if config.decision:  # the same rules as the CLI and the web page (approvals.decide)
        try:
            approvals.decide(engine, pk, config.decision, config.decided_by, config.note, s)
        except approvals.DecisionError as exc:
            raise dg.Failure(f"The decision on export {pk} was not recorded: {exc}.", allow_retries=False) from None
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
    quarantine = _load_quarantine(engine, pk)
    result = diff_snapshots(
        older, newer, key=key, compare_columns=compare, sample_size=s.sample_size, newer_quarantine=quarantine
    )
    store.store_diff(engine, pk, base["partition_key"] if base else None, result, CHANGED_COLUMNS)
    guard = guard_with_settings(
        s,
        older_rows=result.older_rows,
        newer_rows=result.newer_rows,
        lapsed=result.counts["lapsed"],
        decision=store.latest_decision(engine, pk),
        partition_key=pk,
        quarantined=quarantine.height,
        held=result.held_count,
    )
    counts = result.to_dict()
    held = f"; held (key in a quarantined row, not lapsed): {result.held_count}" if result.held_count else ""
    context.log.info(
        f"{pk} vs {base['partition_key'] if base else 'nothing'}: {counts}{held}; guard: {guard.description}"
    )
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
            "held": result.held_count,
            "quarantined": quarantine.height,
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
            "quarantined_share": round(guard.quarantined_share, 4),
            "max_lapsed_share": s.max_lapsed_share,
            "max_shrink_share": s.max_shrink_share,
            "max_quarantined_share": s.max_quarantined_share,
        },
    )
