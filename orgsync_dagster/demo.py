"""`orgsync demo`: the main job end to end on embedded defaults, with no credentials and no external servers.

It starts an embedded PostgreSQL (warehouse and Dagster storage), the sandbox (VAN, Action Network, S3), seeds
sample data, runs every finished domain through the real code location's jobs and sensors, and prints a
readable report: what was created, requests spent per API, and what they would have cost.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

REPO_DAGSTER_YAML = Path(__file__).resolve().parent.parent / "dagster.yaml"
PACKAGED_DAGSTER_YAML = Path(__file__).resolve().parent / "config" / "dagster.yaml"
DOMAINS = ("events", "membership", "calls", "shifts")


@dataclass
class DemoContext:
    """What a domain's ``demo.run(ctx)`` gets: everything is real, local and already running."""

    defs: object  # dagster.Definitions of the code location
    instance: object  # dagster.DagsterInstance on PostgreSQL storage
    engine: sa.engine.Engine  # the warehouse
    sandbox: object  # orgsync_dagster.sandbox.server.SandboxServer (in process)
    van_keys: dict[str, str]  # VAN instance -> sandbox API key
    action_network_key: str
    s3_bucket: str
    workdir: Path
    say: Callable[[str], None] = print
    results: dict = field(default_factory=dict)

    def run_job(
        self,
        job_name: str,
        *,
        partition_key: str | None = None,
        run_config: dict | None = None,
        tags: dict | None = None,
    ):
        job = self.defs.resolve_job_def(job_name)
        config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **(run_config or {})}
        return job.execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            run_config=config,
            tags=tags,
            raise_on_error=False,
        )


def _dagster_yaml() -> Path:
    return REPO_DAGSTER_YAML if REPO_DAGSTER_YAML.exists() else PACKAGED_DAGSTER_YAML


def _ensure_database(admin_url: str, name: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select 1 from pg_database where datname = :n"), {"n": name}).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, url: str) -> None:
    name = sa.engine.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_demo(
    *,
    warehouse_url: str | None = None,
    keep: bool = False,
    domains: tuple[str, ...] = DOMAINS,
    say: Callable[[str], None] = print,
    as_json: bool = False,
    serve: Callable[[DemoContext], None] | None = None,
) -> dict:
    from orgsync_dagster.lib.embedded_pg import normalize_url, release_embedded, start_embedded
    from orgsync_dagster.sandbox.server import SandboxServer

    started = time.monotonic()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="orgsync-demo-"))
    say(f"orgsync demo: working in {workdir}")
    if warehouse_url:
        admin = normalize_url(warehouse_url)
        say("warehouse: the PostgreSQL you configured")
    else:
        admin = start_embedded(workdir / "pgdata")
        say("warehouse: embedded PostgreSQL (real server, started for this demo)")
    run_tag = workdir.name.rsplit("-", 1)[-1].lower()  # fresh databases: the sandbox starts empty too
    warehouse = _ensure_database(admin, f"orgsync_demo_{run_tag}_warehouse")
    dagster_db = _ensure_database(admin, f"orgsync_demo_{run_tag}_dagster")

    sandbox = SandboxServer()
    urls = sandbox.start()
    say(f"sandbox: VAN {urls.van_url}  Action Network {urls.action_network_url}  S3 {urls.s3_endpoint_url}")
    van_keys = {"MI": "demo-mi-key", "WI": "demo-wi-key"}
    env = {
        "ORGSYNC_WAREHOUSE_URL": warehouse,
        "DAGSTER_PG_URL": dagster_db,
        "VAN_API_KEYS": json.dumps(van_keys),
        "VAN_URL": urls.van_url,
        "VAN_REQUESTS_PER_SECOND": "25",  # the sandbox, not the real VAN: no need for production pacing
        "ACTION_NETWORK_API_KEY": "demo-an-key",
        "ACTION_NETWORK_URL": urls.action_network_url,
        "ORGSYNC_S3_ENDPOINT_URL": urls.s3_endpoint_url or "",
        "ORGSYNC_S3_BUCKET": "orgsync-demo",
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DAGSTER_HOME": str(workdir / "dagster_home"),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    report: dict = {"domains": {}}
    try:
        home = Path(env["DAGSTER_HOME"])
        home.mkdir()
        shutil.copy(_dagster_yaml(), home / "dagster.yaml")
        import dagster as dg

        from orgsync_dagster.resources.warehouse import engine_for

        instance = dg.DagsterInstance.from_config(str(home))
        definitions = importlib.import_module("orgsync_dagster.definitions")
        ctx = DemoContext(
            defs=definitions.defs,
            instance=instance,
            engine=engine_for(warehouse),
            sandbox=sandbox,
            van_keys=van_keys,
            action_network_key=env["ACTION_NETWORK_API_KEY"],
            s3_bucket=env["ORGSYNC_S3_BUCKET"],
            workdir=workdir,
            say=say,
        )
        for name in domains:
            module = importlib.import_module(f"orgsync_dagster.{name}.demo")
            say(f"\n== {name} ==")
            report["domains"][name] = module.run(ctx)
        from orgsync_dagster.lib.meter import daily_report, utc_today
        from orgsync_dagster.resources.warehouse import WarehouseResource
        from orgsync_dagster.usage.assets import api_usage

        usage = dg.materialize(
            [api_usage],
            partition_key=utc_today().isoformat(),
            instance=instance,
            resources={"warehouse": WarehouseResource(url=warehouse)},
        )
        say(f"\n== platform ==\napi usage report (orgsync/api_usage) for today: {'ok' if usage.success else 'FAILED'}")
        report["requests"] = daily_report(ctx.engine)
        report["runs"] = {
            "total": len(instance.get_runs()),
            "failed": sum(1 for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE),
        }
        report["seconds"] = round(time.monotonic() - started, 1)
        if serve is not None:  # e.g. the tracker web app on the demo's data, until Ctrl-C
            serve(ctx)
        instance.dispose()
    finally:
        sandbox.stop()
        if not keep:
            from orgsync_dagster.resources.warehouse import dispose_engines

            dispose_engines()
            if warehouse_url:
                for db in (warehouse, dagster_db):
                    _drop_database(admin, db)
            else:
                release_embedded(workdir / "pgdata")  # stop the server before its directory goes
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    _print_report(report, say)
    return report


def _print_report(report: dict, say) -> None:
    say("\n== report ==")
    for domain, summary in report["domains"].items():
        say(f"{domain}:")
        for key, value in (summary or {}).items():
            say(f"  {key}: {value}")
    say("requests spent today (from the warehouse request meter):")
    for row in report.get("requests", []):
        price = f"${row['cost_usd']:.2f}" if row["system"] == "van" else "n/a (rate-limited, not billed)"
        say(f"  {row['system']:<15} {row['instance']:<10} {row['requests']:>6} requests   cost at VAN pricing: {price}")
    runs = report.get("runs", {})
    say(f"dagster runs: {runs.get('total', 0)} ({runs.get('failed', 0)} failed); {report.get('seconds')} s")
