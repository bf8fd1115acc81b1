"""One candidate-day of the call sync, start to finish, with no Dagster import (the asset and the benchmark call
it). Streams the day's calls once, keeps only the budget's worth of VAN-bound calls in memory, and writes statuses
in batches.

Order: (1) calls a crash left ``in_progress`` are finished from the ledger or reconciled; (2) unsynced calls are
planned: ignored / unattempted_error / queued_for_csv now, VAN-bound ones through the budget selector; (3) the
selected calls are posted through ``lib.sync`` (ledger + in_progress claim); (4) ``queued_for_csv`` calls are
written to one CSV per run in S3 whose URL becomes their receipt; (5) the day is counted per status and result.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from orgsync_dagster.calls import logic
from orgsync_dagster.calls.config import CallsSettings, Candidate
from orgsync_dagster.calls.logic import (
    ATTEMPTED_ERROR,
    FINISHED,
    IGNORED,
    IN_PROGRESS,
    QUEUED_FOR_CSV,
    TO_CSV,
    TO_VAN,
    UNATTEMPTED_ERROR,
    UNSYNCED,
)
from orgsync_dagster.calls.target import CANVASS_SYNC, CanvassTarget
from orgsync_dagster.lib.ledger import SUCCEEDED, UNRESOLVED
from orgsync_dagster.lib.sync import Op, SyncEngine, SyncReport

log = logging.getLogger(__name__)
BATCH = 1000
PLAN_FIELDS = {
    "id": 1,
    "voter_id": 1,
    "timestamp": 1,
    "lv_result": 1,
    "full_on_screen_result": 1,
    "phone_dialed": 1,
    "sync_status": 1,
    "sync_attempted_at": 1,
}
CsvSink = Callable[[str, Iterator[list[str]]], str]  # (object key, rows) -> URL (the receipt)


@dataclass
class DaySyncResult:
    candidate: str
    day: str
    dry_run: bool
    allowance: int
    planned: Counter = field(default_factory=Counter)  # route -> calls (this run)
    recovered: Counter = field(default_factory=Counter)  # what happened to calls a crash left in_progress
    deferred_budget: int = 0  # full strategy: VAN-bound calls left unsynced for a later day's budget
    van: SyncReport | None = None
    csv_files: list[dict] = field(default_factory=list)  # {key, url, rows}
    counts: logic.DayCounts = field(default_factory=logic.DayCounts)
    errors: list[str] = field(default_factory=list)  # sample, no personal data

    @property
    def unfinished(self) -> int:
        return sum(self.counts.by_status.get(s, 0) for s in ("unsynced", IN_PROGRESS, QUEUED_FOR_CSV))


class _Batcher:
    """Groups status writes per (new status, error) and flushes them ``BATCH`` ids at a time."""

    def __init__(self, store, dry_run: bool):
        self.store, self.dry_run = store, dry_run
        self.pending: dict[tuple, list[str]] = defaultdict(list)

    def add(self, call_id: str, status: str, error: str | None = None) -> None:
        if self.dry_run:
            return
        ids = self.pending[(status, error)]
        ids.append(call_id)
        if len(ids) >= BATCH:
            self._flush((status, error))

    def _flush(self, key) -> None:
        ids = self.pending.pop(key, [])
        status, error = key
        fields = {"error": error} if error else {}
        if status in (IGNORED, UNATTEMPTED_ERROR):
            fields["synced_at"] = dt.datetime.now(dt.UTC)
        self.store.set_status_many(ids, [UNSYNCED], status, fields)

    def flush(self) -> None:
        for key in list(self.pending):
            self._flush(key)


def csv_key(settings: CallsSettings, candidate: Candidate, day: str, run_id: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{settings.csv_prefix}{candidate.slug}/{day}/{candidate.slug}-{d:%m-%d-%Y}-{run_id[:8]}.csv"


def sync_day(
    *,
    store,
    settings: CallsSettings,
    candidate: Candidate,
    day: str,
    run_id: str,
    allowance: int,
    client=None,
    ledger_factory=None,
    csv_sink: CsvSink | None = None,
    dry_run: bool = False,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    logger=None,
) -> DaySyncResult:
    logger = logger or log
    start, end = logic.day_window(day, candidate.tz)
    result = DaySyncResult(candidate.slug, day, dry_run, allowance)
    target = CanvassTarget(store, client, candidate.slug, run_id, clock) if client is not None else None
    ledger = ledger_factory(CANVASS_SYNC, candidate.slug) if ledger_factory and not dry_run else None

    # (1) calls a crash left in_progress: finished per the ledger, or re-sent / marked unknown by the target
    recovery_ops: list[Op] = []
    in_progress = list(store.stream(store.day_query(candidate.district, start, end, [IN_PROGRESS]), PLAN_FIELDS))
    entries = ledger.load([c["id"] for c in in_progress]) if (ledger and in_progress) else {}
    for call in in_progress:
        entry = entries.get(call["id"])
        if dry_run:
            result.recovered["to reconcile"] += 1
        elif entry and entry.status == SUCCEEDED:
            store.set_status(
                call["id"], [IN_PROGRESS], FINISHED, set_fields={"receipt": entry.receipt, "synced_at": clock()}
            )
            result.recovered["finished (ledger)"] += 1
        elif entry is None or entry.status not in UNRESOLVED:
            store.set_status(call["id"], [IN_PROGRESS], UNSYNCED, unset=["sync_attempted_at", "claimed_by"])
            result.recovered["not sent: back to unsynced"] += 1
        else:
            d = logic.plan_call(call, candidate)
            op = Op(d.call_id, "post", d.payload, context={"van_id": d.van_id}, reason="recover")
            # only the identical payload may be re-sent (VAN matches identical responses only)
            if d.route == TO_VAN and target is not None and entry.payload_hash == op.payload_hash:
                recovery_ops.append(op)
                result.recovered["in_flight: reconciled"] += 1
            else:
                CanvassTarget(store, None, candidate.slug, run_id, clock).mark_unknown(
                    call["id"], call.get("sync_attempted_at"), clock()
                )
                result.recovered["outcome unknown"] += 1

    # (2) plan the unsynced calls (streamed, oldest first)
    selector = logic.BudgetSelector(max(0, allowance - len(recovery_ops)), candidate.strategy)
    batch = _Batcher(store, dry_run)
    query = store.day_query(candidate.district, start, end, [UNSYNCED])
    for call in store.stream(query, PLAN_FIELDS, sort=[("timestamp", 1), ("id", 1)]):
        d = logic.plan_call(call, candidate)
        if d.route == TO_VAN:
            lost = selector.offer(d)
            if lost is None:
                continue
            d = lost
            if candidate.strategy != "hybrid":
                result.deferred_budget += 1
                if dry_run:
                    result.counts.add(None, d.result)
                continue
            d.route = TO_CSV
        result.planned[d.route] += 1
        status = QUEUED_FOR_CSV if d.route == TO_CSV else d.route
        if dry_run:
            result.counts.add(status, d.result)
        batch.add(d.call_id, status, d.error)
        if d.error and len(result.errors) < 20:
            result.errors.append(f"call {d.call_id}: {d.error}")
    batch.flush()
    selected = selector.selected()
    result.planned[TO_VAN] = len(selected)
    ops = recovery_ops + [Op(d.call_id, "post", d.payload, context={"van_id": d.van_id}) for d in selected]
    if dry_run:
        for d in selected:
            result.counts.add(FINISHED, d.result)  # would be finished by its VAN post
        _count_existing(store, candidate, start, end, result, skip_unsynced=True)
        return result

    # (3) VAN: through the ledger and the in_progress claim. A call the ledger already knows as posted (whatever
    # its payload then) is finished from the ledger: never a second post.
    if ops and ledger is not None:
        done = {k: e for k, e in ledger.load([op.key for op in ops]).items() if e.status == SUCCEEDED}
        for key, entry in done.items():
            store.set_status(
                key, [UNSYNCED, IN_PROGRESS], FINISHED, set_fields={"receipt": entry.receipt, "synced_at": clock()}
            )
        if done:
            result.recovered["finished (ledger)"] += len(done)
        ops = [op for op in ops if op.key not in done]
    if ops and target is not None:
        result.van = _send(ops, target, ledger_factory, result, candidate, store, logger)
    if target is not None and target.not_resent:
        result.errors.extend(f"call {k}: outcome unknown, not re-sent" for k in target.not_resent[:20])

    # (4) the CSV of every queued call of the day (one file per run; a crashed export is rebuilt identically)
    if csv_sink is not None:
        _export_csv(store, settings, candidate, day, run_id, start, end, csv_sink, result, clock)

    # (5) the day, counted
    _count_existing(store, candidate, start, end, result, skip_unsynced=False)
    return result


def _send(ops, target, ledger_factory, result, candidate, store, logger) -> SyncReport:
    engine = SyncEngine(ledger_factory, concurrency=1, logger=logger)
    report = engine.run(target, ops)
    if report.errors:
        result.errors.extend(report.errors[:20])
    # calls the budget stopped (nothing sent; back to unsynced by the target): hybrid -> CSV, full -> later
    docs = {
        d["id"]: d
        for d in store.stream(
            {"id": {"$in": [op.key for op in ops]}}, {"id": 1, "sync_status": 1, "sync_attempted_at": 1}
        )
    }
    stopped = [op.key for op in ops if logic.status_of(docs.get(op.key) or {}) is None]
    if stopped:
        if candidate.strategy == "hybrid":
            store.set_status_many(stopped, [UNSYNCED], QUEUED_FOR_CSV)
        else:
            result.deferred_budget += len(stopped)
    # still in_progress after every reconciliation round: the outcome stays unknown -> final error
    now = dt.datetime.now(dt.UTC)
    for op in ops:
        doc = docs.get(op.key) or {}
        if logic.status_of(doc) == IN_PROGRESS:
            target.mark_unknown(op.key, doc.get("sync_attempted_at"), now)
    return report


def _export_csv(store, settings, candidate, day, run_id, start, end, sink, result, clock) -> None:
    key = csv_key(settings, candidate, day, run_id)
    queued = store.day_query(candidate.district, start, end, [QUEUED_FOR_CSV])
    store.update_where({**queued, "csv_key": None}, {"csv_key": key})
    for file_key in sorted(k for k in store.distinct("csv_key", queued) if k):
        query = {**queued, "csv_key": file_key}
        count = Counter()

        def rows(query=query, count=count):
            for call in store.stream(query, sort=[("id", 1)]):
                count["rows"] += 1
                yield logic.csv_row(call, logic.display_name_for(call, candidate))

        url = sink(file_key, rows())
        marked = store.update_where(query, {"sync_status": FINISHED, "receipt": url, "synced_at": clock()})
        result.csv_files.append({"key": file_key, "url": url, "rows": count["rows"], "marked_finished": marked})


def _count_existing(store, candidate, start, end, result, *, skip_unsynced: bool) -> None:
    query = store.day_query(candidate.district, start, end)
    if skip_unsynced:  # (dry run: the unsynced calls were counted as planned)
        query["sync_status"] = {"$nin": [None, "unsynced"]}
    for row in store.count_by(query, ["sync_status", "full_on_screen_result", "lv_result"]):
        status = logic.status_of(row)
        name = logic.display_name_for(row, candidate)
        result.counts.add(status, name, row["n"])


def final_state_problems(result: DaySyncResult) -> list[str]:
    """Why a (non-dry) day is not fully settled: calls neither final nor waiting for budget."""
    problems = []
    by = result.counts.by_status
    if by.get(IN_PROGRESS):
        problems.append(f"{by[IN_PROGRESS]} call(s) still in_progress")
    if by.get(QUEUED_FOR_CSV):
        problems.append(f"{by[QUEUED_FOR_CSV]} call(s) still queued_for_csv (CSV not written)")
    waiting = by.get("unsynced", 0) - result.deferred_budget
    if waiting > 0:
        problems.append(f"{waiting} call(s) unsynced")
    if by.get(ATTEMPTED_ERROR) or by.get(UNATTEMPTED_ERROR):
        problems.append(
            f"{by.get(ATTEMPTED_ERROR, 0)} attempted_error, {by.get(UNATTEMPTED_ERROR, 0)} unattempted_error"
        )
    return problems
