"""A run launched with only the `dagster/partition` tag (GraphQL, DagsterGraphQLClient) gets the multi-partition
key as a plain string: the domains read its dimensions either way."""

import dagster as dg

from orgsync_dagster.calls.partitions import calls_partitions, candidate_and_day
from orgsync_dagster.partitions import dimension_keys
from orgsync_dagster.shifts.partitions import day_and_instance, shifts_partitions


class _Context:
    def __init__(self, partition_key):
        self.partition_key = partition_key


def test_string_and_multi_partition_keys_give_the_same_dimensions():
    multi = dg.MultiPartitionKey({"candidate": "mo01", "day": "2026-11-26"})
    assert dimension_keys(multi, calls_partitions) == dimension_keys("mo01|2026-11-26", calls_partitions)
    assert (
        candidate_and_day(_Context("mo01|2026-11-26")) == candidate_and_day(_Context(multi)) == ("mo01", "2026-11-26")
    )
    day, instance = day_and_instance(_Context("2026-11-26|MI"))
    assert (str(day), instance) == ("2026-11-26", "MI")
    assert dimension_keys("2026-11-26|MI", shifts_partitions) == {"day": "2026-11-26", "instance": "MI"}
