"""The membership push plan and its Action Network target (no Dagster import; shared by the asset and the CLI).

Cost model: one write per changed member and nothing for unchanged ones.

* new / updated -> one person signup helper POST (matched on e-mail by Action Network) with ``is_member``
  "True". The POST is not re-sent blindly when its answer is lost: the engine looks the person up and only
  re-sends when the change is not there (so faults cost reads, not duplicate writes).
* lapsed -> ``is_member`` "False", only for people who exist in Action Network. The cheapest correct way to
  know: the receipts (Action Network person ids) of our earlier pushes in the append-only ledger log; then it
  is a single PUT /people/{id} (a 404 there means the person was deleted: nothing to do). Only members we
  never pushed (imported before this sync existed) cost a filter lookup first (GET, then PUT if found).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.lib.ledger import SUCCEEDED
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op, SyncEngine, SyncReport
from orgsync_dagster.lib.tables import sync_attempts, sync_ledger
from orgsync_dagster.membership.mapping import IS_MEMBER, lapse_fields, person_from_row, person_matches
from orgsync_dagster.membership.settings import member_rule
from orgsync_dagster.resources.action_network import ActionNetworkClient
from orgsync_dagster.resources.http import ApiError

SYNC = "action_network.membership"
UPSERT, LAPSE = "upsert", "lapse"
NOT_IN_ACTION_NETWORK = "absent"  # receipt of a lapse for someone Action Network does not know
ID_PREFIX = "action_network:"
log = logging.getLogger(__name__)


def person_id_of(resource: dict) -> str | None:
    for ident in resource.get("identifiers") or []:
        if isinstance(ident, str) and ident.startswith(ID_PREFIX):
            return ident[len(ID_PREFIX) :]
    href = ((resource.get("_links") or {}).get("self") or {}).get("href") or ""
    return href.rstrip("/").rsplit("/", 1)[-1] or None


class KeyRefused(Exception):
    """Action Network answered 401/403: nothing more is sent in this run."""


@dataclass
class PushPlan:
    ops: list[Op]
    counts: dict[str, int] = field(default_factory=dict)  # new, updated, lapsed, unchanged, carried_over...
    problems: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(op.cost for op in self.ops)


def upsert_op(key: str, row: dict, *, reason: str, cleared: Sequence[str] = (), add_tags: Sequence[str] = ()) -> Op:
    payload: dict = {"person": person_from_row(row, cleared=tuple(cleared), rule=member_rule())}
    if add_tags:
        payload["add_tags"] = list(add_tags)
    return Op(str(key), UPSERT, payload, cost=1, reason=reason)


def lapse_op(key: str, email: str, person_id: str | None, *, reason: str = "lapsed") -> Op:
    # payload: what is written; the person id is context (found again by lookup if missing)
    return Op(
        str(key),
        LAPSE,
        {"email": email, IS_MEMBER: "False"},
        cost=1 if person_id else 2,
        reason=reason,
        context={"person_id": person_id},
    )


def known_person_ids(engine: Engine, scope: str, keys: Iterable[str]) -> dict[str, str]:
    """Action Network person ids our earlier pushes received for these members (latest receipt per key)."""
    keys = list(keys)
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(keys), 5000):
            chunk = keys[i : i + 5000]
            q = (
                sa.select(sync_attempts.c.record_key, sync_attempts.c.receipt)
                .where(
                    sync_attempts.c.sync == SYNC,
                    sync_attempts.c.scope == scope,
                    sync_attempts.c.record_key.in_(chunk),
                    sync_attempts.c.receipt.is_not(None),
                    sync_attempts.c.receipt != NOT_IN_ACTION_NETWORK,
                )
                .order_by(sync_attempts.c.record_key, sync_attempts.c.id.desc())
                .distinct(sync_attempts.c.record_key)
            )
            out.update({k: r for k, r in conn.execute(q)})
    return out


def unfinished_keys(engine: Engine, scope: str) -> dict[str, str]:
    """Members whose last push failed or was left unresolved: key -> the action that was tried."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sync_ledger.c.record_key, sync_ledger.c.action).where(
                sync_ledger.c.sync == SYNC, sync_ledger.c.scope == scope, sync_ledger.c.status != SUCCEEDED
            )
        ).all()
    return {k: a for k, a in rows}


