"""The calls configuration's versioned documents (``calls.config_documents``) and their history
(``calls.config_history``): what a document is, reading them, and the one write every save, removal and import
goes through - under the row lock, refused with ``ConfigConflict`` when the version it was based on is not the
current one, every changed field recorded in the history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from orgsync_dagster.calls.config import CallsConfigError
from orgsync_dagster.calls.tables import config_documents, config_history

CANDIDATE, INSTANCE, TERM_CODES = "candidate", "van_instance", "term_codes"
TERM_CODES_NAME = "default"


class ConfigInvalid(CallsConfigError):
    """A draft or an import has problems; ``errors`` lists every one (nothing was written)."""


class ConfigConflict(Exception):
    """The document changed since the version the edit was based on (or was created/removed meanwhile)."""

    def __init__(self, kind: str, name: str, expected: int, current: int | None, updated_by=None, updated_at=None):
        self.kind, self.name, self.expected, self.current = kind, name, expected, current
        self.updated_by, self.updated_at = updated_by, updated_at
        if current is None:
            what = "does not exist"
        else:
            when = f" at {updated_at:%Y-%m-%d %H:%M} UTC" if isinstance(updated_at, dt.datetime) else ""
            what = f"is at version {current} (saved by {updated_by}{when})"
        super().__init__(
            f"{kind} {name!r} {what}, not version {expected}: reload it, re-apply your change and save again"
        )


@dataclass(frozen=True)
class Document:
    kind: str
    name: str
    version: int
    body: dict
    removed: bool
    updated_at: dt.datetime | None
    updated_by: str


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    action: str  # create | update | remove | restore
    changed_at: dt.datetime
    changed_by: str
    changes: list[dict]  # [{"field": ..., "old": ..., "new": ...}]
    old_body: dict | None
    new_body: dict | None


def diff(old, new, path: str = "", *, keyed: bool = False) -> list[dict]:
    """Field-level changes between two documents: mappings are walked (``results['busy'].value``; with ``keyed``
    the top level is named by key too, as in the term-code table ``['no answer'].contact``); lists and values are
    compared whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in list(old) + [k for k in new if k not in old]:
            if keyed:
                sub = f"{path}[{key!r}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            out += diff(old.get(key), new.get(key), sub, keyed=(key == "results" and not keyed))
        return out
    if old == new:
        return []
    return [{"field": path, "old": old, "new": new}]


def _document(row) -> Document:
    return Document(row.kind, row.name, row.version, row.body, row.removed, row.updated_at, row.updated_by)


def documents(conn: Connection, kind: str, *, include_removed=False, lock=False) -> dict[str, Document]:
    """The documents of one kind by name (without the removed ones unless asked; ``lock``: FOR UPDATE)."""
    q = sa.select(config_documents).where(config_documents.c.kind == kind).order_by(config_documents.c.name)
    if not include_removed:
        q = q.where(config_documents.c.removed.is_(False))
    if lock:
        q = q.with_for_update()
    return {r.name: _document(r) for r in conn.execute(q)}


def document(conn: Connection, kind: str, name: str) -> Document | None:
    """One document, removed or not (None if it never existed)."""
    row = conn.execute(
        sa.select(config_documents).where(config_documents.c.kind == kind, config_documents.c.name == name)
    ).first()
    return _document(row) if row else None


def write_document(
    conn: Connection, kind: str, name: str, body: dict | None, *, by: str, expected: int, remove=False
) -> int:
    """Write one document under its row lock (the caller's transaction); returns the new version."""
    row = conn.execute(
        sa.select(config_documents)
        .where(config_documents.c.kind == kind, config_documents.c.name == name)
        .with_for_update()
    ).first()
    current = row.version if row else 0
    if expected != current:
        raise ConfigConflict(
            kind,
            name,
            expected,
            row.version if row else None,
            row.updated_by if row else None,
            row.updated_at if row else None,
        )
    was_removed = bool(row and row.removed)
    if remove:
        if row is None or was_removed:
            raise ConfigConflict(kind, name, expected, None)
        action, new_body, old_body = "remove", row.body, row.body
    else:
        old_body = None if (row is None or was_removed) else row.body
        action = "create" if row is None else ("restore" if was_removed else "update")
        new_body = body
        if action == "update" and row.body == body:
            return current  # nothing changed: no new version, no history
    version = current + 1
    changes = (
        [{"field": "(removed)", "old": False, "new": True}]
        if remove
        else diff(old_body or {}, new_body, keyed=kind == TERM_CODES)
    )
    values = dict(version=version, body=new_body, removed=remove, updated_at=sa.func.now(), updated_by=by)
    if row is None:
        conn.execute(config_documents.insert().values(kind=kind, name=name, **values))
    else:
        conn.execute(
            config_documents.update()
            .where(config_documents.c.kind == kind, config_documents.c.name == name)
            .values(**values)
        )
    conn.execute(
        config_history.insert().values(
            kind=kind,
            name=name,
            version=version,
            action=action,
            changed_by=by,
            changes=changes,
            old_body=old_body,
            new_body=None if remove else new_body,
        )
    )
    return version
