"""`orgsync dev`: the local Dagster playground in one command.

It chooses the local profile, starts an embedded PostgreSQL (the warehouse and Dagster's storage, fresh databases
each time: the sandbox's data lives in memory) unless ORGSYNC_WAREHOUSE_URL and DAGSTER_PG_URL are both set,
starts the sandbox (VAN, Action Network, S3) accepting only the playground's keys, seeds the playground
(playground.py), writes $ORGSYNC_HOME/dev/dagster_home/dagster.yaml, exports every URL and key, and runs
`dagster dev`. Ctrl-C (or SIGTERM) stops everything: `dagster dev` and every process it started (its children
survive a SIGTERM to their process group, so the whole tree is stopped: lib/processes.py), the sandbox and the
embedded server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

DEV_DATABASES = ("orgsync_dev_warehouse", "orgsync_dev_dagster")
# the code location under its own name (alerts and crash recovery recognise their runs by it)
WORKSPACE = """load_from:
  - python_module:
      module_name: orgsync_dagster.definitions
      location_name: orgsync_dagster
"""


def _fresh_database(admin: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)


def run_dev(
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    sandbox: bool = True,
    seed: bool = True,
    keys: list[str] | None = None,
    say=print,
    dagster_args: list[str] | None = None,
) -> int:
    from orgsync_dagster.demo import _dagster_yaml
    from orgsync_dagster.lib import processes
    from orgsync_dagster.lib.embedded_pg import orgsync_home, release_embedded, start_embedded
    from orgsync_dagster.playground import PlaygroundKeys, environment, register_partitions, seed_sandbox

    env = dict(os.environ)
    env["ORGSYNC_PROFILE"] = "local"
    dev_home = orgsync_home() / "dev"
    dagster_home = dev_home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(_dagster_yaml(), dagster_home / "dagster.yaml")
    env["DAGSTER_HOME"] = str(dagster_home)
    if not env.get("MONGODB_URI"):
        # the calls store: a mongomock kept in a file, so the runs (each its own process) share the calls
        store = dev_home / "calls_store.json"
        store.unlink(missing_ok=True)
        env["MONGODB_URI"] = f"mongomock+file://{store}"

    pgdata = None
    if not (env.get("ORGSYNC_WAREHOUSE_URL") and env.get("DAGSTER_PG_URL")):
        pgdata = dev_home / "pgdata"
        admin = start_embedded(pgdata)
        env["ORGSYNC_WAREHOUSE_URL"], env["DAGSTER_PG_URL"] = (_fresh_database(admin, n) for n in DEV_DATABASES)
        say(f"embedded PostgreSQL in {pgdata}: fresh databases {', '.join(DEV_DATABASES)}")

    server = None
    child = None
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if sandbox:
            from orgsync_dagster.sandbox.server import SandboxServer

            pkeys = PlaygroundKeys.from_list(keys) if keys else PlaygroundKeys()
            server = SandboxServer(keys=pkeys.accepted())
            urls = server.start()
            env.update(environment(urls, pkeys))
            say(f"sandbox: VAN {urls.van_url}, Action Network {urls.action_network_url}, S3 {urls.s3_endpoint_url}")
            say(f"  it accepts only the playground keys {', '.join(pkeys.accepted())}; any other key gets 401")
            if seed:
                os.environ.update(env)  # the seed helpers and the instance read the same settings
                import dagster as dg

                from orgsync_dagster.playground import seed_warehouse
                from orgsync_dagster.resources.warehouse import dispose_engines, engine_for

                seed_warehouse(engine_for(env["ORGSYNC_WAREHOUSE_URL"]), say)
                seed_sandbox(urls, pkeys, say)
                instance = dg.DagsterInstance.from_config(str(dagster_home))
                try:
                    register_partitions(instance, say)
                finally:
                    instance.dispose()
                dispose_engines()
        workspace = dev_home / "workspace.yaml"
        workspace.write_text(WORKSPACE)
        cmd = [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-h",
            host,
            "-p",
            str(port),
            "-w",
            str(workspace),
            *(dagster_args or []),
        ]
        say(f"dagster dev: http://{host}:{port} (DAGSTER_HOME={dagster_home}); Ctrl-C stops everything")
        child = subprocess.Popen(cmd, env=env, cwd=dev_home, start_new_session=True)
        while not stop.is_set() and child.poll() is None:
            stop.wait(0.5)
        return 0 if stop.is_set() else (child.returncode or 0)
    finally:
        if child is not None:
            processes.stop_tree(child.pid)
            child.wait()
        if server is not None:
            server.stop()
        if pgdata is not None:
            release_embedded(pgdata)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        say("orgsync dev: stopped dagster dev, its processes, the sandbox and the embedded PostgreSQL")
