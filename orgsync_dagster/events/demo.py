"""The events part of `orgsync demo`: ActionKit events read once, synced into each state's VAN, then a re-run
that reads only what changed and spends nothing on VAN writes. The summary reads as prose for a data team."""

from __future__ import annotations

import os
from contextlib import contextmanager

import sqlalchemy as sa

from orgsync_dagster.events.report import validated_summary
from orgsync_dagster.events.seed import sample_events, seed_actionkit_events
from orgsync_dagster.events.tables import van_events
from orgsync_dagster.lib.profile import LOCAL, PROFILE_ENV


@contextmanager
def _local_profile():
    """The demo reads ActionKit from the warehouse's `actionkit` schema: that fallback is the local profile's."""
    saved = os.environ.get(PROFILE_ENV)
    os.environ[PROFILE_ENV] = LOCAL
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = saved


def _metadata(result, key: list[str]) -> dict:
    mats = result.asset_materializations_for_node("__".join(key))
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _examples(engine, instance: str, limit: int = 2) -> str:
    """A few events created in VAN, by name beside their ids."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(van_events.c.title, van_events.c.van_event_id, van_events.c.ak_event_id)
            .where(van_events.c.instance == instance, van_events.c.ak_event_id.is_not(None))
            .order_by(van_events.c.van_event_id)
            .limit(limit)
        ).all()
    return ", ".join(f'"{r.title}" (VAN event {r.van_event_id}, ActionKit event {r.ak_event_id})' for r in rows)


def run(ctx) -> dict:
    n = seed_actionkit_events(ctx.engine, sample_events(40))
    ctx.say(f"seeded {n} sample ActionKit events into the warehouse's actionkit schema (ActionKit's stand-in)")
    summary: dict = {}
    with _local_profile():
        for attempt in ("first run", "re-run"):
            ak = ctx.run_job("actionkit_events")
            read = _metadata(ak, ["actionkit", "events"])
            ctx.say(f"  {attempt}: ActionKit read {'ok' if ak.success else 'FAILED'}")
            if attempt == "first run":
                s = validated_summary(ctx.engine)
                summary["ActionKit events"] = (
                    f"{read.get('rows_read_from_actionkit', 0)} read ({read.get('read_mode', '?')}): "
                    f"{s.eligible} eligible for VAN, {s.not_eligible} not eligible, {s.quarantined} quarantined"
                )
                summary["Why events were not sent to VAN"] = (
                    "; ".join(f"{reason} ({_plural(k, 'event')})" for reason, k in s.reasons.most_common())
                    or "every event was eligible"
                )
                if s.quarantine:
                    summary["Quarantined (unusable, never sent)"] = "; ".join(
                        f"ActionKit event {q['ak_event_id']}: {q['reason']}" for q in s.quarantine
                    )
            else:
                summary["re-run: ActionKit rows read"] = read.get("rows_read_from_actionkit", 0)
                summary["re-run: how ActionKit was read"] = (
                    f"{read.get('read_mode', '?')}: only events whose updated_at is at or after the last read's "
                    f"newest one (minus a short overlap); {read.get('changed_events', 0)} of them had changed"
                )
            created = updated = spent = 0
            for instance in sorted(ctx.van_keys):
                result = ctx.run_job("events_sync", partition_key=instance)
                m = _metadata(result, ["van", "event_sync"])
                requests = m.get("requests_spent", 0) + _metadata(result, ["van", "events"]).get("requests_spent", 0)
                created += m.get("creates_done", 0)
                updated += m.get("updates_done", 0)
                spent += requests
                ctx.say(f"  {attempt} {instance}: {'ok' if result.success else 'FAILED'}")
                what = (
                    f"created {_plural(m.get('creates_done', 0), 'event')}, updated {m.get('updates_done', 0)}, "
                    f"{m.get('unchanged', 0)} already up to date in VAN; {_plural(requests, 'VAN request')}"
                )
                if attempt == "first run" and m.get("creates_done"):
                    what += f"; for example {_examples(ctx.engine, instance)}"
                summary[f"{attempt}, VAN instance {instance}"] = what if result.success else f"FAILED ({what})"
            summary[f"{attempt}: VAN events created"] = created
            summary[f"{attempt}: VAN events updated"] = updated
            summary[f"{attempt}: VAN requests"] = spent
    in_van = {i: len(ctx.sandbox.van.dump(k)["events"]) for i, k in ctx.van_keys.items()}
    summary["Events now in the sandbox VAN"] = ", ".join(f"{i}: {k}" for i, k in sorted(in_van.items()))
    summary["What a re-run costs"] = (
        "only the VAN exports (event types and one list request per 50 events); ActionKit is read incrementally "
        "(rows changed since the last read) and nothing unchanged is sent"
    )
    return summary
