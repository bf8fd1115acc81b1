"""Issue 8 (push safety): exact addresses before any write, the ledger scoped by target, one push per target,
e-mail changes on the same person, configuration checked and refused connections treated as "not sent"."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
import yaml

from benchmarks.membership_push import seed_pushed
from orgsync_dagster.lib.config import DEFAULT_CONFIG
from orgsync_dagster.lib.locks import LockBusy, advisory_lock, lock_key
from orgsync_dagster.lib.tables import sync_attempts, sync_ledger
from orgsync_dagster.membership import push_cli, samples
from orgsync_dagster.membership.assets import SYNC_KEY
from orgsync_dagster.membership.mapping import person_from_row
from orgsync_dagster.membership.push import (
    NOT_IN_ACTION_NETWORK,
    SYNC,
    lapse_op,
    plan_push,
    push_lock,
    run_push,
)
from orgsync_dagster.resources.action_network import ActionNetworkResource, odata_quote
from orgsync_dagster.resources.warehouse import engine_for
from orgsync_dagster.sandbox.action_network import ApiError as EmulatorError
from orgsync_dagster.sandbox.action_network import parse_filter

from .pipeline_env import failure_message, mat_meta

OBRIEN, O_BRIEN = "obrien@example.org", "o'brien@example.org"


def rows(n: int, start: int = 0) -> list[dict]:
    return [samples.member(i) for i in range(start, start + n)]


def people(sandbox, key) -> dict[str, dict]:
    return {p["email_addresses"][0]["address"]: p for p in sandbox.action_network.dump(key)["people"]}


def writes(sandbox, key) -> int:
    st = sandbox.action_network.stats(key)
    return st.get("signup_helper_posts", 0) + st.get("person_puts", 0)


def ledger_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(sync_ledger))]


@pytest.fixture
def cli_env(sandbox, fast_pg_url, api_key, monkeypatch):
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    return monkeypatch


def write_pair(tmp_path: Path, older: list[dict], newer: list[dict]) -> list[str]:
    (tmp_path / "old.csv").write_bytes(samples.to_csv(older))
    (tmp_path / "new.csv").write_bytes(samples.to_csv(newer))
    return ["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv")]


def json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


# -- 1. apostrophes ------------------------------------------------------------------------------------------------
def test_filter_quotes_are_doubled_and_a_malformed_filter_is_refused(sandbox, api_key):
    assert odata_quote("o'brien@example.org") == "'o''brien@example.org'"
    assert parse_filter("email_address eq 'o''brien@example.org'") == [("email_address", "eq", O_BRIEN)]
    for bad in ("email_address eq 'o'brien@example.org'", "email_address eq 'obrien@example.org", "email_address"):
        with pytest.raises(EmulatorError) as err:
            parse_filter(bad)
        assert err.value.status == 400
    db = sandbox.action_network.database(api_key)
    db.signup({"person": {"email_addresses": [{"address": OBRIEN}]}})
    url = sandbox.urls.action_network_url + "people"
    headers = {"OSDI-API-Token": api_key}
    raw = requests.get(url, params={"filter": f"email_address eq '{O_BRIEN}'"}, headers=headers, timeout=10)
    assert raw.status_code == 400  # the unescaped form is refused, never matched loosely
    client = ActionNetworkResource(api_key=api_key, base_url=sandbox.urls.action_network_url).client()
    assert client.find_people_by_email(O_BRIEN) == []
    assert [p["email_addresses"][0]["address"] for p in client.find_people_by_email(OBRIEN.upper())] == [OBRIEN]


def test_cli_lapse_of_o_brien_never_writes_obrien(cli_env, sandbox, fast_pg_url, api_key, tmp_path, capsys):
    db = sandbox.action_network.database(api_key)
    db.signup({"person": person_from_row(dict(samples.member(90), email=OBRIEN))})  # a different, active person
    older = rows(30) + [dict(samples.member(91), email=O_BRIEN)]
    args = write_pair(tmp_path, older, rows(30))
    before = people(sandbox, api_key)[OBRIEN]
    assert push_cli.main([*args, "--apply", "--json", "--max-rps", "100"]) == 0
    out = json_out(capsys)
    assert out["lapsed"] == 1 and out["lapsed_in_action_network"] == 0 and out["lapsed_not_in_action_network"] == 1
    assert sandbox.action_network.stats(api_key).get("person_puts", 0) == 0  # nothing written to anyone
    assert people(sandbox, api_key)[OBRIEN] == before
    engine = engine_for(fast_pg_url)
    with engine.connect() as conn:
        receipt = conn.execute(sa.select(sync_attempts.c.receipt).where(sync_attempts.c.action == "lapse")).scalar()
    assert receipt == NOT_IN_ACTION_NETWORK  # recorded "not found"


def test_lapse_by_receipt_is_verified_and_goes_to_the_address_holder(sandbox, fast_pg_url, api_key):
    """The person id we hold now carries another address: that person is not written; the holder of the exact
    address (o'brien, next to obrien) is."""
    engine = engine_for(fast_pg_url)
    member = dict(samples.member(1), email=O_BRIEN)
    seed_pushed(engine, sandbox.action_network, api_key, [member])
    db = sandbox.action_network.database(api_key)
    pid = db.find_by_email(O_BRIEN).id
    db.put_person(pid, {"email_addresses": [{"address": "someone.else@example.org"}]})  # edited in Action Network
    db.signup({"person": person_from_row(dict(samples.member(2), email=OBRIEN))})
    client = ActionNetworkResource(api_key=api_key, base_url=sandbox.urls.action_network_url).client()
    op = lapse_op(O_BRIEN, O_BRIEN, pid)
    report, outcome = run_push(engine, client, [op], scope="s", run_id="r1", concurrency=1)
    assert report.ok and outcome["lapsed_not_in_action_network"] == 1
    assert sandbox.action_network.stats(api_key).get("person_puts", 0) == 0  # no PUT over HTTP
    state = people(sandbox, api_key)
    assert state["someone.else@example.org"]["custom_fields"]["is_member"] == "True"
    assert state[OBRIEN]["custom_fields"]["is_member"] == "True"
    # now o'brien exists (another person): the lapse reaches exactly that person
    db.signup({"person": person_from_row(member)})
    report, outcome = run_push(
        engine, client, [lapse_op(O_BRIEN, O_BRIEN, pid)], scope="s2", run_id="r2", concurrency=1
    )
    state = people(sandbox, api_key)
    assert outcome["lapsed_in_action_network"] == 1 and state[O_BRIEN]["custom_fields"]["is_member"] == "False"
    assert state[OBRIEN]["custom_fields"]["is_member"] == "True"


def test_pipeline_lapse_of_o_brien_leaves_obrien_alone(env):
    db = env.sandbox.action_network.database(env.api_key)
    db.signup({"person": person_from_row(dict(samples.member(90), email=OBRIEN))})
    before = people(env.sandbox, env.api_key)[OBRIEN]
    older = rows(30) + [dict(samples.member(91), email=O_BRIEN)]
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(older))
    assert r1.success and O_BRIEN in people(env.sandbox, env.api_key)
    _, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(rows(30)))
    assert r2.success, failure_message(r2)
    assert mat_meta(r2, SYNC_KEY)["lapsed_in_action_network"] == 1
    state = people(env.sandbox, env.api_key)
    assert state[O_BRIEN]["custom_fields"]["is_member"] == "False"
    assert state[OBRIEN] == before


