"""The warehouse: PostgreSQL through SQLAlchemy 2. With no URL configured, the local profile starts an embedded
PostgreSQL; production refuses (ORGSYNC_WAREHOUSE_URL must be set)."""

from __future__ import annotations

import threading

import dagster as dg
import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.engine import Engine

from orgsync_dagster.lib import profile
from orgsync_dagster.lib.embedded_pg import normalize_url
from orgsync_dagster.lib.tables import ensure_schema

_engines: dict[str, Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def engine_for(url: str | None, embedded_dir: str | None = None) -> Engine:
    """One engine per URL per process, with every table created on first use. No URL: the embedded PostgreSQL in
    the local profile, a ProfileError in production."""
    if url:
        resolved = normalize_url(url)
    else:
        if not profile.is_local():
            profile.require_setting("ORGSYNC_WAREHOUSE_URL", url, what="the warehouse")
        from orgsync_dagster.lib.embedded_pg import start_embedded  # local only (pgserver: the [local] extra)

        resolved = start_embedded(embedded_dir)
    with _lock:
        engine = _engines.get(resolved)
        if engine is None:
            engine = sa.create_engine(resolved, pool_pre_ping=True, pool_size=10, max_overflow=20)
            _engines[resolved] = engine
        if resolved not in _ready:
            ensure_schema(engine)
            _ready.add(resolved)
    return engine


class WarehouseResource(dg.ConfigurableResource):
    """PostgreSQL warehouse holding the ActionKit copy, VAN mirrors, snapshots, the sync ledger and the meter."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy/PostgreSQL URL (EnvVar ORGSYNC_WAREHOUSE_URL). Empty: the embedded PostgreSQL in the "
        "local profile; an error in production.",
    )
    embedded_dir: str | None = Field(
        default=None, description="Data directory of the embedded PostgreSQL (default $ORGSYNC_HOME/pgdata)."
    )

    def get_engine(self) -> Engine:
        return engine_for(self.url or None, self.embedded_dir)


def dispose_engines() -> None:
    """Close every pooled connection of this process (before an embedded server is stopped)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _ready.clear()
