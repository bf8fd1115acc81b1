"""override_<field> from the Action Network people mirror, and the mirror's paged refresh (25 per request)."""

import json

from orgsync_dagster.membership import push_cli, samples
from orgsync_dagster.membership.assets import SYNC_KEY
from orgsync_dagster.membership.mapping import person_from_row
from orgsync_dagster.membership.mirror import group_of, people_by_email, refresh_mirror
from orgsync_dagster.membership.overrides import apply_overrides, ignored_overrides, overrides_of
from orgsync_dagster.resources.action_network import ActionNetworkResource
from orgsync_dagster.resources.warehouse import engine_for

from .pipeline_env import mat_meta


def client(sandbox, key, rps=200.0):
    return ActionNetworkResource(
        api_key=key, base_url=sandbox.urls.action_network_url, requests_per_second=rps
    ).client()


def test_override_rule():
    custom = {
        "override_Phone": " 6175559999 ",
        "override_given_name": "Annie",
        "override_postal_code": "02139",
        "override_YDSA Chapter": "MIT",
        "override_is_member": "True",  # membership comes from the export only
        "override_email": "x@y.org",  # the match key is never overridden
        "override_Unknown": "v",
        "override_family_name": "  ",  # empty: no override
        "Phone": "123",
    }
    o = overrides_of(custom)
    assert o == {"Phone": "6175559999", "given_name": "Annie", "postal_code": "02139", "YDSA Chapter": "MIT"}
    assert ignored_overrides(custom) == ["override_Unknown", "override_email", "override_is_member"]
    row = dict(samples.member(1), memb_status_letter="L")
    p = person_from_row(row, overrides=o)
    assert p["given_name"] == "Annie" and p["family_name"] == row["last_name"]
    assert p["custom_fields"]["Phone"] == "6175559999" and p["custom_fields"]["YDSA Chapter"] == "MIT"
    assert p["custom_fields"]["is_member"] == "False"
    assert p["postal_addresses"][0]["postal_code"] == "02139" and p["postal_addresses"][0]["locality"] == "Cambridge"
    assert p["email_addresses"] == [{"address": row["email"]}]
    bare = apply_overrides({"email_addresses": [{"address": "a@b.org"}]}, {"address_lines": "1 Elm St"})
    assert bare["postal_addresses"] == [{"primary": True, "country": "US", "address_lines": ["1 Elm St"]}]
    assert person_from_row(row) != p  # the input is not changed by the overrides


def test_mirror_pages_25_per_request_and_refreshes_incrementally(sandbox, fast_pg_url, api_key):
    engine = engine_for(fast_pg_url)
    db = sandbox.action_network.database(api_key)
    db.seed(60)
    c = client(sandbox, api_key)
    full = refresh_mirror(engine, c)  # first time: full
    stats = sandbox.action_network.stats(api_key)
    assert (full.mode, full.people_seen, full.requests, stats["gets"]) == ("full", 60, 3, 3)  # 25 + 25 + 10
    assert full.people_in_mirror == 60
    # fresh: skipped, no request
    assert refresh_mirror(engine, c, max_age_minutes=60).mode == "skipped"
    assert sandbox.action_network.stats(api_key)["requests"] == 3
    # two people changed in Action Network: one incremental request brings them in
    emails = sorted(people_by_email(engine, group_of(c)))[:2]
    for e in emails:
        db.signup({"person": {"email_addresses": [{"address": e}], "custom_fields": {"override_Phone": "5550101"}}})
    inc = refresh_mirror(engine, c)
    assert inc.mode == "incremental" and inc.requests == 1 and 2 <= inc.people_seen <= 3
    mirrored = people_by_email(engine, group_of(c), emails)
    assert {e: overrides_of(p["custom_fields"]) for e, p in mirrored.items()} == {
        e: {"Phone": "5550101"} for e in emails
    }
    # a person deleted in Action Network leaves the mirror at the next full refresh
    db._delete_person(db.find_by_email(emails[0]))
    again = refresh_mirror(engine, c, full=True)
    assert again.people_dropped == 1 and again.people_in_mirror == 59 and again.requests == 3


