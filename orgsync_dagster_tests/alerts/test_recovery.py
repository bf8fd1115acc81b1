"""A crash never needs a human: a real run worker (with its step child process) on PostgreSQL storage holds the
van_api pool slot, both are SIGKILLed, and the next run's step still gets the slot.

The run worker is `dagster asset materialize` in its own process group (the multiprocess executor runs the step in
a child process); the kill is os.killpg(SIGKILL). What frees the slot is what runs in production:
- test 1: the orgsync_dead_run_worker_sensor (evaluated directly, as the daemon would on its next tick): it sees
  the run worker's pid is gone, fails the run and frees its slots;
- test 2: Dagster's own path when the code server noticed the death and failed the run (done here with
  report_run_failed, exactly what the code server's orphan check calls): the monitoring daemon's concurrency loop
  (invoked directly) frees the slots of a finished run after free_slots_after_run_end_seconds (dagster.yaml: 60 s;
  1 s in this test's copy).
"""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import yaml

from orgsync_dagster.alerts import recovery
from orgsync_dagster.alerts.sensors import build_recovery_sensor
from orgsync_dagster.resources.slack import SlackResource

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).parent / "dagster")


class Harness:
    def __init__(self, tmp_path: Path, pg_url: str, monkeypatch, free_slots_after: int | None = None):
        self.home = tmp_path / "dagster_home"
        self.home.mkdir()
        config = yaml.safe_load((REPO / "dagster.yaml").read_text())
        if free_slots_after is not None:
            config["run_monitoring"]["free_slots_after_run_end_seconds"] = free_slots_after
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        self.marker = tmp_path / "step-started"
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "DAGSTER_PG_URL": pg_url,
            "CRASH_TEST_MARKER": str(self.marker),
        }
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)  # the instance of this test process reads it too
        self.instance = dg.DagsterInstance.from_config(str(self.home))

    def start(self, sleep: float) -> subprocess.Popen:
        self.marker.unlink(missing_ok=True)
        return subprocess.Popen(
            [DAGSTER, "asset", "materialize", "-m", "orgsync_dagster_tests.alerts.crash_job", "--select", "*"],
            env={**self.env, "CRASH_TEST_SLEEP": str(sleep)},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: the run worker and its step child
            text=True,
        )

    def start_and_kill(self) -> str:
        proc = self.start(sleep=300)
        deadline = time.monotonic() + 60
        while not self.marker.exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the step never started"
            time.sleep(0.2)
        step_pid = int(self.marker.read_text())
        os.killpg(proc.pid, signal.SIGKILL)  # the run worker and all its children
        proc.wait(timeout=10)
        _wait_gone(step_pid)
        (run,) = self.instance.get_runs()
        assert run.status == dg.DagsterRunStatus.STARTED  # nobody told Dagster
        assert recovery.slots_held(self.instance, run.run_id) == 1  # the dead run keeps the van_api slot
        return run.run_id

    def next_run_succeeds(self, timeout: float = 45) -> None:
        proc = self.start(sleep=0)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail("the next run is still blocked on the van_api pool")
        assert proc.returncode == 0, err[-2000:]
        latest = self.instance.get_runs(limit=1)[0]
        assert latest.status == dg.DagsterRunStatus.SUCCESS

    def close(self):
        self.instance.dispose()


def _wait_gone(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if recovery.process_is_gone(pid, 0):
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkilled_run_is_failed_by_the_sensor_and_the_next_run_gets_the_pool_slot(tmp_path, pg_url, monkeypatch):
    h = Harness(tmp_path, pg_url, monkeypatch)
    try:
        run_id = h.start_and_kill()
        monkeypatch.setattr(recovery, "GRACE_SECONDS", 0.0)
        posted = []
        monkeypatch.setattr(SlackResource, "post", lambda self, text, domain=None: posted.append((domain, text)))
        sensor = build_recovery_sensor({})
        with dg.build_sensor_context(instance=h.instance, resources={"slack": SlackResource()}) as ctx:
            result = sensor(ctx)
        assert "1 dead run" in str(result)
        run = h.instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert recovery.slots_held(h.instance, run_id) == 0
        assert posted and "lost its run worker" in posted[0][1] and "1 pool slot(s) freed" in posted[0][1]
        h.next_run_succeeds()
        # a second tick finds nothing to do: the new run finished, the dead one is failed
        with dg.build_sensor_context(instance=h.instance, resources={"slack": SlackResource()}) as ctx:
            assert "every started run is alive" in str(sensor(ctx))
    finally:
        h.close()


@pytest.mark.slow
def test_a_failed_run_still_holding_its_slot_is_freed_by_dagsters_monitoring_loop(tmp_path, pg_url, monkeypatch):
    from dagster._daemon.monitoring import execute_concurrency_slots_iteration

    h = Harness(tmp_path, pg_url, monkeypatch, free_slots_after=1)
    try:
        run_id = h.start_and_kill()
        # what the code server does when its run worker child dies (grpc server _check_for_orphaned_runs)
        h.instance.report_run_failed(h.instance.get_run_by_id(run_id))
        assert recovery.slots_held(h.instance, run_id) == 1  # failing the run alone does not free the slot
        time.sleep(2.5)
        workspace = SimpleNamespace(instance=h.instance)
        list(execute_concurrency_slots_iteration(workspace, logging.getLogger("test")))
        assert recovery.slots_held(h.instance, run_id) == 0
        h.next_run_succeeds()
    finally:
        h.close()


def test_a_live_process_is_not_declared_dead_and_a_reused_pid_is():
    me = os.getpid()
    assert not recovery.process_is_gone(me, time.time())  # recorded after it started: it is the worker
    started, _state = recovery.process_started_at(me)
    if started is not None:  # Linux: a pid recorded before this process was born belonged to another process
        assert recovery.process_is_gone(me, started - 60)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert recovery.process_is_gone(proc.pid, time.time())
