"""The action_network/membership_drift asset: drift repair against the latest pushed export (membership/drift.py).

Pages through the group's Action Network people (full mirror refresh, 25 per request), compares is_member and the
mapped fields with the latest export that was pushed (an export still blocked by the guard is never the
reference) and, unless ``dry_run`` (the default), writes only the drift through the push's ledger.
"""

import contextlib

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from orgsync_dagster.lib.locks import LockBusy
from orgsync_dagster.lib.runtime import metered
from orgsync_dagster.membership import store
from orgsync_dagster.membership.drift import emails_in, lapse_guard, plan_drift, run_repair
from orgsync_dagster.membership.mapping import scrub
from orgsync_dagster.membership.mirror import group_of, people_by_email, refresh_mirror
from orgsync_dagster.membership.push import push_lock
from orgsync_dagster.membership.settings import settings
from orgsync_dagster.membership.tables import exports, pushes, quarantine_rows
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.http import ApiError
from orgsync_dagster.resources.warehouse import WarehouseResource

DRIFT_KEY = ["action_network", "membership_drift"]


class MembershipDriftConfig(dg.Config):
    dry_run: bool = Field(default=True, description="List the drift (counts, sample, cost) and write nothing.")
    allow_mass_lapse: bool = Field(
        default=False, description="Repair even when more than membership.guard.max_lapsed_share would be lapsed."
    )
    lock_wait_seconds: float = Field(
        default=900.0, ge=0, allow_inf_nan=False, description="How long to wait for a push of the same target."
    )


def latest_pushed_export(engine) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(exports)
            .join(pushes, pushes.c.partition_key == exports.c.partition_key)
            .where(exports.c.status == "loaded")
            .order_by(exports.c.last_modified.desc(), exports.c.s3_key.desc(), exports.c.partition_key.desc())
            .limit(1)
        ).first()
    return dict(row._mapping) if row else None


def quarantined_emails(engine, partition_key: str) -> set[str]:
    with engine.connect() as conn:
        data = conn.execute(
            sa.select(quarantine_rows.c.data).where(quarantine_rows.c.partition_key == partition_key)
        ).scalars()
        return emails_in(v for d in data if isinstance(d, dict) for v in d.values())


@dg.asset(
    key=DRIFT_KEY,
    group_name="membership",
    kinds={"actionnetwork", "postgres"},
    pool="action_network_api",
    description="Drift repair: Action Network people compared with the latest pushed export; only the drift is "
    "written (dry run by default).",
)
def membership_drift(
    context: dg.AssetExecutionContext,
    config: MembershipDriftConfig,
    warehouse: WarehouseResource,
    action_network: ActionNetworkResource,
) -> dg.MaterializeResult:
    s = settings()
    engine = warehouse.get_engine()
    export = latest_pushed_export(engine)
    if export is None:
        raise dg.Failure("No export has been pushed yet: nothing to compare Action Network with.", allow_retries=False)
    pk = export["partition_key"]
    columns = list(export["columns"] or [])
    frame = store.load_snapshot(engine, pk, ["member_key", *columns])
    try:  # the push's ledger scope (the target: scope name + URL + key fingerprint) and its one-writer lock
        scope = action_network.target_scope(s.scope)
    except ValueError as exc:
        raise dg.Failure(f"Drift repair not started: {exc}.", allow_retries=False) from None
    holder = f"orgsync membership_drift run {context.run.run_id[:8]}"
    lock = (
        contextlib.nullcontext()
        if config.dry_run
        else push_lock(engine, scope, wait_seconds=config.lock_wait_seconds, holder=holder)
    )
    try:
        with lock:
            return _repair(context, config, engine, action_network, s, pk, columns, frame, scope)
    except LockBusy as exc:
        raise dg.Failure(
            f"Drift repair not started: {exc}. Nothing was written; re-run when that push has finished.",
            allow_retries=False,
        ) from None


def _repair(context, config, engine, action_network, s, pk, columns, frame, scope) -> dg.MaterializeResult:
    with metered(engine) as meter:
        client = action_network.client(meter=meter)
        try:
            refresh = refresh_mirror(engine, client, full=True)
        except ApiError as exc:
            raise dg.Failure(
                f"Reading Action Network people failed: {scrub(str(exc))}", allow_retries=exc.retryable
            ) from None
        context.log.info(refresh.describe())
        mirror = people_by_email(engine, group_of(client))
        plan = plan_drift(
            frame.iter_rows(named=True),
            key_column="member_key",
            columns=columns,
            mirror=mirror,
            protected_emails=quarantined_emails(engine, pk),
            rule=s.member_rule,
            add_tags=s.add_tags,
            sample_size=s.sample_size,
            show_personal_data=s.show_personal_data,
        )
        refused = None if config.dry_run else lapse_guard(plan, mirror, s.max_lapsed_share)
        if refused and not config.allow_mass_lapse:
            raise dg.Failure(
                f"Drift repair refused: {refused}. Re-run with allow_mass_lapse after checking.", allow_retries=False
            )
        before = client.requests_sent
        report, outcome = run_repair(
            engine,
            client,
            plan,
            scope=scope,
            run_id=context.run.run_id,
            concurrency=s.concurrency,
            dry_run=config.dry_run,
            logger=context.log,
        )
        write_requests = client.requests_sent - before
    summary = plan.summary()
    if not config.dry_run and not report.ok:
        context.log.warning(f"{report.failed} failed and {report.uncertain} unresolved repair(s); re-run to retry")
    return dg.MaterializeResult(
        metadata={
            "dry_run": config.dry_run,
            "export": pk,
            "missing": summary["missing"],
            "update": summary["update"],
            "lapse": summary["lapse"],
            "in_sync": summary["in_sync"],
            "untouched_not_member": summary["untouched_not_member"],
            "people_in_action_network": len(mirror),
            "mirror_refresh": refresh.mode,
            "mirror_requests": refresh.requests,
            "planned_requests": report.planned_requests,
            "already_done": report.skipped_done,
            "requests_spent": write_requests,
            **({} if config.dry_run else outcome),
            "drifted_fields": dg.MetadataValue.json(summary["drifted_fields"]),
            "sample": dg.MetadataValue.json(plan.sample),
            "errors": dg.MetadataValue.md(
                "\n".join(f"- {e if s.show_personal_data else scrub(e)}" for e in report.errors) or "_none_"
            ),
        }
    )


membership_drift_job = dg.define_asset_job(
    "membership_drift_repair",
    selection=dg.AssetSelection.assets(DRIFT_KEY),
    description="Drift repair: compare Action Network with the latest pushed export and write only the drift "
    "(run config dry_run: false to write).",
    tags={"orgsync/domain": "membership"},
)
