"""Where the events plan meets VAN: sending one op, and looking up ops whose outcome was lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from orgsync_dagster.events.logic import create_payload, mirror_row, update_payload
from orgsync_dagster.events.tables import van_events
from orgsync_dagster.lib.ledger import SUCCEEDED, Ledger
from orgsync_dagster.lib.sync import Op
from orgsync_dagster.resources.van import VanClient

LOCATIONS_SYNC = "van.locations"


def upsert_mirror(engine: Engine, rows: list[dict]) -> None:
    if not rows:
        return
    with engine.begin() as conn:
        for i in range(0, len(rows), 500):
            stmt = pg_insert(van_events).values(rows[i : i + 500])
            cols = {
                c.name: stmt.excluded[c.name] for c in van_events.columns if c.name not in ("instance", "van_event_id")
            }
            cols["last_seen_at"] = dt.datetime.now(dt.UTC)
            conn.execute(stmt.on_conflict_do_update(index_elements=["instance", "van_event_id"], set_=cols))


class VanEventsTarget:
    sync = "van.events"

    def __init__(self, client: VanClient, engine: Engine, location_ledger: Ledger, shift_name: str):
        self.client, self.engine, self.scope = client, engine, client.instance
        self.location_ledger, self.shift_name = location_ledger, shift_name
        self.location_ids = {
            k: int(e.receipt) for k, e in location_ledger.load().items() if e.status == SUCCEEDED and e.receipt
        }
        self.locations_created = 0

    def _location_id(self, op: Op) -> int | None:
        key = op.context.get("location_key")
        if key is None:
            return None
        if key not in self.location_ids:
            loc_id = self.client.find_or_create_location(op.payload["location"])
            self.location_ledger.record(key, "find_or_create", key, SUCCEEDED, receipt=str(loc_id))
            self.location_ids[key] = loc_id
            self.locations_created += 1
        return self.location_ids[key]

    def apply(self, op: Op) -> str:
        location_id = self._location_id(op)
        # the mirror row as VAN now holds it (with the location's name and address, as the export lists it)
        locations = (
            [
                {
                    "locationId": location_id,
                    "name": op.payload["location"]["name"],
                    "address": op.payload["location"].get("address"),
                }
            ]
            if location_id
            else None
        )
        if op.action == "create":
            body = create_payload(op.key, op.payload, op.context, location_id, self.shift_name)
            event_id = self.client.create_event(body)
            # the mapping is written at once, so a re-run before the next export cannot create it again
            item = {**body, "eventId": event_id, "eventType": {**op.context["event_type"]}, "locations": locations}
            upsert_mirror(self.engine, [mirror_row(self.scope, item, source="created")])
            return str(event_id)
        if op.action == "update":
            event_id = op.context["van_event_id"]
            body = update_payload(op.context.get("raw") or {}, op.payload, location_id)
            self.client.update_event(event_id, body)
            item = {**body, "eventId": event_id}
            if locations:
                item["locations"] = locations
            upsert_mirror(self.engine, [mirror_row(self.scope, item, source="updated")])
            return str(event_id)
        if op.action == "cancel":
            event_id = op.context["van_event_id"]
            self.client.set_event_active(event_id, False)
            with self.engine.begin() as conn:
                conn.execute(
                    van_events.update()
                    .where(van_events.c.instance == self.scope, van_events.c.van_event_id == int(event_id))
                    .values(is_active=False)
                )
            return str(event_id)
        raise ValueError(f"unknown action {op.action}")

    def reconcile(self, ops: Sequence[Op]) -> dict[str, str | None]:
        """Did a create whose answer was lost reach VAN? List the events of those types (shortName = AK id)."""
        creates = [op for op in ops if op.action == "create"]
        # PUT and PATCH are idempotent: an update or cancel whose answer was lost is simply sent again
        found: dict[str, str | None] = {op.key: None for op in ops if op.action != "create"}
        if not creates:
            return found
        type_ids = sorted({op.context["event_type"]["eventTypeId"] for op in creates})
        earliest = min(dt.datetime.fromisoformat(op.payload["start"]) for op in creates).date() - dt.timedelta(days=1)
        by_short: dict[str, dict] = {}
        for item in self.client.list_events(event_type_ids=type_ids, starting_after=earliest.isoformat()):
            if item.get("shortName"):
                by_short.setdefault(str(item["shortName"]), item)
        rows = []
        for op in creates:
            item = by_short.get(op.key)
            found[op.key] = None if item is None else str(item["eventId"])
            if item is not None:
                rows.append(mirror_row(self.scope, item))
        upsert_mirror(self.engine, rows)
        return found
