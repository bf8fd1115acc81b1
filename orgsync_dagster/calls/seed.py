"""Synthetic Livevox calls for the demo, the tests and the benchmarks: realistic shapes, seeded VAN people."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from orgsync_dagster.calls.cdr import CDR_COLUMNS
from orgsync_dagster.sandbox import van_seed

# on-screen result -> share of calls (a phone bank day: mostly no answer / messages)
RESULT_MIX = [
    ("strong support", 8),
    ("lean support", 6),
    ("undecided", 6),
    ("oppose", 4),
    ("volunteer yes", 3),
    ("refused", 8),
    ("wrong number", 4),
    ("left message", 20),
    ("busy", 7),
    ("dropped", 10),
    ("no answer", 24),
]
CDR_HEADER = list(CDR_COLUMNS)  # sample CDR files have the columns the loader expects


def sample_calls(
    district: str, day: str, tz: str, n: int, *, seed: int = 1, people: int = 200, first_person: int = 0
) -> Iterator[dict]:
    """``n`` call documents of one day (store shape). Person i of the day is VAN person ``first_person + i``
    (mod ``people``), so up to ``people`` calls reach distinct people."""
    rng = random.Random(seed)
    names, weights = zip(*RESULT_MIX)
    zone = ZoneInfo(tz)
    base = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(10, 0), tzinfo=zone)
    for i in range(n):
        index = (first_person + i) % people
        person = van_seed.build_person(index)
        start = (base + dt.timedelta(seconds=int(i * 36000 / max(n, 1)))).astimezone(dt.UTC)
        result = rng.choices(names, weights)[0]
        yield {
            "id": f"{district}{day.replace('-', '')}{i:06d}",
            "account_number": f"{district}-van-{person['vanId']}",
            "district": district,
            "system_id": "van",
            "voter_id": str(person["vanId"]),
            "first_name": person["firstName"],
            "last_name": person["lastName"],
            "phone_dialed": person["phones"][0]["phoneNumber"],
            "connect_time": start,
            "start_time": start,
            "finish_time": start + dt.timedelta(seconds=90),
            "timestamp": start,
            "caller_login": f"caller{i % 7}",
            "lv_result": result,
            "full_on_screen_result": result,
            "campaign_id": "7001",
        }


def cdr_rows(calls, tz: str = "America/New_York") -> Iterator[list[str]]:
    """The same calls as rows of a Livevox CDR export (call-center local times)."""
    zone = ZoneInfo(tz)
    fmt = "%m/%d/%Y %H:%M:%S"
    for c in calls:
        yield [
            c["id"],
            c["account_number"],
            c["first_name"],
            c["last_name"],
            c["phone_dialed"],
            c["connect_time"].astimezone(zone).strftime(fmt),
            c["start_time"].astimezone(zone).strftime(fmt),
            c["finish_time"].astimezone(zone).strftime(fmt),
            c["caller_login"],
            _livevox_result(c["lv_result"]),
            c["campaign_id"],
        ]


def _livevox_result(result: str) -> str:
    """Livevox spells some results as agent term codes (mapped back by the config's term_codes)."""
    return f"Agent - {result.title()} (1)" if result in ("strong support", "left message") else result.title()
