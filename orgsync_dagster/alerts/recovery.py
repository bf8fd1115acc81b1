"""A crash never needs a human: a run whose run worker died is marked failed and its pool slots are freed.

Who notices a dead run worker depends on the run launcher:

* K8sRunLauncher / DockerRunLauncher: Dagster's run monitoring (dagster.yaml ``run_monitoring``) checks the
  worker's health and fails the run; ``free_slots_after_run_end_seconds`` then frees its pool slots.
* DefaultRunLauncher (``dagster dev``, one VM): the run worker is a child process of the code server, which fails
  the run itself when the child dies; ``free_slots_after_run_end_seconds`` frees the slots. But if the code server
  died too (the whole process group was killed, the host rebooted) or the run was started outside a code server
  (``dagster asset materialize``), nothing ever fails the run: it stays STARTED and keeps its slots, and the next
  run waits forever ("Step blocked by limit for pool van_api"). Run monitoring cannot help: the DefaultRunLauncher
  has no worker health check (installed source: ``supports_check_run_worker_health`` is False).

``dead_run_worker_sensor`` covers that last case: for each STARTED run of this code location older than a grace
period, it reads the run worker's pid from the run's own engine events and, when that process no longer exists on
this host (or the pid now belongs to a newer process), marks the run failed and frees its slots at once. It only
acts with the DefaultRunLauncher, whose run workers live on the code server's host, where this sensor runs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

LOCATION_NAME = "orgsync_dagster"
GRACE_SECONDS = 30.0
SENSOR_NAME = "orgsync_dead_run_worker_sensor"


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    job: str
    pid: int
    tags: dict


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 100


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> tuple[float | None, str | None]:
    """(start time as epoch seconds, state letter) of ``pid`` from /proc on Linux; (None, None) elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None, None
    after = raw[raw.rfind(")") + 2 :].split()  # fields after "pid (comm)": state is field 3, starttime field 22
    boot = _boot_time()
    started = boot + int(after[19]) / _clock_ticks() if boot is not None and len(after) > 19 else None
    return started, after[0] if after else None


def process_is_gone(pid: int, running_since: float) -> bool:
    """True when no live process ``pid`` exists that could be the run worker recorded at ``running_since``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    started, state = process_started_at(pid)
    if state in ("Z", "X"):
        return True  # a zombie: killed, waiting for its parent to reap it
    # the pid was reused by a process born after the run worker reported itself
    return started is not None and started > running_since + 1.0


def run_worker_pid(instance, run_id: str) -> tuple[int, float] | None:
    """(pid, timestamp) of the run worker from the run's first engine event carrying a pid."""
    from dagster._core.events import DagsterEventType

    for record in instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=50).records:
        data = getattr(record.event_log_entry.dagster_event, "event_specific_data", None)
        pid = (getattr(data, "metadata", None) or {}).get("pid")
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid)), record.event_log_entry.timestamp
            except (TypeError, ValueError):
                continue
    return None


def find_dead_runs(instance, *, location: str = LOCATION_NAME, grace_seconds: float | None = None) -> list[DeadRun]:
    """STARTED runs of ``location`` (or started outside any code server) whose run worker is gone."""
    import dagster as dg

    grace_seconds = GRACE_SECONDS if grace_seconds is None else grace_seconds
    now = time.time()
    dead = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        origin = run.remote_job_origin
        if origin is not None and origin.location_name != location:
            continue
        found = run_worker_pid(instance, run.run_id)
        if found is None:
            continue
        pid, since = found
        if now - since < grace_seconds:
            continue
        if process_is_gone(pid, since):
            dead.append(DeadRun(run.run_id, run.job_name, pid, dict(run.tags)))
    return dead


def fail_and_free(instance, dead: DeadRun) -> int:
    """Mark the run failed (with the reason in its event log) and free the pool slots it still holds."""
    run = instance.get_run_by_id(dead.run_id)
    if run is None or run.is_finished:
        return 0
    instance.report_run_failed(
        run,
        f"Run worker (pid {dead.pid}) is gone: the run was killed or its host restarted. Marked failed by "
        f"{SENSOR_NAME} so that its pool slots are freed and the next run can proceed.",
    )
    return free_slots(instance, dead.run_id)


def slots_held(instance, run_id: str) -> int:
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return 0
    return sum(
        1
        for key in storage.get_concurrency_keys()
        for slot in storage.get_concurrency_info(key).claimed_slots
        if slot.run_id == run_id
    )


def free_slots(instance, run_id: str) -> int:
    """Free every pool slot ``run_id`` still holds; returns how many it held."""
    held = slots_held(instance, run_id)
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return held


def uses_default_run_launcher(instance) -> bool:
    from dagster._core.launcher import DefaultRunLauncher

    return isinstance(instance.run_launcher, DefaultRunLauncher)
