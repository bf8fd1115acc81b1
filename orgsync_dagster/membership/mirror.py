"""The warehouse mirror of one Action Network group's people (no Dagster import).

Refreshed by paging ``GET /people`` 25 per request (ActionNetworkClient.list_people), never one GET per person:

* full: every person; people no longer listed are dropped from the mirror (deleted or merged in Action Network).
  Used by drift repair and the first time a group is mirrored.
* incremental: ``filter=modified_date gt '<watermark - 2 min>'`` (Action Network's OData filter; the overlap
  covers people modified in the same second as the watermark) - usually one request. Used before each push,
  and skipped when the last refresh is younger than ``membership.mirror.max_age_minutes``.

A group is identified by its API URL and a fingerprint (sha256 prefix) of its key, never the key itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Engine

from orgsync_dagster.membership.mirror_tables import an_mirror_state, an_people
from orgsync_dagster.resources.action_network import ActionNetworkClient

OVERLAP = dt.timedelta(minutes=2)
_BATCH = 500


def group_id(base_url: str, api_key: str) -> str:
    url = base_url if base_url.endswith("/") else base_url + "/"
    return f"{url}#{hashlib.sha256(api_key.encode()).hexdigest()[:16]}"


def group_of(client: ActionNetworkClient) -> str:
    http = client.http
    return group_id(http.base_url, http._headers.get("OSDI-API-Token", ""))


@dataclass
class RefreshResult:
    mode: str  # full | incremental | skipped
    requests: int = 0
    people_seen: int = 0
    people_dropped: int = 0
    people_in_mirror: int = 0

    def describe(self) -> str:
        if self.mode == "skipped":
            return f"mirror fresh ({self.people_in_mirror} people), not refreshed"
        return (
            f"mirror {self.mode} refresh: {self.people_seen} people read in {self.requests} requests"
            + (f", {self.people_dropped} no longer in Action Network" if self.people_dropped else "")
            + f"; {self.people_in_mirror} people mirrored"
        )


def _parse_date(text) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def person_id_of(resource: dict) -> str | None:
    for ident in resource.get("identifiers") or []:
        if isinstance(ident, str) and ident.startswith("action_network:"):
            return ident.split(":", 1)[1]
    href = ((resource.get("_links") or {}).get("self") or {}).get("href") or ""
    return href.rstrip("/").rsplit("/", 1)[-1] or None


def _email_of(resource: dict) -> str | None:
    emails = resource.get("email_addresses") or []
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
    address = (primary or {}).get("address")
    return address.strip().lower() if address else None


def mirror_row(group: str, resource: dict, refresh_id: str) -> dict | None:
    pid = person_id_of(resource)
    if not pid:
        return None
    addresses = resource.get("postal_addresses") or []
    custom = resource.get("custom_fields") or {}
    return {
        "group_id": group,
        "person_id": pid,
        "email": _email_of(resource),
        "given_name": resource.get("given_name"),
        "family_name": resource.get("family_name"),
        "postal_address": addresses[0] if addresses else None,
        "custom_fields": {str(k): v for k, v in custom.items()},
        "modified_date": _parse_date(resource.get("modified_date")),
        "refresh_id": refresh_id,
    }


def _upsert(engine: Engine, rows: list[dict]) -> None:
    if not rows:
        return
    stmt = insert(an_people)
    cols = ("email", "given_name", "family_name", "postal_address", "custom_fields", "modified_date", "refresh_id")
    stmt = stmt.on_conflict_do_update(
        index_elements=[an_people.c.group_id, an_people.c.person_id], set_={c: stmt.excluded[c] for c in cols}
    )
    with engine.begin() as conn:
        conn.execute(stmt, rows)


def mirror_state(engine: Engine, group: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(an_mirror_state).where(an_mirror_state.c.group_id == group)).first()
    return dict(row._mapping) if row else None


def refresh_mirror(
    engine: Engine,
    client: ActionNetworkClient,
    *,
    full: bool = False,
    max_age_minutes: int | None = None,
    now: dt.datetime | None = None,
) -> RefreshResult:
    """Bring the mirror of the client's group up to date (see the module docstring). ``max_age_minutes``: skip
    when the last refresh is younger (0 or None: always refresh)."""
    group = group_of(client)
    now = now or dt.datetime.now(dt.UTC)
    state = mirror_state(engine, group)
    if state is None or state["watermark"] is None and state["full_refreshed_at"] is None:
        full = True
    if not full and max_age_minutes and state and state["refreshed_at"]:
        if now - state["refreshed_at"] < dt.timedelta(minutes=max_age_minutes):
            return RefreshResult("skipped", people_in_mirror=int(state["people"] or 0))
    since = None
    if not full and state and state["watermark"]:
        since = (state["watermark"] - OVERLAP).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    refresh_id = uuid.uuid4().hex
    before = client.requests_sent
    watermark = state["watermark"] if state else None
    seen = 0
    batch: list[dict] = []
    for resource in client.list_people(modified_after=since):
        row = mirror_row(group, resource, refresh_id)
        if row is None:
            continue
        seen += 1
        if row["modified_date"] and (watermark is None or row["modified_date"] > watermark):
            watermark = row["modified_date"]
        batch.append(row)
        if len(batch) >= _BATCH:
            _upsert(engine, batch)
            batch = []
    _upsert(engine, batch)
    dropped = 0
    with engine.begin() as conn:
        if full:  # people no longer listed were deleted or merged in Action Network
            dropped = conn.execute(
                sa.delete(an_people).where(an_people.c.group_id == group, an_people.c.refresh_id != refresh_id)
            ).rowcount
        count = conn.execute(
            sa.select(sa.func.count()).select_from(an_people).where(an_people.c.group_id == group)
        ).scalar_one()
        values = {
            "base_url": client.http.base_url,
            "watermark": watermark,
            "refreshed_at": now,
            "people": count,
        }
        if full:
            values["full_refreshed_at"] = now
        stmt = insert(an_mirror_state).values(group_id=group, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=[an_mirror_state.c.group_id], set_=values))
    return RefreshResult(
        "full" if full else "incremental",
        requests=client.requests_sent - before,
        people_seen=seen,
        people_dropped=dropped,
        people_in_mirror=int(count),
    )


def people_by_email(engine: Engine, group: str, emails: Iterable[str] | None = None) -> dict[str, dict]:
    """Mirrored people of a group by lower-cased e-mail (all of them when ``emails`` is None). With duplicates
    (two Action Network people, one address) the most recently modified wins."""
    out: dict[str, dict] = {}
    cols = [an_people.c[c] for c in ("person_id", "email", "given_name", "family_name", "postal_address")]
    base = sa.select(*cols, an_people.c.custom_fields, an_people.c.modified_date).where(an_people.c.group_id == group)
    base = base.order_by(an_people.c.modified_date.asc().nulls_first())
    with engine.connect() as conn:
        if emails is None:
            for row in conn.execute(base.where(an_people.c.email.is_not(None))):
                out[row.email] = dict(row._mapping)
            return out
        wanted = sorted({e.strip().lower() for e in emails if e})
        for i in range(0, len(wanted), 5000):
            for row in conn.execute(base.where(an_people.c.email.in_(wanted[i : i + 5000]))):
                out[row.email] = dict(row._mapping)
    return out
