"""One candidate-day of the call sync, start to finish, with no Dagster import (the asset and the benchmarks call
it). Streams the calls once, keeps only what VAN will receive in memory, writes statuses in batches.

Order: (0) bulk import jobs earlier runs left open are finished (polled, never re-posted); (1) calls a crash left
``in_progress`` are finished from the ledger or reconciled; (2) unsynced calls are planned - first the candidate's
calls of EARLIER days that wait for VAN budget (oldest first: nothing is stranded in a past partition), then the
day's own: ignored / unattempted_error / queued_for_csv now, VAN-bound ones through the budget selector; (3) the
selected calls go to VAN: one request each through ``lib.sync`` (ledger + in_progress claim), or - when there are
more than the candidate's ``bulk_import_threshold`` - as ONE bulk import job (``bulk.py``); calls the budget
does not cover wait (``full``: marked with the reason, taken first by the next run) or go to the CSV
(``hybrid``); (4) ``queued_for_csv`` calls are written to one CSV per run in S3 whose URL becomes their receipt;
(5) the day is counted per status and result, and the calls still waiting are counted with their reason.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from orgsync_dagster.calls import bulk, logic
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
TO_BULK = "van (bulk import)"
CsvSink = Callable[[str, Iterator[list[str]]], str]  # (object key, rows) -> URL (the receipt)


@dataclass
class DaySyncResult:
    candidate: str
    day: str
    dry_run: bool
    allowance: int
    planned: Counter = field(default_factory=Counter)  # route -> calls (this run)
    planned_requests: int = 0  # VAN requests this run expects to spend (the plan, before sending)
    recovered: Counter = field(default_factory=Counter)  # what happened to calls a crash left in_progress
    deferred_budget: int = 0  # calls (of any day) this run left waiting for VAN budget
    carried_over: int = 0  # calls of earlier days that waited for budget and were taken by this run
    waiting_in_day: int = 0  # calls of this day still waiting for budget after the run
    waiting_total: int = 0  # this candidate's calls (this day and earlier) still waiting for budget
    waiting_reason: str | None = None
    van: SyncReport | None = None
    bulk: bulk.BulkReport | None = None
    csv_files: list[dict] = field(default_factory=list)  # {key, url, rows}
    counts: logic.DayCounts = field(default_factory=logic.DayCounts)
    errors: list[str] = field(default_factory=list)  # sample, no personal data

    @property
    def unfinished(self) -> int:
        return sum(self.counts.by_status.get(s, 0) for s in ("unsynced", IN_PROGRESS, QUEUED_FOR_CSV))


class _Batcher:
    """Groups status writes per (new status, extra fields) and flushes them ``BATCH`` ids at a time."""

    def __init__(self, store, dry_run: bool):
        self.store, self.dry_run = store, dry_run
        self.pending: dict[tuple, list[str]] = defaultdict(list)

    def add(self, call_id: str, status: str | None, error: str | None = None, **extra) -> None:
        if self.dry_run:
            return
        key = (status, error, tuple(sorted(extra.items())))
        ids = self.pending[key]
        ids.append(call_id)
        if len(ids) >= BATCH:
            self._flush(key)

    def _flush(self, key) -> None:
        ids = self.pending.pop(key, [])
        status, error, extra = key
        fields = {"error": error} if error else {}
        fields.update(dict(extra))
        if status in (IGNORED, UNATTEMPTED_ERROR):
            fields["synced_at"] = dt.datetime.now(dt.UTC)
        self.store.set_status_many(ids, [UNSYNCED], status, fields)

    def flush(self) -> None:
        for key in list(self.pending):
            self._flush(key)


def csv_key(settings: CallsSettings, candidate: Candidate, day: str, run_id: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{settings.csv_prefix}{candidate.slug}/{day}/{candidate.slug}-{d:%m-%d-%Y}-{run_id[:8]}.csv"


def waiting_query(store, candidate: Candidate, before: dt.datetime) -> dict:
    """The candidate's unsynced calls left waiting for VAN budget, up to ``before``."""
    query = store.day_query(candidate.district, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), before, [UNSYNCED])
    query["waiting_reason"] = {"$nin": [None, ""]}
    return query


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
    budget_reason: str | None = None,
    engine=None,
    bulk_uploader: bulk.Uploader | None = None,
    bulk_first_poll_seconds: float = bulk.FIRST_POLL_SECONDS,
) -> DaySyncResult:
    logger = logger or log
    start, end = logic.day_window(day, candidate.tz)
    result = DaySyncResult(candidate.slug, day, dry_run, allowance)
    reason = budget_reason or f"today's VAN request budget of {candidate.van_instance} is used"
    target = CanvassTarget(store, client, candidate.slug, run_id, clock) if client is not None else None
    ledger = ledger_factory(CANVASS_SYNC, candidate.slug) if ledger_factory and not dry_run else None
    bulk_ok = bool(client is not None and candidate.bulk_import_threshold and engine is not None and bulk_uploader)
    importer = None
    if client is not None and engine is not None and not dry_run:
        importer = bulk.BulkImporter(
            engine=engine,
            store=store,
            client=client,
            candidate=candidate,
            day=day,
            run_id=run_id,
            uploader=bulk_uploader,
            s3_prefix=settings.bulk_import_prefix,
            poll_minutes=settings.bulk_import_poll_minutes,
            clock=clock,
            logger=logger,
            first_poll_seconds=bulk_first_poll_seconds,
        )
        # (0) bulk import jobs earlier runs left open: finished, never re-posted (also when bulk is now off)
        if importer.open_batches():
            importer.recover()
            result.bulk = importer.report

    # (1) calls a crash left in_progress (this day or a carried-over earlier one; never a bulk job's calls)
    recovery_ops: list[Op] = []
    stuck_query = store.day_query(candidate.district, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), end, [IN_PROGRESS])
    stuck_query["bulk_batch"] = None
    in_progress = list(store.stream(stuck_query, PLAN_FIELDS))
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

    # (2) plan: earlier days' calls waiting for budget first (oldest first), then the day's unsynced calls
    room = max(0, allowance - len(recovery_ops))
    selector = logic.BudgetSelector(bulk.MAX_ROWS if bulk_ok else room, candidate.strategy)
    batch = _Batcher(store, dry_run)
    waiting_before = store.stream(
        waiting_query(store, candidate, start), PLAN_FIELDS, sort=[("timestamp", 1), ("id", 1)]
    )
    todays = store.stream(
        store.day_query(candidate.district, start, end, [UNSYNCED]), PLAN_FIELDS, sort=[("timestamp", 1), ("id", 1)]
    )
    deferred: list[logic.Decision] = []

    def lose(d: logic.Decision) -> None:
        """A VAN-bound call the budget does not cover: hybrid -> the CSV; full -> waits for the next run."""
        if candidate.strategy == "hybrid":
            d.route = TO_CSV
            result.planned[TO_CSV] += 1
            if dry_run and d.at is not None and d.at >= start:
                result.counts.add(QUEUED_FOR_CSV, d.result)
            batch.add(d.call_id, QUEUED_FOR_CSV)
        else:
            deferred.append(d)

    for call in itertools.chain(waiting_before, todays):
        d = logic.plan_call(call, candidate)
        in_day = d.at is not None and start <= d.at < end
        if d.route == TO_VAN:
            lost = selector.offer(d)
            if lost is not None:
                lose(lost)
            continue
        result.planned[d.route] += 1
        status = QUEUED_FOR_CSV if d.route == TO_CSV else d.route
        if dry_run and in_day:
            result.counts.add(status, d.result)
        batch.add(d.call_id, status, d.error)
        if d.error and len(result.errors) < 20:
            result.errors.append(f"call {d.call_id}: {d.error}")
    selected = selector.selected()
    use_bulk = bulk_ok and len(selected) > candidate.bulk_import_threshold
    if use_bulk and room < bulk.REQUESTS_NEEDED:
        reason = f"{reason} (a bulk import job needs about {bulk.REQUESTS_NEEDED} requests; {room} left)"
        for d in selected:
            lose(d)
        selected = []
    elif not use_bulk:
        selected, dropped = logic.split_by_rank(selected, room, candidate.strategy)
        for d in dropped:
            lose(d)
    result.carried_over = sum(1 for d in selected if d.at is not None and d.at < start)
    result.deferred_budget = len(deferred)
    if deferred:
        result.waiting_reason = reason
    for d in deferred:
        batch.add(d.call_id, UNSYNCED, waiting_reason=reason, waiting_since=day)
        if dry_run and d.at is not None and d.at >= start:
            result.counts.add(None, d.result)
    batch.flush()
    route = TO_BULK if use_bulk else TO_VAN
    result.planned[route] = len(selected)
    result.planned_requests = (bulk.EXPECTED_REQUESTS if use_bulk and selected else len(selected)) + len(recovery_ops)
    ops = recovery_ops + (
        [] if use_bulk else [Op(d.call_id, "post", d.payload, context={"van_id": d.van_id}) for d in selected]
    )
    if dry_run:
        for d in selected:
            if d.at is not None and d.at >= start:
                result.counts.add(FINISHED, d.result)  # would be finished by VAN
        _count_existing(store, candidate, start, end, result, skip_unsynced=True)
        return result

    # (3) VAN. A call the ledger already knows as posted (whatever its payload then) is finished from the ledger.
    if (ops or selected) and ledger is not None:
        keys = [op.key for op in ops] + ([d.call_id for d in selected] if use_bulk else [])
        done = {k: e for k, e in ledger.load(keys).items() if e.status == SUCCEEDED}
        for key, entry in done.items():
            store.set_status(
                key, [UNSYNCED, IN_PROGRESS], FINISHED, set_fields={"receipt": entry.receipt, "synced_at": clock()}
            )
        if done:
            result.recovered["finished (ledger)"] += len(done)
        ops = [op for op in ops if op.key not in done]
        selected = [d for d in selected if d.call_id not in done]
    if use_bulk and selected and importer is not None:
        importer.send(selected)
        result.bulk = importer.report
        result.errors.extend(importer.report.errors[:20])
    if ops and target is not None:
        result.van = _send(ops, target, ledger_factory, result, candidate, store, logger, reason, day)
    if target is not None and target.not_resent:
        result.errors.extend(f"call {k}: outcome unknown, not re-sent" for k in target.not_resent[:20])

    # (4) the CSV of every queued call (one file per run; a crashed export is rebuilt identically)
    if csv_sink is not None:
        _export_csv(store, settings, candidate, day, run_id, end, csv_sink, result, clock)

    # (5) the day, counted; what still waits for budget, and why
    _count_existing(store, candidate, start, end, result, skip_unsynced=False)
    return result


