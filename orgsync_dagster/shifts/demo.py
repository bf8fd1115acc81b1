"""The shifts part of `orgsync demo`: a whole organizer day in each state's sandbox VAN.

Yesterday's (and today's) events with shifts and signups are created in VAN through the API; the hourly job exports
the participants and imports yesterday's shifts; organizers' status flips, canvass groups and notes are simulated;
the nightly job backs the day up, resets it, imports today and syncs the changed statuses back to VAN; a re-run of
the nightly job shows it spends nothing and duplicates nothing."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.shifts.assets import SETTINGS
from orgsync_dagster.shifts.seed import seed_van, simulate_day
from orgsync_dagster.shifts.tables import backup_shifts


def _meta(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def run(ctx) -> dict:
    s = SETTINGS
    day = s.today() - dt.timedelta(days=1)
    van = VanResource(api_keys=json.dumps(ctx.van_keys), base_url=ctx.sandbox.urls.van_url, requests_per_second=50)
    seeded = {
        i: seed_van(van.client(i), day, s, offices=2, first_person=20 * n) for n, i in enumerate(sorted(ctx.van_keys))
    }
    ctx.say(f"created in sandbox VAN (per instance): {seeded[sorted(seeded)[0]]} for {day} and {day + dt.timedelta(1)}")
    summary: dict = {"day": day.isoformat()}
    export_requests = participants = imported = 0
    for instance in sorted(ctx.van_keys):
        config = {
            "ops": {
                "van__event_participants": {"config": {"lookback_days": 1}},
                "shifts__day_shifts": {"config": {"day": day.isoformat()}},
            }
        }
        result = ctx.run_job("shifts_participants_refresh", partition_key=instance, run_config=config)
        export, days = _meta(result, ["van", "event_participants"]), _meta(result, ["shifts", "day_shifts"])
        export_requests += export.get("requests_spent", 0)
        participants += export.get("participants", 0)
        imported += days.get("created", 0)
        ctx.say(
            f"  participants {instance}: {'ok' if result.success else 'FAILED'}; {export.get('events', 0)} events, "
            f"{export.get('participants', 0)} participants, {export.get('requests_spent', 0)} requests "
            f"(1 events page + 1 signups list per event + reference data); "
            f"{days.get('created', 0)} shifts of {day}"
        )
    summary.update(
        {"participants exported": participants, "export requests": export_requests, "shifts imported": imported}
    )
    changes = simulate_day(ctx.engine, day, s)["status_changes"]
    ctx.say(f"  the day: organizers changed {changes} statuses, sent canvass groups out, wrote notes, added a walk-in")

    for attempt in ("nightly", "nightly re-run"):
        result = ctx.run_job("shifts_nightly", partition_key=day.isoformat())
        backup, sync = _meta(result, ["shifts", "nightly_backup"]), _meta(result, ["van", "shift_status_sync"])
        ctx.say(
            f"  {attempt}: {'ok' if result.success else 'FAILED'}; steps {backup.get('steps_done')}; backed up "
            f"{backup.get('backed_up_shifts')} shifts, {backup.get('backed_up_canvass_groups')} canvass groups, "
            f"{backup.get('backed_up_notes')} notes; next day imported {backup.get('next_day_shifts_imported')}; "
            f"statuses synced {sync.get('synced')} of {sync.get('changed')} changed with "
            f"{sync.get('requests_spent')} requests"
        )
        summary[f"{attempt}: backed up (shifts/groups/notes)"] = "/".join(
            str(backup.get(f"backed_up_{t}")) for t in ("shifts", "canvass_groups", "notes")
        )
        summary[f"{attempt}: statuses synced to VAN / requests"] = (
            f"{sync.get('synced')} / {sync.get('requests_spent')}"
        )
        if attempt == "nightly":
            ctx.say("\n" + "\n".join("    " + line for line in str(backup.get("day_metrics", "")).splitlines()))
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(backup_shifts.c.id))).where(backup_shifts.c.day == day)
        ).one()
    summary["backup rows / distinct (no duplicates)"] = f"{rows[0]} / {rows[1]}"
    final = {}
    for key in ctx.van_keys.values():
        for signup in ctx.sandbox.van.dump(key)["signups"]:
            final[signup["status"]["name"]] = final.get(signup["status"]["name"], 0) + 1
    summary["VAN signup statuses now"] = dict(sorted(final.items()))
    return summary
