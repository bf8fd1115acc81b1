"""The durable sync ledger: what each record's last push was, and every outcome ever recorded.

A push consults the ledger before each request. Writes are committed one record at a time, before the request
(``in_flight``) and after it (the outcome), so a crash at any point leaves the truth on disk: a record is either
known done (with its receipt), known failed, or ``in_flight``/``uncertain`` and must be reconciled with the remote
system before it may be sent again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from orgsync_dagster.lib.tables import sync_attempts, sync_ledger

PLANNED, IN_FLIGHT, SUCCEEDED, FAILED, UNCERTAIN = "planned", "in_flight", "succeeded", "failed", "uncertain"
UNRESOLVED = frozenset({IN_FLIGHT, UNCERTAIN})


def payload_hash(payload) -> str:
    """Stable hash of a JSON-able payload (key order does not matter)."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def target_scope(name: str, target: str, fingerprint: str, *, max_len: int = 64) -> str:
    """The ledger scope of one remote target: ``name|target|fingerprint`` (e.g. ``default|actionnetwork.org/api/v2|
    1a2b3c4d5e6f``), so the same records pushed to another group (another URL or key) are pushed again there.
    ``fingerprint`` is a hash of the credential, never the credential. Too long for the column: the target part is
    replaced by a hash of it."""
    scope = f"{name}|{target}|{fingerprint}"
    if len(scope) > max_len:
        scope = f"{name[:20]}|u{hashlib.sha256(target.encode()).hexdigest()[:16]}|{fingerprint}"
    return scope[:max_len]


@dataclass(frozen=True)
class LedgerEntry:
    record_key: str
    action: str
    payload_hash: str
    status: str
    receipt: str | None
    error: str | None
    attempts: int
    run_id: str | None
    updated_at: dt.datetime | None


class Ledger:
    def __init__(self, engine: Engine, sync: str, scope: str, run_id: str):
        self.engine, self.sync, self.scope, self.run_id = engine, sync, scope, run_id

    def _where(self):
        return sa.and_(sync_ledger.c.sync == self.sync, sync_ledger.c.scope == self.scope)

    def load(self, keys: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
        """Current entries, for the given keys (fetched in chunks) or for the whole scope."""
        cols = [
            sync_ledger.c.record_key,
            sync_ledger.c.action,
            sync_ledger.c.payload_hash,
            sync_ledger.c.status,
            sync_ledger.c.receipt,
            sync_ledger.c.error,
            sync_ledger.c.attempts,
            sync_ledger.c.run_id,
            sync_ledger.c.updated_at,
        ]
        out: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            if keys is None:
                chunks = [None]
            else:
                chunks = list(_chunks(list(keys), 5000))
            for chunk in chunks:
                q = sa.select(*cols).where(self._where())
                if chunk is not None:
                    if not chunk:
                        continue
                    q = q.where(sync_ledger.c.record_key.in_(chunk))
                for row in conn.execute(q):
                    out[row.record_key] = LedgerEntry(*row)
        return out

    def unresolved(self) -> dict[str, LedgerEntry]:
        """Records a crash or an unanswered write left in an unknown state."""
        return {k: e for k, e in self.load().items() if e.status in UNRESOLVED}

    def _upsert(self, conn, key: str, action: str, phash: str, status: str, *, bump_attempts=False, **extra):
        attempts = 1 if bump_attempts else 0
        values = _ledger_values(self, key, action, phash, status, updated_at=sa.func.now(), attempts=attempts, **extra)
        _upsert_ledger(conn, values, extra, bump_attempts=bump_attempts)

    def mark_in_flight(self, key: str, action: str, phash: str) -> None:
        """Committed before the request is sent: a crash after this point is detectable."""
        with self.engine.begin() as conn:
            self._upsert(conn, key, action, phash, IN_FLIGHT, bump_attempts=True, error=None)

    def record(
        self,
        key: str,
        action: str,
        phash: str,
        outcome: str,
        *,
        receipt: str | None = None,
        error: str | None = None,
        http_status: int | None = None,
    ) -> None:
        """Record one outcome: the ledger's current state and the append-only attempt log, in one transaction."""
        with self.engine.begin() as conn:
            self._upsert(conn, key, action, phash, _status(outcome), receipt=receipt, error=error)
            attempt = _attempt_values(self, key, action, phash, outcome, receipt, error, http_status)
            conn.execute(sync_attempts.insert().values(attempt))

    def unresolved_summary(self, *, exclude_run_id: str | None = None) -> UnresolvedSummary:
        """Counts of this scope's entries left ``in_flight``/``uncertain`` (by runs other than ``exclude_run_id``)."""
        return unresolved_summary(self.engine, self.sync, self.scope, exclude_run_id=exclude_run_id)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(sync_ledger.c.status, sa.func.count()).where(self._where()).group_by(sync_ledger.c.status)
            ).all()
        return {s: int(n) for s, n in rows}


# -- the rows both paths write (one record at a time in Ledger, many at once below) ----------------------------------
_UPDATED = ("action", "payload_hash", "status", "run_id", "updated_at")  # replaced when a record is written again


def _status(outcome: str) -> str:
    """The ledger status an outcome leaves (a reconciled record is as good as a succeeded one)."""
    return SUCCEEDED if outcome in (SUCCEEDED, "reconciled") else outcome


