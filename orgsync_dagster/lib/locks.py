"""One writer per (sync, scope): a PostgreSQL session-level advisory lock on the warehouse (no Dagster import).

Held on a dedicated connection for as long as the writer works (plan, push, ledger), released on exit, and by
PostgreSQL itself when the process dies (a SIGKILLed push never leaves a lock behind). Shared by the CLI and the
assets of a domain: the second writer of the same scope waits up to ``wait_seconds``, then gets ``LockBusy``
naming the scope and, when PostgreSQL can tell, the holder (its ``holder`` label, set as the holding session's
``application_name``, and since when).

Key: the first 8 bytes of sha256(``orgsync-lock:<name>``) as a signed 64-bit integer (stable across processes
and Python versions). Used by membership (one push per target) and calls (one writer per candidate).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

__all__ = ["LockBusy", "advisory_lock", "lock_key", "lock_holder", "sync_lock_name"]


class LockBusy(RuntimeError):
    """Another writer holds the lock (the message names the scope and, if known, the holder)."""

    def __init__(self, message: str, *, name: str = "", holder: str | None = None):
        super().__init__(message)
        self.name, self.holder = name, holder


def lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"orgsync-lock:{name}".encode()).digest()[:8], "big", signed=True)


def sync_lock_name(sync: str, scope: str) -> str:
    """The lock of one ledger (sync, scope), e.g. ``action_network.membership|default|actionnetwork.org/...``."""
    return f"{sync}|{scope}"


def lock_holder(conn, name: str) -> str | None:
    """Who holds ``name``'s lock: ``'<application_name>' (pid N, since HH:MM:SS UTC)``, or None if unknown."""
    unsigned = lock_key(name) & 0xFFFFFFFFFFFFFFFF
    try:
        row = conn.execute(
            sa.text(
                "SELECT a.pid, a.application_name, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid) AND l.objsubid = 1 LIMIT 1"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
        ).first()
        conn.commit()
    except Exception:  # no right to read pg_stat_activity, etc.: the message just says less
        return None
    if row is None:
        return None
    since = f", since {row.backend_start:%Y-%m-%d %H:%M:%S %Z}".rstrip() if row.backend_start else ""
    return f"'{row.application_name or 'unnamed session'}' (pid {row.pid}{since})"


@contextmanager
def advisory_lock(engine: Engine, name: str, *, wait_seconds: float = 0.0, holder: str = "") -> Iterator[None]:
    """Hold the lock ``name`` while the block runs; wait up to ``wait_seconds`` for it, else raise ``LockBusy``.
    ``holder``: a label others see while we hold it (e.g. ``orgsync push cli-1a2b3c``; never personal data)."""
    key = lock_key(name)
    conn = engine.connect()
    try:
        conn.execute(sa.text("SELECT set_config('application_name', :n, false)"), {"n": (holder or "orgsync")[:63]})
        conn.commit()
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
            conn.commit()
            if got:
                break
            if time.monotonic() >= deadline:
                who = lock_holder(conn, name)
                waited = f" after waiting {wait_seconds:g} s" if wait_seconds > 0 else ""
                raise LockBusy(
                    f"{name} is being written by another run or command (held by {who or 'another session'})"
                    f"{waited}; try again when it has finished",
                    name=name,
                    holder=who,
                )
            time.sleep(min(0.25, max(0.01, deadline - time.monotonic())))
        try:
            yield
        finally:
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.execute(sa.text("SELECT set_config('application_name', '', false)"))
                conn.commit()
            except Exception:
                conn.invalidate()  # the session is broken: closing it releases the lock
    finally:
        conn.close()
