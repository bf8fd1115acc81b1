"""One writer per candidate: the calls assets and the ``orgsync calls`` apply paths take the same lock.

The shared PostgreSQL advisory lock of ``orgsync_dagster/lib/locks.py`` (released on exit, and by PostgreSQL itself
when the process dies). Scope: the candidate, not the candidate-day - a run also takes earlier days' calls that wait
for budget, and finishes bulk import jobs of any day.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from orgsync_dagster.lib.locks import LockBusy, advisory_lock

__all__ = ["LockBusy", "candidate_lock", "candidate_scope"]


def candidate_scope(slug: str) -> str:
    return f"calls:candidate:{slug}"


@contextmanager
def candidate_lock(engine: Engine, slug: str, holder: str = "") -> Iterator[None]:
    """Held while a candidate's calls are written (the sync asset, `orgsync calls reset|bulk-attach --apply`)."""
    with advisory_lock(engine, candidate_scope(slug), holder=holder):
        yield
