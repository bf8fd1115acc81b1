"""The calls store: Livevox call documents in MongoDB (pymongo), shaped as the original call-sync's
``call_sync.calls`` (id, account_number, district, voter_id, names, phone_dialed, times, caller_login, lv_result and
term-code attributes, sync_status, receipt, synced_at, error).

In the local profile, no URI or a ``mongomock://`` URI means an in-process mongomock database (demo and tests); it is
cached per URI in this process, so every resource instance with the same URI sees the same data. In production
both are errors naming MONGODB_URI: an in-process stand-in would lose the calls between runs. Methods are thin: one
MongoDB operation each.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pymongo
from pydantic import Field
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from orgsync_dagster.lib import profile

UNSYNCED_VALUES = [None, "unsynced"]  # `{"$in": [None]}` also matches documents without the field
_clients: dict[str, object] = {}
_indexed: set[tuple[str, str, str]] = set()
_lock = threading.Lock()


FILE_SCHEME = "mongomock+file://"  # local only: a mongomock kept in a JSON file, shared by the playground's runs


def is_mock_uri(uri: str) -> bool:
    return not uri or uri.startswith(("mongomock://", FILE_SCHEME))


def _file_of(uri: str) -> Path | None:
    return Path(uri[len(FILE_SCHEME) :]) if uri.startswith(FILE_SCHEME) else None


def _load_file(client, path: Path) -> None:
    """Replace the stand-in's collections with the file's (written by another run's process)."""
    if not path.exists():
        return
    from bson import json_util

    data = json_util.loads(path.read_text(encoding="utf-8"), json_options=json_util.JSONOptions(tz_aware=True))
    for db_name, collections in data.items():
        for name, docs in collections.items():
            coll = client[db_name][name]
            coll.delete_many({})
            if docs:
                coll.insert_many(docs)


def _save_file(client, path: Path) -> None:
    from bson import json_util

    data = {
        db: {name: list(client[db][name].find({})) for name in client[db].list_collection_names()}
        for db in client.list_database_names()
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json_util.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _file_lock(path: Path, mode: int):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def synced(uri: str) -> Iterator[None]:
    """Around a write: with a ``mongomock+file://`` stand-in, reload the file, write, save it back, under an
    exclusive file lock (runs are separate processes: each sees the others' calls). A no-op for anything else."""
    path = _file_of(uri)
    if path is None:
        yield
        return
    import fcntl

    client = client_for(uri)  # (created, and loaded under a shared lock, before the exclusive lock is taken)
    with _file_lock(path, fcntl.LOCK_EX):
        _load_file(client, path)
        yield
        _save_file(client, path)


def client_for(uri: str):
    if is_mock_uri(uri) and not profile.is_local():
        raise profile.ProfileError(
            "the calls store: MONGODB_URI is "
            + ("a mongomock:// stand-in" if uri else "not set")
            + " in the production profile; set it to the MongoDB holding the Livevox calls "
            "(mongomock is only for ORGSYNC_PROFILE=local)"
        )
    with _lock:
        client = _clients.get(uri)
        if client is None:
            if is_mock_uri(uri):
                import mongomock  # local only (the [local] extra)

                client = mongomock.MongoClient()
                path = _file_of(uri)
                if path is not None:
                    import fcntl

                    with _file_lock(path, fcntl.LOCK_SH):
                        _load_file(client, path)
            else:
                client = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000)
            _clients[uri] = client
        return client


def status_filter(statuses: Iterable[str | None]) -> dict:
    values = []
    for s in statuses:
        values.extend(UNSYNCED_VALUES if s in (None, "unsynced") else [s])
    return {"$in": values}


def _writes(method):
    """A write of the store: with a file-backed stand-in, done under its lock between a reload and a save."""

    def wrapper(self, *args, **kwargs):
        with synced(self.uri):
            return method(self, *args, **kwargs)

    wrapper.__name__, wrapper.__doc__ = method.__name__, method.__doc__
    return wrapper


class CallsStoreResource(dg.ConfigurableResource):
    """MongoDB holding one document per Livevox call and its sync status (URI via EnvVar MONGODB_URI)."""

    uri: str = Field(
        default="",
        description="MongoDB URI (EnvVar MONGODB_URI). Empty or mongomock://: in-process, local profile only; "
        "mongomock+file:///path: the same kept in a JSON file (the playground's runs share it), local only.",
    )
    database: str = Field(default="call_sync")
    collection: str = Field(default="calls")
    locks_collection: str = Field(default="sync_locks")

    @property
    def is_mock(self) -> bool:
        return is_mock_uri(self.uri)

    def calls(self):
        coll = client_for(self.uri)[self.database][self.collection]
        key = (self.uri, self.database, self.collection)
        if key not in _indexed:
            if not self.is_mock:  # mongomock checks unique indexes in O(n) per insert; it needs none
                coll.create_index("id", unique=True)
                coll.create_index([("district", 1), ("timestamp", 1), ("sync_status", 1)])
            _indexed.add(key)
        return coll

    def _locks(self):
        return client_for(self.uri)[self.database][self.locks_collection]

    # -- reads --------------------------------------------------------------------------------------------------
    def stream(
        self, query: dict, projection: dict | None = None, sort: list | None = None, batch_size: int = 2000
    ) -> Iterator[dict]:
        """Documents matching ``query``, streamed with a server cursor (``_id`` left out)."""
        cursor = self.calls().find(query, {"_id": 0, **(projection or {})} if projection else {"_id": 0})
        if sort:
            cursor = cursor.sort(sort)
        if self.is_mock:
            # mongomock's cursor re-slices its whole result list on every next() (quadratic); read it once
            compute = getattr(cursor, "_compute_results", None)
            yield from (compute(with_limit_and_skip=True) if compute else cursor)
            return
        yield from cursor.batch_size(batch_size)

    def day_query(self, district: str, start: dt.datetime, end: dt.datetime, statuses=None) -> dict:
        query: dict = {"district": district, "timestamp": {"$gte": start, "$lt": end}}
        if statuses is not None:
            query["sync_status"] = status_filter(statuses)
        return query

    def get(self, call_id: str) -> dict | None:
        return self.calls().find_one({"id": str(call_id)}, {"_id": 0})

    def count_by(self, query: dict, fields: list[str]) -> list[dict]:
        """``[{field: value, ..., "n": count}]`` grouped by ``fields``."""
        if self.is_mock:  # mongomock's aggregate reads its cursor in quadratic time: count in Python
            counts: dict[tuple, int] = {}
            for doc in self.stream(query, {f: 1 for f in fields}):
                key = tuple(doc.get(f) for f in fields)
                counts[key] = counts.get(key, 0) + 1
            return [{**dict(zip(fields, k)), "n": n} for k, n in counts.items()]
        group = {"_id": {f: f"${f}" for f in fields}, "n": {"$sum": 1}}
        return [
            {**(r["_id"] or {}), "n": r["n"]} for r in self.calls().aggregate([{"$match": query}, {"$group": group}])
        ]

    def distinct(self, field: str, query: dict) -> list:
        return self.calls().distinct(field, query)

    # -- writes -------------------------------------------------------------------------------------------------
    @_writes
    def set_status(
        self,
        call_id: str,
        expected: Iterable[str | None],
        new: str | None,
        *,
        set_fields: dict | None = None,
        min_fields: dict | None = None,
        unset: Iterable[str] = (),
    ) -> dict | None:
        """Atomically move one call from one of ``expected`` to ``new`` (the in_progress claim). Returns the
        updated document, or None when the call was not in an expected state (someone else has it)."""
        update: dict = {"$set": {"sync_status": new, **(set_fields or {})}}
        if min_fields:
            update["$min"] = min_fields
        if unset:
            update["$unset"] = {f: "" for f in unset}
        doc = self.calls().find_one_and_update(  # (no projection: mongomock then returns None)
            {"id": str(call_id), "sync_status": status_filter(expected)},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            doc.pop("_id", None)
        return doc

    @_writes
    def set_status_many(
        self, call_ids: list[str], expected: Iterable[str | None], new: str | None, set_fields: dict | None = None
    ) -> int:
        """One update for many calls in the same transition; calls no longer in ``expected`` are left alone."""
        if not call_ids:
            return 0
        result = self.calls().update_many(
            {"id": {"$in": [str(i) for i in call_ids]}, "sync_status": status_filter(expected)},
            {"$set": {"sync_status": new, **(set_fields or {})}},
        )
        return result.modified_count

    @_writes
    def update_where(self, query: dict, set_fields: dict) -> int:
        return self.calls().update_many(query, {"$set": set_fields}).modified_count

    @_writes
    def upsert_calls(self, rows: list[tuple[str, dict | None, dict | None]]) -> tuple[int, int]:
        """Upsert CDR rows by call id: ``(id, $set fields, $setOnInsert fields)``. Returns (inserted, matched)."""
        ops = []
        for call_id, set_fields, on_insert in rows:
            update: dict = {}
            if set_fields:
                update["$set"] = set_fields
            extra = {k: v for k, v in (on_insert or {}).items() if k not in (set_fields or {})}
            if extra:
                update["$setOnInsert"] = extra
            if update:
                ops.append((str(call_id), update))
        if not ops:
            return 0, 0
        coll = self.calls()
        if self.is_mock:  # mongomock 4.3 cannot run pymongo 4.20's bulk_write
            inserted = matched = 0
            for call_id, update in ops:
                r = coll.update_one({"id": call_id}, update, upsert=True)
                inserted += 1 if r.upserted_id is not None else 0
                matched += r.matched_count
            return inserted, matched
        result = coll.bulk_write([UpdateOne({"id": cid}, upd, upsert=True) for cid, upd in ops], ordered=False)
        return result.upserted_count, result.matched_count

    @_writes
    def insert_many(self, docs: list[dict]) -> int:
        """Seed documents as they are (demo, tests, benchmarks)."""
        return len(self.calls().insert_many(docs).inserted_ids) if docs else 0

    # -- partition locks (one run per candidate-day at a time) -------------------------------------------------
    @_writes
    def acquire_lock(self, name: str, holder: str, lease_seconds: int, steal_from: Iterable[str] = ()) -> str | None:
        """Take or renew the lock ``name``. Returns None on success, else the current holder. A lock whose lease
        ran out, or whose holder is listed in ``steal_from`` (known dead), is taken over."""
        now = time.time()  # epoch seconds: compares the same in MongoDB and mongomock
        query = {
            "_id": name,
            "$or": [
                {"holder": holder},
                {"holder": None},
                {"expires_at": {"$lt": now}},
                {"holder": {"$in": list(steal_from)}},
            ],
        }
        update = {"$set": {"holder": holder, "expires_at": now + lease_seconds}}
        try:
            self._locks().find_one_and_update(query, update, upsert=True)
            return None
        except DuplicateKeyError:
            current = self._locks().find_one({"_id": name}) or {}
            return current.get("holder") or "unknown"

    @_writes
    def release_lock(self, name: str, holder: str) -> None:
        self._locks().update_one({"_id": name, "holder": holder}, {"$set": {"holder": None}})
