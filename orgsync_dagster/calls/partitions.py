"""The calls sync's partitions: candidate (dynamic: added and removed in the warehouse store, no code change) x
call day. Only the day dimension's time zone and start are read at import (they shape the definitions)."""

import dagster as dg

from orgsync_dagster.calls.config import parse_deployment
from orgsync_dagster.lib import config as cfg
from orgsync_dagster.partitions import dimension_keys

_DEFINITION_SHAPE = parse_deployment(cfg.section("calls"))

# Kept in step with the config store by calls_candidates_sensor (and by the schedule before it requests a run).
candidate_partitions = dg.DynamicPartitionsDefinition(name="calls_candidates")
# The day dimension's time zone decides when a day is complete; each candidate's calls are cut at midnight of the
# candidate's own time zone (logic.day_window), so no fixed offset is involved anywhere.
day_partitions = dg.DailyPartitionsDefinition(
    start_date=_DEFINITION_SHAPE.start_date, timezone=_DEFINITION_SHAPE.timezone
)
calls_partitions = dg.MultiPartitionsDefinition({"candidate": candidate_partitions, "day": day_partitions})
cdr_file_partitions = dg.DynamicPartitionsDefinition(name="livevox_cdr_files")
SCHEDULE_TIMEZONE = _DEFINITION_SHAPE.timezone


def candidate_and_day(context) -> tuple[str, str]:
    keys = dimension_keys(context.partition_key, calls_partitions)
    return keys["candidate"], keys["day"]


def partition_key(candidate: str, day: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"candidate": candidate, "day": day})