# -- 3. the ledger is per target -------------------------------------------------------------------------------------
def test_scope_is_the_target_identity_without_the_key():
    a = ActionNetworkResource(api_key="secret-key-A", base_url="https://ActionNetwork.org:443/api/v2/")
    same = ActionNetworkResource(api_key="secret-key-A", base_url="https://actionnetwork.org/api/v2")
    other_key = ActionNetworkResource(api_key="secret-key-B", base_url="https://actionnetwork.org/api/v2/")
    other_url = ActionNetworkResource(api_key="secret-key-A", base_url="http://127.0.0.1:8080/api/v2/")
    assert a.target_scope("default") == same.target_scope("default")
    assert a.target_scope("default").startswith("default|actionnetwork.org/api/v2|")
    scopes = {r.target_scope("default") for r in (a, other_key, other_url)} | {a.target_scope("other")}
    assert len(scopes) == 4 and all("secret" not in s and len(s) <= 64 for s in scopes)
    long = ActionNetworkResource(api_key="k", base_url="https://example.org/" + "x" * 200).target_scope("default")
    assert len(long) <= 64


def test_cli_second_group_receives_the_push_and_the_first_is_not_repeated(cli_env, sandbox, tmp_path, capsys):
    key_a, key_b = "test-scope-a-" + tmp_path.name[-6:], "test-scope-b-" + tmp_path.name[-6:]
    pair = samples.week_pair(30, new=3, updated=2, lapsed=1)
    args = [*write_pair(tmp_path, pair.older, pair.newer), "--apply", "--json", "--max-rps", "200"]
    cli_env.setenv("ACTION_NETWORK_API_KEY", key_a)
    assert push_cli.main(args) == 0
    assert json_out(capsys)["upserted"] == 5 and writes(sandbox, key_a) == 5
    cli_env.setenv("ACTION_NETWORK_API_KEY", key_b)
    assert push_cli.main(args) == 0
    out_b = json_out(capsys)
    assert out_b["already_done"] == 0 and out_b["upserted"] == 5 and writes(sandbox, key_b) == 5
    cli_env.setenv("ACTION_NETWORK_API_KEY", key_a)
    assert push_cli.main(args) == 0
    again = json_out(capsys)
    assert again["already_done"] == 6 and again["requests_sent"] == 0 and writes(sandbox, key_a) == 5


