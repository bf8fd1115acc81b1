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


@contextmanager
def api_failures(what: str):
    """Turn API errors into clear step failures: a non-retryable one (401, 400...) fails at once without the
    retry policy's waits; a retryable one (429/5xx after the client's own retries) is left to the policy."""
    import dagster as dg

    from orgsync_dagster.resources.http import ApiError, BudgetExceeded
    from orgsync_dagster.resources.van import VanConfigError

    try:
        yield
    except ApiError as exc:
        if exc.retryable:
            raise
        hint = " (check the API key and the |0/|1 database mode)" if exc.status in (401, 403) else ""
        raise dg.Failure(description=f"{what}: {exc}{hint}", allow_retries=False) from None
    except (VanConfigError, BudgetExceeded) as exc:
        raise dg.Failure(description=f"{what}: {exc}", allow_retries=False) from None
