"""Approving a blocked export (issue 8): one command (``orgsync membership approve|reject|pending``), the rules of
approvals.decide, and the approval sensor that pushes an approved export with no hand-written run config."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest

from orgsync_dagster.membership import approvals, samples, store
from orgsync_dagster.membership.approval_sensor import TAG_DECISION, membership_approval_sensor
from orgsync_dagster.membership.assets import (
    DIFF_KEY,
    GUARD_CHECK,
    SYNC_KEY,
    membership_diff,
    membership_snapshot,
    membership_sync,
)
from orgsync_dagster.membership.cli import main
from orgsync_dagster.resources.warehouse import WarehouseResource

from .pipeline_env import check_result, mat_meta


def is_member(dump: dict) -> dict[str, str]:
    return {p["email_addresses"][0]["address"]: p["custom_fields"].get("is_member") for p in dump["people"]}


def cli(capsys, env, *argv) -> tuple[int, str, str]:
    code = main([*argv, "--warehouse-url", env.pg_url])
    out = capsys.readouterr()
    return code, out.out, out.err


def sensor_tick(env, cursor=None):
    resources = {"warehouse": WarehouseResource(url=env.pg_url)}
    with dg.build_sensor_context(instance=env.instance, resources=resources, cursor=cursor) as ctx:
        return membership_approval_sensor(ctx)


@pytest.fixture
def blocked(env):
    """50 members pushed, then an export of 5 (45 lapsed): the guard blocks it."""
    rows = [samples.member(i) for i in range(50)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    pk2, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(rows[:5]))
    assert not r2.success and not check_result(r2, GUARD_CHECK).passed
    assert store.pushed_partitions(env.engine, [pk1, pk2]) == {pk1}
    return pk1, pk2, rows


def test_an_approved_export_is_pushed_by_the_sensor_without_run_config(env, blocked, capsys):
    pk1, pk2, rows = blocked
    code, out, err = cli(capsys, env, "pending", "--json")
    assert code == 0, err
    listed = json.loads(out)
    (waiting,) = listed["pending"]
    assert waiting["partition_key"] == pk2 and waiting["waiting"] and waiting["decision"] is None
    assert (waiting["older_rows"], waiting["newer_rows"], waiting["lapsed"], waiting["new"]) == (50, 5, 45, 0)
    assert "45 of 50 members lapsed" in waiting["reason"] and listed["history"] == []
    code, out, _ = cli(capsys, env, "pending")
    assert code == 0 and pk2 in out and "45 lapsed of 50" in out and "orgsync membership approve" in out
    assert "@example.org" not in out and rows[0]["ak_id"] not in out  # counts only, no member data

    before = sensor_tick(env)
    assert isinstance(before, dg.SkipReason)  # nothing decided yet: no run
    code, out, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "national confirmed the purge")
    assert code == 0, err
    assert f"{pk2}: approved by Rosa" in out
    (decision,) = approvals.history(env.engine)
    assert decision["decided_by"] == "Rosa" and decision["note"] == "national confirmed the purge"
    assert decision["decided_at"] and approvals.pending(env.engine) == []

    result = sensor_tick(env)
    (req,) = result.run_requests
    assert req.partition_key == pk2 and req.run_key == f"membership-decision-{decision['id']}"
    assert set(req.asset_selection) == {dg.AssetKey(DIFF_KEY), dg.AssetKey(SYNC_KEY)}
    assert req.tags[TAG_DECISION] == str(decision["id"]) and result.cursor == str(decision["id"])
    assert isinstance(sensor_tick(env, result.cursor), dg.SkipReason)  # a decision starts one run only

    run = env.run(req.partition_key, tags=req.tags, assets=[membership_diff, membership_sync])
    assert run.success
    assert "approved by Rosa" in check_result(run, GUARD_CHECK).description
    assert mat_meta(run, SYNC_KEY)["lapsed_in_action_network"] == 45
    state = is_member(env.dump())
    assert sum(v == "False" for v in state.values()) == 45 and sum(v == "True" for v in state.values()) == 5
    # pushed: nothing more to decide, and the sensor does not start it again from an old cursor
    code, _, err = cli(capsys, env, "reject", pk2, "--by", "Karl", "--note", "too late")
    assert code == 2 and "already pushed" in err and "Traceback" not in err
    again = sensor_tick(env, "0")
    assert not again.run_requests and again.cursor == str(decision["id"])


def test_a_rejected_export_starts_no_run_and_is_never_pushed(env, blocked, capsys):
    _pk1, pk2, _rows = blocked
    code, out, err = cli(capsys, env, "reject", pk2, "--by", "Karl", "--note", "national sent a test file", "--json")
    assert code == 0, err
    recorded = json.loads(out)
    assert recorded["decision"] == "reject" and recorded["partition_key"] == pk2
    result = sensor_tick(env)
    assert not result.run_requests and result.cursor == str(recorded["id"])
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "changed my mind")
    assert code == 2 and "already rejected by Karl" in err and "final" in err
    run = env.run(pk2)  # even a hand-started run does not push it
    assert not run.success and store.pushed_partitions(env.engine, [pk2]) == set()
    assert approvals.pending(env.engine) == []


def test_decisions_are_refused_with_a_clear_error(env, blocked, capsys):
    pk1, pk2, _rows = blocked
    cases = [
        (["approve", pk2, "--by", "Rosa"], "a note (--note: what was checked) is required"),
        (["approve", pk2, "--note", "checked"], "who decides (--by) is required"),
        (["approve", pk2, "--by", "  ", "--note", "checked"], "who decides (--by) is required"),
        (["approve", pk2, "--by", "Rosa", "--note", "x" * 2001], "too long"),
        (["approve", pk2, "--by", "Ro\x1bsa", "--note", "ok"], "control characters"),
        (["approve", pk2[:-3], "--by", "Rosa", "--note", "ok"], f"did you mean: {pk2}"),
        (["approve", "nothing-like-it", "--by", "Rosa", "--note", "ok"], "orgsync membership pending"),
        (["approve", pk1, "--by", "Rosa", "--note", "ok"], "already pushed"),
        (["reject", pk1, "--by", "Rosa", "--note", "ok"], "already pushed"),
    ]
    for argv, message in cases:
        code, out, err = cli(capsys, env, *argv)
        assert code == 2 and message in err and "Traceback" not in err, (argv, err)
        assert err.startswith("error: ") and out == ""
    assert approvals.history(env.engine) == []  # nothing was recorded
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "ok")
    assert code == 0, err
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Ann", "--note", "me too")
    assert code == 2 and "already approved by Rosa" in err
    assert len(approvals.history(env.engine)) == 1
    # usage errors from argparse: exit 2, no traceback
    assert main(["approve"]) == 2
    capsys.readouterr()
    assert (
        main(["approve", pk2, "--by", "R", "--note", "n", "--warehouse-url", "postgresql://nobody@127.0.0.1:1/x"]) == 2
    )
    err = capsys.readouterr().err
    assert "error: cannot open the warehouse" in err and "Traceback" not in err and err.count("\n") == 1


def test_an_export_that_is_not_blocked_cannot_be_approved_but_can_be_rejected(env, capsys):
    rows = [samples.member(i) for i in range(20)]
    _pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    env.put("2026-11-21/export.csv", samples.to_csv(rows + [samples.member(20)]))
    (req,) = env.sensor_tick(env.cursor).run_requests
    pk2 = req.partition_key
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "ok")
    assert code == 2 and f"no membership export {pk2!r}" in err  # seen by the sensor, not loaded yet
    assert env.run(pk2, tags=req.tags, assets=[membership_snapshot]).success
    assert approvals.export_state(env.engine, pk2) is None  # loaded, no diff yet
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "ok")
    assert code == 2 and "has no diff yet" in err
    assert env.run(pk2, tags=req.tags, assets=[membership_diff]).success
    state = approvals.export_state(env.engine, pk2)
    assert state and not state.blocked and state.new == 1 and not state.waiting
    code, _, err = cli(capsys, env, "approve", pk2, "--by", "Rosa", "--note", "ok")
    assert code == 2 and "not blocked by the mass-lapse guard" in err
    code, _, err = cli(capsys, env, "reject", pk2, "--by", "Rosa", "--note", "a test file from national")
    assert code == 0, err
    assert store.latest_decision(env.engine, pk2)["decision"] == "reject"


def test_the_commands_through_the_orgsync_entry_point(env, blocked):
    _pk1, pk2, _rows = blocked
    base = [sys.executable, "-m", "orgsync_dagster.cli", "membership"]
    run = subprocess.run([*base, "pending", "--warehouse-url", env.pg_url], capture_output=True, text=True)
    assert run.returncode == 0 and pk2 in run.stdout, run.stderr
    run = subprocess.run(
        [*base, "approve", pk2, "--by", "Rosa", "--note", "checked", "--warehouse-url", env.pg_url],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and f"{pk2}: approved by Rosa" in run.stdout, run.stderr
    run = subprocess.run([*base, "reject", pk2, "--warehouse-url", env.pg_url], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "error: who decides (--by) is required; a note (--note: what was checked) is required"
    ]
    assert store.latest_decision(env.engine, pk2)["decision"] == "approve"


def test_the_pending_command_says_when_nothing_waits_and_validates_its_options(env, capsys):
    code, out, _ = cli(capsys, env, "pending")
    assert code == 0 and "no export is waiting for a decision" in out
    code, _, err = cli(capsys, env, "pending", "--history", "-1")
    assert code == 2 and "--history" in err


def test_two_people_deciding_at_once_record_one_decision(env, blocked):
    _pk1, pk2, _rows = blocked

    def attempt(i: int):
        try:
            return approvals.decide(env.engine, pk2, ("approve", "reject")[i % 2], f"person {i}", "checked")
        except approvals.DecisionError as exc:
            return str(exc)

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(attempt, range(4)))
    recorded = [o for o in outcomes if isinstance(o, dict)]
    assert len(recorded) == 1 and all("a decision is final" in o for o in outcomes if isinstance(o, str))
    assert [d["id"] for d in approvals.history(env.engine)] == [recorded[0]["id"]]
