"""Events sync figures: request counts, crash safety (SIGKILL mid-push, re-run) and fault tolerance.

    .venv/bin/python benchmarks/events_sync.py [--events 200] [--fault-rate 0.2]

Everything is real: the sandbox VAN over HTTP (in this process), PostgreSQL (warehouse and Dagster storage),
and the code location run by `dagster asset materialize` in a child process, which is killed with SIGKILL while
it is pushing. The figures are checked, not just printed: the script exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orgsync_dagster.events.seed import seed_actionkit_events  # noqa: E402
from orgsync_dagster.lib import pg_test_server  # noqa: E402
from orgsync_dagster.resources.warehouse import engine_for  # noqa: E402
from orgsync_dagster.sandbox.server import SandboxServer  # noqa: E402

SELECT = "key:actionkit/events or key:van/events or key:van/event_sync"


def make_events(n: int, start_id: int = 90000, distinct_locations: int = 10) -> list[dict]:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    return [
        {
            "id": start_id + i,
            "campaign_id": 1 + i % 2,
            "title": f"Canvass launch {i}",
            "venue": f"Office {i % distinct_locations}",
            "address1": f"{10 + i % distinct_locations} Grand River Ave",
            "city": "Lansing",
            "state": "MI",
            "zip": "48933",
            "country": "US",
            "starts_at_utc": now + dt.timedelta(days=1 + i % 25, hours=i % 5),
            "ends_at_utc": None,
            "timezone": "America/Detroit",
            "status": "active",
            "host_is_confirmed": 1,
        }
        for i in range(n)
    ]


class Harness:
    """A warehouse database, a Dagster home on PostgreSQL and a sandbox; runs the events job in a subprocess."""

    def __init__(self, *, fault_rate: float = 0.0, seed: int = 5, rps: float = 40.0):
        self.admin, self.where = pg_test_server.admin_url()
        self.db_url = pg_test_server.create_database(self.admin, "orgsync_bench")
        self.engine = engine_for(self.db_url)
        self.home = Path(tempfile.mkdtemp(prefix="orgsync-bench-home-"))
        shutil.copy(REPO / "dagster.yaml", self.home / "dagster.yaml")
        self.sandbox = SandboxServer(fault_rate=fault_rate, seed=seed, with_s3=False)
        self.urls = self.sandbox.start()
        self.key = f"bench-{os.getpid()}-{int(time.time())}"
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "ORGSYNC_PROFILE": "local",  # ActionKit is read from the warehouse's actionkit schema
            "DAGSTER_PG_URL": self.db_url,
            "ORGSYNC_WAREHOUSE_URL": self.db_url,
            "VAN_URL": self.urls.van_url,
            "VAN_API_KEYS": json.dumps({"MI": self.key, "WI": self.key + "-wi"}),
            "VAN_REQUESTS_PER_SECOND": str(rps),
        }

    def start_run(self) -> subprocess.Popen:
        cmd = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "orgsync_dagster.definitions",
            "--select",
            SELECT,
            "--partition",
            "MI",
        ]
        return subprocess.Popen(
            cmd,
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
        )

    def run(self, timeout: float = 300) -> int:
        proc = self.start_run()
        _out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            sys.stderr.write(err[-3000:])
        return proc.returncode

    def fail_dead_runs(self) -> int:
        """What run monitoring does for a run whose worker died: mark it failed, which frees its pool slots."""
        import dagster as dg

        os.environ["DAGSTER_PG_URL"] = self.db_url
        instance = dg.DagsterInstance.from_config(str(self.home))
        try:
            dead = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
            for run in dead:
                instance.report_run_failed(run)
                instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            return len(dead)
        finally:
            instance.dispose()

    def van_events(self) -> list[dict]:
        return self.sandbox.van.dump(self.key)["events"]

    def close(self) -> None:
        self.sandbox.stop()
        self.engine.dispose()
        pg_test_server.drop_database(self.admin, self.db_url)
        shutil.rmtree(self.home, ignore_errors=True)


def exactly_once(events: list[dict], expected_ids: list[int]) -> bool:
    shorts = sorted(int(e["shortName"]) for e in events)
    return shorts == sorted(expected_ids)


def crash_and_rerun(n_events: int = 200, kill_after: int = 60) -> dict:
    h = Harness()
    try:
        rows = make_events(n_events)
        seed_actionkit_events(h.engine, rows)
        proc = h.start_run()
        deadline = time.monotonic() + 300
        while len(h.van_events()) < kill_after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        killed_at = len(h.van_events())
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        h.fail_dead_runs()
        rc = h.run()
        events = h.van_events()
        from orgsync_dagster.lib.ledger import unresolved_summary

        return {
            "events": n_events,
            "killed_after_creates": killed_at,
            "rerun_exit": rc,
            "in_van": len(events),
            "exactly_once": exactly_once(events, [r["id"] for r in rows]),
            # the create the kill interrupted is found by the re-run's export: reconciled, not left in_flight
            "ledger_unresolved_after_rerun": unresolved_summary(h.engine, "van.events").total,
        }
    finally:
        h.close()


def faults(n_events: int = 200, fault_rate: float = 0.2, max_runs: int = 3) -> dict:
    h = Harness(fault_rate=fault_rate, rps=200)
    try:
        rows = make_events(n_events)
        seed_actionkit_events(h.engine, rows)
        runs = 0
        while runs < max_runs:
            runs += 1
            if h.run() == 0 and len(h.van_events()) == n_events:
                break
        events = h.van_events()
        stats = dict(h.sandbox.stats)
        return {
            "events": n_events,
            "fault_rate": fault_rate,
            "runs": runs,
            "in_van": len(events),
            "exactly_once": exactly_once(events, [r["id"] for r in rows]),
            "faults_injected": {k: v for k, v in stats.items() if k.startswith("fault_")},
        }
    finally:
        h.close()


def requests_figures(n_events: int = 200, locations: int = 10) -> dict:
    from orgsync_dagster.lib.meter import daily_report

    h = Harness(rps=500)
    try:
        seed_actionkit_events(h.engine, make_events(n_events, distinct_locations=locations))
        assert h.run() == 0
        first = sum(r["requests"] for r in daily_report(h.engine) if r["instance"] == "MI")
        assert h.run() == 0
        second = sum(r["requests"] for r in daily_report(h.engine) if r["instance"] == "MI") - first
        export_cost = 1 + math.ceil(n_events / 50)
        return {
            "events": n_events,
            "distinct_locations": locations,
            "first_run_requests": first,
            "first_run_bound": 1 + 1 + n_events + locations,  # export of 0 + creates + locations
            "rerun_requests": second,
            "rerun_expected": export_cost,
            "rerun_write_requests": second - export_cost,
        }
    finally:
        h.close()


def main(argv=None) -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--fault-rate", type=float, default=0.2)
    args = p.parse_args(argv)
    t = time.monotonic()
    req = requests_figures(args.events)
    crash = crash_and_rerun(args.events)
    flt = faults(args.events, args.fault_rate)
    print(
        json.dumps(
            {"requests": req, "crash": crash, "faults": flt, "seconds": round(time.monotonic() - t, 1)}, indent=2
        )
    )
    ok = (
        req["first_run_requests"] <= req["first_run_bound"]
        and req["rerun_write_requests"] == 0
        and crash["exactly_once"]
        and crash["rerun_exit"] == 0
        and crash["ledger_unresolved_after_rerun"] == 0
        and flt["exactly_once"]
    )
    print("figures: " + ("all met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
