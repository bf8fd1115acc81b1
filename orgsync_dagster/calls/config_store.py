"""The calls configuration staff edit without a deploy, kept in the warehouse: a plain-Python API (no Dagster) for
the web admin page, the CLI and the assets.

Documents (``calls.config_documents``): one per candidate, one per VAN instance (its budget), and the term-code
table. Each has an optimistic ``version``: a save names the version it was based on and is refused with
``ConfigConflict`` when someone saved in between. Every change is kept in ``calls.config_history`` (who, when,
each field's old -> new). A removed candidate is marked removed: its history, reports and ledger stay.

Every save and import is validated by ``validate.check_candidate`` - the same function as the
``candidate_config_valid`` check (the document's shape, and every VAN id against the reference data last fetched
for the candidate's VAN instance and mode) - and refused with ``ConfigInvalid`` listing every problem.

Runs read the configuration here at run time (``load_settings``); nothing is cached at import, so a change is
used by the next run without a restart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from orgsync_dagster.calls import yaml_format
from orgsync_dagster.calls.config import (
    VAN_MODES,
    CallsConfigError,
    CallsDeployment,
    CallsSettings,
    FieldError,
    district_clashes,
    parse_candidate,
    parse_instance,
    parse_term_codes,
)
from orgsync_dagster.calls.tables import config_documents, config_history, van_reference_data
from orgsync_dagster.calls.validate import check_candidate

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


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)  # "candidate mo01", "van_instance MI", ...
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in self.__dict__.items()]
        return ", ".join(parts)


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


class ConfigStore:
    """The calls configuration in the warehouse. ``engine``: the warehouse (tables are created by warehouse.py)."""

    def __init__(self, engine: Engine, deployment: CallsDeployment | None = None):
        self.engine = engine
        self.deployment = deployment or CallsDeployment()

    # -- reads -------------------------------------------------------------------------------------------------
    def _docs(self, conn: Connection, kind: str, *, include_removed=False, lock=False) -> dict[str, Document]:
        q = sa.select(config_documents).where(config_documents.c.kind == kind).order_by(config_documents.c.name)
        if not include_removed:
            q = q.where(config_documents.c.removed.is_(False))
        if lock:
            q = q.with_for_update()
        return {
            r.name: Document(r.kind, r.name, r.version, r.body, r.removed, r.updated_at, r.updated_by)
            for r in conn.execute(q)
        }

    def _get(self, kind: str, name: str) -> Document | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(config_documents).where(config_documents.c.kind == kind, config_documents.c.name == name)
            ).first()
        return (
            Document(row.kind, row.name, row.version, row.body, row.removed, row.updated_at, row.updated_by)
            if row
            else None
        )

    def list_candidates(self, *, include_removed: bool = False) -> list[Document]:
        """Every candidate document (current version), sorted by slug."""
        with self.engine.connect() as conn:
            return list(self._docs(conn, CANDIDATE, include_removed=include_removed).values())

    def get_candidate(self, slug: str) -> Document | None:
        """The candidate's document with its version (None if it never existed; ``removed`` if it was removed)."""
        return self._get(CANDIDATE, slug)

    def list_instances(self) -> list[Document]:
        with self.engine.connect() as conn:
            return list(self._docs(conn, INSTANCE).values())

    def get_instance(self, name: str) -> Document | None:
        return self._get(INSTANCE, name)

    def get_term_codes(self) -> Document | None:
        return self._get(TERM_CODES, TERM_CODES_NAME)

    def candidate_slugs(self) -> list[str]:
        """The current candidates (the dynamic partitions of the calls assets)."""
        return [d.name for d in self.list_candidates()]

    def history(self, name: str, kind: str = CANDIDATE) -> list[HistoryEntry]:
        """Every change of one document, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(config_history)
                .where(config_history.c.kind == kind, config_history.c.name == name)
                .order_by(config_history.c.id)
            ).all()
        return [
            HistoryEntry(r.version, r.action, r.changed_at, r.changed_by, r.changes, r.old_body, r.new_body)
            for r in rows
        ]

    def reference_data(self, instance: str | None, mode: int) -> dict | None:
        if not instance:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(van_reference_data.c.data).where(
                    van_reference_data.c.instance == instance, van_reference_data.c.mode == mode
                )
            ).first()
        return row[0] if row else None

    # -- validation --------------------------------------------------------------------------------------------
    def validate_candidate(self, draft: dict, slug: str) -> list[FieldError]:
        """Every problem of a candidate draft (field path + message), exactly as the ``candidate_config_valid``
        check sees it: shape, then every VAN id against the reference data last fetched for its instance and mode.
        Empty: the draft can be saved."""
        with self.engine.connect() as conn:
            instances = set(self._docs(conn, INSTANCE))
            others = self._docs(conn, CANDIDATE)
        return self._check(slug, draft, instances, others)

    def _check(self, slug: str, draft, instances: set[str], others: dict[str, Document]) -> list[FieldError]:
        draft = yaml_format.canonical_candidate(draft) if isinstance(draft, dict) else draft
        districts = {}
        for name, doc in others.items():
            if name != slug and isinstance(doc.body, dict):
                districts[str(doc.body.get("district") or name).strip().lower()] = name
        ref = None
        if isinstance(draft, dict) and draft.get("van_instance"):
            mode = VAN_MODES.get(str(draft.get("van_mode", "myc")).lower(), 1)
            ref = self.reference_data(draft.get("van_instance"), mode)
        return check_candidate(
            slug, draft, instances=instances, deployment=self.deployment, ref=ref, other_districts=districts
        )

    # -- writes ------------------------------------------------------------------------------------------------
    def _write(
        self, conn: Connection, kind: str, name: str, body: dict | None, *, by: str, expected: int, remove=False
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

    def _transaction(self, kind: str, name: str, expected: int, fn):
        try:
            with self.engine.begin() as conn:
                return fn(conn)
        except IntegrityError:  # two first saves of the same new document at once
            doc = self._get(kind, name)
            raise ConfigConflict(
                kind, name, expected, doc.version if doc else None, doc and doc.updated_by, doc and doc.updated_at
            ) from None

    def save_candidate(self, slug: str, draft: dict, *, by: str, expected_version: int) -> int:
        """Create (expected_version 0), update or restore a candidate. Returns the new version; raises
        ConfigInvalid (every problem) or ConfigConflict (someone saved version N meanwhile)."""
        body = yaml_format.canonical_candidate(draft)

        def work(conn):
            instances = set(self._docs(conn, INSTANCE))
            errors = self._check(slug, body, instances, self._docs(conn, CANDIDATE))
            if errors:
                raise ConfigInvalid(f"candidate {slug!r} was not saved:", errors)
            return self._write(conn, CANDIDATE, slug, body, by=by, expected=expected_version)

        return self._transaction(CANDIDATE, slug, expected_version, work)

    def remove_candidate(self, slug: str, *, by: str, expected_version: int) -> int:
        """Remove a candidate: it stops being synced and is no longer a partition; its history stays."""
        return self._transaction(
            CANDIDATE,
            slug,
            expected_version,
            lambda conn: self._write(conn, CANDIDATE, slug, None, by=by, expected=expected_version, remove=True),
        )

    def save_instance(self, name: str, draft: dict, *, by: str, expected_version: int) -> int:
        body = yaml_format.canonical_instance(draft)
        _inst, errors = parse_instance(name, body)
        if errors:
            raise ConfigInvalid(f"VAN instance {name!r} was not saved:", errors)
        return self._transaction(
            INSTANCE,
            name,
            expected_version,
            lambda conn: self._write(conn, INSTANCE, name, body, by=by, expected=expected_version),
        )

    def remove_instance(self, name: str, *, by: str, expected_version: int) -> int:
        def work(conn):
            users = [d.name for d in self._docs(conn, CANDIDATE).values() if (d.body or {}).get("van_instance") == name]
            if users:
                raise ConfigInvalid(
                    f"VAN instance {name!r} was not removed:",
                    [FieldError("", f"candidates {', '.join(users)} still send their calls to it")],
                )
            return self._write(conn, INSTANCE, name, None, by=by, expected=expected_version, remove=True)

        return self._transaction(INSTANCE, name, expected_version, work)

    def save_term_codes(self, draft: dict, *, by: str, expected_version: int) -> int:
        body = yaml_format.canonical_term_codes(draft)
        _codes, errors = parse_term_codes(body)
        if errors:
            raise ConfigInvalid("the term codes were not saved:", errors)
        return self._transaction(
            TERM_CODES,
            TERM_CODES_NAME,
            expected_version,
            lambda conn: self._write(conn, TERM_CODES, TERM_CODES_NAME, body, by=by, expected=expected_version),
        )

    # -- the whole configuration -------------------------------------------------------------------------------
    def export_data(self) -> dict:
        with self.engine.connect() as conn:
            terms = self._docs(conn, TERM_CODES).get(TERM_CODES_NAME)
            return {
                "van_instances": {n: d.body for n, d in self._docs(conn, INSTANCE).items()},
                "term_codes": terms.body if terms else {},
                "candidates": {n: d.body for n, d in self._docs(conn, CANDIDATE).items()},
            }

    def export_yaml(self) -> str:
        """The whole current configuration as canonical YAML (``import_yaml`` of it changes nothing)."""
        return yaml_format.dump(self.export_data())

    def import_yaml(self, text: str, *, by: str, prune: bool = False) -> ImportReport:
        return self.import_data(yaml_format.load(text), by=by, prune=prune)

    def import_data(self, data: dict, *, by: str, prune: bool = False) -> ImportReport:
        """Make the store hold ``data`` (``{van_instances, term_codes, candidates}``). Everything is validated first
        (shape, cross-references, every VAN id against stored reference data); if anything is invalid nothing is
        written (ConfigInvalid lists every problem, e.g. ``candidates.mo01.results['busy'].value``). Documents
        absent from ``data`` are kept unless ``prune``. One transaction: all or nothing."""
        errors = _structure_errors(data)
        if errors:
            raise ConfigInvalid("nothing was imported:", errors)
        data = yaml_format.canonical(data)
        for name, body in data["van_instances"].items():
            errors += [e.under(f"van_instances.{name}") for e in parse_instance(name, body)[1]]
        errors += [e.under("term_codes") for e in parse_term_codes(data["term_codes"])[1]]
        report = ImportReport()
        with self.engine.begin() as conn:
            current = {kind: self._docs(conn, kind, lock=True) for kind in (INSTANCE, TERM_CODES, CANDIDATE)}
            instances = set(data["van_instances"]) | (set() if prune else set(current[INSTANCE]))
            kept = {} if prune else {n: d for n, d in current[CANDIDATE].items() if n not in data["candidates"]}
            for slug, body in data["candidates"].items():
                others = {**kept, **{n: _doc(n, b) for n, b in data["candidates"].items() if n != slug}}
                errors += [e.under(f"candidates.{slug}") for e in self._check(slug, body, instances, others)]
            if errors:
                raise ConfigInvalid("nothing was imported:", _unique(errors))
            plan = [(INSTANCE, n, b) for n, b in data["van_instances"].items()]
            plan.append((TERM_CODES, TERM_CODES_NAME, data["term_codes"]))
            plan += [(CANDIDATE, n, b) for n, b in data["candidates"].items()]
            for kind, name, body in plan:
                doc = current[kind].get(name)
                label = f"{kind} {name}"
                if doc is None:  # new, or removed before (then restored with its history)
                    earlier = self._get_in(conn, kind, name)
                    self._write(conn, kind, name, body, by=by, expected=earlier.version if earlier else 0)
                    report.created.append(label)
                elif self._write(conn, kind, name, body, by=by, expected=doc.version) == doc.version:
                    report.unchanged.append(label)
                else:
                    report.updated.append(label)
            if prune:
                for kind, keep in ((CANDIDATE, data["candidates"]), (INSTANCE, data["van_instances"])):
                    for name, doc in current[kind].items():
                        if name not in keep:
                            self._write(conn, kind, name, None, by=by, expected=doc.version, remove=True)
                            report.removed.append(f"{kind} {name}")
        return report

    def _get_in(self, conn: Connection, kind: str, name: str) -> Document | None:
        row = conn.execute(
            sa.select(config_documents).where(config_documents.c.kind == kind, config_documents.c.name == name)
        ).first()
        return (
            Document(row.kind, row.name, row.version, row.body, row.removed, row.updated_at, row.updated_by)
            if row
            else None
        )

    def load_settings(self) -> CallsSettings:
        """The configuration a run uses, read now. A stored candidate that no longer validates (e.g. its VAN
        instance was changed) is left out and its problems kept: ``settings.candidate(slug)`` raises with them."""
        with self.engine.connect() as conn:
            instances_docs = self._docs(conn, INSTANCE)
            terms = self._docs(conn, TERM_CODES).get(TERM_CODES_NAME)
            cand_docs = self._docs(conn, CANDIDATE)
        instances = {}
        for name, doc in instances_docs.items():
            inst, _errors = parse_instance(name, doc.body)
            if inst:
                instances[name] = inst
        term_codes, _errors = parse_term_codes(terms.body if terms else {})
        candidates, problems = {}, {}
        for slug, doc in cand_docs.items():
            cand, errors = parse_candidate(
                slug, doc.body, instances=set(instances), deployment=self.deployment, version=doc.version
            )
            if cand:
                candidates[slug] = cand
            else:
                problems[slug] = errors
        for clash in district_clashes(candidates.values()):
            slug = clash.field.split(".")[1]
            problems[slug] = [clash]
            candidates.pop(slug, None)
        return StoredSettings(self.deployment, instances, term_codes, candidates, problems)


@dataclass(frozen=True)
class StoredSettings(CallsSettings):
    problems: dict = field(default_factory=dict)  # slug -> [FieldError] of stored candidates that do not validate

    def candidate(self, slug: str):
        if slug in self.problems:
            raise CallsConfigError(
                f"the stored configuration of candidate {slug!r} is not usable:", self.problems[slug]
            )
        return super().candidate(slug)


def _structure_errors(data) -> list[FieldError]:
    if not isinstance(data, dict):
        return [FieldError("", "must be a mapping with van_instances, term_codes and candidates")]
    errors = [
        FieldError(name, "is not a section (known: van_instances, term_codes, candidates)")
        for name in sorted(set(data) - {"van_instances", "term_codes", "candidates"})
    ]
    for section in ("van_instances", "term_codes", "candidates"):
        if data.get(section) is not None and not isinstance(data.get(section), dict):
            errors.append(FieldError(section, "must be a mapping of names to settings"))
    return errors


def _doc(name: str, body: dict) -> Document:
    return Document(CANDIDATE, name, 0, body, False, None, "")


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen, out = set(), []
    for e in errors:
        if (e.field, e.message) not in seen:
            seen.add((e.field, e.message))
            out.append(e)
    return out