def test_pipeline_same_export_to_a_second_group_is_pushed_there(env):
    pk, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows(12)))
    assert r1.success and writes(env.sandbox, env.api_key) == 12
    key_b = env.api_key + "-b"
    resources = env.resources()
    resources["action_network"] = ActionNetworkResource(api_key=key_b, base_url=env.sandbox.urls.action_network_url)
    env.resources = lambda rps=200.0: resources
    r2 = env.run(pk)
    assert r2.success, failure_message(r2)
    assert mat_meta(r2, SYNC_KEY)["upserted"] == 12 and writes(env.sandbox, key_b) == 12
    r3 = env.run(pk)
    assert mat_meta(r3, SYNC_KEY)["requests_spent"] == 0 and writes(env.sandbox, key_b) == 12


# -- 7. one push per target ----------------------------------------------------------------------------------------
def test_cli_concurrent_pushes_write_each_change_once(cli_env, sandbox, api_key, tmp_path, capsys):
    pair = samples.week_pair(60, new=20, updated=10, lapsed=0)
    seed = [*write_pair(tmp_path, [], pair.older), "--apply", "--max-rps", "500"]
    assert push_cli.main(seed) == 0
    base = writes(sandbox, api_key)
    args = [*write_pair(tmp_path, pair.older, pair.newer), "--apply", "--max-rps", "40", "--concurrency", "4"]
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(push_cli.main(args))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(codes) == [0, 0]
    assert writes(sandbox, api_key) - base == 30  # exactly one write per change


def test_cli_refuses_while_another_push_holds_the_target(cli_env, sandbox, fast_pg_url, api_key, tmp_path, capsys):
    engine = engine_for(fast_pg_url)
    scope = ActionNetworkResource(api_key=api_key, base_url=sandbox.urls.action_network_url).target_scope("default")
    args = [*write_pair(tmp_path, rows(10), rows(12)), "--apply", "--lock-wait", "0.3"]
    with push_lock(engine, scope, holder="orgsync membership push cli-test-holder"):
        assert push_cli.main(args) == 4
    err = capsys.readouterr().err
    assert "is being written by another run or command" in err and scope in err and "cli-test-holder" in err
    assert "Traceback" not in err and sandbox.action_network.stats(api_key)["requests"] == 0
    assert ledger_rows(engine) == []
    assert push_cli.main(args) == 0  # released: the push goes through


