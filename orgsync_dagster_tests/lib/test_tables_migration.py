"""ensure_schema adds a nullable column that a table definition gained after the table was created."""

import pytest
import sqlalchemy as sa

from orgsync_dagster.lib import tables
from orgsync_dagster.membership.tables import diffs


def test_a_nullable_column_added_later_is_added_to_an_older_warehouse(engine):
    with engine.begin() as conn:
        conn.execute(sa.text('ALTER TABLE membership.diffs DROP COLUMN "held"'))
        conn.execute(sa.text("INSERT INTO membership.diffs (partition_key, lapsed) VALUES ('old', 3)"))
    tables.ensure_schema(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(diffs.c.lapsed, diffs.c.held).where(diffs.c.partition_key == "old")).one()
    assert (row.lapsed, row.held) == (3, None)
    tables.ensure_schema(engine)  # idempotent


def test_a_missing_not_null_column_is_named_not_guessed(engine):
    with engine.begin() as conn:
        conn.execute(sa.text('ALTER TABLE membership.exports DROP COLUMN "status"'))
    with pytest.raises(RuntimeError, match=r"membership\.exports.*'status'"):
        tables.ensure_schema(engine)