def plan_push(
    *,
    key_column: str,
    new_rows: Iterable[dict],
    updated_rows: Iterable[dict],
    lapsed_rows: Iterable[dict],
    person_ids: dict[str, str],
    unchanged: int = 0,
    add_tags: Sequence[str] = (),
    changed_column_field: str = "_changed_columns",
) -> PushPlan:
    """One op per changed member. Rows without an e-mail address cannot be matched in Action Network: they
    are counted as problems, not sent."""
    ops: list[Op] = []
    problems: list[str] = []
    counts = {"new": 0, "updated": 0, "lapsed": 0, "unchanged": unchanged, "no_email": 0, "carried_over": 0}

    def email_of(row: dict) -> str | None:
        value = row.get("email")
        return str(value).strip() if value else None

    for status, rows in (("new", new_rows), ("updated", updated_rows)):
        for row in rows:
            counts[status] += 1
            key = row[key_column]
            if not email_of(row):
                counts["no_email"] += 1
                continue
            changed = row.get(changed_column_field) or []
            if isinstance(changed, str):
                changed = [c for c in changed.split(",") if c]
            cleared = [c for c in changed if not row.get(c)]
            reason = status if status == "new" else "changed: " + ", ".join(changed)
            ops.append(upsert_op(key, row, reason=reason, cleared=cleared, add_tags=add_tags))
    for row in lapsed_rows:
        counts["lapsed"] += 1
        key, email = row[key_column], email_of(row)
        if not email:
            counts["no_email"] += 1
            continue
        ops.append(lapse_op(key, email, person_ids.get(str(key))))
    if counts["no_email"]:
        problems.append(f"{counts['no_email']} changed member(s) have no e-mail address and cannot be pushed")
    return PushPlan(ops, counts, problems)


def add_carry_over(
    plan: PushPlan,
    unfinished: dict[str, str],
    rows_by_key: Callable[[list[str]], dict[str, dict]],
    person_ids: Callable[[list[str]], dict[str, str]],
    *,
    add_tags: Sequence[str] = (),
) -> None:
    """Retry members whose earlier push failed even if this export did not change them: re-plan each from the
    current snapshot (upsert if still a member, lapse again if it was a lapse)."""
    planned = {op.key for op in plan.ops}
    todo = [k for k in unfinished if k not in planned]
    if not todo:
        return
    current = rows_by_key(todo)
    lapses = [k for k in todo if k not in current and unfinished[k] == LAPSE]
    ids = person_ids(lapses) if lapses else {}
    n = 0
    for k in todo:
        row = current.get(k)
        if row is not None and row.get("email"):
            plan.ops.append(upsert_op(k, row, reason="retry of an earlier failure", add_tags=add_tags))
            n += 1
        elif row is None and k in lapses and "@" in k:
            plan.ops.append(lapse_op(k, k, ids.get(k), reason="retry of an earlier failure"))
            n += 1
    plan.counts["carried_over"] = n


def estimate_seconds(requests: int, requests_per_second: float, concurrency: int, latency_s: float = 0.25) -> float:
    """Wall time of a push: paced by the rate limit unless too few requests are in flight for the latency."""
    if requests <= 0:
        return 0.0
    return max(requests / requests_per_second, requests * latency_s / max(1, concurrency))