def test_lock_is_released_and_keys_are_stable(fast_pg_url):
    engine = engine_for(fast_pg_url)
    assert lock_key("x") == lock_key("x") != lock_key("y")
    with (
        advisory_lock(engine, "t", holder="first"),
        pytest.raises(LockBusy, match="held by 'first'"),
        advisory_lock(engine, "t", wait_seconds=0.1),
    ):
        pass
    with advisory_lock(engine, "t", wait_seconds=0):
        pass


def test_pipeline_waits_then_fails_clearly_while_the_cli_holds_the_target(env):
    scope = env.resources()["action_network"].target_scope("default")
    with push_lock(env.engine, scope, holder="orgsync membership push cli-abc"):
        _, r = env.ingest(
            "2026-11-14/export.csv",
            samples.to_csv(rows(10)),
            run_config={"ops": {"action_network__membership_sync": {"config": {"lock_wait_seconds": 0.2}}}},
        )
    assert not r.success
    assert "is being written by another run or command" in failure_message(r) and "cli-abc" in failure_message(r)
    assert env.sandbox.action_network.stats(env.api_key)["requests"] == 0 and ledger_rows(env.engine) == []


def test_pipeline_waits_for_the_cli_push_to_finish_then_pushes(env):
    scope = env.resources()["action_network"].target_scope("default")
    held, release = threading.Event(), threading.Event()

    def cli_push():
        with push_lock(env.engine, scope, holder="orgsync membership push cli-xyz"):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=cli_push)
    holder.start()
    held.wait(10)
    threading.Timer(1.5, release.set).start()
    started = time.monotonic()
    _, r = env.ingest("2026-11-14/export.csv", samples.to_csv(rows(10)))
    holder.join(10)
    assert r.success, failure_message(r)
    assert time.monotonic() - started >= 1.5 and writes(env.sandbox, env.api_key) == 10


# -- 8. e-mail changes under a stable key -----------------------------------------------------------------------------
def test_cli_email_change_moves_the_same_person(cli_env, sandbox, api_key, tmp_path, capsys):
    older = rows(20)
    newer = [dict(r) for r in older]
    newer[3]["email"] = "new.address@example.org"
    old_email = older[3]["email"]
    assert push_cli.main([*write_pair(tmp_path, [], older), "--apply", "--key", "ak_id", "--max-rps", "500"]) == 0
    pid = sandbox.action_network.database(api_key).find_by_email(old_email).id
    capsys.readouterr()
    assert push_cli.main([*write_pair(tmp_path, older, newer), "--apply", "--key", "ak_id", "--json"]) == 0
    out = json_out(capsys)
    assert out["email_changed"] == 1 and out["email_moved"] == 1 and out["upserted"] == 0
    state = people(sandbox, api_key)
    assert len(state) == 20 and old_email not in state
    moved = state["new.address@example.org"]
    assert moved["identifiers"][0].endswith(pid) and moved["custom_fields"]["is_member"] == "True"


def test_email_change_is_not_written_to_a_person_who_no_longer_holds_the_old_address(
    cli_env, sandbox, api_key, tmp_path
):
    older = rows(20)
    newer = [dict(r) for r in older]
    newer[3]["email"] = "new.address@example.org"
    assert push_cli.main([*write_pair(tmp_path, [], older), "--apply", "--key", "ak_id", "--max-rps", "500"]) == 0
    db = sandbox.action_network.database(api_key)
    pid = db.find_by_email(older[3]["email"]).id
    db.put_person(pid, {"email_addresses": [{"address": "reassigned@example.org"}]})  # someone else now
    assert push_cli.main([*write_pair(tmp_path, older, newer), "--apply", "--key", "ak_id"]) == 0
    state = people(sandbox, api_key)
    assert "reassigned@example.org" in state  # that person was not rewritten
    assert state["new.address@example.org"]["identifiers"][0] != state["reassigned@example.org"]["identifiers"][0]