def _send(ops, target, ledger_factory, result, candidate, store, logger, reason, day) -> SyncReport:
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
            result.waiting_reason = result.waiting_reason or reason
            store.set_status_many(stopped, [UNSYNCED], UNSYNCED, {"waiting_reason": reason, "waiting_since": day})
    # still in_progress after every reconciliation round: the outcome stays unknown -> final error
    now = dt.datetime.now(dt.UTC)
    for op in ops:
        doc = docs.get(op.key) or {}
        if logic.status_of(doc) == IN_PROGRESS:
            target.mark_unknown(op.key, doc.get("sync_attempted_at"), now)
    return report


def _export_csv(store, settings, candidate, day, run_id, end, sink, result, clock) -> None:
    key = csv_key(settings, candidate, day, run_id)
    # every queued call of the candidate up to the end of the day (an earlier day's, too: never stranded)
    queued = store.day_query(candidate.district, dt.datetime(1970, 1, 1, tzinfo=dt.UTC), end, [QUEUED_FOR_CSV])
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
    if not skip_unsynced:
        waiting = store.count_by(waiting_query(store, candidate, end), ["waiting_reason"])
        result.waiting_total = sum(r["n"] for r in waiting)
        in_day = store.count_by(
            {**waiting_query(store, candidate, end), "timestamp": {"$gte": start, "$lt": end}}, ["waiting_reason"]
        )
        result.waiting_in_day = sum(r["n"] for r in in_day)
        if waiting and not result.waiting_reason:
            result.waiting_reason = max(waiting, key=lambda r: r["n"])["waiting_reason"]


def final_state_problems(result: DaySyncResult) -> list[str]:
    """Why a (non-dry) day is not fully settled: calls neither final nor waiting for budget."""
    problems = []
    by = result.counts.by_status
    if by.get(IN_PROGRESS):
        still = result.bulk.calls.get("still_running", 0) if result.bulk else 0
        note = f" ({still} in a VAN bulk import job still running: the next run reads its results)" if still else ""
        problems.append(f"{by[IN_PROGRESS]} call(s) still in_progress{note}")
    if by.get(QUEUED_FOR_CSV):
        problems.append(f"{by[QUEUED_FOR_CSV]} call(s) still queued_for_csv (CSV not written)")
    waiting = by.get("unsynced", 0) - result.waiting_in_day
    if waiting > 0:
        problems.append(f"{waiting} call(s) unsynced")
    if by.get(ATTEMPTED_ERROR) or by.get(UNATTEMPTED_ERROR):
        problems.append(
            f"{by.get(ATTEMPTED_ERROR, 0)} attempted_error, {by.get(UNATTEMPTED_ERROR, 0)} unattempted_error"
        )
    return problems
