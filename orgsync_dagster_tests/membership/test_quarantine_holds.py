"""Issue 8 item 2: a member whose row in the newer export is quarantined (e.g. an unquoted comma in the address) is
*held*, never lapsed; quarantined rows count toward the guard and are reported."""

from __future__ import annotations

import json

import polars as pl

from orgsync_dagster.membership import cli, push_cli, samples
from orgsync_dagster.membership.assets import DIFF_KEY, GUARD_CHECK, SYNC_KEY
from orgsync_dagster.membership.diff import diff_files, quarantined_values
from orgsync_dagster.membership.diff_counts import diff_counts_files
from orgsync_dagster.membership.guard import evaluate_guard

from .pipeline_env import check_result, mat_meta

BROKEN = 7  # the member whose row in the newer export has an unquoted comma in the address


def _break_row(csv_bytes: bytes, i: int) -> bytes:
    """Put an unquoted comma into member i's address (as a hand-edited export has it): the row has one field
    too many and cannot be parsed."""
    row = samples.member(i)
    text = csv_bytes.decode("utf-8-sig")
    line = next(ln for ln in text.split("\r\n") if ln.startswith(row["ak_id"] + ","))
    broken = line.replace(row["mailing_address1"], row["mailing_address1"] + ", Apt 4", 1)
    assert broken != line and broken.count(",") == line.count(",") + 1
    return text.replace(line, broken).encode("utf-8")


def _files(tmp_path, n=40, *, broken=(BROKEN,), removed=()):
    rows = [samples.member(i) for i in range(n)]
    older = samples.to_csv(rows)
    newer = samples.to_csv([r for i, r in enumerate(rows) if i not in removed])
    for i in broken:
        newer = _break_row(newer, i)
    (tmp_path / "old.csv").write_bytes(older)
    (tmp_path / "new.csv").write_bytes(newer)
    return tmp_path / "old.csv", tmp_path / "new.csv"


def test_quarantined_values_cover_shifted_and_joined_fields():
    q = pl.DataFrame(
        {
            "_line": [5],
            "_reason": ["malformed_row"],
            "ak_id": [" 100007 "],
            "mailing_address1": ["107 Main St"],
            "mailing_city": [" Apt 4"],
            "email": ["02111"],
            "memb_status_letter": ["Member7@Example.org,M"],  # the rest of the line, joined
        }
    )
    values = set(quarantined_values(q).to_list())
    assert {"100007", "107 Main St", "Apt 4", "member7@example.org", "M"} <= values
    assert "" not in values and "5" not in values and "malformed_row" not in values
    assert quarantined_values(q.clear()).len() == 0 and quarantined_values(None).len() == 0


