"""Review -> VAN request figures: what `van/shift_status_sync` spends for a reviewed day.

    .venv/bin/python benchmarks/tracker_review_van.py [--shifts-changed 12 --approved 8]

The sandbox VAN over HTTP (in this process) and a fresh PostgreSQL database. A day is seeded in VAN and exported
(which caches VAN's reference data); organizers change final statuses in the tracker store, approve some of them
in the review; then the sync runs three times. The reference is the plan itself: requests must equal the approved
signups VAN does not show yet (+ the reference data only when its cache is stale), and 0 for everything else.
Exit 1 when a figure is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from orgsync_dagster.lib import config as cfg  # noqa: E402
from orgsync_dagster.lib import pg_test_server  # noqa: E402
from orgsync_dagster.resources.van import VanResource  # noqa: E402
from orgsync_dagster.resources.warehouse import engine_for  # noqa: E402
from orgsync_dagster.sandbox.server import SandboxServer  # noqa: E402
from orgsync_dagster.shifts import tracker_store  # noqa: E402
from orgsync_dagster.shifts.export import export_participants  # noqa: E402
from orgsync_dagster.shifts.seed import seed_van  # noqa: E402
from orgsync_dagster.shifts.settings import ShiftsSettings  # noqa: E402
from orgsync_dagster.shifts.statusync import sync_day  # noqa: E402
from orgsync_dagster.shifts.store import import_day_tx  # noqa: E402
from orgsync_dagster.shifts.tables import signup_statuses  # noqa: E402
from orgsync_dagster.shifts.tracker import Scope  # noqa: E402

ACTOR = tracker_store.Actor(email="fo@example.org", name="Field Organizer", initials="FO")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offices", type=int, default=3)
    ap.add_argument("--shifts-changed", type=int, default=12)
    ap.add_argument("--approved", type=int, default=8)
    args = ap.parse_args()
    settings = ShiftsSettings.from_config(cfg.section("shifts"))
    day = settings.today()
    admin, _where = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_bench_review")
    engine = engine_for(url)
    rows_out, ok = [], True
    with SandboxServer() as sandbox:
        van = VanResource(api_keys=json.dumps({"MI": "bench-review"}), base_url=sandbox.urls.van_url)
        seed_van(van.client("MI"), day, settings, offices=args.offices, per_shift=6)
        export_participants(engine, van.client("MI"), "MI", settings, day=day)  # caches the reference data
        import_day_tx(engine, settings, day, ["MI"])
        with engine.connect() as conn:
            shifts = [r for r in tracker_store.day_shifts(conn, day, Scope("MI")) if r["event_signup_id"]]
        total = len(shifts)
        changed = shifts[: args.shifts_changed]
        for n, r in enumerate(changed):
            status = ("Completed", "No Show", "Declined")[n % 3]  # statuses every seeded event type has
            tracker_store.edit_shift(engine, settings, ACTOR, r["id"], r["version"], "status", status, lambda *_: True)
        with engine.connect() as conn:
            review = {r["id"]: r for r in tracker_store.review_rows(conn, day, Scope("MI"), settings)}
        to_approve = [(r["id"], review[r["id"]]["version"]) for r in changed[: args.approved] if r["id"] in review]
        tracker_store.set_approval(engine, settings, ACTOR, to_approve, lambda *_: True)

        def run(label: str, expected: int) -> None:
            nonlocal ok
            client = van.client("MI")
            result = sync_day(engine, client, settings, day, run_id=label)
            good = client.requests_sent == expected
            ok &= good
            rows_out.append(
                {
                    "run": label,
                    "shifts": total,
                    "approved to send": result.changed,
                    "changed, not approved": result.awaiting_approval,
                    "unchanged": result.unchanged,
                    "quarantined": len(result.quarantined),
                    "requests": client.requests_sent,
                    "expected": expected,
                    "ok": "yes" if good else "NO",
                }
            )

        run("1st sync (reference cached)", len(to_approve))
        run("re-run", 0)
        more = [r for r in changed[args.approved :]][:3]
        with engine.connect() as conn:
            review = {r["id"]: r for r in tracker_store.review_rows(conn, day, Scope("MI"), settings)}
        tracker_store.set_approval(
            engine, settings, ACTOR, [(r["id"], review[r["id"]]["version"]) for r in more], lambda *_: True
        )
        with engine.begin() as conn:  # the cached statuses are older than shifts.reference_max_age_hours
            conn.execute(signup_statuses.update().values(fetched_at=sa.func.now() - dt.timedelta(days=2)))
        types = len(settings.event_types)
        run(f"3 more approved, stale cache (+1 types +{types} statuses)", len(more) + 1 + types)
    pg_test_server.drop_database(admin, url)
    cols = list(rows_out[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows_out:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print("figures:", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
