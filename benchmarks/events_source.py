"""ActionKit read figure: an incremental run after one changed event reads O(changed) rows, not the table.

    .venv/bin/python benchmarks/events_source.py [--events 100000] [--mysql-url mysql+pymysql://root@127.0.0.1:3306/]

Everything is real: ActionKit's events table in a MariaDB/MySQL database of its own (``--events`` rows, with the
index on ``updated_at``), the warehouse and the Dagster run on PostgreSQL, and the `actionkit_events` job of the
code location (observation of actionkit/events_event, then actionkit/events) run twice: the first run is the full
pass, then one event is changed in ActionKit and the second run is incremental. Reported side by side:

* rows the asset read from ActionKit (its metadata), and rows the server read (the global ``Handler_read_*``
  counters around each run: every statement of the run, the observation and catalog look-ups included; other
  sessions on the same server would add to it, so it is an upper bound);
* the query plan of the incremental statement (``EXPLAIN``: the ``updated_at`` index, a range scan) and the rows it
  really examined (MariaDB ``ANALYZE``), against the full pass's;
* the time of each run.

The figure is checked, not just printed: the script exits 1 if the incremental run reads more than a handful of
rows or its plan does not use the index.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402

from orgsync_dagster.events.seed import actionkit_tables  # noqa: E402
from orgsync_dagster.lib import pg_test_server  # noqa: E402
from orgsync_dagster.resources.warehouse import engine_for  # noqa: E402

INCREMENTAL_MAX_ROWS = 10  # the changed event plus the few inside the overlap before the watermark
SERVER_MAX_ROWS = 100  # the same, plus the observation's index look-up and the catalog queries (not the table)


def make_rows(n: int) -> list[dict]:
    """``n`` ActionKit events last updated one to n*5 minutes before a fixed point long ago (naive UTC)."""
    updated = dt.datetime(2026, 6, 1, 12, 0)
    start = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=3)
    states = ["MI", "WI", "OH"]
    return [
        {
            "id": i + 1,
            "campaign_id": 1 + i % 3,
            "creator_id": 10_000 + i,
            "title": f"Canvass launch {i}",
            "venue": f"Office {i % 200}",
            "address1": f"{10 + i % 200} Grand River Ave",
            "city": "Lansing",
            "state": states[i % 3],
            "zip": "48933",
            "postal": "48933",
            "country": "United States",
            "starts_at_utc": start + dt.timedelta(minutes=7 * (i % 5000)),
            "ends_at_utc": None,
            "timezone": "America/Detroit",
            "status": "active" if i % 17 else "cancelled",
            "host_is_confirmed": 1 if i % 11 else 0,
            "created_at": updated - dt.timedelta(days=30),
            "updated_at": updated - dt.timedelta(minutes=5 * (n - i)),
        }
        for i in range(n)
    ]


def server_rows_read(engine) -> int:
    """Rows the server's storage engines handed out, all sessions (Handler_read_*): an upper bound for one run."""
    with engine.connect() as conn:
        return sum(int(v) for _k, v in conn.execute(sa.text("SHOW GLOBAL STATUS LIKE 'Handler_read%'")))


def plan_of(engine, statement: str) -> list[dict]:
    with engine.connect() as conn:
        result = conn.execute(sa.text("EXPLAIN " + statement))
        return [
            {k: row._mapping[k] for k in ("table", "type", "key", "rows", "Extra") if k in row._mapping}
            for row in result
        ]


def examined(engine, statement: str) -> list[dict]:
    """MariaDB's ANALYZE: the plan executed, with the rows really examined (r_rows)."""
    with engine.connect() as conn:
        doc = json.loads(conn.execute(sa.text("ANALYZE FORMAT=JSON " + statement)).scalar())
    out = []

    def walk(node):
        if isinstance(node, dict):
            if "table_name" in node:
                out.append(
                    {
                        "table": node["table_name"],
                        "access_type": node.get("access_type"),
                        "key": node.get("key"),
                        "r_rows": node.get("r_rows"),
                    }
                )
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return out


