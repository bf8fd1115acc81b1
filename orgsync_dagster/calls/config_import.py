"""The whole calls configuration at once: export (what ``orgsync calls config export`` writes) and import
(validated in full first - shape, cross-references, every VAN id against stored reference data - then written
in one transaction: all or nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orgsync_dagster.calls import yaml_format
from orgsync_dagster.calls.config import FieldError, parse_instance, parse_term_codes
from orgsync_dagster.calls.config_docs import (
    CANDIDATE,
    INSTANCE,
    TERM_CODES,
    TERM_CODES_NAME,
    ConfigInvalid,
    Document,
    document,
    documents,
    write_document,
)

if TYPE_CHECKING:
    from orgsync_dagster.calls.config_store import ConfigStore


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)  # "candidate mo01", "van_instance MI", ...
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in self.__dict__.items()]
        return ", ".join(parts)


def export_data(store: ConfigStore) -> dict:
    with store.engine.connect() as conn:
        terms = documents(conn, TERM_CODES).get(TERM_CODES_NAME)
        return {
            "van_instances": {n: d.body for n, d in documents(conn, INSTANCE).items()},
            "term_codes": terms.body if terms else {},
            "candidates": {n: d.body for n, d in documents(conn, CANDIDATE).items()},
        }


def import_data(store: ConfigStore, data: dict, *, by: str, prune: bool = False) -> ImportReport:
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
    with store.engine.begin() as conn:
        current = {kind: documents(conn, kind, lock=True) for kind in (INSTANCE, TERM_CODES, CANDIDATE)}
        instances = set(data["van_instances"]) | (set() if prune else set(current[INSTANCE]))
        kept = {} if prune else {n: d for n, d in current[CANDIDATE].items() if n not in data["candidates"]}
        for slug, body in data["candidates"].items():
            others = {**kept, **{n: _doc(n, b) for n, b in data["candidates"].items() if n != slug}}
            errors += [e.under(f"candidates.{slug}") for e in store.check_draft(slug, body, instances, others)]
        if errors:
            raise ConfigInvalid("nothing was imported:", _unique(errors))
        plan = [(INSTANCE, n, b) for n, b in data["van_instances"].items()]
        plan.append((TERM_CODES, TERM_CODES_NAME, data["term_codes"]))
        plan += [(CANDIDATE, n, b) for n, b in data["candidates"].items()]
        for kind, name, body in plan:
            doc = current[kind].get(name)
            label = f"{kind} {name}"
            if doc is None:  # new, or removed before (then restored with its history)
                earlier = document(conn, kind, name)
                write_document(conn, kind, name, body, by=by, expected=earlier.version if earlier else 0)
                report.created.append(label)
            elif write_document(conn, kind, name, body, by=by, expected=doc.version) == doc.version:
                report.unchanged.append(label)
            else:
                report.updated.append(label)
        if prune:
            for kind, keep in ((CANDIDATE, data["candidates"]), (INSTANCE, data["van_instances"])):
                for name, doc in current[kind].items():
                    if name not in keep:
                        write_document(conn, kind, name, None, by=by, expected=doc.version, remove=True)
                        report.removed.append(f"{kind} {name}")
    return report


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
