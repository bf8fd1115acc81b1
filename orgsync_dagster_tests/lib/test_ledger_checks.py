"""The reusable unresolved-ledger check, on a real Dagster run against real PostgreSQL."""

import dagster as dg

from orgsync_dagster.lib.ledger import Ledger, unresolved_summary
from orgsync_dagster.lib.ledger_checks import unresolved_ledger_check
from orgsync_dagster.resources.warehouse import WarehouseResource

PARTS = dg.StaticPartitionsDefinition(["A", "B"])


@dg.asset(key=["test", "push"], partitions_def=PARTS)
def push(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Stands in for a sync: this run leaves one entry uncertain in its own scope."""
    Ledger(warehouse.get_engine(), "test.push", context.partition_key, context.run.run_id).record(
        "fresh", "create", "h", "uncertain"
    )
    return dg.MaterializeResult()


CHECK = unresolved_ledger_check(push.key, "test.push", partitions_def=PARTS)


def run_check(pg_url, partition):
    result = dg.materialize(
        [push, CHECK], partition_key=partition, resources={"warehouse": WarehouseResource(url=pg_url)}
    )
    return result.get_asset_check_evaluations()[0]


def test_entries_left_by_an_earlier_run_fail_the_check_with_counts_only(engine, pg_url):
    Ledger(engine, "test.push", "A", "old-run").mark_in_flight("someone@example.org", "create", "h")
    Ledger(engine, "test.push", "A", "old-run").record("x2", "create", "h", "uncertain")
    Ledger(engine, "test.push", "A", "old-run").record("done", "create", "h", "succeeded", receipt="1")
    Ledger(engine, "test.push", "B", "old-run").mark_in_flight("other-scope", "create", "h")
    Ledger(engine, "other.sync", "A", "old-run").mark_in_flight("other-sync", "create", "h")
    evaluation = run_check(pg_url, "A")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    m = {k: v.value for k, v in evaluation.metadata.items()}
    # this run's own uncertain entry ("fresh") gets one more run; other scopes and syncs are not this check's
    assert m["unresolved_from_earlier_runs"] == 2 and m["in_flight"] == 1 and m["uncertain"] == 1
    assert m["oldest_unresolved_age_hours"] is not None and m["oldest_unresolved_age_hours"] < 1
    assert "someone@example.org" not in str(evaluation.metadata) + (evaluation.description or "")
    assert "2 push(es) in test.push/A" in evaluation.description
    assert CHECK.check_specs_by_output_name  # a real check definition with a description
    assert all(spec.description for spec in CHECK.check_specs)


def test_check_passes_when_only_this_runs_entries_are_unresolved(engine, pg_url):
    Ledger(engine, "test.push", "A", "old-run").mark_in_flight("stuck", "create", "h")
    evaluation = run_check(pg_url, "B")
    assert evaluation.passed and evaluation.metadata["unresolved_from_earlier_runs"].value == 0


def test_summary_over_every_scope(engine):
    Ledger(engine, "test.push", "A", "r1").mark_in_flight("a", "create", "h")
    Ledger(engine, "test.push", "B", "r1").record("b", "create", "h", "uncertain")
    s = unresolved_summary(engine, "test.push")
    assert (s.in_flight, s.uncertain, s.scopes, s.total) == (1, 1, 2, 2)
    assert unresolved_summary(engine, "test.push", exclude_run_id="r1").total == 0
