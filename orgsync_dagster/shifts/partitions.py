"""The shifts domain's partitions: one per day and VAN instance (a day of one state's organizer tool).

Only what shapes the definitions is read from the configuration at import: the days' time zone and first day
(and, in jobs.py, the schedules' crons). Everything else is injected at run time by the ``orgsync_config`` resource.
"""

import datetime as dt

import dagster as dg

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.partitions import dimension_keys, van_instance_partitions
from orgsync_dagster.shifts.settings import ShiftsSettings

DEFINITION = ShiftsSettings.from_config(cfg.section("shifts"))

# end_offset=1: today is a partition too (the hourly export and import work on it; the nightly job refuses a day
# that has not ended)
day_partitions = dg.DailyPartitionsDefinition(
    start_date=DEFINITION.partitions_start, timezone=DEFINITION.timezone, end_offset=1
)
shifts_partitions = dg.MultiPartitionsDefinition({"day": day_partitions, "instance": van_instance_partitions})


def day_and_instance(context) -> tuple[dt.date, str]:
    keys = dimension_keys(context.partition_key, shifts_partitions)
    return dt.date.fromisoformat(keys["day"]), keys["instance"]


def partition_key(day: dt.date | str, instance: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": str(day), "instance": instance})
