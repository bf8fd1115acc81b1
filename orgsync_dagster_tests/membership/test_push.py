"""The push against the Action Network emulator: who is written, with how many requests, and what is retried."""

import json

import pytest

from benchmarks.membership_push import seed_pushed
from orgsync_dagster.membership import push_cli, samples
from orgsync_dagster.membership.assets import SYNC_KEY
from orgsync_dagster.membership.mapping import mask_key, person_from_row, scrub
from orgsync_dagster.membership.push import KeyRefused, lapse_op, plan_push, run_push, upsert_op
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.warehouse import engine_for
from orgsync_dagster.sandbox.action_network import ApiError as EmulatorError

from .pipeline_env import mat_meta


def client(sandbox, key, rps=200.0):
    return ActionNetworkResource(
        api_key=key, base_url=sandbox.urls.action_network_url, requests_per_second=rps
    ).client()


def test_lapse_writes_only_to_people_action_network_has(sandbox, fast_pg_url, api_key):
    engine = engine_for(fast_pg_url)
    pushed = [samples.member(i) for i in range(3)]
    seed_pushed(engine, sandbox.action_network, api_key, pushed)  # our earlier push: receipts in the ledger
    db = sandbox.action_network.database(api_key)
    db.signup({"person": person_from_row(samples.member(3))})  # added to Action Network by someone else
    ops = plan_push(
        key_column="email",
        new_rows=[],
        updated_rows=[],
        lapsed_rows=[samples.member(i) for i in range(5)],
        person_ids={r["email"]: db.find_by_email(r["email"]).id for r in pushed},
    ).ops
    before = sandbox.action_network.stats(api_key)
    report, outcome = run_push(engine, client(sandbox, api_key), ops, scope="default", run_id="r1", concurrency=4)
    after = sandbox.action_network.stats(api_key)
    assert report.ok and outcome["lapsed_in_action_network"] == 4 and outcome["lapsed_not_in_action_network"] == 1
    assert after["puts"] - before["puts"] == 4  # one write each for the 4 people Action Network has
    # one verifying read each before any write: by receipt id (3) or by exact address (2 without a receipt)
    assert after["gets"] - before["gets"] == 5
    assert after["posts"] == before["posts"] and db.find_by_email(samples.member(4)["email"]) is None
    flags = {
        p["email_addresses"][0]["address"]: p["custom_fields"]["is_member"]
        for p in sandbox.action_network.dump(api_key)["people"]
    }
    assert set(flags.values()) == {"False"} and len(flags) == 4
    # running the same plan again sends nothing
    _, again = run_push(engine, client(sandbox, api_key), ops, scope="default", run_id="r2", concurrency=4)
    assert again["already_done"] == 5 and sandbox.action_network.stats(api_key)["requests"] == after["requests"]


def test_a_refused_key_stops_the_push_at_once(sandbox, fast_pg_url, api_key):
    sandbox.action_network.revoke_key(api_key)
    ops = [upsert_op(r["email"], r, reason="new") for r in (samples.member(i) for i in range(30))]
    c = client(sandbox, api_key)
    with pytest.raises(KeyRefused, match="HTTP 401"):
        run_push(engine_for(fast_pg_url), c, ops, scope="default", run_id="r1", concurrency=2)
    assert c.requests_sent <= 2


def test_failed_member_is_retried_by_the_next_export(env, monkeypatch):
    rows = [samples.member(i) for i in range(30)]
    unlucky = rows[7]["email"]
    db = env.sandbox.action_network.database(env.api_key)
    real_signup = db.signup

    def flaky_signup(body):
        if body["person"]["email_addresses"][0]["address"] == unlucky:
            raise EmulatorError(400, "Temporary validation outage")
        return real_signup(body)

    monkeypatch.setattr(db, "signup", flaky_signup)
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    meta1 = mat_meta(r1, SYNC_KEY)
    assert meta1["failed"] == 1 and meta1["upserted"] == 29 and "me***@e***.org" in meta1["errors"]
    assert unlucky not in meta1["errors"] and any("retried on the next run" in m for m in env.slack.messages)
    monkeypatch.setattr(db, "signup", real_signup)
    newer = rows + [samples.member(30)]
    _, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(newer))
    meta2 = mat_meta(r2, SYNC_KEY)
    assert r2.success and meta2["carried_over"] == 1 and meta2["requests_spent"] == 2 and meta2["failed"] == 0
    assert env.sandbox.action_network.database(env.api_key).find_by_email(unlucky) is not None


def test_cleared_column_removes_the_custom_field_and_keys_are_masked():
    row = dict(samples.member(1), union_member=None)
    person = person_from_row(row, cleared=("union_member",))
    assert person["custom_fields"]["union_member"] is None and person["custom_fields"]["is_member"] == "True"
    assert person["postal_addresses"][0]["country"] == "US" and person["custom_fields"]["Phone"] == "6175550001"
    assert person_from_row(dict(row, mailing_zip="2111"))["postal_addresses"][0]["postal_code"] == "02111"
    assert mask_key("jane.doe@example.com") == "ja***@e***.com"
    assert scrub("POST people/ -> 400: bad 'x.y@z.org'") == "POST people/ -> 400: bad 'x.***@z***.org'"
    assert lapse_op("a@b.org", "a@b.org", None).cost == 2 and lapse_op("a@b.org", "a@b.org", "id").cost == 2


def test_cli_prints_the_plan_and_sends_nothing(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    pair = samples.week_pair(40, new=3, updated=2, lapsed=1)
    (tmp_path / "old.csv").write_bytes(samples.to_csv(pair.older))
    (tmp_path / "new.eml").write_bytes(samples.to_eml([("x.zip", samples.to_zip(samples.to_csv(pair.newer)))]))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    args = ["push", str(tmp_path / "old.csv"), str(tmp_path / "new.eml")]
    assert push_cli.main(args) == 0
    out = capsys.readouterr().out
    assert "plan: 3 new, 2 updated, 1 lapsed, 37 unchanged" in out and "nothing was sent" in out
    assert "requests, about" in out
    assert push_cli.main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["planned_requests"] == 7 and summary["applied"] is False  # the lapse needs a lookup: 2
    assert sandbox.action_network.stats(api_key)["requests"] == 0
    assert push_cli.main([*args, "--apply", "--json", "--max-rps", "100"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["applied"] and done["upserted"] == 5 and done["lapsed_not_in_action_network"] == 1
    assert push_cli.main(["push", str(tmp_path / "missing.csv"), str(tmp_path / "new.eml")]) == 2
    assert "error:" in capsys.readouterr().err
