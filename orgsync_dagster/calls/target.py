"""Where a planned canvass response meets VAN and the calls store (a ``lib.sync`` target).

One op = one call = one POST /people/{vanId}/canvassResponses. Before the request the call is claimed in the store
(unsynced -> in_progress, atomically, remembering the first attempt's time); after it, the store gets the outcome.

Reconciliation rule (a post whose answer was lost, in this run or by a crash): VAN has no API to read contact
history back, but it matches an identical canvass response posted again within ~60 minutes of the first and
stores it once. So an unknown outcome is re-sent, with the identical payload, only while less than 50 minutes
(a 10-minute margin) have passed since the call's first attempt; past that it becomes ``attempted_error`` with an
"outcome unknown" message and is never re-posted automatically (a person checks VAN, then resets the call).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from orgsync_dagster.calls.logic import (
    ATTEMPTED_ERROR,
    FINISHED,
    IN_PROGRESS,
    UNSYNCED,
    resend_allowed,
    status_of,
    van_receipt,
)
from orgsync_dagster.lib.sync import Op
from orgsync_dagster.resources.http import ApiError, BudgetExceeded

CANVASS_SYNC = "van.canvass_responses"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CanvassTarget:
    sync = CANVASS_SYNC

    def __init__(self, store, client, scope: str, run_id: str, clock: Callable[[], dt.datetime] = _now):
        self.store, self.client, self.scope, self.run_id, self.clock = store, client, scope, run_id, clock
        self.not_resent: list[str] = []

    def apply(self, op: Op) -> str:
        now = self.clock()
        claimed = self.store.set_status(
            op.key,
            [UNSYNCED, IN_PROGRESS],
            IN_PROGRESS,
            set_fields={"claimed_by": self.run_id},
            min_fields={"sync_attempted_at": now},
        )
        if claimed is None:
            raise ApiError("calls", "CLAIM", "calls/{id}", 409, "the call is no longer unsynced; not sent")
        try:
            self.client.post_canvass_response(op.context["van_id"], op.payload)
        except BudgetExceeded:
            # nothing was sent: the call goes back to unsynced as if never claimed
            self.store.set_status(op.key, [IN_PROGRESS], UNSYNCED, unset=["sync_attempted_at", "claimed_by"])
            raise
        except ApiError as exc:
            if not exc.uncertain:
                self.store.set_status(
                    op.key, [IN_PROGRESS], ATTEMPTED_ERROR, set_fields={"error": str(exc)[:500], "synced_at": now}
                )
            raise
        receipt = van_receipt(self.client.instance, op.context["van_id"], op.key)
        self.store.set_status(
            op.key, [IN_PROGRESS], FINISHED, set_fields={"receipt": receipt, "synced_at": self.clock(), "error": None}
        )
        return receipt

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        """key -> receipt (already finished), None (safe to re-send: VAN would match it), or left out (unknown)."""
        now = self.clock()
        found: dict[str, str | None] = {}
        for op in ops:
            doc = self.store.get(op.key) or {}
            status = status_of(doc)
            if status == FINISHED and doc.get("receipt"):
                found[op.key] = doc["receipt"]
            elif status not in (UNSYNCED, IN_PROGRESS):
                continue  # already in a final error state: leave it
            elif resend_allowed(doc.get("sync_attempted_at"), now):
                found[op.key] = None
            else:
                self.mark_unknown(op.key, doc.get("sync_attempted_at"), now)
        return found

    def mark_unknown(self, key: str, first_attempt, now: dt.datetime) -> None:
        first = first_attempt.isoformat(timespec="minutes") if isinstance(first_attempt, dt.datetime) else "unknown"
        self.not_resent.append(key)
        self.store.set_status(
            key,
            [UNSYNCED, IN_PROGRESS],
            ATTEMPTED_ERROR,
            set_fields={
                "synced_at": now,
                "error": (
                    f"outcome unknown: first sent at {first} and the answer was lost; VAN only matches a repeat within "
                    "60 minutes, so it was not re-sent. Check the person's contact history in VAN, then reset the call."
                ),
            },
        )
