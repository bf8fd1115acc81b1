"""End to end: two weekly exports dropped in S3 -> sensor -> snapshot -> diff -> Action Network."""

from orgsync_dagster.membership import samples, store
from orgsync_dagster.membership.assets import DIFF_KEY, GUARD_CHECK, SNAPSHOT_KEY, SYNC_KEY

from .pipeline_env import check_result, mat_meta


def is_member(dump: dict) -> dict[str, str]:
    return {p["email_addresses"][0]["address"]: p["custom_fields"].get("is_member") for p in dump["people"]}


def test_two_weekly_exports_end_to_end(env):
    wp = samples.week_pair(40, new=3, updated=4, lapsed=2)
    eml = samples.to_eml([("membership.zip", samples.to_zip(samples.to_csv(wp.older)))])
    pk1, r1 = env.ingest("2026-11-14/export.eml", eml)
    assert r1.success, r1
    assert mat_meta(r1, SNAPSHOT_KEY)["members"] == 40
    assert mat_meta(r1, DIFF_KEY)["new"] == 40
    assert mat_meta(r1, SYNC_KEY)["requests_spent"] == 40
    pk2, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(wp.newer))
    assert r2.success
    diff = mat_meta(r2, DIFF_KEY)
    assert (diff["new"], diff["updated"], diff["lapsed"], diff["unchanged"]) == (3, 4, 2, 34)
    assert "@example.org" not in diff["sample"]  # masked keys only
    assert check_result(r2, GUARD_CHECK).passed
    sync = mat_meta(r2, SYNC_KEY)
    # one write per changed member (+ a verifying read per lapse), none for the 34 unchanged
    assert sync["requests_spent"] == 9 + 2
    assert sync["lapsed_in_action_network"] == 2
    state = is_member(env.dump())
    assert len(state) == 43
    assert {e for e, v in state.items() if v == "False"} == set(wp.lapsed)
    moved = next(p for p in env.dump()["people"] if p["email_addresses"][0]["address"] == wp.updated[0])
    want = next(r for r in wp.newer if r["email"] == wp.updated[0])
    assert moved["postal_addresses"][0]["address_lines"] == [want["mailing_address1"]]
    assert any("3 new, 4 updated, 2 lapsed" in m for m in env.slack.messages)
    # raw exports kept, order recorded
    rows = [store.get_export(env.engine, pk) for pk in (pk1, pk2)]
    assert [r["status"] for r in rows] == ["loaded", "loaded"] and rows[0]["container"] == "email"
    kept = env.client.list_objects_v2(Bucket=env.bucket, Prefix="actionkit/archive/")["KeyCount"]
    assert kept == 2
    # a re-run of the same export sends nothing
    r3 = env.run(pk2)
    assert r3.success and mat_meta(r3, SYNC_KEY)["requests_spent"] == 0
    dry = env.run(pk2, run_config={"ops": {"action_network__membership_sync": {"config": {"dry_run": True}}}})
    assert dry.success and mat_meta(dry, SYNC_KEY)["dry_run"] is True and mat_meta(dry, SYNC_KEY)["requests_spent"] == 0
    # the sensor has nothing new and lists after its cursor
    assert not env.sensor_tick(env.cursor).run_requests