def test_pipeline_email_change_moves_the_same_person(env, tmp_path, monkeypatch):
    config = yaml.safe_load(Path(DEFAULT_CONFIG).read_text())
    config["membership"]["key_column"] = "ak_id"
    (tmp_path / "orgsync.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ORGSYNC_CONFIG", str(tmp_path / "orgsync.yaml"))
    older = rows(30)
    newer = [dict(r) for r in older]
    newer[5]["email"] = "moved@example.org"
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(older))
    assert r1.success, failure_message(r1)
    pid = env.sandbox.action_network.database(env.api_key).find_by_email(older[5]["email"]).id
    _, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(newer))
    assert r2.success, failure_message(r2)
    assert mat_meta(r2, SYNC_KEY)["email_moved"] == 1
    state = people(env.sandbox, env.api_key)
    assert len(state) == 30 and older[5]["email"] not in state
    assert state["moved@example.org"]["identifiers"][0].endswith(pid)
    assert state["moved@example.org"]["custom_fields"]["is_member"] == "True"


# -- 9. configuration and refused connections ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "url", ["actionnetwork.org/api/v2/", "ftp://actionnetwork.org/api/v2/", "https:///api/v2", " https://x.org/"]
)
def test_cli_malformed_url_is_refused_before_anything(cli_env, fast_pg_url, tmp_path, capsys, url):
    cli_env.setenv("ACTION_NETWORK_URL", url)
    args = [*write_pair(tmp_path, rows(10), rows(12)), "--apply"]
    assert push_cli.main(args) == 2
    err = capsys.readouterr().err
    assert "error: ACTION_NETWORK_URL:" in err and "Traceback" not in err
    assert ledger_rows(engine_for(fast_pg_url)) == []


@pytest.mark.parametrize(
    "extra", [["--max-rps", "nan"], ["--max-rps", "inf"], ["--max-rps", "0"], ["--concurrency", "0"]]
)
def test_cli_bad_rate_or_concurrency_is_refused(cli_env, sandbox, fast_pg_url, api_key, tmp_path, capsys, extra):
    assert push_cli.main([*write_pair(tmp_path, rows(10), rows(12)), "--apply", *extra]) == 2
    assert "error:" in capsys.readouterr().err and sandbox.action_network.stats(api_key)["requests"] == 0
    assert ledger_rows(engine_for(fast_pg_url)) == []


def test_resource_validators():
    for bad in (dict(base_url="actionnetwork.org"), dict(requests_per_second=float("nan")), dict(timeout_seconds=0)):
        with pytest.raises(Exception, match="base_url|requests_per_second|timeout_seconds"):
            ActionNetworkResource(api_key="k", **bad)
    ActionNetworkResource(api_key="k", base_url=dg.EnvVar("ACTION_NETWORK_URL"))  # checked when resolved


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_cli_connection_refused_is_not_sent_and_stops_the_push(cli_env, fast_pg_url, tmp_path, capsys):
    cli_env.setenv("ACTION_NETWORK_URL", f"http://127.0.0.1:{closed_port()}/api/v2/")
    # 41 lapses (no upsert: the people mirror is not read, the push itself meets the refusals)
    args = [*write_pair(tmp_path, rows(42), rows(1)), "--apply", "--json", "--max-rps", "500", "--concurrency", "4"]
    assert push_cli.main([*args, "--allow-mass-lapse"]) == 1
    cap = capsys.readouterr()
    out = json.loads(cap.out.strip().splitlines()[-1])
    assert "could not be reached" in cap.err and "connection refused" in cap.err and "Traceback" not in cap.err
    assert out["requests_sent"] <= 12 and out["uncertain"] == 0
    assert out["not_attempted"] >= 41 - 8 and out["failed"] + out["not_attempted"] == 41
    states = [r["status"] for r in ledger_rows(engine_for(fast_pg_url))]
    assert "in_flight" not in states and "uncertain" not in states and len(states) == out["failed"]
    assert all(r["error"].startswith("action_network") for r in ledger_rows(engine_for(fast_pg_url)))


