"""Dagster instance storage on PostgreSQL, with the URL read from the environment at instance load time.

dagster.yaml names this class. Production sets DAGSTER_PG_URL (an external PostgreSQL); where it is unset
(`dagster dev` on a laptop, `dagster definitions validate` in CI), an embedded PostgreSQL under
$ORGSYNC_HOME/pgdata is started and its `dagster` database used, so Dagster's storage is always PostgreSQL.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from dagster import Field
from dagster_postgres import DagsterPostgresStorage

from orgsync_dagster.lib.embedded_pg import normalize_url, start_embedded


def embedded_dagster_url(data_dir: str | None = None) -> str:
    admin = start_embedded(data_dir)  # stops when the last process using it exits
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        if not conn.execute(sa.text("select 1 from pg_database where datname = 'dagster'")).scalar():
            conn.execute(sa.text('CREATE DATABASE "dagster"'))
    return sa.engine.make_url(admin).set(database="dagster").render_as_string(hide_password=False)


class PostgresStorageFromEnv(DagsterPostgresStorage):
    @classmethod
    def config_type(cls):
        return {
            "url_env": Field(str, default_value="DAGSTER_PG_URL", description="Variable holding the PostgreSQL URL."),
            "embedded_dir": Field(str, is_required=False, description="Embedded server data directory."),
            "should_autocreate_tables": Field(bool, default_value=True),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        url = os.environ.get(config_value["url_env"])
        url = normalize_url(url) if url else embedded_dagster_url(config_value.get("embedded_dir"))
        return DagsterPostgresStorage(
            postgres_url=url,
            inst_data=inst_data,
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
        )
