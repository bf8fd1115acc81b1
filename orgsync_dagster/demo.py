"""`orgsync demo`: the main job end to end on embedded defaults, with no credentials and no external servers.

It starts an embedded PostgreSQL (warehouse and Dagster storage), the sandbox (VAN, Action Network, S3), seeds
sample data, runs every finished domain through the real code location's jobs and sensors, and prints a report
for a data team: what each domain did, in sentences, then the requests spent per API and what they mean in money.

Structure (for the domains' ``demo.py`` modules and for hooks):
- ``run_demo`` prepares everything (profile ``local``, databases, sandbox, environment) in ``_Environment``,
  runs each domain's ``run(ctx) -> dict`` with a ``DemoContext``, then the usage report; ``on_ready(ctx)`` (if
  given) is called after that with everything still running (e.g. to serve a web app until Ctrl-C), before the
  teardown.
- A domain's summary is a dict: a ``"prose"`` entry (a list of sentences) is printed as a paragraph; every other
  entry is a figure printed as "name: value", with dict values written out ("MI 20, WI 20").
- Nothing but the report is printed: Dagster's, werkzeug's and urllib3's logging and Dagster's warnings are
  silenced for the duration.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
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
        # the run's own log lines stay in Dagster's event log; the demo prints only its report
        config = {**QUIET_RUN_CONFIG, **(run_config or {})}
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


QUIET_LOGGERS = ("dagster", "werkzeug", "urllib3", "botocore", "boto3", "moto", "alembic", "sqlalchemy", "pgserver")


LOG_FILE = Path(tempfile.gettempdir()) / "orgsync-demo.log"
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@contextlib.contextmanager
def quiet(log_file: Path = LOG_FILE) -> Iterator[None]:
    """Keep library logging, Dagster's console loggers and warnings out of the report: they go to ``log_file``
    (restored afterwards)."""
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with open(log_file, "w") as log, contextlib.redirect_stderr(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            for name, level in saved.items():
                logging.getLogger(name).setLevel(level)


def demo_environment(*, warehouse: str, dagster_db: str, urls, van_keys: dict, an_key: str, bucket: str, home: Path):
    """Every variable the code location reads, for a local run against the sandbox (no secret is real)."""
    s3 = urls.s3_endpoint_url or ""
    return {
        "ORGSYNC_PROFILE": "local",
        "ORGSYNC_WAREHOUSE_URL": warehouse,
        "DAGSTER_PG_URL": dagster_db,
        "VAN_API_KEYS": json.dumps(van_keys),
        "VAN_URL": urls.van_url,
        "ACTION_NETWORK_API_KEY": an_key,
        "ACTION_NETWORK_URL": urls.action_network_url,
        "MONGODB_URI": "mongomock://orgsync-demo",
        "SLACK_WEBHOOK_URL": "",
        "ORGSYNC_S3_BUCKET": bucket,
        "ORGSYNC_S3_ENDPOINT_URL": s3,
        "AWS_ENDPOINT_URL_S3": s3,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DAGSTER_HOME": str(home),
    }


def run_demo(
    *,
    warehouse_url: str | None = None,
    keep: bool = False,
    domains: tuple[str, ...] = DOMAINS,
    say: Callable[[str], None] = print,
    on_ready: Callable[[DemoContext], None] | None = None,
) -> dict:
    with quiet():
        report = _run(warehouse_url=warehouse_url, keep=keep, domains=domains, say=say, on_ready=on_ready)
    _print_report(report, say)
    return report


def _run(*, warehouse_url, keep, domains, say, on_ready) -> dict:
    from orgsync_dagster.lib.embedded_pg import normalize_url, release_embedded, start_embedded
    from orgsync_dagster.sandbox.server import SandboxServer

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="orgsync-demo-"))
    say(f"orgsync demo: working in {workdir}")
    if warehouse_url:
        admin = normalize_url(warehouse_url)
        say("The warehouse is the PostgreSQL you named (a fresh database in it, dropped at the end).")
    else:
        admin = start_embedded(workdir / "pgdata")
        say("The warehouse is an embedded PostgreSQL started for this demo (a real server, removed at the end).")
    run_tag = workdir.name.rsplit("-", 1)[-1].lower()  # fresh databases: the sandbox starts empty too
    warehouse = _ensure_database(admin, f"orgsync_demo_{run_tag}_warehouse")
    dagster_db = _ensure_database(admin, f"orgsync_demo_{run_tag}_dagster")

    sandbox = SandboxServer()
    urls = sandbox.start()
    say("VAN, Action Network and S3 are the project's sandbox emulators, running in this process.")
    van_keys = {"MI": "demo-mi-key", "WI": "demo-wi-key"}
    env = demo_environment(
        warehouse=warehouse,
        dagster_db=dagster_db,
        urls=urls,
        van_keys=van_keys,
        an_key="demo-an-key",
        bucket="orgsync-demo",
        home=workdir / "dagster_home",
    )
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
        from orgsync_dagster.usage.assets import api_usage, summarize, usage_rows

        usage = dg.materialize(
            [api_usage],
            partition_key=utc_today().isoformat(),
            instance=instance,
            resources={"warehouse": WarehouseResource(url=warehouse)},
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
        report["usage_report_materialized"] = usage.success
        report["requests"] = daily_report(ctx.engine)
        report["usage"] = summarize(usage_rows(ctx.engine, utc_today()))
        runs = instance.get_runs()
        report["runs"] = {
            "total": len(runs),
            "failed": sum(1 for r in runs if r.status == dg.DagsterRunStatus.FAILURE),
        }
        report["seconds"] = round(time.monotonic() - started, 1)
        if on_ready is not None:
            on_ready(ctx)
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
    return report


def _words(value) -> str:
    """A figure for people: dicts and lists written out, never as Python literals."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {_words(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_words(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_report(report: dict, say) -> None:
    from orgsync_dagster.usage.words import usage_sentences

    say("\n== What happened ==")
    for domain, summary in report["domains"].items():
        summary = dict(summary or {})
        say(f"\n{domain.capitalize()}:")
        prose = summary.pop("prose", None)
        if prose:
            say("  " + " ".join(prose if isinstance(prose, list) else [str(prose)]))
        for key, value in summary.items():
            say(f"  - {key}: {_words(value)}")
    say("\nRequests spent today, from the warehouse's request meter:")
    for line in usage_sentences(report.get("usage", [])) or ["no request was sent"]:
        say(f"  {line}")
    if not report.get("usage_report_materialized", True):
        say("  (the orgsync/api_usage report asset did not materialize: see its run in Dagster)")
    runs = report.get("runs", {})
    failed = runs.get("failed", 0)
    outcome = "none failed" if not failed else f"{failed} failed (Dagster's log of this demo: {LOG_FILE})"
    say(f"\nDagster ran {runs.get('total', 0)} runs through the real code location; {outcome}. ")
    say(f"The demo took {report.get('seconds')} s.")
