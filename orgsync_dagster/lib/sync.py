"""One sync mechanism for every domain: plan -> (dry run | apply) -> record, with reconciliation.

A domain supplies a list of planned operations and a ``SyncTarget`` that knows how to send one operation
(one request, through the shared HTTP layer) and how to look up whether operations whose outcome is unknown
actually happened. The engine does the rest: skips what the ledger says is done, commits ``in_flight`` before
each request and the outcome after it, resolves unknown outcomes by reconciliation instead of re-posting
blindly, optionally sends with a bounded number of threads, and stops cleanly at a request budget.

A record the plan found remotely in its desired state needs no op, so the engine would never see it again; when
its ledger entry was left ``in_flight``/``uncertain`` (a create whose answer was lost, then found by the next
export), pass ``found_remotely={key: receipt}`` and the engine records it as reconciled with that receipt.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from orgsync_dagster.lib.ledger import FAILED, SUCCEEDED, UNCERTAIN, UNRESOLVED, Ledger, payload_hash
from orgsync_dagster.resources.http import ApiError, BudgetExceeded

log = logging.getLogger(__name__)


@dataclass
class Op:
    """One planned change to a remote record."""

    key: str
    action: str  # create | update | lapse | post | ...
    payload: Any
    cost: int = 1  # requests this op will spend if sent
    reason: str = ""  # why it is planned (shown in the dry run)
    context: dict = field(default_factory=dict)  # data the target needs but that is not part of the payload

    @property
    def payload_hash(self) -> str:
        return payload_hash([self.action, self.payload])


class SyncTarget(Protocol):
    sync: str  # ledger name, e.g. "van.events"
    scope: str  # e.g. the VAN instance

    def apply(self, op: Op) -> str | None:
        """Send one op. Return the receipt (remote id). Raise ApiError on failure."""

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        """For ops whose outcome is unknown: key -> receipt if the change exists remotely, None if it surely does
        not (safe to send again). Keys left out stay unknown and are not re-sent."""


@dataclass
class SyncReport:
    sync: str
    scope: str
    dry_run: bool
    planned: Counter = field(default_factory=Counter)  # by action
    skipped_done: int = 0  # already succeeded with the same payload
    succeeded: Counter = field(default_factory=Counter)  # by action
    reconciled: int = 0  # unknown outcomes resolved as done (by the target's lookup or found remotely by the plan)
    reconciled_found_remotely: int = 0  # of which: ledger entries left unresolved, found remotely by the plan
    failed: int = 0
    uncertain: int = 0
    not_sent_budget: int = 0
    not_attempted: int = 0  # left as they were (not marked in flight) after a stop: target unreachable
    stop_reason: str | None = None
    planned_requests: int = 0
    errors: list[str] = field(default_factory=list)  # a sample, never payloads
    receipts: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.uncertain == 0 and self.not_sent_budget == 0 and self.not_attempted == 0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "planned": sum(self.planned.values()),
            "planned_by_action": dict(self.planned),
            "planned_requests": self.planned_requests,
            "already_done": self.skipped_done,
            "succeeded": sum(self.succeeded.values()),
            "succeeded_by_action": dict(self.succeeded),
            "reconciled": self.reconciled,
            "reconciled_found_remotely": self.reconciled_found_remotely,
            "failed": self.failed,
            "uncertain": self.uncertain,
            "not_sent_budget": self.not_sent_budget,
            "not_attempted": self.not_attempted,
        }


class SyncEngine:
    def __init__(
        self,
        ledger_factory: Callable[[str, str], Ledger],
        *,
        concurrency: int = 1,
        max_rounds: int = 3,
        progress: Callable[[int, int], None] | None = None,
        logger: logging.Logger | Any = None,
    ):
        self.ledger_factory = ledger_factory
        self.concurrency = max(1, concurrency)
        self.max_rounds = max_rounds
        self.progress = progress
        self.log = logger or log

    def run(
        self,
        target: SyncTarget,
        ops: Sequence[Op],
        *,
        dry_run: bool = False,
        found_remotely: Mapping[str, str | None] | None = None,
    ) -> SyncReport:
        """Send ``ops`` through the ledger. ``found_remotely``: records the plan saw in the remote system already in
        their desired state (so no op is planned for them), key -> receipt (remote id). Their ledger entries left
        ``in_flight``/``uncertain`` by an earlier run are recorded as reconciled with that receipt; keys that also
        have an op are left to the op. Default ``None``: nothing of the kind (the old behaviour)."""
        report = SyncReport(target.sync, target.scope, dry_run)
        ledger = self.ledger_factory(target.sync, target.scope)
        if found_remotely:
            planned_keys = {op.key for op in ops}
            self._reconcile_found(
                ledger, {k: v for k, v in found_remotely.items() if k not in planned_keys}, report, dry_run
            )
        entries = ledger.load([op.key for op in ops])
        to_send: list[Op] = []
        to_reconcile: list[Op] = []
        for op in ops:
            entry = entries.get(op.key)
            if entry and entry.status == SUCCEEDED and entry.payload_hash == op.payload_hash:
                report.skipped_done += 1
                report.receipts[op.key] = entry.receipt
                continue
            report.planned[op.action] += 1
            (to_reconcile if entry and entry.status in UNRESOLVED else to_send).append(op)
        report.planned_requests = sum(op.cost for op in to_send) + (1 if to_reconcile else 0)
        if dry_run:
            return report

        if to_reconcile:
            self.log.info(f"{target.sync}/{target.scope}: reconciling {len(to_reconcile)} record(s) left unresolved")
            to_send.extend(self._reconcile(target, ledger, to_reconcile, report))

        done = 0
        total = len(to_send)
        lock = threading.Lock()
        budget_hit = threading.Event()
        stopped = threading.Event()  # an error said nothing more can be sent (e.g. the host refuses connections)

        def send(op: Op) -> str:
            nonlocal done
            if budget_hit.is_set():
                return "budget"
            if stopped.is_set():
                return "not_attempted"  # untouched in the ledger: planned again by the next run
            phash = op.payload_hash
            ledger.mark_in_flight(op.key, op.action, phash)
            try:
                receipt = target.apply(op)
            except BudgetExceeded:
                budget_hit.set()
                # nothing was sent for this op: put it back to its planned state, resend next run
                ledger.record(op.key, op.action, phash, FAILED, error="not sent: daily request budget reached")
                return "budget"
            except ApiError as exc:
                if getattr(exc, "stop_run", False):
                    with lock:
                        report.stop_reason = report.stop_reason or exc.detail
                    stopped.set()
                outcome = UNCERTAIN if exc.uncertain and not getattr(exc, "not_sent", False) else FAILED
                ledger.record(op.key, op.action, phash, outcome, error=str(exc)[:1000], http_status=exc.status or None)
                with lock:
                    if len(report.errors) < 20:
                        report.errors.append(f"{op.key}: {exc}")
                return outcome
            ledger.record(op.key, op.action, phash, SUCCEEDED, receipt=None if receipt is None else str(receipt))
            with lock:
                report.succeeded[op.action] += 1
                report.receipts[op.key] = None if receipt is None else str(receipt)
                done += 1
                if self.progress:
                    self.progress(done, total)
            return SUCCEEDED

        pending = list(to_send)
        for round_no in range(self.max_rounds + 1):
            if not pending:
                break
            if self.concurrency == 1:
                results = [send(op) for op in pending]
            else:
                with ThreadPoolExecutor(self.concurrency) as pool:
                    results = list(pool.map(send, pending))
            uncertain = [op for op, r in zip(pending, results) if r == UNCERTAIN]
            report.failed += sum(1 for r in results if r == FAILED)
            report.not_sent_budget += sum(1 for r in results if r == "budget")
            report.not_attempted += sum(1 for r in results if r == "not_attempted")
            if stopped.is_set():
                report.uncertain += len([r for r in results if r == UNCERTAIN])
                break
            if not uncertain:
                break
            if round_no == self.max_rounds:
                report.uncertain += len(uncertain)
                break
            # An answer was lost: look the changes up before deciding to send them again.
            pending = self._reconcile(target, ledger, uncertain, report)
        return report

    def _reconcile_found(
        self, ledger: Ledger, found: Mapping[str, str | None], report: SyncReport, dry_run: bool
    ) -> None:
        if not found:
            return
        stuck = {k: e for k, e in ledger.load(list(found)).items() if e.status in UNRESOLVED}
        if not stuck:
            return
        if dry_run:
            self.log.info(f"{ledger.sync}/{ledger.scope}: {len(stuck)} unresolved record(s) found remotely (dry run)")
            report.reconciled_found_remotely += len(stuck)
            return
        for key, entry in stuck.items():
            receipt = found[key]
            ledger.record(
                key, entry.action, entry.payload_hash, "reconciled", receipt=None if receipt is None else str(receipt)
            )
            report.receipts[key] = None if receipt is None else str(receipt)
        report.reconciled += len(stuck)
        report.reconciled_found_remotely += len(stuck)
        self.log.info(
            f"{ledger.sync}/{ledger.scope}: {len(stuck)} record(s) left unresolved by an earlier run were found "
            "remotely and are reconciled in the ledger"
        )

    def _reconcile(self, target: SyncTarget, ledger: Ledger, ops: Sequence[Op], report: SyncReport) -> list[Op]:
        try:
            found = target.reconcile(ops)
        except (ApiError, BudgetExceeded) as exc:
            self.log.warning(f"{target.sync}/{target.scope}: reconciliation failed ({exc}); left unresolved")
            report.uncertain += len(ops)
            return []
        resend: list[Op] = []
        for op in ops:
            if op.key not in found:
                report.uncertain += 1
                continue
            receipt = found[op.key]
            if receipt is None:
                resend.append(op)
            else:
                ledger.record(op.key, op.action, op.payload_hash, "reconciled", receipt=str(receipt))
                report.reconciled += 1
                report.succeeded[op.action] += 1
                report.receipts[op.key] = str(receipt)
        return resend
