"""Membership push figures against the sandbox Action Network (the tests run the same code at a smaller size).

1. throughput: SandboxServer(latency_ms=100, rate_limit=20); the push runs at --max-rps 20 with concurrent
   requests. Reported: requests per second sustained over the push, 429s answered, writes per changed
   member (exactly one; each lapse also costs one verifying read), requests for unchanged members (must be 0).
2. faults: SandboxServer(fault_rate=0.2) (429/503 before processing, 500/dropped after processing): the
   sandbox must end with exactly the expected people and is_member values, writes < 1.1x the changes.
3. kill: `orgsync sandbox` in a subprocess; `orgsync membership push --apply` in another subprocess, SIGKILLed
   mid-way, then run again: same end state, writes < 1.1x the changes.

"Earlier pushes" (the older export already in Action Network, with its ledger receipts) are seeded directly
into the in-process emulator and the ledger for 1 and 2, and pushed over HTTP for 3.

Usage:
  PYTHONPATH=. python benchmarks/membership_push.py [--members 3000 --new 300 --updated 200 --lapsed 100]
  (ORGSYNC_WAREHOUSE_URL: ledger database; default: a fresh database on the test PostgreSQL server)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import polars as pl
import requests
import sqlalchemy as sa

from orgsync_dagster.lib.ledger import SUCCEEDED, payload_hash
from orgsync_dagster.lib.tables import sync_attempts, sync_ledger
from orgsync_dagster.membership import samples
from orgsync_dagster.membership.diff import diff_snapshots
from orgsync_dagster.membership.mapping import MAPPED_COLUMNS, person_from_row
from orgsync_dagster.membership.push import SYNC, UPSERT, known_person_ids, plan_push, run_push
from orgsync_dagster.resources.action_network import ActionNetworkResource

SCOPE = "default"


def scope_for(url: str, api_key: str) -> str:
    """The ledger scope the CLI and the asset use for this group (scope name, URL, key fingerprint)."""
    return ActionNetworkResource(api_key=api_key, base_url=url).target_scope(SCOPE)


# -- helpers ----------------------------------------------------------------------------------------------------
def seed_pushed(engine, emulator, api_key: str, rows: list[dict], scope: str = SCOPE) -> None:
    """The older export as an earlier push left it: people in Action Network, receipts in the ledger."""
    db = emulator.database(api_key)
    ledger_rows, attempt_rows = [], []
    with emulator._lock:
        for row in rows:
            payload = {"person": person_from_row(row)}
            person, _ = db.signup(payload)
            phash = payload_hash([UPSERT, payload])
            common = dict(
                sync=SYNC,
                scope=scope,
                record_key=row["email"],
                action=UPSERT,
                payload_hash=phash,
                receipt=person.id,
                run_id="seed",
            )
            ledger_rows.append(dict(common, status=SUCCEEDED, attempts=1))
            attempt_rows.append(dict(common, outcome=SUCCEEDED))
    with engine.begin() as conn:
        conn.execute(sync_ledger.insert(), ledger_rows)
        conn.execute(sync_attempts.insert(), attempt_rows)


def push(
    engine, url: str, api_key: str, older: list[dict], newer: list[dict], *, rps: float, concurrency: int, run_id: str
) -> dict:
    """Diff two exports (as frames) and push the changes; returns counts and timings."""
    cols = samples.COLUMNS
    frame = lambda rows: pl.DataFrame(rows, schema={c: pl.String for c in cols})
    compare = [c for c in MAPPED_COLUMNS if c in cols and c != "email"]
    result = diff_snapshots(frame(older), frame(newer), key="email", compare_columns=compare)
    lapsed = result.lapsed.to_dicts()
    plan = plan_push(
        key_column="email",
        new_rows=result.new.to_dicts(),
        updated_rows=result.updated.to_dicts(),
        lapsed_rows=lapsed,
        person_ids=known_person_ids(engine, scope_for(url, api_key), [r["email"] for r in lapsed]),
        unchanged=result.counts["unchanged"],
    )
    client = ActionNetworkResource(api_key=api_key, base_url=url, requests_per_second=rps).client()
    started = time.monotonic()
    report, outcome = run_push(
        engine, client, plan.ops, scope=scope_for(url, api_key), run_id=run_id, concurrency=concurrency
    )
    seconds = time.monotonic() - started
    return {
        **result.to_dict(),
        "changes": len(plan.ops),
        "requests": client.requests_sent,
        "seconds": round(seconds, 2),
        "rps": round(client.requests_sent / seconds, 2),
        "ok": report.ok,
        **outcome,
    }


def verify(dump: dict, pair: samples.WeekPair) -> list[str]:
    """Differences between Action Network and what the two exports say it must hold (empty = exact)."""
    people = {p["email_addresses"][0]["address"]: p for p in dump["people"]}
    problems = []
    expected = {r["email"] for r in pair.older} | {r["email"] for r in pair.newer}
    if set(people) != expected:
        problems.append(f"people: {len(set(people) - expected)} unexpected, {len(expected - set(people))} missing")
    for row in pair.newer:
        p = people.get(row["email"])
        if p is None:
            continue
        if p["custom_fields"].get("is_member") != "True":
            problems.append(f"{row['email']}: is_member {p['custom_fields'].get('is_member')!r}, want 'True'")
        if p["postal_addresses"][0]["address_lines"] != [row["mailing_address1"]]:
            problems.append(f"{row['email']}: address not updated")
    for email in pair.lapsed:
        if email in people and people[email]["custom_fields"].get("is_member") != "False":
            problems.append(f"{email}: still a member")
    return problems


def writes(stats: dict) -> int:
    return stats.get("signup_helper_posts", 0) + stats.get("person_puts", 0)


def fresh_database() -> tuple[str, callable]:
    from orgsync_dagster.lib import pg_test_server

    if os.environ.get("ORGSYNC_WAREHOUSE_URL"):
        return os.environ["ORGSYNC_WAREHOUSE_URL"], lambda: None
    admin, _ = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_bench")
    return url, lambda: pg_test_server.drop_database(admin, url)


# -- the three measurements -------------------------------------------------------------------------------------
def measure_throughput(
    engine, pair: samples.WeekPair, *, rps: float = 20, latency_ms: float = 100, concurrency: int = 8
) -> dict:
    from orgsync_dagster.sandbox.server import SandboxServer

    key = f"bench-{uuid.uuid4().hex[:8]}"
    with SandboxServer(latency_ms=latency_ms, rate_limit=rps, with_s3=False) as server:
        seed_pushed(engine, server.action_network, key, pair.older, scope_for(server.urls.action_network_url, key))
        before = server.action_network.stats(key)
        out = push(
            engine,
            server.urls.action_network_url,
            key,
            pair.older,
            pair.newer,
            rps=rps,
            concurrency=concurrency,
            run_id="throughput",
        )
        after = server.action_network.stats(key)
        out.update(
            writes=writes(after) - writes(before),
            limit_rps=rps,
            served=after["requests"] - before["requests"],
            answered_429=server.stats["rate_limited_429"],
            share_of_limit=round(out["rps"] / rps, 3),
            problems=verify(server.action_network.dump(key), pair),
        )
    return out


def measure_faults(
    engine, pair: samples.WeekPair, *, fault_rate: float = 0.2, concurrency: int = 8, seed: int = 11
) -> dict:
    from orgsync_dagster.sandbox.server import SandboxServer

    key = f"bench-{uuid.uuid4().hex[:8]}"
    with SandboxServer(fault_rate=fault_rate, seed=seed, with_s3=False) as server:
        seed_pushed(engine, server.action_network, key, pair.older, scope_for(server.urls.action_network_url, key))
        before = writes(server.action_network.stats(key))
        runs = []
        for attempt in range(3):  # a run leaves members failed only when retries ran out; the next run retries
            runs.append(
                push(
                    engine,
                    server.urls.action_network_url,
                    key,
                    pair.older,
                    pair.newer,
                    rps=1000,
                    concurrency=concurrency,
                    run_id=f"faults-{attempt}",
                )
            )
            if runs[-1]["ok"]:
                break
        total_writes = writes(server.action_network.stats(key)) - before
        changes = runs[0]["changes"]
        return {
            "fault_rate": fault_rate,
            "changes": changes,
            "runs": len(runs),
            "writes": total_writes,
            "writes_per_change": round(total_writes / changes, 3),
            "faults": {k: v for k, v in server.stats.items() if k.startswith("fault_")},
            "problems": verify(server.action_network.dump(key), pair),
        }


def _ledger_succeeded(engine, run_prefix: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(sync_ledger)
            .where(sync_ledger.c.status == SUCCEEDED, sync_ledger.c.run_id.like(f"{run_prefix}%"))
        ).scalar_one()


def measure_kill(
    engine,
    url: str,
    pair: samples.WeekPair,
    workdir: Path,
    *,
    rps: float = 20,
    latency_ms: float = 50,
    kill_after: int = 20,
) -> dict:
    """`orgsync sandbox` and `orgsync membership push --apply` as subprocesses; SIGKILL the push, run it again."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "orgsync_dagster.cli", "sandbox", "--no-s3", "--latency-ms", str(latency_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        urls = json.loads(sandbox.stdout.readline())
        an_url, key = urls["action_network_url"], f"bench-{uuid.uuid4().hex[:8]}"
        admin = an_url.replace("/api/v2/", f"/_sandbox/action_network/{key}")
        files = {n: workdir / f"{n}.csv" for n in ("older", "newer")}
        files["older"].write_bytes(samples.to_csv(pair.older))
        files["newer"].write_bytes(samples.to_csv(pair.newer))
        push(engine, an_url, key, [], pair.older, rps=500, concurrency=16, run_id="seed")  # the earlier push
        before = writes(requests.get(admin, timeout=10).json()["stats"])
        env = dict(os.environ, ORGSYNC_WAREHOUSE_URL=url, ACTION_NETWORK_API_KEY=key, ACTION_NETWORK_URL=an_url)
        cmd = [
            sys.executable,
            "-m",
            "orgsync_dagster.membership.push_cli",
            "push",
            str(files["older"]),
            str(files["newer"]),
            "--apply",
            "--max-rps",
            str(rps),
            "--allow-mass-lapse",
            "--json",
        ]
        victim = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while _ledger_succeeded(engine, "cli-") < kill_after and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        killed_at = _ledger_succeeded(engine, "cli-")
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        with engine.connect() as conn:
            in_flight = conn.execute(
                sa.select(sa.func.count()).select_from(sync_ledger).where(sync_ledger.c.status == "in_flight")
            ).scalar_one()
        resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        summary = json.loads(resumed.stdout.strip().splitlines()[-1])
        dump = requests.get(admin, timeout=10).json()
        total_writes = writes(dump["stats"]) - before
        changes = len(pair.new) + len(pair.updated) + len(pair.lapsed)
        return {
            "changes": changes,
            "killed_after_succeeded": killed_at,
            "in_flight_at_kill": in_flight,
            "resume_exit": resumed.returncode,
            "resume_already_done": summary.get("already_done"),
            "resume_reconciled": summary.get("reconciled"),
            "writes": total_writes,
            "writes_per_change": round(total_writes / changes, 3),
            "problems": verify(dump, pair),
        }
    finally:
        sandbox.send_signal(signal.SIGTERM)
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=3000)
    ap.add_argument("--new", type=int, default=300)
    ap.add_argument("--updated", type=int, default=200)
    ap.add_argument("--lapsed", type=int, default=100)
    ap.add_argument("--only", choices=["throughput", "faults", "kill"], default=None)
    args = ap.parse_args()
    import logging

    from orgsync_dagster.resources.warehouse import engine_for

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    pair = samples.week_pair(args.members, new=args.new, updated=args.updated, lapsed=args.lapsed)
    results = {}
    for name in ("throughput", "faults", "kill"):
        if args.only and args.only != name:
            continue
        url, drop = fresh_database()
        engine = engine_for(url)
        try:
            if name == "throughput":
                results[name] = measure_throughput(engine, pair)
            elif name == "faults":
                results[name] = measure_faults(engine, pair)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    results[name] = measure_kill(engine, url, pair, Path(tmp), kill_after=max(10, args.new // 2))
        finally:
            engine.dispose()
            drop()
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    missed = check(results)
    for line in missed:
        print(f"MISSED: {line}")
    print("all figures met" if not missed else f"{len(missed)} figure(s) missed")
    return 1 if missed else 0


def check(results: dict) -> list[str]:
    """The issue's figures, as failed-check messages (empty = all met)."""
    missed = []
    for name, r in results.items():
        if r.get("problems"):
            missed.append(f"{name}: Action Network state differs: {r['problems'][:3]}")
    t = results.get("throughput")
    if t:
        if t["answered_429"]:
            missed.append(f"throughput: {t['answered_429']} requests answered 429")
        if t["share_of_limit"] < 0.9:
            missed.append(f"throughput: {t['rps']} req/s is {t['share_of_limit']:.0%} of the limit (< 90%)")
        if t["writes"] != t["changes"] or t["requests"] != t["served"]:
            missed.append(f"throughput: {t['writes']} writes for {t['changes']} changed members")
    for name in ("faults", "kill"):
        r = results.get(name)
        if r and r["writes"] >= 1.1 * r["changes"]:
            missed.append(f"{name}: {r['writes']} writes for {r['changes']} changes (>= 1.1x)")
    return missed


if __name__ == "__main__":
    sys.exit(main())
