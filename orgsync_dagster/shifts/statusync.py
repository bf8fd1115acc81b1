"""Push the statuses organizers approved in the review back to VAN: one POST /signups (an upsert) per changed
approved signup, through the sync engine and its ledger. A shift is marked sent only after VAN accepted the write;
every approved shift ends with an outcome the review page shows: sent, in VAN already, failed (with VAN's reason,
retried by the next run) or not matched in VAN (flip it manually)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.lib.ledger import SUCCEEDED, Ledger
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op, SyncEngine, SyncReport
from orgsync_dagster.resources.http import ApiError, BudgetExceeded
from orgsync_dagster.resources.van import VanClient
from orgsync_dagster.shifts import logic
from orgsync_dagster.shifts.backup import is_archived
from orgsync_dagster.shifts.export import cached_reference, load_reference
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import backup_shifts, event_participants, shifts
from orgsync_dagster.shifts.tracker_store import notify_change


class SignupStatusTarget:
    sync = logic.STATUS_SYNC

    def __init__(self, client: VanClient, engine: Engine, table: sa.Table):
        self.client, self.engine, self.table, self.scope = client, engine, table, client.instance
        self.refused: ApiError | None = None  # the instance refused the key: send nothing more this run

    def apply(self, op: Op) -> str:
        if self.refused is not None:
            raise ApiError(
                "van",
                "POST",
                "/v4/signups",
                self.refused.status,
                "not sent: the instance refused the API key earlier in this run",
            )
        try:
            signup_id = self.client.upsert_signup(op.payload)
        except ApiError as exc:
            if exc.status == 401:
                self.refused = exc
            raise
        with self.engine.begin() as conn:  # only after VAN accepted the write
            mark_outcome(conn, self.table, op.context["shift_id"], "sent", None, synced_status=op.context["van_status"])
            p = event_participants.c
            conn.execute(
                event_participants.update()
                .where(p.instance == self.scope, p.event_signup_id == int(op.key))
                .values(status_id=op.context["status_id"], status_name=op.context["van_status"])
            )
        return str(signup_id)

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        """POST /signups is an upsert: an op whose answer was lost can be sent again safely."""
        return {op.key: None for op in ops}


def mark_outcome(conn, table: sa.Table, shift_id: int, outcome: str, reason: str | None, **extra) -> None:
    """Record a shift's sync outcome (its version moves on, so an open tracker page shows it at once)."""
    row = conn.execute(
        table.update()
        .where(table.c.id == shift_id)
        .values(
            sync_outcome=outcome,
            sync_error=reason[:500] if reason else None,
            synced_at=sa.func.now(),
            version=table.c.version + 1,
            **extra,
        )
        .returning(table.c.instance, table.c.office, table.c.version)
    ).first()
    if row is not None and table.name == "shifts":
        notify_change(conn, row.instance, row.office, "shift", shift_id, row.version, by="VAN status sync")


@dataclass
class StatusSyncResult:
    instance: str
    day: dt.date
    source: str  # backup | live
    shifts: int = 0
    changed: int = 0  # approved statuses VAN does not show yet: one request each
    unchanged: int = 0
    awaiting_approval: int = 0  # changed but not approved: never sent
    stale_approvals: int = 0  # changed after their approval: never sent
    already_in_van: int = 0
    not_in_van: int = 0
    not_matched: int = 0  # approved, but VAN has no signup to update: flip manually
    outcomes: dict = field(default_factory=dict)  # sent / failed / not_matched / in_van -> shifts
    quarantined: list[dict] = field(default_factory=list)
    report: SyncReport | None = None
    requests: int = 0
    error: str | None = None  # instance-level failure (key refused, budget...)
    plan: list[dict] = field(default_factory=list)


