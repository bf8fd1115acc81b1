"""Drift repair: Action Network paged through, compared with the latest snapshot, only the drift written."""

import json

import dagster as dg

from orgsync_dagster.membership import push_cli, samples
from orgsync_dagster.membership.drift import plan_drift
from orgsync_dagster.membership.drift_asset import DRIFT_KEY, membership_drift
from orgsync_dagster.membership.mapping import person_from_row

from .pipeline_env import mat_meta

STRANGER, NEVER_SET, FORMER = "stranger@elsewhere.org", "never.set@elsewhere.org", "former@elsewhere.org"
PROTECTED = "quarantined@elsewhere.org"


def _drift(db, rows):
    """Make Action Network drift from the pushed rows; returns what each kind should count."""
    db.put_person(db.find_by_email(rows[2]["email"]).id, {"given_name": "Wrong"})  # update: given_name
    db.put_person(db.find_by_email(rows[5]["email"]).id, {"custom_fields": {"is_member": "False"}})  # update
    db.put_person(db.find_by_email(rows[9]["email"]).id, {"custom_fields": {"override_Phone": "6170000009"}})
    db._delete_person(db.find_by_email(rows[7]["email"]))  # missing
    for email, fields in (
        (STRANGER, {"is_member": "True"}),  # lapse
        (PROTECTED, {"is_member": "True"}),  # in a quarantined row of the export: never lapsed
        (NEVER_SET, {"Phone": "1"}),  # never had is_member: left alone
        (FORMER, {"is_member": "False"}),  # already lapsed: left alone
    ):
        db.signup({"person": {"email_addresses": [{"address": email}], "custom_fields": fields}})


def _is_member(sandbox, key) -> dict:
    return {
        p["email_addresses"][0]["address"]: p["custom_fields"].get("is_member")
        for p in sandbox.action_network.dump(key)["people"]
    }


def test_plan_drift_unit():
    rows = [samples.member(i) for i in range(3)]
    cols = list(rows[0])
    mirror = {r["email"]: {"person_id": f"p{i}", **_as_mirror(person_from_row(r))} for i, r in enumerate(rows)}
    assert plan_drift(rows, key_column="email", columns=cols, mirror=mirror).ops == []
    mirror[rows[0]["email"]]["custom_fields"]["union_member"] = "Yes"  # AN holds a value the export changed
    mirror[rows[1]["email"]]["custom_fields"]["YDSA Chapter"] = "BU"  # the export has no ydsa_chapter column
    rows[2] = dict(rows[2], monthly_dues_status="")  # the export cleared a mapped field AN still holds
    plan = plan_drift(rows, key_column="email", columns=cols, mirror=mirror, sample_size=5)
    assert plan.counts["update"] == 2 and plan.counts["in_sync"] == 1
    by_key = {op.key: op for op in plan.ops}
    assert by_key[rows[2]["email"]].payload["person"]["custom_fields"]["monthly_dues_status"] is None
    assert by_key[rows[0]["email"]].reason == "drift: union_member"
    assert all("@example.org" not in json.dumps(s) for s in plan.sample)  # masked


def _as_mirror(person: dict) -> dict:
    return {
        "given_name": person.get("given_name"),
        "family_name": person.get("family_name"),
        "postal_address": person["postal_addresses"][0],
        "custom_fields": dict(person["custom_fields"]),
    }


