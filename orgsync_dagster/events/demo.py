"""The events part of `orgsync demo`: ActionKit events into each state's VAN, then a re-run that spends nothing."""

from __future__ import annotations

from orgsync_dagster.events.seed import sample_events, seed_actionkit_events


def _materialization_metadata(result, key: list[str]) -> dict:
    node = "__".join(key)
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def run(ctx) -> dict:
    n = seed_actionkit_events(ctx.engine, sample_events(40))
    ctx.say(f"seeded {n} ActionKit events into actionkit.events_event")
    summary = {"actionkit_events": n}
    for attempt in ("first run", "re-run"):
        created = updated = spent = 0
        for instance in sorted(ctx.van_keys):
            result = ctx.run_job("events_sync", partition_key=instance)
            meta = _materialization_metadata(result, ["van", "event_sync"])
            mirror = _materialization_metadata(result, ["van", "events"])
            created += meta.get("created", 0)
            updated += meta.get("updated", 0)
            spent += meta.get("requests_spent", 0) + mirror.get("requests_spent", 0)
            ctx.say(
                f"  {attempt} {instance}: {'ok' if result.success else 'FAILED'}; created {meta.get('created', 0)}, "
                f"updated {meta.get('updated', 0)}, unchanged {meta.get('unchanged', 0)}, "
                f"requests {meta.get('requests_spent', 0) + mirror.get('requests_spent', 0)}"
            )
        summary[f"{attempt}: VAN events created"] = created
        summary[f"{attempt}: VAN events updated"] = updated
        summary[f"{attempt}: VAN requests"] = spent
    in_van = {i: len(ctx.sandbox.van.dump(k)["events"]) for i, k in ctx.van_keys.items()}
    summary["events now in sandbox VAN"] = in_van
    return summary