def test_cli_connection_refused_while_reading_the_mirror_sends_and_marks_nothing(
    cli_env, fast_pg_url, tmp_path, capsys
):
    cli_env.setenv("ACTION_NETWORK_URL", f"http://127.0.0.1:{closed_port()}/api/v2/")
    assert push_cli.main([*write_pair(tmp_path, [], rows(41)), "--apply", "--max-rps", "500"]) == 1
    err = capsys.readouterr().err
    assert "could not be reached" in err and "connection refused" in err and "nothing was sent" in err
    assert "Traceback" not in err and ledger_rows(engine_for(fast_pg_url)) == []


def test_pipeline_malformed_url_fails_clearly_and_leaves_nothing(env, monkeypatch):
    monkeypatch.setenv("ACTION_NETWORK_URL", "actionnetwork.org/api/v2/")
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", env.api_key)
    resources = env.resources()
    resources["action_network"] = ActionNetworkResource(
        api_key=dg.EnvVar("ACTION_NETWORK_API_KEY"), base_url=dg.EnvVar("ACTION_NETWORK_URL")
    )
    env.resources = lambda rps=200.0: resources
    _, r = env.ingest("2026-11-14/export.csv", samples.to_csv(rows(10)))
    assert not r.success
    failures = [e for e in r.all_events if e.event_type_value == "RESOURCE_INIT_FAILURE"]
    text = " ".join(e.event_specific_data.error.to_string() for e in failures)
    assert "base_url" in text and "no http:// or https:// scheme" in text  # the run stops before the push starts
    assert env.sandbox.action_network.stats(env.api_key)["requests"] == 0
    with env.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(sync_ledger).where(sync_ledger.c.sync == SYNC)).scalar()
            == 0
        )


def test_plan_push_email_change_needs_a_different_old_address():
    row = dict(samples.member(1), _changed_columns=["email"])
    plan = plan_push(
        key_column="ak_id",
        new_rows=[],
        updated_rows=[row],
        lapsed_rows=[],
        person_ids={"100001": "pid"},
        old_emails={"100001": "Old@Example.org"},
    )
    (op,) = plan.ops
    assert op.action == "email_change" and op.context == {"person_id": "pid", "old_email": "Old@Example.org"}
    same = plan_push(
        key_column="ak_id",
        new_rows=[],
        updated_rows=[row],
        lapsed_rows=[],
        person_ids={},
        old_emails={"100001": row["email"].upper()},
    )
    assert same.ops[0].action == "upsert"


def test_http_connect_errors_are_not_sent_and_stop_after_three_in_a_row():
    from orgsync_dagster.resources.http import ApiError, HostUnreachable, HttpClient

    http = HttpClient(f"http://127.0.0.1:{closed_port()}/api/v2/", system="x", sleep=lambda s: None, timeout=2)
    with pytest.raises(HostUnreachable) as err:
        http.request("POST", "people/", json={})
    assert err.value.not_sent and not err.value.uncertain and "connection refused" in str(err.value)
    assert http.requests_sent == 3  # retried twice (nothing had been sent), then the host counts as unreachable
    with pytest.raises(HostUnreachable):
        http.request("GET", "people")
    assert http.requests_sent == 3  # no further connection attempt
    dns = HttpClient("http://orgsync-no-such-host.invalid/api/v2/", system="x", sleep=lambda s: None, timeout=2)
    with pytest.raises(ApiError) as err:
        dns.request("PUT", "people/1", json={})
    assert err.value.not_sent and not err.value.uncertain and "DNS" in str(err.value)


def test_pipeline_bad_rate_fails_before_anything_is_planned(env):
    run_config = {"ops": {"action_network__membership_sync": {"config": {"requests_per_second": -1.0}}}}
    _, r = env.ingest("2026-11-14/export.csv", samples.to_csv(rows(10)), run_config=run_config)
    assert not r.success and "requests_per_second must be a positive number" in failure_message(r)
    assert env.sandbox.action_network.stats(env.api_key)["requests"] == 0 and ledger_rows(env.engine) == []
