"""One writer per candidate: the calls assets and the ``orgsync calls`` apply paths take the same lock.

A PostgreSQL session-level advisory lock on the warehouse, held on a dedicated connection for as long as the
writer works: released on exit, and by PostgreSQL itself when the process dies (a SIGKILLed run never leaves a
lock behind). Scope: the candidate, not the candidate-day - a run also takes earlier days' calls that wait for
budget, and finishes bulk import jobs of any day.

TODO(merge): ``orgsync_dagster/lib/locks.py`` (the generic advisory-lock helper, being written on the membership
branch) replaces ``advisory_lock`` and ``LockBusy`` below (same signature, same key derivation); the scope stays.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class LockBusy(RuntimeError):
    """Another writer holds the lock (its message says which scope)."""


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"orgsync-lock:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, name: str, *, wait_seconds: float = 0.0, holder: str = "") -> Iterator[None]:
    """Same signature and key as ``lib.locks.advisory_lock`` (membership branch), so the switch is an import."""
    conn = engine.connect()
    try:
        conn.execute(sa.text("SELECT set_config('application_name', :n, false)"), {"n": (holder or "orgsync")[:63]})
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar_one()
            conn.commit()
            if got:
                break
            if time.monotonic() >= deadline:
                raise LockBusy(f"{name} is being written by another run or command; try again when it has finished")
            time.sleep(0.25)
        try:
            yield
        finally:
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                conn.commit()
            except Exception:
                conn.invalidate()  # the session is broken: closing it releases the lock
    finally:
        conn.close()


def candidate_scope(slug: str) -> str:
    return f"calls:candidate:{slug}"


@contextmanager
def candidate_lock(engine: Engine, slug: str, holder: str = "") -> Iterator[None]:
    """Held while a candidate's calls are written (the sync asset, `orgsync calls reset|bulk-attach --apply`)."""
    with advisory_lock(engine, candidate_scope(slug), holder=holder):
        yield