class MembershipTarget:
    """Sends membership ops to one Action Network group (one ledger scope)."""

    sync = SYNC

    def __init__(self, client: ActionNetworkClient, scope: str = "default", *, concurrency: int = 4):
        self.client, self.scope, self.concurrency = client, scope, max(1, concurrency)
        self.not_in_action_network = 0  # lapses of people Action Network does not know (nothing written)
        self.refused: int | None = None  # 401/403 seen: the key is wrong or revoked
        self._lock = threading.Lock()

    def _absent(self) -> str:
        with self._lock:
            self.not_in_action_network += 1
        return NOT_IN_ACTION_NETWORK

    def apply(self, op: Op) -> str | None:
        if self.refused is not None:  # the key was refused: do not spend a request per remaining member
            raise ApiError(
                "action_network",
                "POST",
                "people/",
                self.refused,
                "not sent: the API key was refused earlier in this run",
            )
        try:
            return self._apply(op)
        except ApiError as exc:
            if exc.status in (401, 403):
                self.refused = exc.status
            raise

    def _apply(self, op: Op) -> str | None:
        if op.action == UPSERT:
            # not retried on a lost answer: the engine reconciles by lookup instead of writing twice
            body = self.client.upsert_person(
                op.payload["person"], add_tags=op.payload.get("add_tags"), retry_unsafe=False
            )
            return person_id_of(body)
        if op.action == LAPSE:
            return self._lapse(op.payload["email"], op.context.get("person_id"))
        raise ValueError(f"unknown action {op.action}")

    def _lapse(self, email: str, person_id: str | None) -> str:
        if person_id:
            try:
                self.client.update_person(person_id, lapse_fields(email))
                return person_id
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # deleted or merged in Action Network since our push: find them by e-mail
        found = self.client.find_people_by_email(email)
        if not found:
            return self._absent()
        pid = person_id_of(found[0])
        self.client.update_person(pid, lapse_fields(email))
        return pid

    def _lookup(self, op: Op) -> tuple[str, str | None] | None:
        """(key, receipt if the change is in Action Network else None); None when the lookup itself failed."""
        try:
            if op.action == UPSERT:
                email = op.payload["person"]["email_addresses"][0]["address"]
                people = self.client.find_people_by_email(email)
                hit = next((p for p in people if person_matches(p, op.payload["person"])), None)
                return op.key, person_id_of(hit) if hit else None
            pid = op.context.get("person_id")
            if pid:
                try:
                    person = self.client.get_person(pid)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    person = None
                people = [person] if person else self.client.find_people_by_email(op.payload["email"])
            else:
                people = self.client.find_people_by_email(op.payload["email"])
            if not people:
                return op.key, self._absent()
            done = (people[0].get("custom_fields") or {}).get(IS_MEMBER) == "False"
            return op.key, person_id_of(people[0]) if done else None
        except ApiError as exc:
            log.warning("lookup of %s failed: %s", op.action, exc.status)
            return None

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(pool.map(self._lookup, ops))
        return dict(r for r in results if r is not None)


def run_push(
    engine: Engine,
    client: ActionNetworkClient,
    ops: Sequence[Op],
    *,
    scope: str,
    run_id: str,
    concurrency: int,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    logger=None,
) -> tuple[SyncReport, dict[str, int]]:
    """Push the ops through the ledger-backed engine; returns the engine's report and the outcome counts."""
    target = MembershipTarget(client, scope, concurrency=concurrency)
    engine_ = SyncEngine(ledger_factory(engine, run_id), concurrency=concurrency, progress=progress, logger=logger)
    report = engine_.run(target, ops, dry_run=dry_run)
    lapsed = report.succeeded.get(LAPSE, 0)
    outcome = {
        "upserted": report.succeeded.get(UPSERT, 0),
        "lapsed_in_action_network": lapsed - target.not_in_action_network,
        "lapsed_not_in_action_network": target.not_in_action_network,
        "already_done": report.skipped_done,
        "reconciled": report.reconciled,
        "failed": report.failed,
        "uncertain": report.uncertain,
    }
    if target.refused:
        raise KeyRefused(
            f"Action Network refused the API key (HTTP {target.refused}); {report.failed} member(s) "
            "were not sent and will be sent by the next run"
        )
    return report, outcome