def test_cli_diff_holds_the_quarantined_member(tmp_path, capsys):
    old, new = _files(tmp_path, removed=(3,))
    for extra in ([], ["--out", str(tmp_path / "out")]):  # counts-only path and full diff path
        code = cli.main(["diff", str(old), str(new), "--key", "ak_id", "--json", *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        # the removed member lapses, the quarantined one does not; exactly the four keys on stdout
        assert json.loads(out) == {"new": 0, "updated": 0, "lapsed": 1, "unchanged": 38}
        assert "malformed_row=1" in err
        assert "held: 1 older members not counted lapsed" in err
    lapsed = pl.read_csv(tmp_path / "out" / "lapsed.csv", infer_schema=False)["ak_id"].to_list()
    assert lapsed == [samples.member(3)["ak_id"]]


def test_cli_diff_without_quarantine_reports_no_held(tmp_path, capsys):
    old, new = _files(tmp_path, broken=(), removed=(3, BROKEN))
    assert cli.main(["diff", str(old), str(new), "--key", "ak_id", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["lapsed"] == 2 and "held" not in err


def test_held_by_email_key_and_both_engines_agree(tmp_path):
    old, new = _files(tmp_path, broken=(BROKEN, 11), removed=(2,))
    full = diff_files(old, new, key="email")
    light = diff_counts_files(old, new, key="email", parallel=False)
    assert full.to_dict() == light.to_dict() == {"new": 0, "updated": 0, "lapsed": 1, "unchanged": 37}
    assert sorted(full.held["email"].to_list()) == sorted(light.held_keys.to_list())
    assert sorted(light.held_keys.to_list()) == ["member11@example.org", "member7@example.org"]
    assert full.lapsed["email"].to_list() == ["member2@example.org"]
    status = dict(full.status_frame().iter_rows())
    assert status["member7@example.org"] == "held" and status["member2@example.org"] == "lapsed"


def test_guard_counts_quarantined_rows():
    kw = dict(max_lapsed_share=0.05, max_shrink_share=0.5, max_quarantined_share=0.05)
    ok = evaluate_guard(older_rows=100, newer_rows=99, lapsed=0, quarantined=1, held=1, **kw)
    assert ok.passed and "quarantined 1.0%" in ok.description
    many = evaluate_guard(older_rows=100, newer_rows=90, lapsed=0, quarantined=10, held=10, **kw)
    assert not many.passed and many.tripped
    assert "10 of 100 rows of the export were quarantined" in many.description
    assert "held by quarantined rows" in many.description  # held count toward the lapsed share
    first = evaluate_guard(older_rows=0, newer_rows=5, lapsed=0, quarantined=5, **kw)
    assert not first.passed and "quarantined" in first.description
    approved = evaluate_guard(
        older_rows=100,
        newer_rows=90,
        lapsed=0,
        quarantined=10,
        decision={"decision": "approve", "decided_by": "A"},
        **kw,
    )
    assert approved.passed and approved.tripped


def test_push_plan_does_not_lapse_the_quarantined_member(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    old, new = _files(tmp_path)
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    assert push_cli.main(["push", str(old), str(new), "--key", "ak_id"]) == 0
    captured = capsys.readouterr()
    assert "plan: 0 new, 0 updated, 0 lapsed, 39 unchanged" in captured.out, captured
    assert "quarantined" in captured.err and "nothing was sent" in captured.out
    assert sandbox.action_network.stats(api_key)["requests"] == 0


def test_push_plan_refuses_when_too_many_rows_are_quarantined(
    sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys
):
    old, new = _files(tmp_path, broken=(1, 2, 3, 4, 5))  # 5 of 40: 12.5% > 5%
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    assert push_cli.main(["push", str(old), str(new), "--key", "ak_id", "--apply"]) != 0
    captured = capsys.readouterr()
    assert "were quarantined" in captured.err and "plan: 0 new, 0 updated, 0 lapsed" in captured.out
    assert sandbox.action_network.stats(api_key)["requests"] == 0


def _is_member(env) -> dict[str, str]:
    return {p["email_addresses"][0]["address"]: p["custom_fields"].get("is_member") for p in env.dump()["people"]}


def test_pipeline_holds_the_quarantined_member(env):
    rows = [samples.member(i) for i in range(40)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    newer = _break_row(samples.to_csv([r for i, r in enumerate(rows) if i != 3]), BROKEN)
    pk2, r2 = env.ingest("2026-11-21/export.csv", newer)
    assert r2.success
    diff = mat_meta(r2, DIFF_KEY)
    assert (diff["lapsed"], diff["held"], diff["quarantined"], diff["unchanged"]) == (1, 1, 1, 38)
    assert check_result(r2, GUARD_CHECK).passed
    assert mat_meta(r2, SYNC_KEY)["lapsed_in_action_network"] == 1
    state = _is_member(env)
    assert state["member3@example.org"] == "False"  # really gone: lapsed
    assert state["member7@example.org"] != "False"  # row quarantined: held, still a member


def test_pipeline_blocks_an_export_with_many_quarantined_rows(env):
    rows = [samples.member(i) for i in range(40)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    newer = samples.to_csv(rows)
    for i in (1, 2, 3, 4, 5):
        newer = _break_row(newer, i)
    pk2, r2 = env.ingest("2026-11-21/export.csv", newer)
    check = check_result(r2, GUARD_CHECK)
    assert check is not None and not check.passed and "were quarantined" in check.description
    assert all(v != "False" for v in _is_member(env).values())
    assert any("waiting for approval" in m for m in env.slack.messages)


def test_an_export_blocked_by_quarantined_rows_is_pending_and_can_be_approved(env, capsys):
    rows = [samples.member(i) for i in range(40)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    newer = samples.to_csv(rows)
    for i in (1, 2, 3, 4, 5):
        newer = _break_row(newer, i)
    pk2, r2 = env.ingest("2026-11-21/export.csv", newer)
    assert not r2.success
    assert cli.main(["pending", "--warehouse-url", env.pg_url]) == 0
    assert pk2 in capsys.readouterr().out
    code = cli.main(
        ["approve", pk2, "--by", "Rosa", "--note", "bad addresses, fixed next week", "--warehouse-url", env.pg_url]
    )
    assert code == 0, capsys.readouterr().err
    r3 = env.run(pk2)
    assert r3.success and "approved by Rosa" in check_result(r3, GUARD_CHECK).description
    assert mat_meta(r3, DIFF_KEY)["held"] == 5
    assert all(v != "False" for v in _is_member(env).values())  # approved, and still nobody lapsed
