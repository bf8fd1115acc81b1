"""10,000 calls of one candidate-day through ONE VAN bulk import job, under sandbox fault rate 0.2 and a real
SIGKILL of the process running the sync mid-job, then a re-run; side by side with the reference: the same calls
sent one request per call.

What is measured (the sandbox server counts every request it receives, faults included):
  * VAN requests of the bulk sync (all processes: the killed one and the re-runs): POST bulkImportJobs, status
    polls, the results file, and every retry the faults caused. (The ["van","reference_data"] asset of a Dagster
    run adds 5 GETs per run; it is not part of this sync and is reported apart.)
  * every call in exactly one final state (finished / ignored / attempted_error / unattempted_error);
  * exactly once: one job created (never re-posted), as many bulk-applied canvass rows in VAN as calls finished
    with a VAN receipt, no person+time applied twice, no ledger entry left in flight.
The kill: the parent watches calls.bulk_import_batches and SIGKILLs the child as soon as the job id is recorded
(the emulator holds the job a few seconds before processing it, so the kill lands while VAN works on it).
If the faults drop the POST's answer, the batch is ``unknown`` (never re-posted): the benchmark then does what a
person does - finds the job in VAN by its description (here: the sandbox's job list) - and runs ``bulk.attach``.

The calls store is ``benchmarks/calls_filestore.py`` (journaled to a file, fsync before each write returns), so a
killed process loses nothing it acknowledged; mongomock cannot be shared between processes.

Usage: .venv/bin/python benchmarks/calls_bulk.py [--calls 10000] [--seeds 1,2,3] [--fault-rate 0.2]
       [--no-reference]
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
from collections import Counter
from pathlib import Path

DAY = "2026-03-05"
THRESHOLD = 100
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for _k, _v in {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_k, _v)  # the sandbox S3 accepts any credentials


def _settings(paid_usd: float = 100.0, bulk: bool = True):
    from orgsync_dagster.calls.config import CallsDeployment, parse_settings
    from orgsync_dagster_tests.calls.helpers import RESULTS

    results = {**RESULTS, "no answer": {"sync_to_van": False, "include_in_csv": False}}
    return parse_settings(
        {
            "van_instances": {"MI": {"daily_free_requests": 1000, "daily_paid_budget_usd": paid_usd}},
            "candidates": {
                "c1": {
                    "district": "mo01",
                    "van_instance": "MI",
                    "strategy": "full",
                    "timezone": "America/Chicago",
                    **({"bulk_import_threshold": THRESHOLD} if bulk else {}),
                    "results": results,
                }
            },
        },
        CallsDeployment(s3_bucket="bench"),
    )


def _calls(n: int) -> list[dict]:
    import random

    from orgsync_dagster.calls import seed

    rng = random.Random(5)
    mix = ["strong support", "volunteer yes", "refused", "left message", "busy", "dropped", "no answer"]
    docs = list(seed.sample_calls("mo01", DAY, "America/Chicago", n, seed=11, people=200))
    for d in docs:
        d["lv_result"] = d["full_on_screen_result"] = rng.choice(mix)
    return docs


def _csv_sink(key: str, rows) -> str:
    """The CSV export is not what is measured here: rows are consumed, the location returned."""
    for _row in rows:
        pass
    return f"s3://bench/{key}"


# -- the child: one process running the sync of the candidate-day ------------------------------------------------
def child(args) -> None:
    import boto3

    from benchmarks.calls_filestore import FileCallsStore
    from orgsync_dagster.calls.day_sync import sync_day
    from orgsync_dagster.lib.meter import WarehouseMeter
    from orgsync_dagster.lib.runtime import ledger_factory
    from orgsync_dagster.resources.van import VanResource
    from orgsync_dagster.resources.warehouse import engine_for

    started = time.monotonic()
    engine = engine_for(args.warehouse)
    store = FileCallsStore(args.base, None if args.journal == "-" else args.journal)
    settings = _settings(bulk=args.mode == "bulk")
    s3 = boto3.client("s3", endpoint_url=args.s3, region_name="us-east-1")

    def uploader(key, data):
        s3.put_object(Bucket=args.bucket, Key=key, Body=data)
        return s3.generate_presigned_url("get_object", Params={"Bucket": args.bucket, "Key": key}, ExpiresIn=3600)

    meter = WarehouseMeter(engine, flush_every=1)
    van = VanResource(api_keys=f"MI={args.key}", base_url=args.van_url, requests_per_second=500, max_retries=8)
    client = van.client(
        "MI",
        db_mode=1,
        meter=meter,
        daily_request_budget=settings.budget_for("MI"),
        budget_spent=lambda: meter.spent_today("van", "MI"),
    )
    client.http.backoff_base = 0.05
    run_id = uuid.uuid4().hex
    allowance = settings.budget_for("MI") - meter.spent_today("van", "MI")
    result = sync_day(
        store=store,
        settings=settings,
        candidate=settings.candidate("c1"),
        day=DAY,
        run_id=run_id,
        allowance=allowance,
        client=client,
        ledger_factory=ledger_factory(engine, run_id),
        csv_sink=_csv_sink,
        engine=engine,
        bulk_uploader=uploader,
        bulk_first_poll_seconds=1.0,
    )
    meter.flush()
    store.close()
    print(
        json.dumps(
            {
                "seconds": round(time.monotonic() - started, 2),
                "planned": dict(result.planned),
                "bulk": dict(result.bulk.calls) if result.bulk else {},
                "errors": result.errors[:3],
                "requests_counted_by_client": meter.spent("van"),
            }
        ),
        flush=True,
    )


def _spawn(args, mode: str, journal: str, base: str, urls, key: str, bucket: str, warehouse: str):
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.calls_bulk",
        "child",
        "--mode",
        mode,
        "--journal",
        journal,
        "--base",
        base,
        "--warehouse",
        warehouse,
        "--van-url",
        urls.van_url,
        "--s3",
        urls.s3_endpoint_url,
        "--bucket",
        bucket,
        "--key",
        key,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _batches(engine):
    import sqlalchemy as sa

    from orgsync_dagster.calls.tables import bulk_import_batches

    with engine.connect() as conn:
        return conn.execute(sa.select(bulk_import_batches).order_by(bulk_import_batches.c.created_at)).all()


def scenario(args, seed: int, warehouse: str, engine, base: str, workdir: str) -> dict:
    import boto3
    import sqlalchemy as sa

    from benchmarks.calls_filestore import FileCallsStore
    from orgsync_dagster.calls import bulk
    from orgsync_dagster.lib.tables import sync_ledger
    from orgsync_dagster.sandbox import van_bulk
    from orgsync_dagster.sandbox.server import SandboxServer

    van_bulk.PROCESSING_DELAY_SECONDS = 4.0  # VAN takes a moment: the kill lands while the job is pending
    key, bucket = f"bench-{seed}-{uuid.uuid4().hex[:6]}", f"bench-{seed}"
    journal = os.path.join(workdir, f"journal-{seed}.jsonl")
    out: dict = {"seed": seed, "fault_rate": args.fault_rate}
    with SandboxServer(fault_rate=args.fault_rate, seed=seed) as server:
        boto3.client("s3", endpoint_url=server.urls.s3_endpoint_url, region_name="us-east-1").create_bucket(
            Bucket=bucket
        )
        before = server.stats["requests.van"]
        started = time.monotonic()
        proc = _spawn(args, "bulk", journal, base, server.urls, key, bucket, warehouse)
        killed_at = None
        while proc.poll() is None:
            states = [b.state for b in _batches(engine)]
            if states and states[-1] != "prepared" and states[-1] != "posting":
                os.kill(proc.pid, signal.SIGKILL)  # a real kill: no cleanup, no flush, nothing after this
                killed_at = states[-1]
                break
            time.sleep(0.02)
        proc.wait()
        out["killed_while_batch_was"] = killed_at or "(not killed: the run ended first)"
        runs = 1
        for _attempt in range(4):
            batch = _batches(engine)[-1]
            if batch.state == "completed":
                break
            if batch.state == "unknown":  # a person finds the job in VAN by its description and attaches it
                found = [
                    j
                    for j in van_bulk.jobs_of(server.van.database(key, 1)).values()
                    if batch.token in j["_description"]
                ]
                store = FileCallsStore(base, journal)
                out["attached_by_a_person"] = bulk.attach(engine, store, batch.token, found[0]["id"]) if found else 0
                store.close()
            rerun = _spawn(args, "bulk", journal, base, server.urls, key, bucket, warehouse)
            stdout, stderr = rerun.communicate(timeout=600)
            runs += 1
            if rerun.returncode:
                raise SystemExit(f"re-run failed: {stderr[-2000:]}")
        out["processes"] = runs
        out["seconds_end_to_end"] = round(time.monotonic() - started, 1)
        out["van_requests"] = server.stats["requests.van"] - before
        out["faults_injected"] = {k: v for k, v in server.stats.items() if k.startswith("fault_")}
        store = FileCallsStore(base, journal)
        statuses = Counter(d.get("sync_status") or "unsynced" for d in store.docs.values())
        van_finished = sum(
            1
            for d in store.docs.values()
            if d.get("sync_status") == "finished" and str(d.get("receipt", "")).startswith("van:")
        )
        dump = server.van.dump(key)
        rows = [r for r in dump["canvass_responses"] if r["source"] == "bulk_import"]
        jobs = van_bulk.jobs_of(server.van.database(key, 1))
        with engine.connect() as conn:
            ledger = dict(
                conn.execute(
                    sa.select(sync_ledger.c.status, sa.func.count())
                    .where(sync_ledger.c.scope == "c1")
                    .group_by(sync_ledger.c.status)
                ).all()
            )
    final = {"finished", "ignored", "attempted_error", "unattempted_error"}
    out.update(
        calls=len(store.docs),
        statuses=dict(statuses),
        every_call_final=set(statuses) <= final,
        jobs_created=len(jobs),
        bulk_rows_in_van=len(rows),
        calls_finished_in_van=van_finished,
        duplicates_in_van=len(rows) - len({(r["vanId"], r["dateCanvassed"]) for r in rows}),
        ledger=ledger,
    )
    out["exactly_once"] = (
        len(jobs) == 1 and len(rows) == van_finished and out["duplicates_in_van"] == 0 and "in_flight" not in ledger
    )
    return out


def reference(args, warehouse: str, base: str, workdir: str) -> dict:
    """The same calls, one canvass POST per call (no faults, no kill)."""
    import boto3

    from orgsync_dagster.sandbox.server import SandboxServer

    key = f"bench-ref-{uuid.uuid4().hex[:6]}"
    with SandboxServer() as server:
        boto3.client("s3", endpoint_url=server.urls.s3_endpoint_url, region_name="us-east-1").create_bucket(
            Bucket="bench-ref"
        )
        started = time.monotonic()
        proc = _spawn(args, "rest", "-", base, server.urls, key, "bench-ref", warehouse)  # (no journal: no fsyncs)
        stdout, stderr = proc.communicate(timeout=3600)
        if proc.returncode:
            raise SystemExit(f"reference failed: {stderr[-2000:]}")
        return {
            "seconds_end_to_end": round(time.monotonic() - started, 1),
            "van_requests": server.stats["requests.van"],
            "child": json.loads(stdout.strip().splitlines()[-1]),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd")
    c = sub.add_parser("child")
    for name in ("mode", "journal", "base", "warehouse", "van-url", "s3", "bucket", "key"):
        c.add_argument(f"--{name}", required=True)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    if args.cmd == "child":
        return child(args)

    import logging

    from benchmarks.calls_filestore import FileCallsStore
    from orgsync_dagster.lib import pg_test_server
    from orgsync_dagster.resources.warehouse import engine_for

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    admin, _where = pg_test_server.admin_url()
    workdir = tempfile.mkdtemp(prefix="calls-bulk-bench-")
    base = os.path.join(workdir, "calls.jsonl")
    seeded = FileCallsStore()
    seeded.insert_many(_calls(args.calls))
    with open(base, "w") as f:
        from benchmarks.calls_filestore import _enc

        for d in seeded.docs.values():
            f.write(json.dumps(_enc(d)) + "\n")
    results = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        url = pg_test_server.create_database(admin)
        try:
            results.append(scenario(args, seed, url, engine_for(url), base, workdir))
        finally:
            from orgsync_dagster.resources.warehouse import dispose_engines

            dispose_engines()
            pg_test_server.drop_database(admin, url)
        print(json.dumps(results[-1]), flush=True)
    ref = None
    if not args.no_reference:
        url = pg_test_server.create_database(admin)
        try:
            ref = reference(args, url, base, workdir)
        finally:
            from orgsync_dagster.resources.warehouse import dispose_engines

            dispose_engines()
            pg_test_server.drop_database(admin, url)
    print(
        f"\nVAN bulk import, {args.calls:,} calls in one candidate-day, fault rate {args.fault_rate}, SIGKILL mid-job"
    )
    print(
        f"{'seed':>4} {'killed at':>10} {'processes':>9} {'VAN req':>7} {'final':>5} {'jobs':>4} {'applied':>7} {'dup':>3} {'once':>4} {'s':>6}"
    )
    for r in results:
        print(
            f"{r['seed']:>4} {r['killed_while_batch_was'][:10]:>10} {r['processes']:>9} {r['van_requests']:>7} "
            f"{'yes' if r['every_call_final'] else 'NO':>5} {r['jobs_created']:>4} {r['bulk_rows_in_van']:>7} "
            f"{r['duplicates_in_van']:>3} {'yes' if r['exactly_once'] else 'NO':>4} {r['seconds_end_to_end']:>6}"
        )
    if ref:
        worst = max(r["van_requests"] for r in results)
        print(
            f"reference (one POST per call, no faults): {ref['van_requests']:,} VAN requests, "
            f"{ref['seconds_end_to_end']} s; ratio bulk / reference requests: {worst}/{ref['van_requests']} = "
            f"{worst / max(1, ref['van_requests']):.4f}"
        )
    ok = all(r["exactly_once"] and r["every_call_final"] and r["van_requests"] <= 10 for r in results)
    print("target (<= 10 VAN requests, every call final, exactly once):", "OK" if ok else "NOT MET")


if __name__ == "__main__":
    main()