def _rows(engine: Engine, instance: str, day: dt.date, from_backup: bool) -> list[dict]:
    t = backup_shifts if from_backup else shifts
    p = event_participants.c
    q = (
        sa.select(
            t.c.id.label("shift_id"),
            t.c.event_signup_id,
            t.c.van_id,
            t.c.event_id,
            t.c.event_shift_id,
            t.c.role_id,
            t.c.location_id,
            t.c.event_type_id,
            t.c.status,
            t.c.original_status,
            t.c.approved_status,
            p.status_name.label("van_status"),
        )
        .select_from(
            t.outerjoin(
                event_participants, sa.and_(p.instance == t.c.instance, p.event_signup_id == t.c.event_signup_id)
            )
        )
        .where(t.c.day == day, t.c.instance == instance, t.c.is_active.is_(True))
        .order_by(t.c.id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _plan(rows: list[dict], ref, settings: ShiftsSettings) -> logic.StatusPlan:
    statuses = logic.status_ids(
        [{"event_type_id": t, "status_id": s, "status_name": n} for t, m in ref.statuses.items() for s, n in m.items()]
    )
    return logic.plan_status_sync(rows, statuses, settings)


def sync_day(
    engine: Engine,
    client: VanClient,
    settings: ShiftsSettings,
    day: dt.date,
    *,
    run_id: str,
    dry_run: bool = False,
    logger=None,
    now: dt.datetime | None = None,
) -> StatusSyncResult:
    instance = client.instance
    from_backup = is_archived(engine, day, instance)
    table = backup_shifts if from_backup else shifts
    result = StatusSyncResult(instance, day, "backup" if from_backup else "live")
    rows = _rows(engine, instance, day, from_backup)
    result.shifts = len(rows)
    start = client.requests_sent
    try:
        # status ids from the cache the hourly export keeps fresh: no request in the normal case; fetched again
        # only when there is something to send and the cache is stale or lacks an event type
        now = now or dt.datetime.now(dt.UTC)
        ref, fresh = cached_reference(engine, instance, settings, now)
        plan = _plan(rows, ref, settings)
        if (plan.ops and not fresh) or any(q["reason"].startswith("no VAN signup statuses") for q in plan.quarantined):
            plan = _plan(rows, load_reference(engine, client, instance, settings, now, force=True), settings)
        result.changed, result.unchanged = len(plan.ops), plan.unchanged
        result.awaiting_approval, result.stale_approvals = plan.awaiting_approval, plan.stale_approvals
        result.already_in_van, result.not_in_van = len(plan.already_in_van), plan.not_in_van
        result.not_matched, result.quarantined = len(plan.not_matched), plan.quarantined
        result.plan = [{"event_signup_id": op.key, "change": op.reason} for op in plan.ops]
        target = SignupStatusTarget(client, engine, table)
        result.report = SyncEngine(ledger_factory(engine, run_id), logger=logger).run(target, plan.ops, dry_run=dry_run)
        if not dry_run:
            result.outcomes = _record_outcomes(engine, table, instance, plan, run_id)
        if target.refused is not None:
            result.error = (
                logic.describe_api_failure(instance, target.refused)
                + " The approved statuses were not synced; they are sent by the next run."
            )
    except (ApiError, BudgetExceeded) as exc:
        result.error = logic.describe_api_failure(instance, exc) + " Nothing was sent."
    finally:
        result.requests = client.requests_sent - start
    return result


def _record_outcomes(engine: Engine, table: sa.Table, instance: str, plan: logic.StatusPlan, run_id: str) -> dict:
    """Each approved shift's outcome on its row: no silent success, no silent failure."""
    counts: dict[str, int] = {}
    entries = Ledger(engine, logic.STATUS_SYNC, instance, run_id).load([op.key for op in plan.ops])
    with engine.begin() as conn:
        for op in plan.ops:
            entry = entries.get(op.key)
            if entry is not None and entry.status in (SUCCEEDED, "reconciled"):
                outcome, reason = "sent", None  # apply() already marked it when VAN accepted it
            else:
                outcome, reason = logic.sync_failure(entry.error if entry else "not sent")
                mark_outcome(conn, table, op.context["shift_id"], outcome, reason)
            counts[outcome] = counts.get(outcome, 0) + 1
        for item in plan.quarantined:  # approved but cannot be sent: a failure with its reason, never silent
            mark_outcome(conn, table, item["shift_id"], "failed", item["reason"])
            counts["failed"] = counts.get("failed", 0) + 1
        for item in plan.not_matched:
            mark_outcome(conn, table, item["shift_id"], "not_matched", item["reason"])
            counts["not_matched"] = counts.get("not_matched", 0) + 1
        for item in plan.already_in_van:
            current = conn.execute(sa.select(table.c.sync_outcome).where(table.c.id == item["shift_id"])).scalar()
            if current not in ("sent", "in_van"):
                mark_outcome(conn, table, item["shift_id"], "in_van", None, synced_status=item["van_status"])
            counts["in_van"] = counts.get("in_van", 0) + 1
    return counts
