"""A calls store that survives SIGKILL, for benchmarks that kill processes (no MongoDB server can run here, and
mongomock lives inside one process).

Same methods and Mongo-style filters as ``CallsStoreResource`` for what the calls sync uses. The documents are
kept in memory; every write is first appended to a journal file and fsynced (write-ahead), then applied. A new
process loads the base file and replays the journal, so it sees exactly what the killed one had committed - the
same durability a MongoDB write acknowledged with journaling gives.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator


def _enc(value):
    if isinstance(value, dt.datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {k: _enc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_enc(v) for v in value]
    return value


def _dec(value):
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            return dt.datetime.fromisoformat(value["$date"])
        return {k: _dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dec(v) for v in value]
    return value


def _compile(query: dict):
    """A predicate for the filter subset the calls sync uses ($in, $nin, $gte, $lt, $ne, $regex, equality)."""
    tests = []
    for key, cond in query.items():
        if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
            for op, arg in cond.items():
                if op in ("$in", "$nin"):
                    members = set(arg)
                    none = None in members
                    fn = lambda v, m=members, n=none: (v is None and n) or (v is not None and v in m)
                    tests.append((key, fn if op == "$in" else (lambda v, f=fn: not f(v))))
                elif op == "$gte":
                    tests.append((key, lambda v, a=arg: v is not None and v >= a))
                elif op == "$lt":
                    tests.append((key, lambda v, a=arg: v is not None and v < a))
                elif op == "$ne":
                    tests.append((key, lambda v, a=arg: v != a))
                elif op == "$regex":
                    pattern = re.compile(arg)
                    tests.append((key, lambda v, p=pattern: isinstance(v, str) and bool(p.search(v))))
                elif op == "$options":
                    continue
                else:
                    raise ValueError(f"operator {op} not supported by the file store")
        else:
            tests.append((key, lambda v, a=cond: v == a))
    return lambda doc: all(fn(doc.get(key)) for key, fn in tests)


class FileCallsStore:
    def __init__(self, base_path: str | None = None, journal_path: str | None = None):
        self.docs: dict[str, dict] = {}
        self.journal_path = journal_path
        if base_path and os.path.exists(base_path):
            with open(base_path) as f:
                for line in f:
                    doc = _dec(json.loads(line))
                    self.docs[doc["id"]] = doc
        self._journal = None
        if journal_path:
            if os.path.exists(journal_path):
                with open(journal_path) as f:
                    for line in f:
                        if line.endswith("\n"):  # a torn last line (killed mid-write) was never acknowledged
                            op = json.loads(line)
                            getattr(self, f"_apply_{op['op']}")(**_dec(op["args"]))
            self._journal = open(journal_path, "a")  # noqa: SIM115 - kept open for the life of the store

    def _log(self, op: str, **args) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps({"op": op, "args": _enc(args)}) + "\n")
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    # -- reads (same as CallsStoreResource) ------------------------------------------------------------------------
    def day_query(self, district: str, start: dt.datetime, end: dt.datetime, statuses=None) -> dict:
        query: dict = {"district": district, "timestamp": {"$gte": start, "$lt": end}}
        if statuses is not None:
            values = []
            for s in statuses:
                values.extend([None, "unsynced"] if s in (None, "unsynced") else [s])
            query["sync_status"] = {"$in": values}
        return query

    def _find(self, query: dict) -> list[dict]:
        match = _compile(query)
        return [d for d in self.docs.values() if match(d)]

    def stream(self, query: dict, projection=None, sort=None, batch_size: int = 2000) -> Iterator[dict]:
        found = self._find(query)
        for key, _direction in reversed(sort or []):
            found.sort(key=lambda d, k=key: (d.get(k) is None, d.get(k) or 0))
        for d in found:
            yield copy.deepcopy(d)

    def get(self, call_id: str) -> dict | None:
        d = self.docs.get(str(call_id))
        return copy.deepcopy(d) if d else None

    def count_by(self, query: dict, fields: list[str]) -> list[dict]:
        counts: dict[tuple, int] = {}
        for d in self._find(query):
            key = tuple(d.get(f) for f in fields)
            counts[key] = counts.get(key, 0) + 1
        return [{**dict(zip(fields, k)), "n": n} for k, n in counts.items()]

    def distinct(self, field: str, query: dict) -> list:
        return sorted({d.get(field) for d in self._find(query) if d.get(field) is not None}, key=str)

    # -- writes: journal first, then memory -------------------------------------------------------------------------
    def insert_many(self, docs: list[dict]) -> int:
        self._log("insert_many", docs=docs)
        return self._apply_insert_many(docs)

    def _apply_insert_many(self, docs):
        for d in docs:
            self.docs[d["id"]] = copy.deepcopy(d)
        return len(docs)

    def set_status(self, call_id, expected: Iterable, new, *, set_fields=None, min_fields=None, unset=()):
        args = dict(
            call_id=str(call_id),
            expected=list(expected),
            new=new,
            set_fields=set_fields,
            min_fields=min_fields,
            unset=list(unset),
        )
        if self._apply_set_status(**args, dry=True) is None:
            return None
        self._log("set_status", **args)
        return self._apply_set_status(**args)

    def _apply_set_status(self, call_id, expected, new, set_fields=None, min_fields=None, unset=(), dry=False):
        doc = self.docs.get(call_id)
        if doc is None or not _compile({"sync_status": {"$in": _statuses(expected)}})(doc):
            return None
        if dry:
            return doc
        doc.update({"sync_status": new, **(set_fields or {})})
        for k, v in (min_fields or {}).items():
            if doc.get(k) is None or v < doc[k]:
                doc[k] = v
        for k in unset:
            doc.pop(k, None)
        return copy.deepcopy(doc)

    def set_status_many(self, call_ids: list[str], expected: Iterable, new, set_fields: dict | None = None) -> int:
        if not call_ids:
            return 0
        args = dict(call_ids=[str(i) for i in call_ids], expected=list(expected), new=new, set_fields=set_fields)
        self._log("set_status_many", **args)
        return self._apply_set_status_many(**args)

    def _apply_set_status_many(self, call_ids, expected, new, set_fields=None):
        ok = _compile({"sync_status": {"$in": _statuses(expected)}})
        n = 0
        for cid in call_ids:
            doc = self.docs.get(cid)
            if doc is not None and ok(doc):
                doc.update({"sync_status": new, **(set_fields or {})})
                n += 1
        return n

    def update_where(self, query: dict, set_fields: dict) -> int:
        self._log("update_where", query=query, set_fields=set_fields)
        return self._apply_update_where(query, set_fields)

    def _apply_update_where(self, query, set_fields):
        found = self._find(query)
        for d in found:
            d.update(set_fields)
        return len(found)


def _statuses(expected) -> list:
    values = []
    for s in expected:
        values.extend([None, "unsynced"] if s in (None, "unsynced") else [s])
    return values
