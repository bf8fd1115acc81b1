"""``orgsync demo --serve``: the tracker web app left open on the demo's data (its embedded warehouse, today's
shifts imported by the demo's nightly run), with demo users on the allow-list and the local dev login."""

from __future__ import annotations

import os
import secrets
import signal
import threading

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib.profile import PROFILE_ENV, is_local
from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.settings import ShiftsSettings

COLORS = ["#3b6ea5", "#b5446e", "#2f7d32", "#a15c00", "#6a4c93", "#00838f", "#c62828", "#5d4037"]


def demo_users(engine, settings: ShiftsSettings) -> list[dict]:
    """A DATA admin, an HQ field director, a field director per region and an organizer per office."""
    import orgsync_dagster.web.tables  # noqa: F401
    from orgsync_dagster.lib.tables import ensure_schema
    from orgsync_dagster.web.tables import users

    ensure_schema(engine)
    with engine.connect() as conn:
        offices = tracker_store.offices(conn)
    rows = [
        {"email": "data@example.org", "full_name": "Dana Data", "rank": "DATA", "color": COLORS[0]},
        {"email": "hq@example.org", "full_name": "Harper Quinn", "rank": "FD", "region": "HQ", "color": COLORS[1]},
    ]
    regions = sorted({(o["instance"], o["region"]) for o in offices if o["region"]})
    for n, (state, region) in enumerate(regions):
        rows.append(
            {
                "email": f"fd-{state}-{region}@example.org".lower(),
                "full_name": f"Field Director {state} {region}",
                "rank": "FD",
                "state": state,
                "region": region,
                "color": COLORS[(n + 2) % len(COLORS)],
            }
        )
    for n, o in enumerate(x for x in offices if x["region"]):
        rows.append(
            {
                "email": f"fo{n + 1}@example.org",
                "full_name": f"Organizer {o['office'].split(' - ')[-1]} {o['instance']}",
                "rank": "FO",
                "state": o["instance"],
                "region": o["region"],
                "offices": [o["office"]],
                "color": COLORS[(n + 4) % len(COLORS)],
            }
        )
    with engine.begin() as conn:
        for row in rows:
            conn.execute(pg_insert(users).values(**row).on_conflict_do_nothing(index_elements=["email"]))
        count = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    return rows[:count]


def serve_demo(ctx, host: str = "127.0.0.1", port: int = 0) -> None:
    """Run the web app on the demo's warehouse until Ctrl-C (called by ``run_demo(serve=...)``)."""
    from orgsync_dagster.web.app import create_app
    from orgsync_dagster.web.auth import WebConfig
    from orgsync_dagster.web.server import WebServer

    if not is_local():  # the demo is the local setting: embedded servers and the sandbox only
        os.environ[PROFILE_ENV] = "local"
    settings = ShiftsSettings.from_config(cfg.section("shifts"))
    people = demo_users(ctx.engine, settings)
    config = WebConfig(secret_key=secrets.token_urlsafe(32), local=True)
    app = create_app(ctx.engine, settings, config, sorted(ctx.van_keys), bound_host=host)
    server = WebServer(app, host, port)
    url = server.start()
    ctx.say("\n== tracker ==")
    ctx.say(f"the organizers' tracker is open at {url}/login on the demo's data (today's shifts).")
    ctx.say(
        "log in with the local dev login as any of: " + "; ".join(f"{p['full_name']} ({p['rank']})" for p in people)
    )
    ctx.say("press Ctrl-C to stop the tracker and end the demo.")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
