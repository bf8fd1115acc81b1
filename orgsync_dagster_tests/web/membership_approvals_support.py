"""What the membership approvals page's tests share (no tests here): blocked exports written into the web test
warehouse the way the pipeline leaves them (a pushed base export, a loaded export whose diff tripped the guard,
one changed member's row with personal data that the page must never show), and an HQ user."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from orgsync_dagster.membership import store
from orgsync_dagster.membership.tables import diff_rows, diffs, pushes
from orgsync_dagster.web import tables as web_tables

HQ = {"email": "hana@example.org", "full_name": "Hana Quarters", "rank": "FD", "region": "HQ"}
SECRET_EMAIL = "o'brien.member@example.org"


def add_hq(engine) -> None:
    with engine.begin() as conn:
        if not conn.execute(sa.select(web_tables.users.c.id).where(web_tables.users.c.email == HQ["email"])).first():
            conn.execute(web_tables.users.insert().values(**HQ))


def seed_blocked(engine, *, older: int = 1000, newer: int = 600, lapsed: int = 400, quarantined: int = 3) -> str:
    """A pushed base export and a newer one the guard blocks; returns the blocked export's partition key."""
    tag = uuid.uuid4().hex[:8]
    t0 = dt.datetime(2026, 11, 14, 6, tzinfo=dt.UTC)
    base, pk = f"2026-11-14/{tag}.csv@aaaa{tag}", f"2026-11-21/{tag}.csv@bbbb{tag}"
    for i, (key, rows_q) in enumerate(((base, 0), (pk, quarantined))):
        store.record_export(
            engine,
            key,
            bucket="exports",
            s3_key=f"actionkit/exports/{key.split('@')[0]}",
            last_modified=t0 + dt.timedelta(days=7 * i),
            status="loaded",
            rows_quarantined=rows_q,
            key_column="email",
        )
    with engine.begin() as conn:
        conn.execute(
            diffs.insert().values(
                partition_key=pk,
                base_partition=base,
                key_column="email",
                older_rows=older,
                newer_rows=newer,
                new=5,
                updated=7,
                lapsed=lapsed,
                unchanged=newer - 12,
            )
        )
        conn.execute(
            diff_rows.insert().values(
                partition_key=pk, member_key=SECRET_EMAIL, status="lapsed", data={"first_name": "Siobhan"}
            )
        )
        conn.execute(pushes.insert().values(partition_key=base, status="complete", planned=older, succeeded=older))
    return pk
