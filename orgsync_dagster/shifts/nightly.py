"""The nightly job's state machine, pure: backup -> verify -> reset -> import the next day.

Each day of each VAN instance (a day x instance partition) has a stage in ``shifts.day_status``. Every step is one transaction that moves the stage forward, and a
re-run starts from the stage it finds, so a crash anywhere loses nothing and duplicates nothing:

* before ``reset`` the live day tables are the truth: the backup is replaced (delete + insert by day) and
  verified again, and the reset re-checks that the backup still matches the live rows inside its own transaction;
* from ``reset`` on the backup is the truth: it is never replaced again, and the day is not backed up twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from orgsync_dagster.shifts.logic import ShiftsError

STAGES = ("open", "backed_up", "verified", "reset", "imported")
STEPS = ("backup", "verify", "reset", "import_next_day")
STAGE_AFTER = dict(zip(STEPS, STAGES[1:]))


def rank(stage: str | None) -> int:
    return STAGES.index(stage or "open")


def archived(stage: str | None) -> bool:
    """True once the day was reset: its rows live in the backup tables from then on."""
    return rank(stage) >= rank("reset")


def steps_to_run(stage: str | None) -> list[str]:
    """What a run still has to do for a day found in ``stage``."""
    done = rank(stage)
    if done < rank("reset"):  # the live day is still the truth: back it up (again), verify, reset
        return list(STEPS)
    if done < rank("imported"):
        return ["import_next_day"]
    return []


def check_day_closed(day: dt.date, today: dt.date, timezone: str) -> None:
    if day >= today:
        raise ShiftsError(
            f"{day} has not ended yet in {timezone} (today is {today}): the nightly backup and reset run for "
            "finished days only."
        )


def import_next_day(day: dt.date, today: dt.date) -> bool:
    """The next day's shifts are imported only if that day is today or later (a backfill of an old day must not
    put long-gone shifts back into the organizer tool)."""
    return day + dt.timedelta(days=1) >= today


def _plain(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def digest(rows: list[dict]) -> str:
    """Order-independent fingerprint of rows (timestamps compared as instants)."""
    blobs = sorted(json.dumps({k: _plain(v) for k, v in r.items()}, sort_keys=True, default=str) for r in rows)
    return hashlib.sha256("\n".join(blobs).encode()).hexdigest()[:32]


def compare(live: dict[str, tuple[int, str]], backup: dict[str, tuple[int, str]]) -> list[str]:
    """Mismatches between the live day and its backup, per table: ``{table: (row count, digest)}``."""
    problems = []
    for table in sorted(set(live) | set(backup)):
        (n_live, d_live), (n_backup, d_backup) = live.get(table, (0, "")), backup.get(table, (0, ""))
        if n_live != n_backup:
            problems.append(f"{table}: {n_live} live rows but {n_backup} backed up")
        elif d_live != d_backup:
            problems.append(f"{table}: {n_live} rows on both sides but their contents differ")
    return problems
