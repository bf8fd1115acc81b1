"""Many calls of a candidate-day as ONE VAN bulk import job instead of one request per call. No Dagster import.

Exactly once, whatever dies when. Each step is committed before the next one can be lost:

1. ``prepared``: the batch row (client-generated token, also in the job's description) in the warehouse; every
   call's ledger entry ``in_flight`` (one transaction); the calls claimed ``in_progress`` with ``bulk_batch`` =
   token (the one-request path never touches them); the zipped CSV uploaded to S3.
2. ``posting`` committed, THEN ``POST bulkImportJobs``; its job id committed at once (``posted``).
3. The job is polled until VAN finishes it; its results file is read and each row's outcome recorded: ledger
   (one transaction) and calls ``finished`` (receipt = the job) or ``attempted_error`` (VAN's reason).

A later run first recovers every unfinished batch of the candidate: ``prepared`` was never sent (calls released,
ledger closed "not sent"); ``posted`` is polled again (never re-posted); ``posting`` means the POST was sent but
its answer was lost (a dropped connection, a 500, a kill in the millisecond before the id was saved). VAN has no
way to list jobs or to read contact history back, so that job may or may not exist: it is NEVER re-posted. The
batch becomes ``unknown`` and its calls ``attempted_error`` "outcome unknown" naming the job description; a
person finds the job in VAN (bulk upload history, by description) and runs ``orgsync calls bulk-attach <token>
<jobId>`` (the next run then reads its results), or checks VAN and resets the calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.calls import bulk_file
from orgsync_dagster.calls.logic import ATTEMPTED_ERROR, FINISHED, IN_PROGRESS, UNSYNCED, Decision
from orgsync_dagster.calls.tables import bulk_import_batches
from orgsync_dagster.calls.target import CANVASS_SYNC
from orgsync_dagster.lib.ledger import FAILED, SUCCEEDED, UNCERTAIN, Ledger, mark_in_flight_many, payload_hash
from orgsync_dagster.lib.ledger import record_many as ledger_record_many
from orgsync_dagster.resources.http import ApiError, BudgetExceeded

log = logging.getLogger(__name__)
ACTION = "bulk_import"
PREPARED, POSTING, POSTED, COMPLETED, FAILED_JOB = "prepared", "posting", "posted", "completed", "failed"
REFUSED, UNKNOWN, ABANDONED = "refused", "unknown", "abandoned"
OPEN_STATES = (PREPARED, POSTING, POSTED)
REQUESTS_NEEDED = 6  # POST + a few polls + the results file: a batch is not started with fewer left today
EXPECTED_REQUESTS = 3  # the plan's estimate: POST, one status poll, the results file
MAX_ROWS = 100_000  # per job (VAN: zip up to 100 MB, 50 columns)
FIRST_POLL_SECONDS = 2.0  # default first wait: VAN needs a moment; later polls back off (x1.5, at most a minute apart)
Uploader = Callable[[str, bytes], str]  # (object key, zip bytes) -> presigned URL VAN downloads it from


def call_payload_hash(d: Decision) -> str:
    return payload_hash([ACTION, d.payload])


def describe(slug: str, day: str, token: str) -> str:
    return f"orgsync calls {slug} {day} batch {token}"


def receipt(instance: str, job_id: int, call_id: str) -> str:
    return f"van:{instance}:bulkImportJobs/{job_id}#call={call_id}"


def unknown_message(description: str) -> str:
    return (
        "outcome unknown: the VAN bulk import job for this call was sent but its answer was lost, so it may or may "
        f"not exist; it is never re-sent automatically. Find the job described '{description}' in VAN's bulk upload "
        "history and run `orgsync calls bulk-attach <token> <jobId>`, or check the person's contact history and "
        "reset the call."
    )


@dataclass
class BulkReport:
    batches: list[dict] = field(default_factory=list)  # token, job_id, state, rows, finished, errors, ...
    calls: Counter = field(default_factory=Counter)  # finished / attempted_error / unknown / still_running / released
    errors: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {"bulk_import_calls": dict(self.calls), "bulk_import_jobs": self.batches}


class BulkImporter:
    def __init__(
        self,
        *,
        engine: Engine,
        store,
        client,
        candidate,
        day: str,
        run_id: str,
        uploader: Uploader | None,
        s3_prefix: str,
        poll_minutes: float = 20.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], None] = time.sleep,
        logger=None,
        first_poll_seconds: float = FIRST_POLL_SECONDS,
    ):
        self.engine, self.store, self.client, self.candidate = engine, store, client, candidate
        self.first_poll = first_poll_seconds
        self.day, self.run_id, self.uploader, self.s3_prefix = day, run_id, uploader, s3_prefix
        self.poll_seconds, self.clock, self.sleep = poll_minutes * 60.0, clock, sleep
        self.log = logger or log
        self.ledger = Ledger(engine, CANVASS_SYNC, candidate.slug, run_id)
        self.report = BulkReport()

    # -- warehouse rows --------------------------------------------------------------------------------------------
    def _set(self, token: str, **values) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                bulk_import_batches.update()
                .where(bulk_import_batches.c.token == token)
                .values(**values, updated_at=sa.func.now())
            )

    def open_batches(self) -> list:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(bulk_import_batches)
                .where(
                    bulk_import_batches.c.candidate == self.candidate.slug,
                    bulk_import_batches.c.state.in_(OPEN_STATES),
                )
                .order_by(bulk_import_batches.c.created_at)
            ).all()

    def _calls_of(self, token: str, statuses=(IN_PROGRESS,)) -> list[dict]:
        query = {"bulk_batch": token, "sync_status": {"$in": list(statuses)}}
        return list(self.store.stream(query, {"id": 1, "sync_status": 1}))

    # -- 0. recovery ---------------------------------------------------------------------------------------------
    def recover(self) -> None:
        """Finish what earlier runs left: never re-posts, polls what was posted."""
        for batch in self.open_batches():
            if batch.state == PREPARED:
                self._release(batch.token, "not sent: the run stopped before the bulk import job was posted")
                self._set(batch.token, state=ABANDONED, error="run stopped before posting; calls released")
                self._note(batch, ABANDONED)
            elif batch.state == POSTING:
                self._unknown(batch.token, batch.description)
                self._note(batch, UNKNOWN)
            elif batch.instance != self.client.instance:
                self.report.errors.append(
                    f"bulk import job {batch.job_id} was posted to VAN {batch.instance}, but {self.candidate.slug} now "
                    f"uses {self.client.instance}: it is not polled (switch back, or attach it by hand)"
                )
            else:
                self._poll_and_record(batch.token, batch.job_id, batch.instance)

    def _note(self, batch, state: str, **extra) -> None:
        self.report.batches.append(
            {"batch": batch.token, "job_id": batch.job_id, "state": state, "rows": batch.rows, **extra}
        )

    # -- 1-3. a new batch ----------------------------------------------------------------------------------------
    def send(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        token = uuid.uuid4().hex
        description = describe(self.candidate.slug, self.day, token)
        key = f"{self.s3_prefix}{self.candidate.slug}/{self.day}/{token}.zip"
        with self.engine.begin() as conn:
            conn.execute(
                bulk_import_batches.insert().values(
                    token=token,
                    candidate=self.candidate.slug,
                    day=dt.date.fromisoformat(self.day),
                    instance=self.client.instance,
                    mode=self.candidate.van_mode,
                    state=PREPARED,
                    description=description,
                    s3_key=key,
                    rows=len(decisions),
                    run_id=self.run_id,
                )
            )
        by_id = {d.call_id: d for d in decisions}
        mark_in_flight_many(self.ledger, ((d.call_id, ACTION, call_payload_hash(d)) for d in decisions))
        self.store.set_status_many(
            list(by_id),
            [UNSYNCED],
            IN_PROGRESS,
            {"bulk_batch": token, "claimed_by": self.run_id, "sync_attempted_at": self.clock()},
        )
        claimed = {c["id"] for c in self._calls_of(token)}
        lost = [d for d in decisions if d.call_id not in claimed]
        if lost:  # no longer unsynced (another writer): not in this job
            self._record(lost, FAILED, error="not sent: the call was no longer unsynced")
        chosen = [by_id[k] for k in by_id if k in claimed]
        if not chosen:
            self._set(token, state=ABANDONED, rows=0, error="no call could be claimed")
            return
        bulk = bulk_file.build(chosen, token)
        try:
            source_url = self.uploader(key, bulk.zipped)
        except Exception as exc:  # S3 unreachable: nothing was sent to VAN
            self._release(token, f"not sent: the bulk import file could not be uploaded ({type(exc).__name__})")
            self._set(token, state=ABANDONED, error=f"upload failed: {type(exc).__name__}")
            self.report.errors.append(f"bulk import batch {token}: upload to S3 failed ({type(exc).__name__})")
            return
        self._set(token, state=POSTING, rows=len(chosen))
        try:
            job_id = self.client.create_bulk_import_job(bulk_file.job_request(bulk, description, source_url))
        except BudgetExceeded as exc:
            self._release(token, f"not sent: {exc}", waiting=f"VAN {self.client.instance}: {exc}")
            self._set(token, state=ABANDONED, error=str(exc)[:500])
            self.report.calls["waiting_for_budget"] += len(chosen)
            return
        except ApiError as exc:
            if exc.uncertain:
                self._unknown(token, description)
                self.report.batches.append({"batch": token, "job_id": None, "state": UNKNOWN, "rows": len(chosen)})
                return
            self._release(token, f"not sent: VAN refused the bulk import job ({exc.status}: {exc.detail[:200]})")
            self._set(token, state=REFUSED, error=str(exc)[:1000])
            self.report.errors.append(f"VAN refused the bulk import job of batch {token}: {exc}")
            self.report.batches.append({"batch": token, "job_id": None, "state": REFUSED, "rows": len(chosen)})
            return
        self._set(token, state=POSTED, job_id=job_id)
        self.log.info(f"{self.candidate.slug}: VAN bulk import job {job_id} posted ({len(chosen)} calls)")
        self._poll_and_record(token, job_id, self.client.instance)

    # -- polling and outcomes ------------------------------------------------------------------------------------
    def _poll_and_record(self, token: str, job_id: int, instance: str) -> None:
        calls = self._calls_of(token)
        deadline = time.monotonic() + self.poll_seconds
        wait = min(30.0, max(self.first_poll, len(calls) / 2000))
        job = None
        while True:
            try:
                job = self.client.get_bulk_import_job(job_id)
            except (ApiError, BudgetExceeded) as exc:
                self.report.errors.append(f"bulk import job {job_id}: status unknown this run ({exc})")
                job = None
                break
            if job.get("status") in ("Completed", "Failed") or time.monotonic() + wait > deadline:
                break
            self.sleep(wait)
            wait = min(60.0, wait * 1.5)
        status = (job or {}).get("status")
        if status == "Completed":
            self._completed(token, job_id, instance, job, calls)
        elif status == "Failed":
            reason = (
                "; ".join(f"{e.get('code')}: {e.get('text')}" for e in job.get("errors") or []) or "no reason given"
            )
            ids = [c["id"] for c in calls]
            self._finish(ids, ATTEMPTED_ERROR, f"VAN bulk import job {job_id} failed: {reason}"[:500], FAILED)
            self._set(token, state=FAILED_JOB, job_status=status, error=reason[:1000])
            self.report.calls[ATTEMPTED_ERROR] += len(ids)
            self.report.batches.append({"batch": token, "job_id": job_id, "state": FAILED_JOB, "rows": len(ids)})
        else:
            self._set(token, job_status=status)
            self.report.calls["still_running"] += len(calls)
            self.report.batches.append(
                {"batch": token, "job_id": job_id, "state": POSTED, "vans_status": status, "rows": len(calls)}
            )

    def _completed(self, token: str, job_id: int, instance: str, job: dict, calls: list[dict]) -> None:
        url = ((job.get("resultFiles") or [{}])[0]).get("url")
        try:
            outcomes = bulk_file.parse_results(self.client.download_bulk_import_results(url)) if url else {}
        except (ApiError, BudgetExceeded, ValueError) as exc:
            self.report.errors.append(f"bulk import job {job_id}: results file not read this run ({exc})")
            self.report.calls["still_running"] += len(calls)
            self.report.batches.append({"batch": token, "job_id": job_id, "state": POSTED, "rows": len(calls)})
            return
        now = self.clock()
        done: list[str] = []
        refused: dict[str, list[str]] = defaultdict(list)
        ledger_rows = []
        for c in calls:
            o = outcomes.get(c["id"])
            if o is not None and o.applied:
                done.append(c["id"])
                ledger_rows.append((c["id"], SUCCEEDED, receipt(instance, job_id, c["id"]), None))
            else:
                if o is None:
                    why, outcome = (
                        f"not in the results file of VAN bulk import job {job_id} (outcome unknown)",
                        UNCERTAIN,
                    )
                elif o.partly:
                    why, outcome = f"partly applied by VAN bulk import job {job_id}: {o.detail}", FAILED
                else:
                    why, outcome = f"VAN bulk import job {job_id} refused it: {o.detail or 'nothing applied'}", FAILED
                refused[why[:500]].append(c["id"])
                ledger_rows.append((c["id"], outcome, None, why[:1000]))
        self._ledger_rows(ledger_rows)
        job_receipt = f"van:{instance}:bulkImportJobs/{job_id}"  # (the ledger's receipt also names the call)
        for i in range(0, len(done), 1000):
            self.store.set_status_many(
                done[i : i + 1000], [IN_PROGRESS], FINISHED, {"synced_at": now, "error": None, "receipt": job_receipt}
            )
        for why, ids in refused.items():
            self.store.set_status_many(ids, [IN_PROGRESS], ATTEMPTED_ERROR, {"synced_at": now, "error": why})
        errors = sum(len(v) for v in refused.values())
        outcome = {"finished": len(done), "attempted_error": errors, "rows_in_results": len(outcomes)}
        self._set(token, state=COMPLETED, job_status="Completed", outcome=outcome)
        self.report.calls.update({FINISHED: len(done), ATTEMPTED_ERROR: errors})
        self.report.calls += Counter()  # (drops zero counts)
        self.report.batches.append(
            {"batch": token, "job_id": job_id, "state": COMPLETED, "rows": len(calls), **outcome}
        )

    def _ledger_rows(self, rows) -> None:
        hashes = {k: e.payload_hash for k, e in self.ledger.load([r[0] for r in rows]).items()}
        ledger_record_many(
            self.ledger,
            (
                {
                    "key": key,
                    "action": ACTION,
                    "payload_hash": hashes.get(key, ""),
                    "outcome": outcome,
                    "receipt": rcpt,
                    "error": error,
                }
                for key, outcome, rcpt, error in rows
            ),
        )

    def _record(self, decisions: list[Decision], outcome: str, *, error: str) -> None:
        ledger_record_many(
            self.ledger,
            (
                {
                    "key": d.call_id,
                    "action": ACTION,
                    "payload_hash": call_payload_hash(d),
                    "outcome": outcome,
                    "error": error,
                }
                for d in decisions
            ),
        )

    def _finish(self, ids: list[str], status: str, error: str, ledger_outcome: str) -> None:
        self._ledger_rows([(k, ledger_outcome, None, error) for k in ids])
        self.store.set_status_many(ids, [IN_PROGRESS], status, {"synced_at": self.clock(), "error": error})

    def _release(self, token: str, why: str, waiting: str | None = None) -> None:
        """Nothing was sent: the calls go back to unsynced and their ledger entries are closed as not sent."""
        ids = [c["id"] for c in self._calls_of(token)]
        self._ledger_rows([(k, FAILED, None, why[:1000]) for k in ids])
        extra = {"waiting_reason": waiting, "waiting_since": self.day} if waiting else {}
        self.store.set_status_many(ids, [IN_PROGRESS], UNSYNCED, {"bulk_batch": None, "claimed_by": None, **extra})
        self.report.calls["released"] += len(ids)

    def _unknown(self, token: str, description: str) -> None:
        ids = [c["id"] for c in self._calls_of(token)]
        message = unknown_message(description)
        self._finish(ids, ATTEMPTED_ERROR, message, UNCERTAIN)
        self._set(token, state=UNKNOWN, error="the POST's answer was lost: the job may exist; never re-posted")
        self.report.calls["outcome_unknown"] += len(ids)
        self.report.errors.append(f"bulk import batch {token}: {len(ids)} call(s) with an unknown outcome")


def attach(engine: Engine, store, token: str, job_id: int) -> int:
    """A person found the job of an ``unknown`` batch in VAN: record its id; the calls wait for its results
    (the next run polls the job and records each row). Returns the number of calls put back in progress."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(bulk_import_batches).where(bulk_import_batches.c.token == token).with_for_update()
        ).first()
        if row is None:
            raise ValueError(f"no bulk import batch {token}")
        if row.state != UNKNOWN:
            raise ValueError(f"batch {token} is {row.state}, not unknown: nothing to attach")
        conn.execute(
            bulk_import_batches.update()
            .where(bulk_import_batches.c.token == token)
            .values(state=POSTED, job_id=int(job_id), error=None, updated_at=sa.func.now())
        )
    ids = [c["id"] for c in store.stream({"bulk_batch": token, "sync_status": ATTEMPTED_ERROR}, {"id": 1})]
    return store.set_status_many(ids, [ATTEMPTED_ERROR], IN_PROGRESS, {"error": None})
