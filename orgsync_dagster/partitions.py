"""Dagster pieces shared by the domains: the VAN-instance partitions, the retry policy of API steps, and the
schedule body that launches one run per VAN instance."""

import dagster as dg

from orgsync_dagster.lib import config as cfg

# One partition per VAN instance (state): a failing instance never stops the others.
van_instance_partitions = dg.StaticPartitionsDefinition(cfg.van_instances())

# Steps that call a paid/rate-limited API: a transient failure (429/5xx after the client's own retries) is tried
# again later; non-retryable errors (401, 400...) fail at once (see lib/runtime.api_failures).
API_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def run_per_van_instance(context: dg.ScheduleEvaluationContext, prefix: str):
    """One RunRequest per VAN instance for this tick (run keys make a re-evaluated tick launch nothing twice)."""
    stamp = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
    for instance in van_instance_partitions.get_partition_keys():
        yield dg.RunRequest(run_key=f"{prefix}-{instance}-{stamp}", partition_key=instance)


def dimension_keys(partition_key: str | dg.MultiPartitionKey, partitions_def: dg.MultiPartitionsDefinition) -> dict:
    """The keys by dimension of a run's multi-partition key. A run launched with only the ``dagster/partition`` tag
    (the GraphQL API, ``DagsterGraphQLClient``, a backfill of the string key) hands the step a plain string
    (``"mo01|2026-11-26"``), not a ``MultiPartitionKey``: parse it with the definition."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        return dict(partition_key.keys_by_dimension)
    return dict(partitions_def.get_partition_key_from_str(partition_key).keys_by_dimension)
