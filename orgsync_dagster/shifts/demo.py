"""The shifts part of `orgsync demo`: a whole organizer day in each state's sandbox VAN.

Yesterday's (and today's) events with shifts and signups are created in VAN through the API; the hourly job exports
the participants (with their phone and e-mail, from the signups) and imports yesterday's shifts; organizers' status
flips, canvass groups and notes are simulated, then the end-of-day review approves the final statuses; the nightly
job backs the day up, resets it, imports today and sends the approved statuses to VAN; a re-run of the nightly job
shows it spends nothing and duplicates nothing. The summary is written for a data team: sentences, names beside ids.
"""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.shifts.partitions import partition_key
from orgsync_dagster.shifts.seed import review_day, seed_van, simulate_day
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tables import backup_shifts, event_participants


def _meta(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def _counts_in_words(counts: dict[str, int]) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{n} {name}" for name, n in items) or "none"


def run(ctx) -> dict:
    s = ShiftsSettings.from_config(cfg.section("shifts"))
    day = s.today() - dt.timedelta(days=1)
    instances = sorted(ctx.van_keys)
    van = VanResource(api_keys=json.dumps(ctx.van_keys), base_url=ctx.sandbox.urls.van_url, requests_per_second=50)
    seeded = {i: seed_van(van.client(i), day, s, offices=2, first_person=20 * n) for n, i in enumerate(instances)}
    first = seeded[instances[0]]
    ctx.say(
        f"created in each state's sandbox VAN: {first['events']} events with {first['signups']} signups "
        f"for {day} and {day + dt.timedelta(days=1)}"
    )
    summary: dict = {"day": f"{day:%A %d %B %Y} (yesterday in {s.timezone})"}
    export_requests = participants = imported = with_contact = 0
    for instance in instances:
        result = ctx.run_job("shifts_participants_refresh", partition_key=partition_key(day, instance))
        export, days = _meta(result, ["van", "event_participants"]), _meta(result, ["shifts", "day_shifts"])
        export_requests += export.get("requests_spent", 0)
        participants += export.get("participants_exported", 0)
        with_contact += min(export.get("participants_with_phone", 0), export.get("participants_with_email", 0))
        imported += days.get("shifts_created", 0)
        ctx.say(
            f"  participants {instance}: {'ok' if result.success else 'FAILED'}; {export.get('events_listed', 0)} "
            f"events, {export.get('participants_exported', 0)} participants "
            f"({export.get('participants_with_phone', 0)} with a phone, {export.get('participants_with_email', 0)} "
            f"with an e-mail, read from the signups), {export.get('requests_spent', 0)} requests; "
            f"{days.get('shifts_created', 0)} shifts of {day} in the tracker"
        )
    summary["VAN participant export"] = (
        f"{participants} participants of {len(instances)} states exported with {export_requests} requests "
        f"(one events page and one signups list per event, plus the cached reference data); {with_contact} carry "
        "both a phone and an e-mail, at no extra request"
    )
    summary["shifts imported into the tracker"] = f"{imported} shifts of {day}"
    changes = simulate_day(ctx.engine, day, s)["status_changes"]
    approved = review_day(ctx.engine, day, s)["approved"]
    ctx.say(
        f"  the day: organizers changed {changes} statuses, sent canvass groups out, wrote notes, added a walk-in; "
        f"the end-of-day review approved {approved} final statuses for VAN"
    )
    summary["the organizers' day"] = (
        f"{changes} statuses changed during the day; {approved} final statuses approved in the review"
    )

    for attempt in ("nightly", "nightly re-run"):
        backed = {"shifts": 0, "canvass_groups": 0, "notes": 0, "edits": 0}
        sent = requests = to_send = 0
        for instance in instances:
            result = ctx.run_job("shifts_nightly", partition_key=partition_key(day, instance))
            backup, sync = _meta(result, ["shifts", "nightly_backup"]), _meta(result, ["van", "shift_status_sync"])
            for k in backed:
                backed[k] += backup.get(f"backed_up_{k}", 0) or 0
            sent += sync.get("statuses_sent", 0)
            to_send += sync.get("approved_to_send", 0)
            requests += sync.get("requests_spent", 0)
            ctx.say(
                f"  {attempt} {instance}: {'ok' if result.success else 'FAILED'}; steps "
                f"{', '.join(backup.get('steps_done') or []) or 'none left to do'}; approved statuses sent to VAN "
                f"{sync.get('statuses_sent', 0)} of {sync.get('approved_to_send', 0)} with "
                f"{sync.get('requests_spent', 0)} requests"
            )
            if attempt == "nightly" and instance == instances[0]:
                ctx.say("\n" + "\n".join("    " + line for line in str(backup.get("day_metrics", "")).splitlines()))
        summary[f"{attempt}: backed up"] = (
            f"{backed['shifts']} shifts, {backed['canvass_groups']} canvass groups, {backed['notes']} notes and "
            f"{backed['edits']} audited edits"
        )
        summary[f"{attempt}: statuses synced to VAN / requests"] = f"{sent} / {requests}"
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(backup_shifts.c.id))).where(backup_shifts.c.day == day)
        ).one()
        p = event_participants.c
        events = {
            (r.instance, r.event_id): r.event_name
            for r in conn.execute(sa.select(p.instance, p.event_id, p.event_name).distinct())
        }
    summary["backup rows / distinct (no duplicates)"] = f"{rows[0]} / {rows[1]}"
    statuses: dict[str, int] = {}
    sent_events: dict[str, int] = {}
    for instance, key in sorted(ctx.van_keys.items()):
        for signup in ctx.sandbox.van.dump(key)["signups"]:
            statuses[signup["status"]["name"]] = statuses.get(signup["status"]["name"], 0) + 1
            if signup["status"]["name"] in s.final_statuses:
                eid = signup["event"]["eventId"]
                name = events.get((instance, eid)) or signup["event"].get("name")
                label = f"{instance} {name} (VAN event {eid})"
                sent_events[label] = sent_events.get(label, 0) + 1
    summary["VAN signup statuses now"] = _counts_in_words(statuses)
    summary["signups with a final status in VAN, by event"] = "; ".join(
        f"{label}: {n}" for label, n in sorted(sent_events.items())
    )
    return summary