def _write_of(ledger: Ledger, key: str, action: str, phash: str) -> dict:
    """The columns both tables name one write of one record with."""
    return dict(sync=ledger.sync, scope=ledger.scope, record_key=key, action=action, payload_hash=phash)


def _ledger_values(
    ledger: Ledger, key: str, action: str, phash: str, status: str, *, updated_at, attempts: int, **extra
) -> dict:
    """One ``sync_ledger`` row of the ledger's sync and scope (``extra``: receipt/error columns)."""
    return dict(
        _write_of(ledger, key, action, phash),
        status=status,
        run_id=ledger.run_id,
        updated_at=updated_at,
        attempts=attempts,
        **extra,
    )


def _upsert_ledger(conn, values: dict | list[dict], extra: Iterable[str], *, bump_attempts: bool) -> None:
    """Insert ledger rows, or replace an existing row's ``_UPDATED`` and ``extra`` columns (``bump_attempts``: and
    count one more attempt)."""
    stmt = pg_insert(sync_ledger).values(values)
    update = {k: stmt.excluded[k] for k in (*_UPDATED, *extra)}
    if bump_attempts:
        update["attempts"] = sync_ledger.c.attempts + 1
    conn.execute(stmt.on_conflict_do_update(index_elements=["sync", "scope", "record_key"], set_=update))


def _attempt_values(ledger: Ledger, key, action, phash, outcome, receipt, error, http_status) -> dict:
    """One row of the append-only ``sync_attempts`` log."""
    return dict(
        _write_of(ledger, key, action, phash),
        outcome=outcome,
        receipt=receipt,
        error=error,
        http_status=http_status,
        run_id=ledger.run_id,
    )


# -- batches (one transaction for many records: VAN bulk import jobs of thousands of calls) -----------------------
def _chunks(items: list, size: int = 2000):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def mark_in_flight_many(ledger: Ledger, entries: Iterable[tuple[str, str, str]]) -> int:
    """``(key, action, payload_hash)`` of many records marked ``in_flight`` in ONE transaction, committed before
    the request that sends them all (e.g. one bulk import job). Returns how many."""
    rows = list(entries)
    with ledger.engine.begin() as conn:
        for chunk in _chunks(rows):
            values = [
                _ledger_values(
                    ledger, key, action, phash, IN_FLIGHT, updated_at=dt.datetime.now(dt.UTC), attempts=1, error=None
                )
                for key, action, phash in chunk
            ]
            _upsert_ledger(conn, values, ("error",), bump_attempts=True)
    return len(rows)


def record_many(ledger: Ledger, outcomes: Iterable[dict]) -> int:
    """Many outcomes in ONE transaction: each dict has ``key, action, payload_hash, outcome`` and optionally
    ``receipt, error, http_status`` - the same rows ``Ledger.record`` writes one at a time (current state +
    attempt log)."""
    rows = list(outcomes)
    now = dt.datetime.now(dt.UTC)
    with ledger.engine.begin() as conn:
        for chunk in _chunks(rows):
            current = [
                _ledger_values(
                    ledger,
                    o["key"],
                    o["action"],
                    o["payload_hash"],
                    _status(o["outcome"]),
                    updated_at=now,
                    attempts=0,
                    receipt=o.get("receipt"),
                    error=o.get("error"),
                )
                for o in chunk
            ]
            _upsert_ledger(conn, current, ("receipt", "error"), bump_attempts=False)
            attempts = [
                _attempt_values(
                    ledger,
                    o["key"],
                    o["action"],
                    o["payload_hash"],
                    o["outcome"],
                    o.get("receipt"),
                    o.get("error"),
                    o.get("http_status"),
                )
                for o in chunk
            ]
            conn.execute(sync_attempts.insert(), attempts)
    return len(rows)


@dataclass(frozen=True)
class UnresolvedSummary:
    """Ledger entries whose outcome is unknown: counts only (record keys may be personal data, e.g. e-mails)."""

    in_flight: int
    uncertain: int
    scopes: int  # how many scopes have at least one
    oldest_updated_at: dt.datetime | None

    @property
    def total(self) -> int:
        return self.in_flight + self.uncertain


def unresolved_summary(
    engine: Engine, sync: str, scope: str | None = None, *, exclude_run_id: str | None = None
) -> UnresolvedSummary:
    """Entries of ``sync`` (one scope, or every scope when ``scope`` is None) left ``in_flight``/``uncertain``,
    leaving out those written by ``exclude_run_id`` (the run being checked: its own unknowns get one more run)."""
    cond = [sync_ledger.c.sync == sync, sync_ledger.c.status.in_(sorted(UNRESOLVED))]
    if scope is not None:
        cond.append(sync_ledger.c.scope == scope)
    if exclude_run_id is not None:
        cond.append(sa.or_(sync_ledger.c.run_id.is_(None), sync_ledger.c.run_id != exclude_run_id))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                sync_ledger.c.status,
                sa.func.count(),
                sa.func.min(sync_ledger.c.updated_at),
            )
            .where(*cond)
            .group_by(sync_ledger.c.status)
        ).all()
        scopes = conn.execute(sa.select(sa.func.count(sa.distinct(sync_ledger.c.scope))).where(*cond)).scalar_one()
    by_status = {r[0]: int(r[1]) for r in rows}
    oldest = min((r[2] for r in rows if r[2] is not None), default=None)
    return UnresolvedSummary(by_status.get(IN_FLIGHT, 0), by_status.get(UNCERTAIN, 0), int(scopes), oldest)