def measure(n_events: int, mysql_admin_url: str) -> dict:
    import dagster as dg

    from orgsync_dagster.events.assets import actionkit_events, actionkit_events_event
    from orgsync_dagster.resources.actionkit import ActionKitResource
    from orgsync_dagster.resources.config import OrgsyncConfigResource
    from orgsync_dagster.resources.warehouse import WarehouseResource

    admin = sa.create_engine(mysql_admin_url, poolclass=sa.pool.NullPool)
    db = f"orgsync_bench_ak_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4"))
    ak_url = sa.engine.make_url(mysql_admin_url).set(database=db).render_as_string(hide_password=False)
    ak = sa.create_engine(ak_url)
    pg_admin, _where = pg_test_server.admin_url()
    wh_url = pg_test_server.create_database(pg_admin, "orgsync_bench_wh")
    try:
        events, _campaigns = actionkit_tables(ak, schema=None)
        rows = make_rows(n_events)
        t = time.monotonic()
        with ak.begin() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(events.insert(), rows[i : i + 5000])
            conn.execute(sa.text("ANALYZE TABLE events_event"))
        seed_seconds = time.monotonic() - t

        warehouse_engine = engine_for(wh_url)
        resources = {
            "warehouse": WarehouseResource(url=wh_url),
            "actionkit": ActionKitResource(database_url=ak_url),
            "orgsync_config": OrgsyncConfigResource(),
        }
        defs = dg.Definitions(
            assets=[actionkit_events_event, actionkit_events],
            jobs=[dg.define_asset_job("read", selection=dg.AssetSelection.all())],
            resources=resources,
        )
        job = defs.resolve_job_def("read")
        runs = {}
        watermark_before = None
        with dg.instance_for_test() as instance:
            for name in ("full pass", "incremental after one change"):
                if name.startswith("incremental"):
                    with ak.begin() as conn:
                        conn.execute(
                            sa.text(
                                "UPDATE events_event SET title = 'Moved to the library', updated_at = UTC_TIMESTAMP() "
                                "WHERE id = :id"
                            ),
                            {"id": n_events // 2},
                        )
                before = server_rows_read(ak)
                t = time.monotonic()
                result = job.execute_in_process(instance=instance)
                seconds = time.monotonic() - t
                server_rows = server_rows_read(ak) - before
                assert result.success, "the actionkit_events run failed"
                mats = result.asset_materializations_for_node("actionkit__events")
                m = {k: v.value for k, v in mats[-1].metadata.items()}
                runs[name] = {
                    "read_mode": m["read_mode"],
                    "rows_read_by_the_asset": m["rows_read_from_actionkit"],
                    "rows_read_by_the_server": server_rows,
                    "changed_events": m["changed_events"],
                    "events_revalidated": m["events_revalidated"],
                    "run_seconds": round(seconds, 2),
                    "watermark_before_utc": watermark_before,
                }
                watermark_before = m["watermark_utc"]
        # the statements the asset sends, as MariaDB plans and executes them
        source = resources["actionkit"].open()
        dialect = ak.dialect
        # the incremental statement exactly as the second run sent it: since = its watermark - the 10-minute overlap
        watermark = dt.datetime.fromisoformat(runs["incremental after one change"]["watermark_before_utc"])
        incremental_sql = str(
            source.events_query(watermark - dt.timedelta(minutes=10)).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        full_sql = str(source.events_query(None).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        source.dispose()
        plans = {
            "incremental": {
                "sql": " ".join(incremental_sql.split()),
                "explain": plan_of(ak, incremental_sql),
                "analyze": examined(ak, incremental_sql),
            },
            "full pass": {"explain": plan_of(ak, full_sql), "analyze": examined(ak, full_sql)},
        }
        full, inc = runs["full pass"], runs["incremental after one change"]
        return {
            "events_in_actionkit": n_events,
            "seed_seconds": round(seed_seconds, 1),
            "runs": runs,
            "ratio_rows_read_by_server_full_over_incremental": round(
                full["rows_read_by_the_server"] / max(1, inc["rows_read_by_the_server"]), 1
            ),
            "ratio_run_seconds_full_over_incremental": round(full["run_seconds"] / max(0.001, inc["run_seconds"]), 1),
            "query_plans": plans,
        }
    finally:
        ak.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{db}`"))
        admin.dispose()
        if "warehouse_engine" in locals():
            warehouse_engine.dispose()
        pg_test_server.drop_database(pg_admin, wh_url)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument(
        "--mysql-url",
        default=os.environ.get("ORGSYNC_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
        help="a MariaDB/MySQL server where a database of its own is created and dropped",
    )
    args = p.parse_args(argv)
    os.environ.setdefault("ORGSYNC_PROFILE", "local")
    out = measure(args.events, args.mysql_url)
    print(json.dumps(out, indent=2, default=str))
    inc = out["runs"]["incremental after one change"]
    inc_plan = out["query_plans"]["incremental"]["explain"][0]
    ok = (
        inc["read_mode"] == "incremental"
        and inc["rows_read_by_the_asset"] <= INCREMENTAL_MAX_ROWS
        and inc["rows_read_by_the_server"] <= SERVER_MAX_ROWS
        and inc_plan.get("key") == "ix_events_event_updated_at"
        and out["runs"]["full pass"]["rows_read_by_the_asset"] == out["events_in_actionkit"]
    )
    print("figure: " + ("met (incremental reads O(changed) rows)" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
