"""Exports are applied in order, rejected ones are skipped, and the mass-lapse guard's thresholds."""

import datetime as dt

from orgsync_dagster.membership import samples, store
from orgsync_dagster.membership.assets import SYNC_KEY, membership_diff, membership_snapshot
from orgsync_dagster.membership.guard import evaluate_guard
from orgsync_dagster.resources.warehouse import engine_for

from .pipeline_env import failure_message, mat_meta


def test_export_order_skips_failed_and_rejected_exports(fast_pg_url):
    engine = engine_for(fast_pg_url)
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for i, (pk, status) in enumerate([("a", "loaded"), ("b", "failed"), ("c", "loaded"), ("d", "loaded")]):
        store.record_export(
            engine, pk, bucket="x", s3_key=f"k/{pk}", last_modified=t0 + dt.timedelta(days=i), status=status
        )
    store.record_export(engine, "e", bucket="x", s3_key="k/e", last_modified=t0 + dt.timedelta(days=3), status="loaded")
    assert [r["partition_key"] for r in store.loaded_exports_before(engine, "d")] == ["c", "a"]
    assert store.loaded_exports_before(engine, "e")[0]["partition_key"] == "d"  # same second: key order
    store.record_decision(engine, "c", "reject", "Rosa", "national sent a test file")
    assert [r["partition_key"] for r in store.loaded_exports_before(engine, "d")] == ["a"]
    assert sorted(store.exports_after(engine, "c")) == ["d", "e"]


def test_guard_thresholds_and_decisions():
    kw = dict(max_lapsed_share=0.05, max_shrink_share=0.05, partition_key="w47")
    assert evaluate_guard(older_rows=100, newer_rows=100, lapsed=5, **kw).passed  # 5% is the limit, not over it
    blocked = evaluate_guard(older_rows=100, newer_rows=100, lapsed=6, **kw)
    assert (
        not blocked.passed
        and "6 of 100 members lapsed" in blocked.description
        and "orgsync membership approve" in blocked.description
    )
    shrunk = evaluate_guard(older_rows=100, newer_rows=90, lapsed=0, **kw)
    assert not shrunk.passed and "shrank from 100 to 90" in shrunk.description
    assert evaluate_guard(
        older_rows=100, newer_rows=10, lapsed=90, decision={"decision": "approve", "decided_by": "Ann"}, **kw
    ).passed
    assert not evaluate_guard(
        older_rows=100, newer_rows=100, lapsed=0, decision={"decision": "reject", "decided_by": "Ann"}, **kw
    ).passed
    assert evaluate_guard(older_rows=0, newer_rows=10, lapsed=0, **kw).passed


def test_an_export_is_not_pushed_before_the_previous_one(env):
    rows = [samples.member(i) for i in range(20)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows), assets=[membership_snapshot, membership_diff])
    assert r1.success
    pk2, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(rows + [samples.member(20)]))
    assert not r2.success and f"previous export {pk1} has not been pushed yet" in failure_message(r2)
    assert env.sandbox.action_network.stats(env.api_key)["requests"] == 0
    assert env.run(pk1).success and mat_meta(env.run(pk2), SYNC_KEY)["requests_spent"] == 1
    r_old = env.run(pk1)  # re-applying the older export now would revert the newer one
    assert not r_old.success and "already pushed" in failure_message(r_old)


def test_a_decision_by_an_e_mail_address_is_masked_in_the_guard_description():
    """The description goes to Dagster's UI and Slack: a decider typed as an e-mail never shows in full."""
    from orgsync_dagster.membership.guard import evaluate_guard

    kw = {"max_lapsed_share": 0.05, "max_shrink_share": 0.05}
    approved = evaluate_guard(
        older_rows=100,
        newer_rows=10,
        lapsed=90,
        decision={"decision": "approve", "decided_by": "dana@example.org"},
        **kw,
    )
    assert approved.passed and "dana@example.org" not in approved.description and "da***@" in approved.description
