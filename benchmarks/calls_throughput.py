"""Calls sync throughput: one candidate-day of N Livevox calls planned end to end (dry run, no VAN) vs a plain pass
reading the same cursor, each in a fresh subprocess so peak RSS is per engine.

  ours       : ``day_sync.sync_day(dry_run=True)`` for a hybrid candidate with a 1,000-request budget: streams the
               day's unsynced calls, plans each one (state machine, payload build, budget selection in a bounded
               heap), counts per status and result, then counts the day's already-final calls.
  reference  : the same ``CallsStoreResource.stream`` cursor (same query, projection and sort), doing nothing with
               the documents but counting them.

Sources: ``--source store`` (default) reads through CallsStoreResource on the in-process mongomock store (the
demo/test store; a real MongoDB streams in batches instead); ``--source generator`` feeds the same documents from
a generator, to show the planning itself runs in constant memory.

Usage: PYTHONPATH=. python benchmarks/calls_throughput.py [--calls 100000] [--source store|generator] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DAY = "2026-03-05"


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings():
    from pathlib import Path

    from orgsync_dagster.calls import yaml_format
    from orgsync_dagster.calls.config import parse_settings

    seed = Path(__file__).resolve().parent.parent / "orgsync_dagster" / "calls" / "candidates.yaml"
    data = yaml_format.load(seed.read_text())
    data["candidates"]["mo05"]["daily_budget"] = 1000  # VAN's free daily requests, not the demo's small share
    return parse_settings(data)


class GeneratorStore:
    """Just enough of CallsStoreResource for a dry run, fed by a generator (nothing kept in memory)."""

    def __init__(self, make_docs):
        self.make_docs = make_docs

    def day_query(self, district, start, end, statuses=None):
        return {"statuses": statuses}

    def stream(self, query, projection=None, sort=None):
        if query.get("statuses") == [None] and "waiting_reason" not in query:
            yield from self.make_docs()

    def count_by(self, query, fields):
        return []


def child(mode: str, calls: int, source: str) -> dict:
    from orgsync_dagster.calls import seed
    from orgsync_dagster.calls.day_sync import PLAN_FIELDS, sync_day
    from orgsync_dagster.calls.logic import day_window
    from orgsync_dagster.resources.calls_store import CallsStoreResource

    settings = _settings()
    cand = settings.candidate("mo05")

    def docs():
        return seed.sample_calls(cand.district, DAY, cand.timezone, calls, seed=7, people=200)

    if source == "store":
        store = CallsStoreResource(uri="mongomock://bench")
        batch = []
        for d in docs():
            batch.append(d)
            if len(batch) == 10_000:
                store.insert_many(batch)
                batch = []
        store.insert_many(batch)
    else:
        store = GeneratorStore(docs)
    rss_before = _rss_mb()
    t0 = time.perf_counter()
    if mode == "reference":
        start, end = day_window(DAY, cand.tz)
        n = sum(
            1
            for _ in store.stream(
                store.day_query(cand.district, start, end, [None]), PLAN_FIELDS, sort=[("timestamp", 1), ("id", 1)]
            )
        )
        out = {"calls": n}
    else:
        result = sync_day(
            store=store, settings=settings, candidate=cand, day=DAY, run_id="bench", allowance=1000, dry_run=True
        )
        out = {
            "calls": sum(result.planned.values()),
            "planned": dict(result.planned),
            "by_status": {k: v for k, v in result.counts.by_status.items() if v},
        }
    seconds = time.perf_counter() - t0
    return {
        "mode": mode,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(_peak_mb(), 1),
        "rss_before_mb": round(rss_before, 1),
        **out,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--source", choices=("store", "generator"), default="store")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", choices=("ours", "reference"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.calls, args.source)))
        return 0
    runs: dict[str, list[dict]] = {"reference": [], "ours": []}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    for _ in range(args.repeat):
        for mode in ("reference", "ours"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--calls", str(args.calls), "--source", args.source],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref, ours = runs["reference"], runs["ours"]
    t_ref = statistics.median(r["seconds"] for r in ref)
    t_ours = statistics.median(r["seconds"] for r in ours)
    assert ours[0]["calls"] == ref[0]["calls"] == args.calls, (ours[0], ref[0])
    print(
        f"calls sync dry run, {args.calls:,} calls in one candidate-day, source={args.source}, "
        f"{os.cpu_count()} CPUs, median of {args.repeat}"
    )
    print(f"{'engine':<12}{'seconds':>10}{'calls/s':>12}{'peak RSS MB':>14}{'RSS before MB':>15}")
    for name, rs, t in (("reference", ref, t_ref), ("ours", ours, t_ours)):
        print(
            f"{name:<12}{t:>10.2f}{args.calls / t:>12,.0f}{max(r['peak_rss_mb'] for r in rs):>14.1f}"
            f"{rs[0]['rss_before_mb']:>15.1f}"
        )
    print(
        f"ratio ours / reference: {t_ours / t_ref:.2f}x  (target: ours < 60 s -> {'OK' if t_ours < 60 else 'MISSED'})"
    )
    print(f"plan: {ours[0]['planned']}  statuses: {ours[0]['by_status']}")
    return 0 if t_ours < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
