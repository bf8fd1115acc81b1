"""The request meter: every request any client sends is counted in the warehouse (orgsync.api_requests).

Counts are kept in memory and flushed with an additive upsert every ``flush_every`` requests and on close, so
metering costs one statement per batch, and counts from many processes add up correctly.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from orgsync_dagster.lib.tables import api_requests

# What a request costs beyond the free allowance, per API (VAN: 1 cent above 1,000 requests a day per key).
PRICING = {"van": {"free_per_day": 1000, "usd_per_request": 0.01}}


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class WarehouseMeter:
    def __init__(self, engine: Engine | None, flush_every: int = 25, today=utc_today):
        self.engine, self.flush_every, self._today = engine, flush_every, today
        self._pending: Counter = Counter()
        self.totals: Counter = Counter()  # (system, instance, method, status) since this meter was created
        self._lock = threading.Lock()

    def record(self, system: str, instance: str, method: str, endpoint: str, status: int) -> None:
        with self._lock:
            self._pending[(self._today(), system, instance, method, endpoint, status)] += 1
            self.totals[(system, instance, method, status)] += 1
            due = sum(self._pending.values()) >= self.flush_every
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, Counter()
        if not batch or self.engine is None:
            return
        rows = [
            dict(day=d, system=s, instance=i, method=m, endpoint=e[:200], status=st, count=n)
            for (d, s, i, m, e, st), n in batch.items()
        ]
        stmt = pg_insert(api_requests).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["day", "system", "instance", "method", "endpoint", "status"],
            set_={"count": api_requests.c.count + stmt.excluded["count"]},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    close = flush

    def spent(self, system: str, instance: str | None = None, *, writes_only: bool = False) -> int:
        """Requests counted by this meter object (this process, this run)."""
        return sum(
            n
            for (s, i, m, _st), n in self.totals.items()
            if s == system and (instance is None or i == instance) and (not writes_only or m != "GET")
        )

    def budget_counter(self, system: str, instance: str):
        """A cheap ``spent`` callable for a DailyBudget: today's count from the warehouse is read once, then this
        meter's own requests are added as they are sent."""
        baseline = self.spent_today(system, instance)
        start = self.spent(system, instance)
        return lambda: baseline + self.spent(system, instance) - start

    def spent_today(self, system: str, instance: str) -> int:
        """Requests sent today to one instance by every process (warehouse) plus this one's unflushed ones."""
        today = self._today()
        with self._lock:
            pending = sum(n for (d, s, i, *_r), n in self._pending.items() if (d, s, i) == (today, system, instance))
        if self.engine is None:
            return pending
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(api_requests.c.count), 0)).where(
                    api_requests.c.day == today, api_requests.c.system == system, api_requests.c.instance == instance
                )
            ).scalar_one()
        return int(stored) + pending


def cost_usd(system: str, requests_today: int) -> float:
    price = PRICING.get(system)
    if not price:
        return 0.0
    return max(0, requests_today - price["free_per_day"]) * price["usd_per_request"]


def daily_report(engine: Engine, day: dt.date | None = None) -> list[dict]:
    """Requests and cost per API and instance for one day (default today)."""
    day = day or utc_today()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                api_requests.c.system, api_requests.c.instance, sa.func.sum(api_requests.c.count).label("requests")
            )
            .where(api_requests.c.day == day)
            .group_by(api_requests.c.system, api_requests.c.instance)
            .order_by(api_requests.c.system, api_requests.c.instance)
        ).all()
    return [
        {"system": s, "instance": i, "requests": int(n), "cost_usd": round(cost_usd(s, int(n)), 2)} for s, i, n in rows
    ]
