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

The versioned documents and their history are kept by ``config_docs.py``; the whole-configuration import and
export by ``config_import.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from orgsync_dagster.calls import config_import, yaml_format
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
from orgsync_dagster.calls.config_docs import (
    CANDIDATE,
    INSTANCE,
    TERM_CODES,
    TERM_CODES_NAME,
    ConfigConflict,
    ConfigInvalid,
    Document,
    HistoryEntry,
    document,
    documents,
    write_document,
)
from orgsync_dagster.calls.tables import config_history, van_reference_data
from orgsync_dagster.calls.validate import check_candidate

if TYPE_CHECKING:
    from orgsync_dagster.calls.config_import import ImportReport


class ConfigStore:
    """The calls configuration in the warehouse. ``engine``: the warehouse (tables are created by warehouse.py)."""

    def __init__(self, engine: Engine, deployment: CallsDeployment | None = None):
        self.engine = engine
        self.deployment = deployment or CallsDeployment()

    # -- reads -------------------------------------------------------------------------------------------------
    def _get(self, kind: str, name: str) -> Document | None:
        with self.engine.connect() as conn:
            return document(conn, kind, name)

    def list_candidates(self, *, include_removed: bool = False) -> list[Document]:
        """Every candidate document (current version), sorted by slug."""
        with self.engine.connect() as conn:
            return list(documents(conn, CANDIDATE, include_removed=include_removed).values())

    def get_candidate(self, slug: str) -> Document | None:
        """The candidate's document with its version (None if it never existed; ``removed`` if it was removed)."""
        return self._get(CANDIDATE, slug)

    def list_instances(self) -> list[Document]:
        with self.engine.connect() as conn:
            return list(documents(conn, INSTANCE).values())

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
            instances = set(documents(conn, INSTANCE))
            others = documents(conn, CANDIDATE)
        return self.check_draft(slug, draft, instances, others)

    def check_draft(self, slug: str, draft, instances: set[str], others: dict[str, Document]) -> list[FieldError]:
        """The problems of a candidate draft given the known VAN instances and the other candidates (districts)."""
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
            instances = set(documents(conn, INSTANCE))
            errors = self.check_draft(slug, body, instances, documents(conn, CANDIDATE))
            if errors:
                raise ConfigInvalid(f"candidate {slug!r} was not saved:", errors)
            return write_document(conn, CANDIDATE, slug, body, by=by, expected=expected_version)

        return self._transaction(CANDIDATE, slug, expected_version, work)

    def remove_candidate(self, slug: str, *, by: str, expected_version: int) -> int:
        """Remove a candidate: it stops being synced and is no longer a partition; its history stays."""
        return self._transaction(
            CANDIDATE,
            slug,
            expected_version,
            lambda conn: write_document(conn, CANDIDATE, slug, None, by=by, expected=expected_version, remove=True),
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
            lambda conn: write_document(conn, INSTANCE, name, body, by=by, expected=expected_version),
        )

    def remove_instance(self, name: str, *, by: str, expected_version: int) -> int:
        def work(conn):
            users = [d.name for d in documents(conn, CANDIDATE).values() if (d.body or {}).get("van_instance") == name]
            if users:
                raise ConfigInvalid(
                    f"VAN instance {name!r} was not removed:",
                    [FieldError("", f"candidates {', '.join(users)} still send their calls to it")],
                )
            return write_document(conn, INSTANCE, name, None, by=by, expected=expected_version, remove=True)

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
            lambda conn: write_document(conn, TERM_CODES, TERM_CODES_NAME, body, by=by, expected=expected_version),
        )

    # -- the whole configuration -------------------------------------------------------------------------------
    def export_data(self) -> dict:
        return config_import.export_data(self)

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
        return config_import.import_data(self, data, by=by, prune=prune)

    def load_settings(self) -> CallsSettings:
        """The configuration a run uses, read now. A stored candidate that no longer validates (e.g. its VAN
        instance was changed) is left out and its problems kept: ``settings.candidate(slug)`` raises with them."""
        with self.engine.connect() as conn:
            instances_docs = documents(conn, INSTANCE)
            terms = documents(conn, TERM_CODES).get(TERM_CODES_NAME)
            cand_docs = documents(conn, CANDIDATE)
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
