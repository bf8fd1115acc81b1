"""Live updates: PostgreSQL LISTEN/NOTIFY -> this process's open pages, over Server-Sent Events.

Every write of the tracker store notifies ``tracker_store.CHANNEL`` in its transaction (delivered at commit), so an
edit reaches every web process (and changes made by the nightly job or the status sync reach the pages too). One
listener thread per process reads the notifications and hands them to the event loop, which puts each one on the
queue of every open page whose scope (office, region or state) contains the edited row.

Presence ("who is viewing"): each process announces the viewers of its pages on ``PRESENCE_CHANNEL`` when someone
arrives or leaves and every ``HEARTBEAT`` seconds; announcements older than ``EXPIRE`` seconds are dropped, so a
crashed process's viewers disappear on their own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.shifts.tracker import Scope
from orgsync_dagster.shifts.tracker_store import CHANNEL

log = logging.getLogger(__name__)
PRESENCE_CHANNEL = "orgsync_presence"
HEARTBEAT, EXPIRE = 10.0, 30.0
QUEUE_SIZE = 500
ROW_PAGES = ("sdc", "flake", "kph")  # pages that show rows (the others refresh a region of the page)


@dataclass(eq=False)
class Subscriber:
    scope: Scope
    page: str
    viewer: dict  # {"name", "initials", "color"}
    region_of: object  # office -> region
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: bool = False

    @property
    def room(self) -> str:
        return f"{self.page}|{self.scope.state}|{self.scope.office or ''}|{self.scope.region or ''}"

    def wants(self, event: dict) -> bool:
        office = event.get("o")
        region = event.get("r") or (self.region_of(office) if office else None)
        return self.scope.contains(event.get("i"), office, region)


class Hub:
    """``renderer(event, variants) -> {(page, scope): html | None | ""}`` (optional, called in a worker thread):
    renders a changed row once per kind of open page, so the pages need no request of their own to show it
    (None: the row left that page; "": nothing to show there)."""

    def __init__(self, engine: Engine, renderer=None):
        self.engine = engine
        self.renderer = renderer
        self.process = uuid.uuid4().hex[:12]
        self.subscribers: set[Subscriber] = set()
        self.remote: dict[str, dict[str, tuple[float, list]]] = defaultdict(dict)  # room -> process -> (at, viewers)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: asyncio.Task | None = None
        self.listening = threading.Event()
        self.delivered = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._listen, name="orgsync-live-listener", daemon=True)
        self._thread.start()
        self._heartbeat = asyncio.create_task(self._beat())
        await asyncio.get_running_loop().run_in_executor(None, self.listening.wait, 10)

    async def stop(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for sub in list(self.subscribers):
            sub.queue.put_nowait(None)  # ends the stream
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 5)

    # -- the listener thread -----------------------------------------------------------------------------------
    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            raw = None
            try:
                raw = self.engine.raw_connection()
                conn = raw.driver_connection
                raw.detach()  # a dedicated connection, never handed back to the pool
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                    cur.execute(f"LISTEN {PRESENCE_CHANNEL}")
                self.listening.set()
                backoff = 0.5
                while not self._stop.is_set():
                    if select.select([conn], [], [], 0.5) == ([], [], []):
                        continue
                    conn.poll()
                    while conn.notifies:
                        note = conn.notifies.pop(0)
                        self._hand_over(note.channel, note.payload)
            except Exception as exc:  # the database went away: reconnect, pages keep their streams
                log.warning(f"live updates: listener lost its connection ({type(exc).__name__}); reconnecting")
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                if raw is not None:
                    try:
                        raw.close()
                    except Exception:
                        pass

    def _hand_over(self, channel: str, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            return
        if self.loop is not None and not self.loop.is_closed():
            handler = self.dispatch if channel == CHANNEL else self._presence_in
            self.loop.call_soon_threadsafe(handler, event)

    # -- fan-out (event loop) ------------------------------------------------------------------------------------
    def dispatch(self, event: dict) -> None:
        targets = [sub for sub in self.subscribers if sub.wants(event)]
        if not targets:
            return
        if self.renderer is not None and event.get("e") in ("shift", "canvass_group"):
            asyncio.get_running_loop().create_task(self._render_and_send(event, targets))
        else:
            self._send(event, targets, {})

    async def _render_and_send(self, event: dict, targets: list[Subscriber]) -> None:
        variants = {(s.page, s.scope) for s in targets if s.page in ROW_PAGES}
        try:
            html = await asyncio.get_running_loop().run_in_executor(None, self.renderer, event, variants)
        except Exception as exc:  # the pages fetch the row themselves
            log.warning(f"live updates: could not render {event.get('e')} {event.get('id')} ({type(exc).__name__})")
            html = {}
        self._send(event, targets, html)

    def _send(self, event: dict, targets: list[Subscriber], html: dict) -> None:
        for sub in targets:
            data = event
            key = (sub.page, sub.scope)
            if key in html:
                data = {**event, "html": html[key]}
            try:
                sub.queue.put_nowait(("change", data))
                self.delivered += 1
            except asyncio.QueueFull:
                sub.overflowed = True  # the page reloads itself instead of missing changes

    def subscribe(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)
        self._announce(sub.room)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._announce(sub.room)

    # -- presence --------------------------------------------------------------------------------------------
    def viewers(self, room: str) -> list[dict]:
        now = time.time()
        seen, out = set(), []
        local = [s.viewer for s in self.subscribers if s.room == room]
        remote = [
            v
            for p, (at, vs) in self.remote.get(room, {}).items()
            if p != self.process and now - at < EXPIRE
            for v in vs
        ]
        for v in local + remote:
            key = v.get("email") or v.get("name")
            if key not in seen:
                seen.add(key)
                out.append({k: v.get(k) for k in ("name", "initials", "color")})
        return sorted(out, key=lambda v: v["name"] or "")

    def _local_rooms(self) -> dict[str, list[dict]]:
        rooms: dict[str, list[dict]] = defaultdict(list)
        for s in self.subscribers:
            rooms[s.room].append(s.viewer)
        return rooms

    def _announce(self, room: str) -> None:
        viewers = [s.viewer for s in self.subscribers if s.room == room]
        payload = json.dumps({"p": self.process, "room": room, "viewers": viewers, "t": time.time()})
        self._push_presence(room)
        if self.loop is not None:
            self.loop.run_in_executor(None, self._notify_presence, payload)

    def _notify_presence(self, payload: str) -> None:
        if len(payload) > 7000:  # NOTIFY payloads are limited to 8000 bytes
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_notify(PRESENCE_CHANNEL, payload)))
        except Exception as exc:
            log.warning(f"live updates: presence not announced ({type(exc).__name__})")

    def _presence_in(self, event: dict) -> None:
        if event.get("p") == self.process:
            return
        room = event.get("room")
        if not room:
            return
        self.remote[room][event["p"]] = (time.time(), event.get("viewers") or [])
        self._push_presence(room)

    def _push_presence(self, room: str) -> None:
        viewers = self.viewers(room)
        for sub in list(self.subscribers):
            if sub.room == room:
                try:
                    sub.queue.put_nowait(("presence", {"viewers": viewers}))
                except asyncio.QueueFull:
                    sub.overflowed = True

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            for room in self._local_rooms():
                self._announce(room)
            now = time.time()
            for room in list(self.remote):
                stale = [p for p, (at, _v) in self.remote[room].items() if now - at >= EXPIRE]
                for p in stale:
                    del self.remote[room][p]
                if stale:
                    self._push_presence(room)


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()