def test_push_cli_applies_overrides_from_the_mirror(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    rows = [samples.member(i) for i in range(5)]
    db = sandbox.action_network.database(api_key)
    db.signup(
        {
            "person": {
                "email_addresses": [{"address": rows[1]["email"]}],
                "given_name": "Annie",
                "custom_fields": {"override_Phone": "6170000000", "override_given_name": "Annie"},
            }
        }
    )
    (tmp_path / "old.csv").write_bytes(samples.to_csv([]))
    (tmp_path / "new.csv").write_bytes(samples.to_csv(rows))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    args = ["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--json"]
    assert push_cli.main(args) == 0  # plan only: the mirror is not read, nothing is sent
    plan = json.loads(capsys.readouterr().out)
    assert plan["mirror_requests"] == 0 and sandbox.action_network.stats(api_key)["requests"] == 0
    before = sandbox.action_network.stats(api_key)
    assert push_cli.main([*args, "--apply", "--max-rps", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    after = sandbox.action_network.stats(api_key)
    assert out["overrides_applied"] == 1 and out["mirror"] == "full" and out["mirror_requests"] == 1
    assert after["gets"] - before["gets"] == 1  # one page of people, never one GET per person
    assert after["posts"] - before["posts"] == 5 and out["requests_sent"] == 5
    people = {p["email_addresses"][0]["address"]: p for p in sandbox.action_network.dump(api_key)["people"]}
    annie = people[rows[1]["email"]]
    assert annie["given_name"] == "Annie" and annie["custom_fields"]["Phone"] == "6170000000"
    other = people[rows[2]["email"]]
    assert other["given_name"] == rows[2]["first_name"] and other["custom_fields"]["Phone"] == rows[2]["mobile_phone"]
    # an organiser sets an override on another member; the next push reads it with one incremental request
    db.put_person(db.find_by_email(rows[3]["email"]).id, {"custom_fields": {"override_union_name": "UAW"}})
    newer = [dict(r, mailing_city="Medford") for r in rows]
    (tmp_path / "newer.csv").write_bytes(samples.to_csv(newer))
    before = sandbox.action_network.stats(api_key)
    nxt = ["push", str(tmp_path / "new.csv"), str(tmp_path / "newer.csv"), "--json", "--apply", "--max-rps", "100"]
    assert push_cli.main(nxt) == 0
    out = json.loads(capsys.readouterr().out)
    after = sandbox.action_network.stats(api_key)
    assert out["mirror"] == "incremental" and out["mirror_requests"] == 1 and after["gets"] - before["gets"] == 1
    assert out["overrides_applied"] == 2 and out["requests_sent"] == 5
    people = {p["email_addresses"][0]["address"]: p for p in sandbox.action_network.dump(api_key)["people"]}
    assert people[rows[3]["email"]]["custom_fields"]["union_name"] == "UAW"
    assert "union_name" not in people[rows[0]["email"]]["custom_fields"]
    assert people[rows[1]["email"]]["given_name"] == "Annie"  # the earlier override still wins


def test_pipeline_push_applies_overrides(env):
    rows = [samples.member(i) for i in range(6)]
    db = env.sandbox.action_network.database(env.api_key)
    db.signup(
        {
            "person": {
                "email_addresses": [{"address": rows[4]["email"]}],
                "custom_fields": {"override_YDSA Chapter": "Tufts", "override_family_name": "Override"},
            }
        }
    )
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    meta = mat_meta(r1, SYNC_KEY)
    assert meta["overrides_applied"] == 1 and meta["mirror_requests"] == 1 and meta["requests_spent"] == 6
    person = next(p for p in env.dump()["people"] if p["email_addresses"][0]["address"] == rows[4]["email"])
    assert person["family_name"] == "Override" and person["custom_fields"]["YDSA Chapter"] == "Tufts"
    assert person["custom_fields"]["is_member"] == "True"


def test_push_cli_with_a_refused_key_writes_nothing(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    (tmp_path / "old.csv").write_bytes(samples.to_csv([]))
    (tmp_path / "new.csv").write_bytes(samples.to_csv([samples.member(i) for i in range(5)]))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    sandbox.action_network.revoke_key(api_key)
    code = push_cli.main(["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--apply", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 2 and out["mirror"] == "refused" and "refused the API key" in out["error"]
    assert sandbox.action_network.stats(api_key)["posts"] == 0
