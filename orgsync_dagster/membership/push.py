"""The membership push plan and its Action Network target (no Dagster import; shared by the asset and the CLI).

Cost model: one write per changed member and nothing for unchanged ones.

* new / updated -> one person signup helper POST (matched on e-mail by Action Network) with ``is_member``
  "True". The POST is not re-sent blindly when its answer is lost: the engine looks the person up and only
  re-sends when the change is not there (so faults cost reads, not duplicate writes).
* lapsed -> ``is_member`` "False", only for the person who holds that exact address. The receipts (Action
  Network person ids) of our earlier pushes in the append-only ledger log say where to look: GET /people/{id},
  and only if that person still holds the address, PUT /people/{id}. Otherwise (or without a receipt) the
  person is looked up by the exact address (OData filter, quotes doubled) and only a person holding it is
  written; nobody holding it -> "not found" is recorded and nothing is written. Two requests per lapse.
* email changed under a stable key (``--key ak_id``) -> PUT /people/{id} with the new address on the SAME person
  (the id of our earlier push's receipt, verified to still hold the old address first; without one, the person
  holding the old address). Nobody holds the old address -> the signup helper POST with the new address (a
  person matched or created by that address: never someone else).

Every ledger scope is a target identity (``ActionNetworkResource.target_scope``: scope name, normalized URL,
key fingerprint), and one push per scope runs at a time (``push_lock``: a PostgreSQL advisory lock).
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
from orgsync_dagster.lib.locks import advisory_lock, sync_lock_name
from orgsync_dagster.lib.runtime import ledger_factory
from orgsync_dagster.lib.sync import Op, SyncEngine, SyncReport
from orgsync_dagster.lib.tables import sync_attempts, sync_ledger
from orgsync_dagster.membership.mapping import IS_MEMBER, lapse_fields, person_from_row, person_matches
from orgsync_dagster.membership.settings import member_rule
from orgsync_dagster.resources.action_network import ActionNetworkClient, has_email
from orgsync_dagster.resources.http import ApiError

SYNC = "action_network.membership"
UPSERT, LAPSE, EMAIL_CHANGE = "upsert", "lapse", "email_change"
# receipt of a write not made: nobody in Action Network holds the address ("absent": older ledgers)
NOT_IN_ACTION_NETWORK = "not found"
NO_PERSON_RECEIPTS = (NOT_IN_ACTION_NETWORK, "absent")
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


class TargetUnreachable(Exception):
    """Action Network refused connections (or could not be resolved) repeatedly: the push stopped; nothing was sent
    for the members not attempted, which stay planned for the next run."""

    def __init__(self, message: str, report: SyncReport, outcome: dict[str, int]):
        super().__init__(message)
        self.report, self.outcome = report, outcome


def push_lock(engine: Engine, scope: str, *, wait_seconds: float = 0.0, holder: str = ""):
    """The one-push-per-target lock (CLI and asset): hold it from planning to the last ledger write."""
    return advisory_lock(engine, sync_lock_name(SYNC, scope), wait_seconds=wait_seconds, holder=holder)


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
    # payload: what is written; the person id is context (found again by lookup if missing). Two requests: the
    # person is read (by id or by exact address) and verified to hold the address before the PUT.
    return Op(
        str(key),
        LAPSE,
        {"email": email, IS_MEMBER: "False"},
        cost=2,
        reason=reason,
        context={"person_id": person_id},
    )


def email_change_op(key: str, row: dict, old_email: str, person_id: str | None, *, reason: str, cleared=()) -> Op:
    """The member's address changed under a stable key: PUT the new address (and fields) on the same person."""
    return Op(
        str(key),
        EMAIL_CHANGE,
        {"person": person_from_row(row, cleared=tuple(cleared), rule=member_rule())},
        cost=2,
        reason=reason,
        context={"person_id": person_id, "old_email": old_email},
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
                    sync_attempts.c.receipt.not_in(NO_PERSON_RECEIPTS),
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
    old_emails: dict[str, str] | None = None,
) -> PushPlan:
    """One op per changed member. Rows without an e-mail address cannot be matched in Action Network: they
    are counted as problems, not sent. ``old_emails`` (key -> the address in the older export; only meaningful
    with a key other than the e-mail): an updated member whose address changed is moved on the same person
    (``person_ids`` holds our receipts for those keys too) instead of signing up a second person."""
    ops: list[Op] = []
    problems: list[str] = []
    counts = {
        "new": 0,
        "updated": 0,
        "lapsed": 0,
        "unchanged": unchanged,
        "no_email": 0,
        "carried_over": 0,
        "email_changed": 0,
    }
    old_emails = old_emails or {}

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
            old = (old_emails.get(str(key)) or "").strip()
            if status == "updated" and old and old.casefold() != email_of(row).casefold():
                counts["email_changed"] += 1
                ops.append(email_change_op(key, row, old, person_ids.get(str(key)), reason=reason, cleared=cleared))
                continue
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
    old_emails: dict[str, str] | None = None,
) -> None:
    """Retry members whose earlier push failed even if this export did not change them: re-plan each from the
    current snapshot (upsert if still a member, lapse again if it was a lapse, an e-mail change again on the same
    person if it was one: never as a signup of the new address while we know the person)."""
    planned = {op.key for op in plan.ops}
    todo = [k for k in unfinished if k not in planned]
    if not todo:
        return
    current = rows_by_key(todo)
    lapses = [k for k in todo if k not in current and unfinished[k] == LAPSE]
    moves = [k for k in todo if k in current and unfinished[k] == EMAIL_CHANGE]
    ids = person_ids(lapses + moves) if lapses or moves else {}
    n = 0
    for k in todo:
        row = current.get(k)
        if row is not None and row.get("email") and k in moves:
            old = (old_emails or {}).get(k) or str(row["email"]).strip()
            plan.ops.append(email_change_op(k, row, old, ids.get(k), reason="retry of an earlier failure"))
            n += 1
        elif row is not None and row.get("email"):
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
        if op.action == EMAIL_CHANGE:
            return self._change_email(op)
        raise ValueError(f"unknown action {op.action}")

    def _holder(self, email: str, person_id: str | None, *also: str) -> dict | None:
        """The Action Network person holding exactly ``email`` (or one of ``also``): the one at ``person_id`` if
        it does, else the one the exact-address look-up finds; None when nobody does. Never a near match."""
        if person_id:
            try:
                person = self.client.get_person(person_id)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                person = None  # deleted or merged in Action Network since our push
            if person is not None and any(has_email(person, e) for e in (email, *also)):
                return person
        found = self.client.find_people_by_email(email)  # only people holding the whole address
        return found[0] if found else None

    def _lapse(self, email: str, person_id: str | None) -> str:
        person = self._holder(email, person_id)
        if person is None:
            return self._absent()  # recorded "not found": nothing written
        pid = person_id_of(person)
        self.client.update_person(pid, lapse_fields(email))
        return pid

    def _change_email(self, op: Op) -> str | None:
        person = op.payload["person"]
        new = person["email_addresses"][0]["address"]
        holder = self._holder(op.context["old_email"], op.context.get("person_id"), new)
        if holder is None:
            # nobody holds the old address (any more): the signup helper matches or creates by the NEW address
            body = self.client.upsert_person(person, retry_unsafe=False)
            return person_id_of(body)
        pid = person_id_of(holder)
        self.client.update_person(pid, person)
        return pid

    def _lookup(self, op: Op) -> tuple[str, str | None] | None:
        """(key, receipt if the change is in Action Network else None); None when the lookup itself failed."""
        try:
            if op.action in (UPSERT, EMAIL_CHANGE):
                email = op.payload["person"]["email_addresses"][0]["address"]
                people = self.client.find_people_by_email(email)
                hit = next((p for p in people if person_matches(p, op.payload["person"])), None)
                return op.key, person_id_of(hit) if hit else None
            person = self._holder(op.payload["email"], op.context.get("person_id"))
            if person is None:
                return op.key, self._absent()
            done = (person.get("custom_fields") or {}).get(IS_MEMBER) == "False"
            return op.key, person_id_of(person) if done else None
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
        "email_moved": report.succeeded.get(EMAIL_CHANGE, 0),
        "failed": report.failed,
        "uncertain": report.uncertain,
        "not_attempted": report.not_attempted,
    }
    if target.refused:
        raise KeyRefused(
            f"Action Network refused the API key (HTTP {target.refused}); {report.failed} member(s) "
            "were not sent and will be sent by the next run"
        )
    if report.stop_reason:
        raise TargetUnreachable(
            f"Action Network could not be reached ({report.stop_reason}); the push stopped: "
            f"{report.failed} member(s) failed without being sent and {report.not_attempted} were not attempted "
            "(nothing was sent for them; the next run sends them)",
            report,
            outcome,
        )
    return report, outcome
