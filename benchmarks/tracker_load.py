"""Tracker load figures: N simulated organizers over M offices editing for D seconds.

    .venv/bin/python benchmarks/tracker_load.py [--organizers 50] [--offices 10] [--seconds 60] [--think-ms 1000]

The app runs as `orgsync web` in its own process (local profile, a fresh PostgreSQL database); this process is the
load generator. Every organizer logs in (dev login), opens its office's live stream (SSE) and, in a loop, waits
``think-ms`` (uniform 0.5x..1.5x), then edits a shift of its office (a status flip or a call-pass count, always a
new value) with the row version it knows; on every live event it fetches the changed row's fragment, like the
browser does. Figures (exit 1 when a goal is missed):

* p95 edit latency: POST sent -> answer received;
* p95 live-update delay: edit POST sent -> the change event received on each *other* organizer's stream of that
  office (conservative: it includes the edit's own latency);
* lost updates: every edit must be applied (200) or refused as a conflict (409, nothing written); after the run,
  each shift's version and its audit rows must equal the edits acknowledged for it;
* reference run, side by side: the same clients timing ``GET /healthz`` for 10 s (a round trip with no work), so
  the edit latency is also reported as a ratio to the server's bare round trip under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx2 as httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from orgsync_dagster.lib import pg_test_server  # noqa: E402
from orgsync_dagster.resources.warehouse import engine_for  # noqa: E402
from orgsync_dagster.shifts.settings import ShiftsSettings  # noqa: E402
from orgsync_dagster.shifts.tables import edits, shifts, volunteers  # noqa: E402

STATUSES = ["Scheduled", "Invited", "Left Msg", "Same Day Confirmed", "In", "Completed", "Declined", "No Show"]
ROW_RE = re.compile(r'id="shift-(\d+)" data-entity="shift" data-id="\d+" data-version="(\d+)"')


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def seed(engine, offices: int, per_office: int, organizers: int) -> list[dict]:
    import orgsync_dagster.web.tables as web_tables
    from orgsync_dagster.lib.tables import ensure_schema

    ensure_schema(engine)
    settings = ShiftsSettings()
    day = settings.today()
    start = dt.datetime.combine(day, dt.time(10), tzinfo=settings.tz)
    names = [f"R{1 + i // 2}{chr(65 + i % 2)} - Office {i + 1}" for i in range(offices)]
    people = []
    with engine.begin() as conn:
        for o, office in enumerate(names):
            for k in range(per_office):
                vid = conn.execute(
                    volunteers.insert()
                    .values(instance="MI", van_id=500000 + o * 1000 + k, first_name=f"V{k}", last_name=f"Office{o}")
                    .returning(volunteers.c.id)
                ).scalar_one()
                conn.execute(
                    shifts.insert().values(
                        day=day,
                        instance="MI",
                        event_signup_id=900000 + o * 1000 + k,
                        office=office,
                        region=office[:2],
                        volunteer_id=vid,
                        van_id=500000 + o * 1000 + k,
                        starts_at=start + dt.timedelta(hours=k % 6),
                        status="Scheduled",
                        original_status="Scheduled",
                        event_type_name="Canvass",
                    )
                )
        for n in range(organizers):
            office = names[n % offices]
            row = {
                "email": f"organizer{n}@example.org",
                "full_name": f"Organizer {n}",
                "rank": "FO",
                "state": "MI",
                "region": office[:2],
                "offices": [office],
            }
            conn.execute(web_tables.users.insert().values(**row))
            people.append(row)
    return people


class Organizer:
    def __init__(self, n: int, person: dict, base: str, stats: dict):
        self.n, self.person, self.base, self.stats = n, person, base, stats
        self.office = person["offices"][0]
        self.client = httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=4))
        self.versions: dict[int, int] = {}
        self.values: dict[int, dict] = {}
        self.csrf = ""
        self.ready = asyncio.Event()

    @property
    def page(self) -> str:
        return f"/t/MI/sdc?office={quote(self.office)}"

    async def login(self) -> None:
        page = await self.client.get("/login")
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        r = await self.client.post("/login/dev", data={"csrf_token": token, "email": self.person["email"]})
        html = (await self.client.get(self.page)).text if r.status_code in (200, 303) else ""
        self.csrf = html.split('name="csrf-token" content="')[1].split('"')[0]
        for sid, version in ROW_RE.findall(html):
            self.versions[int(sid)] = int(version)

    async def listen(self, stop: asyncio.Event) -> None:
        url = f"/t/MI/live?page=sdc&office={quote(self.office)}"
        async with self.client.stream("GET", url, timeout=None) as r:
            kind = None
            self.ready.set()
            async for line in r.aiter_lines():
                if stop.is_set():
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "change":
                    ev = json.loads(line[6:])
                    now = time.time()
                    key = (ev["id"], ev["v"])
                    sent = self.stats["sent_at"].get(key)
                    if sent is not None and self.stats["editor"].get(key) != self.n:
                        self.stats["live_delays"].append(now - sent[0])
                        self.stats["received"].append((key, now))
                    if ev.get("v") is not None:
                        self.versions[ev["id"]] = max(self.versions.get(ev["id"], 0), ev["v"])
                    if "html" in ev:  # rendered once by the server for every viewer of the page
                        self.stats["pushed_rows"] += 1
                    else:  # the browser would fetch the row itself
                        asyncio.create_task(self.fragment(ev["id"]))

    async def fragment(self, shift_id: int) -> None:
        t0 = time.perf_counter()
        try:
            r = await self.client.get(f"/t/MI/sdc/row/shift/{shift_id}?office={quote(self.office)}")
        except httpx.HTTPError as exc:
            self.stats["errors"].append(f"fragment: {type(exc).__name__}")
            return
        if r.status_code == 200:
            self.stats["fragments"].append(time.perf_counter() - t0)
            m = ROW_RE.search(r.text)
            if m:
                self.versions[int(m.group(1))] = max(self.versions.get(int(m.group(1)), 0), int(m.group(2)))

    async def edit_loop(self, deadline: float, think: float, rng: random.Random) -> None:
        while time.time() < deadline:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            if time.time() >= deadline:
                return
            sid = rng.choice(sorted(self.versions))
            version = self.versions[sid]
            if rng.random() < 0.5:
                field, value = "status", STATUSES[(self.stats["counter"] + sid) % len(STATUSES)]
            else:
                field, value = "call_pass", str(self.stats["counter"] % 90 + 1)
            self.stats["counter"] += 1
            t_sent = time.time()
            key = (sid, version + 1)  # the version an applied edit gets: its live event may arrive before the answer
            self.stats["sent_at"][key] = (t_sent, None)
            self.stats["editor"][key] = self.n
            t0 = time.perf_counter()
            r = await self.client.post(
                f"/t/MI/shift/{sid}?office={quote(self.office)}",
                data={"field": field, "value": value, "version": version, "csrf_token": self.csrf},
                headers={"Accept": "application/json"},
            )
            latency = time.perf_counter() - t0
            self.stats["latencies"].append(latency)
            if r.status_code == 200:
                body = r.json()
                if body["version"] != version:  # the edit changed something (a repeated value is a no-op)
                    self.stats["applied"][sid] = self.stats["applied"].get(sid, 0) + 1
                    self.stats["answered_at"][(sid, body["version"])] = time.time()
                self.versions[sid] = body["version"]
            elif r.status_code == 409:
                self.stats["conflicts"] += 1
                m = ROW_RE.search(r.json()["html"])
                if m:
                    self.versions[sid] = int(m.group(2))
            else:
                self.stats["errors"].append(f"{r.status_code} {r.text[:120]}")

    async def reference_loop(self, deadline: float, think: float, rng: random.Random, out: list) -> None:
        while time.time() < deadline:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
            t0 = time.perf_counter()
            await self.client.get("/healthz")
            out.append(time.perf_counter() - t0)


async def drive(base: str, people: list[dict], seconds: float, think: float, reference_seconds: float) -> dict:
    stats = {
        "latencies": [],
        "live_delays": [],
        "fragments": [],
        "conflicts": 0,
        "pushed_rows": 0,
        "errors": [],
        "applied": {},
        "sent_at": {},
        "answered_at": {},
        "received": [],
        "editor": {},
        "counter": 0,
    }
    orgs = [Organizer(n, p, base, stats) for n, p in enumerate(people)]
    await asyncio.gather(*(o.login() for o in orgs))
    stop = asyncio.Event()
    listeners = [asyncio.create_task(o.listen(stop)) for o in orgs]
    await asyncio.wait_for(asyncio.gather(*(o.ready.wait() for o in orgs)), 30)
    await asyncio.sleep(1)
    reference: list[float] = []
    rng = random.Random(7)
    deadline = time.time() + reference_seconds
    await asyncio.gather(*(o.reference_loop(deadline, think, random.Random(rng.random()), reference) for o in orgs))
    deadline = time.time() + seconds
    await asyncio.gather(*(o.edit_loop(deadline, think, random.Random(rng.random())) for o in orgs))
    await asyncio.sleep(2)  # the last events and fragments arrive
    stop.set()
    for t in listeners:
        t.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.gather(*(o.client.aclose() for o in orgs))
    stats["reference"] = reference
    return stats


def check_lost(engine, applied: dict[int, int]) -> tuple[int, int]:
    """(shifts whose version or audit does not match the acknowledged edits, audit rows)."""
    with engine.connect() as conn:
        versions = dict(conn.execute(sa.select(shifts.c.id, shifts.c.version)).all())
        audit = dict(
            conn.execute(
                sa.select(edits.c.entity_id, sa.func.count(sa.distinct(edits.c.version)))
                .where(edits.c.entity == "shift")
                .group_by(edits.c.entity_id)
            ).all()
        )
    lost = sum(
        1 for sid, v in versions.items() if v - 1 != applied.get(sid, 0) or audit.get(sid, 0) != applied.get(sid, 0)
    )
    return lost, sum(audit.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--organizers", type=int, default=50)
    ap.add_argument("--offices", type=int, default=10)
    ap.add_argument("--shifts-per-office", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--think-ms", type=float, default=1000)
    ap.add_argument("--reference-seconds", type=float, default=10)
    args = ap.parse_args()

    admin, where = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_bench_tracker")
    engine = engine_for(url)
    people = seed(engine, args.offices, args.shifts_per_office, args.organizers)
    env = {**os.environ, "ORGSYNC_PROFILE": "local", "ORGSYNC_WAREHOUSE_URL": url}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "orgsync"), "web", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        base = json.loads(server.stdout.readline())["url"]
        print(
            f"server {base} (own process, pid {server.pid}); {args.organizers} organizers over {args.offices} "
            f"offices, {args.shifts_per_office} shifts each, {args.seconds:g} s, think time {args.think_ms:g} ms",
            flush=True,
        )
        stats = asyncio.run(drive(base, people, args.seconds, args.think_ms / 1000, args.reference_seconds))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lost, audit_rows = check_lost(engine, stats["applied"])
    # delay after the editor had its answer (negative: the other organizer saw it first), only for applied edits
    after_answer = [now - stats["answered_at"][key] for key, now in stats["received"] if key in stats["answered_at"]]
    expected_events = sum(
        1 for key in stats["answered_at"] for o in people if o["offices"] == people[stats["editor"][key]]["offices"]
    ) - len(stats["answered_at"])
    edits_total = len(stats["latencies"])
    applied = sum(stats["applied"].values())
    result = {
        "edits sent": edits_total,
        "edits per second": round(edits_total / args.seconds, 1),
        "applied (200)": applied,
        "refused as conflicts (409)": stats["conflicts"],
        "other answers (errors)": len(stats["errors"]),
        "lost updates": lost + len(stats["errors"]),
        "audit rows": audit_rows,
        "p50 edit latency ms": round(1000 * statistics.median(stats["latencies"]), 1),
        "p95 edit latency ms": round(1000 * p95(stats["latencies"]), 1),
        "reference p95 GET /healthz ms": round(1000 * p95(stats["reference"]), 1),
        "p95 edit latency / reference": round(p95(stats["latencies"]) / p95(stats["reference"]), 2),
        "live events received / expected (other organizers of the office x applied edits)": (
            f"{len(stats['live_delays'])} / {expected_events}"
        ),
        "p50 live-update delay ms (from edit sent)": round(1000 * statistics.median(stats["live_delays"]), 1),
        "p95 live-update delay ms (from edit sent)": round(1000 * p95(stats["live_delays"]), 1),
        "p95 live-update delay ms (from the editor's answer)": round(1000 * p95(after_answer), 1),
        "max live-update delay ms": round(1000 * max(stats["live_delays"]), 1),
        "rows pushed rendered in the live stream": stats["pushed_rows"],
        "row fragments fetched": len(stats["fragments"]),
    }
    for k, v in result.items():
        print(f"  {k}: {v}")
    for e in stats["errors"][:5]:
        print(f"  error: {e}")
    pg_test_server.drop_database(admin, url)
    ok = (
        result["lost updates"] == 0
        and p95(stats["live_delays"]) < 1.0
        and applied == audit_rows
        and len(stats["live_delays"]) >= expected_events
    )
    print("goals (p95 live-update delay < 1 s, 0 lost updates):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
