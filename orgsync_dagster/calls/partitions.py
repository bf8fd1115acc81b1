"""The calls sync's partitions: one per candidate and call day, from the configuration file."""

import dagster as dg

from orgsync_dagster.calls.config import load_settings

SETTINGS = load_settings()

candidate_partitions = dg.StaticPartitionsDefinition(sorted(SETTINGS.candidates))
# The day dimension's time zone decides when a day is complete; each candidate's calls are cut at midnight of the
# candidate's own time zone (logic.day_window), so no fixed offset is involved anywhere.
day_partitions = dg.DailyPartitionsDefinition(start_date=SETTINGS.start_date, timezone=SETTINGS.timezone)
calls_partitions = dg.MultiPartitionsDefinition({"candidate": candidate_partitions, "day": day_partitions})
cdr_file_partitions = dg.DynamicPartitionsDefinition(name="livevox_cdr_files")


def candidate_and_day(context) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["candidate"], keys["day"]


def partition_key(candidate: str, day: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"candidate": candidate, "day": day})
