"""Small helpers assets share: a metered session, the ledger factory, and readable metadata tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.meter import WarehouseMeter


@contextmanager
def metered(engine: Engine) -> Iterator[WarehouseMeter]:
    """A request meter whose counts reach the warehouse even when the step fails."""
    meter = WarehouseMeter(engine)
    try:
        yield meter
    finally:
        meter.flush()


def ledger_factory(engine: Engine, run_id: str) -> Callable[[str, str], Ledger]:
    return lambda sync, scope: Ledger(engine, sync, scope, run_id)


def markdown_table(rows: Iterable[dict], columns: list[str], limit: int = 20) -> str:
    rows = list(rows)
    if not rows:
        return "_none_"
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(str(r.get(c, "")).replace("|", "/").replace("\n", " ") for c in columns) + " |\n"
        for r in rows[:limit]
    )
    more = f"\n_{len(rows) - limit} more not shown_" if len(rows) > limit else ""
    return head + body + more
