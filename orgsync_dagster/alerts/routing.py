"""Which domain an alert belongs to: the ``orgsync/domain`` tag of the run, else the domain of its assets (taken
from the jobs that select them), else ``platform``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DOMAIN_TAG = "orgsync/domain"
DEFAULT_DOMAIN = "platform"


def asset_domains(defs) -> dict[str, str]:
    """``{"van/event_sync": "events", ...}`` from every job of ``defs`` that carries an ``orgsync/domain`` tag."""
    graph = defs.resolve_asset_graph()
    out: dict[str, str] = {}
    for job in defs.jobs or []:
        domain = (getattr(job, "tags", None) or {}).get(DOMAIN_TAG)
        selection = getattr(job, "selection", None)
        if not domain or selection is None:
            continue
        for key in selection.resolve(graph):
            out.setdefault(key.to_user_string(), domain)
    return out


def domain_for(tags: Mapping[str, str] | None, asset_keys: Iterable[str], domains: Mapping[str, str]) -> str:
    if tags and tags.get(DOMAIN_TAG):
        return tags[DOMAIN_TAG]
    for key in sorted(asset_keys):
        if key in domains:
            return domains[key]
    return DEFAULT_DOMAIN