def test_cli_resync_lists_then_writes_only_the_drift(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    rows = [samples.member(i) for i in range(30)]
    (tmp_path / "empty.csv").write_bytes(samples.to_csv([]))
    csv = samples.to_csv(rows) + f"999,Q,R,1 A St, Apt 2,Boston,MA,02111,617,{PROTECTED},active,No,M\r\n".encode()
    (tmp_path / "latest.csv").write_bytes(csv)
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    push = ["push", str(tmp_path / "empty.csv"), str(tmp_path / "latest.csv"), "--apply", "--json", "--max-rps", "100"]
    assert push_cli.main(push) == 0
    capsys.readouterr()
    db = sandbox.action_network.database(api_key)
    _drift(db, rows)
    people = len(db.people)  # 29 + 4 strangers = 33 -> 2 pages

    resync = ["resync", str(tmp_path / "latest.csv"), "--json", "--max-rps", "100"]
    before = sandbox.action_network.stats(api_key)
    assert push_cli.main(resync) == 0
    captured = capsys.readouterr()
    dry = json.loads(captured.out)
    after = sandbox.action_network.stats(api_key)
    assert (dry["missing"], dry["update"], dry["lapse"]) == (1, 3, 1)
    assert dry["untouched_not_member"] == 2 and dry["in_sync"] == 26 and dry["applied"] is False
    assert dry["drifted_fields"] == {"given_name": 1, "is_member": 2, "Phone": 1}
    # 4 writes + the lapse's read-then-write (the address is verified before it is lapsed)
    assert dry["mirror_requests"] == -(-people // 25) == 2 and dry["write_requests"] == 6
    assert after["gets"] - before["gets"] == 2 and after["posts"] == before["posts"] and after["puts"] == before["puts"]
    assert "@example.org" not in captured.out + captured.err and "quarantined row" in captured.err

    assert push_cli.main([*resync, "--apply"]) == 0
    done = json.loads(capsys.readouterr().out)
    final = sandbox.action_network.stats(api_key)
    assert done["repaired"] == 4 and done["lapsed"] == 1 and done["failed"] == 0
    assert done["requests_spent"] == 6  # exactly the drift: 4 upserts and 1 PUT (+ 1 read verifying the address)
    assert (final["posts"] - after["posts"], final["puts"] - after["puts"]) == (4, 1)
    flags = _is_member(sandbox, api_key)
    assert flags[STRANGER] == "False" and flags[PROTECTED] == "True" and flags[FORMER] == "False"
    assert flags[NEVER_SET] is None and all(flags[r["email"]] == "True" for r in rows)
    fixed = {p["email_addresses"][0]["address"]: p for p in sandbox.action_network.dump(api_key)["people"]}
    assert fixed[rows[2]["email"]]["given_name"] == rows[2]["first_name"]
    assert fixed[rows[9]["email"]]["custom_fields"]["Phone"] == "6170000009"  # the override wins

    assert push_cli.main(resync) == 0  # nothing left
    again = json.loads(capsys.readouterr().out)
    assert (again["missing"], again["update"], again["lapse"], again["write_requests"]) == (0, 0, 0, 0)


def test_cli_resync_refusals(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    rows = [samples.member(i) for i in range(20)]
    db = sandbox.action_network.database(api_key)
    for r in rows:
        db.signup({"person": person_from_row(r)})
    (tmp_path / "one.csv").write_bytes(samples.to_csv(rows[:1]))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    monkeypatch.delenv("ACTION_NETWORK_API_KEY", raising=False)
    assert push_cli.main(["resync", str(tmp_path / "one.csv")]) == 2
    assert "ACTION_NETWORK_API_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    assert push_cli.main(["resync", str(tmp_path / "missing.csv")]) == 2
    assert "error:" in capsys.readouterr().err
    assert push_cli.main(["resync", str(tmp_path / "one.csv"), "--max-rps", "nan"]) == 2
    capsys.readouterr()
    before = sandbox.action_network.stats(api_key)
    assert push_cli.main(["resync", str(tmp_path / "one.csv"), "--apply"]) == 3  # 19 of 20 would lapse
    assert "refusing to repair" in capsys.readouterr().err
    after = sandbox.action_network.stats(api_key)
    assert after["puts"] == before["puts"] and after["posts"] == before["posts"]
    assert set(_is_member(sandbox, api_key).values()) == {"True"}
    # a push of the same target is running: the repair waits for its lock, then refuses (exit 4), writing nothing
    from orgsync_dagster.membership.push import push_lock
    from orgsync_dagster.resources.action_network import ActionNetworkResource
    from orgsync_dagster.resources.warehouse import engine_for

    target = ActionNetworkResource(api_key=api_key, base_url=sandbox.urls.action_network_url).target_scope("default")
    with push_lock(engine_for(fast_pg_url), target, holder="a push in another terminal"):
        code = push_cli.main(["resync", str(tmp_path / "one.csv"), "--apply", "--allow-mass-lapse", "--lock-wait", "0"])
    assert code == 4 and "a push in another terminal" in capsys.readouterr().err
    assert set(_is_member(sandbox, api_key).values()) == {"True"}
    sandbox.action_network.revoke_key(api_key)
    assert push_cli.main(["resync", str(tmp_path / "one.csv")]) == 2
    assert "reading Action Network people failed" in capsys.readouterr().err


def test_pipeline_drift_asset_dry_run_then_repair(env):
    rows = [samples.member(i) for i in range(60)]
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    db = env.sandbox.action_network.database(env.api_key)
    _drift(db, rows)
    resources = env.resources()
    before = env.sandbox.action_network.stats(env.api_key)
    dry = dg.materialize([membership_drift], resources=resources, instance=env.instance, raise_on_error=False)
    assert dry.success
    meta = mat_meta(dry, DRIFT_KEY)
    after = env.sandbox.action_network.stats(env.api_key)
    # PROTECTED is not in this export: it is lapsed like any other stranger
    assert (meta["missing"], meta["update"], meta["lapse"], meta["dry_run"]) == (1, 3, 2, True)
    assert (
        meta["planned_requests"] == 8 and meta["requests_spent"] == 0
    )  # 4 writes + 2 lapses (read + write) and meta["mirror_requests"] == 3
    assert after["posts"] == before["posts"] and after["puts"] == before["puts"]
    run_config = {"ops": {"action_network__membership_drift": {"config": {"dry_run": False}}}}
    fix = dg.materialize(
        [membership_drift], resources=resources, instance=env.instance, run_config=run_config, raise_on_error=False
    )
    assert fix.success
    meta = mat_meta(fix, DRIFT_KEY)
    final = env.sandbox.action_network.stats(env.api_key)
    assert meta["requests_spent"] == 6 + 2 and meta["repaired"] == 4 and meta["lapsed"] == 2  # + verifying reads
    assert (final["posts"] - after["posts"], final["puts"] - after["puts"]) == (4, 2)
    flags = _is_member(env.sandbox, env.api_key)
    assert flags[STRANGER] == "False" and flags[NEVER_SET] is None and all(flags[r["email"]] == "True" for r in rows)
