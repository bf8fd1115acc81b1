"""End to end: ``orgsync membership diff OLDER NEWER --key user_id --json`` vs a DuckDB count diff, side by side.

Both are whole processes, timed from process start to exit (interpreter start, imports, reading both CSV files,
the diff, the answer), and their peak RSS is the child's ``ru_maxrss`` from ``os.wait4``:

* ours   : the installed ``orgsync`` console script (``<venv>/bin/orgsync``; with ``--module`` instead
           ``python -m orgsync_dagster.cli``, which runs this checkout when PYTHONPATH points to it);
* DuckDB : ``python -c`` with duckdb: a full outer join on the key over ``hash(*columns(*))`` of each
           ``read_csv(..., all_varchar=true)``, counting new / updated / lapsed / unchanged.

The two files are realistic ActionKit-like exports of 11 columns (user_id key, email, names, address, city, state,
zip, phone, status letter, join date; ~3% lapsed, ~3% new, ~4% updated, rows shuffled). Runs alternate (ours first
on even repeats, DuckDB first on odd ones); the table gives best and median wall time, the ratio of medians and of
bests, and the peak RSS; the counts of every run must agree (exit 1 otherwise).

Usage:
  PYTHONPATH=. .venv/bin/python benchmarks/membership_diff_e2e.py --rows 1000000 --repeat 5 [--dir /tmp/x --keep]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = [
    "user_id",
    "email",
    "first_name",
    "last_name",
    "address1",
    "city",
    "state",
    "zip",
    "phone",
    "memb_status_letter",
    "join_date",
]


def generate(rows: int, out_dir: Path, seed: int = 11) -> tuple[Path, Path]:
    import numpy as np
    import polars as pl

    a, b = out_dir / f"e2e_older_{rows}.csv", out_dir / f"e2e_newer_{rows}.csv"
    if a.exists() and b.exists():
        return a, b
    rng = np.random.default_rng(seed)
    firsts = np.array(["Jane", "John", "Maria", "Ahmed", "Li", "Oluwaseun", "Sam", "Rosa", "Karl", "Emma", "Priya"])
    lasts = np.array(["Doe", "Smith", "Garcia", "Nguyen", "Khan", "Okafor", "Lee", "Luxemburg", "O'Brien", "Silva"])
    streets = np.array(["Tremont Street", "Atlantic Avenue", "Main Street", "Broadway", "Centre Street", "Elm Road"])
    cities = np.array(["Boston", "Cambridge", "Somerville", "Chicago", "Oakland", "Austin", "Brooklyn"])
    states = np.array(["MA", "MA", "MA", "IL", "CA", "TX", "NY"])
    zips = np.array(["02111", "02139", "02143", "60601", "94612", "78701", "11201"])

    def people(start: int, n: int) -> pl.DataFrame:
        ids = np.arange(start, start + n)
        ci = rng.integers(0, len(cities), n)
        days = rng.integers(0, 3650, n).astype("timedelta64[D]") + np.datetime64("2014-01-01")
        return pl.DataFrame(
            {
                "user_id": ids.astype(str),
                "first_name": firsts[rng.integers(0, len(firsts), n)],
                "last_name": lasts[rng.integers(0, len(lasts), n)],
                "address1": np.char.add(
                    np.char.add(rng.integers(1, 9999, n).astype(str), " "), streets[rng.integers(0, len(streets), n)]
                ),
                "city": cities[ci],
                "state": states[ci],
                "zip": zips[ci],
                "phone": rng.integers(2012000000, 9899999999, n).astype(str),
                "memb_status_letter": np.where(rng.random(n) < 0.9, "M", "L"),
                "join_date": days.astype(str),
            }
        ).select(
            "user_id",
            (pl.col("first_name") + "." + pl.col("last_name").str.replace("'", "") + pl.col("user_id") + "@example.org")
            .str.to_lowercase()
            .alias("email"),
            *COLUMNS[2:],
        )

    old = people(1_000_000, rows)
    lapsed = pl.Series(rng.random(rows) < 0.03)
    upd = pl.Series(rng.random(rows) < 0.04)
    which = pl.Series(rng.integers(0, 4, rows))
    new = old.with_columns(
        phone=pl.when(upd & (which == 0)).then(pl.lit("6170000000")).otherwise(pl.col("phone")),
        last_name=pl.when(upd & (which == 1)).then(pl.col("last_name") + "-Jones").otherwise(pl.col("last_name")),
        address1=pl.when(upd & (which == 2)).then(pl.lit("1 City Hall Sq")).otherwise(pl.col("address1")),
        memb_status_letter=pl.when(upd & (which == 3))
        .then(pl.when(pl.col("memb_status_letter") == "M").then(pl.lit("L")).otherwise(pl.lit("M")))
        .otherwise(pl.col("memb_status_letter")),
    ).filter(~lapsed)
    new = pl.concat([new, people(90_000_000, int(rows * 0.03))]).sample(fraction=1.0, shuffle=True, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    old.write_csv(a)
    new.write_csv(b)
    return a, b


DUCKDB = r"""
import json, sys, duckdb
a, b = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
q = f'''
WITH o AS (SELECT user_id AS k, hash(*columns(*)) AS h FROM read_csv('{a}', all_varchar=true)),
     n AS (SELECT user_id AS k, hash(*columns(*)) AS h FROM read_csv('{b}', all_varchar=true))
SELECT count(*) FILTER (WHERE o.k IS NULL),
       count(*) FILTER (WHERE o.k IS NOT NULL AND n.k IS NOT NULL AND o.h <> n.h),
       count(*) FILTER (WHERE n.k IS NULL),
       count(*) FILTER (WHERE o.k IS NOT NULL AND n.k IS NOT NULL AND o.h = n.h)
FROM o FULL OUTER JOIN n ON o.k = n.k
'''
r = con.execute(q).fetchone()
print(json.dumps(dict(zip(["new", "updated", "lapsed", "unchanged"], r))))
"""


def run(cmd: list[str], nice: int = 0) -> dict:
    t0 = time.perf_counter()
    pre = (lambda: os.nice(nice)) if nice else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pre)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "counts": json.loads(out.strip().splitlines()[-1]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where to write / reuse the two CSV files")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--module", action="store_true", help="run `python -m orgsync_dagster.cli` (this checkout)")
    ap.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run both children at this niceness (negative needs root: less noise from other jobs on a shared box)",
    )
    args = ap.parse_args(argv)

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="membership_e2e_"))
    try:
        t0 = time.perf_counter()
        # generated in a child process: a child's ru_maxrss starts from the RSS of the process it was forked from,
        # so this process must stay small for the peak RSS of the measured commands to be their own
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            older, newer = pool.submit(generate, args.rows, work).result()
        print(
            f"files: {older} ({older.stat().st_size / 1e6:.0f} MB), {newer} ({newer.stat().st_size / 1e6:.0f} MB)"
            f" ready in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        bindir = Path(sys.executable).parent
        ours_cmd = ([sys.executable, "-m", "orgsync_dagster.cli"] if args.module else [str(bindir / "orgsync")]) + [
            "membership",
            "diff",
            str(older),
            str(newer),
            "--key",
            "user_id",
            "--json",
        ]
        duck_cmd = [sys.executable, "-c", DUCKDB, str(older), str(newer)]
        results: dict[str, list[dict]] = {"orgsync": [], "duckdb": []}
        for i in range(args.repeat):
            order = [("orgsync", ours_cmd), ("duckdb", duck_cmd)]
            if i % 2:
                order.reverse()
            for name, cmd in order:
                r = run(cmd, args.nice)
                results[name].append(r)
                print(
                    f"  run {i + 1} {name}: {r['wall']:.3f} s wall, {r['cpu']:.2f} s CPU, {r['rss_mb']:.0f} MB,"
                    f" {r['counts']}",
                    file=sys.stderr,
                )
        counts = {json.dumps(r["counts"], sort_keys=True) for rs in results.values() for r in rs}
        agree = len(counts) == 1
        rows = []
        for name, rs in results.items():
            walls = [r["wall"] for r in rs]
            cpu = statistics.median(r["cpu"] for r in rs)
            rows.append((name, min(walls), statistics.median(walls), cpu, max(r["rss_mb"] for r in rs)))
        (_, ob, om, oc, _), (_, db, dm, dc, _) = rows
        load = os.getloadavg()[0]
        print(
            f"\n{args.rows:,} rows x {len(COLUMNS)} columns, {args.repeat} runs each, alternating;"
            f" load average {load:.1f}"
        )
        print("| process | best wall s | median wall s | median CPU s | peak RSS MB |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, best, med, cpu, rss in rows:
            print(f"| {name} | {best:.3f} | {med:.3f} | {cpu:.2f} | {rss:,.0f} |")
        print(
            f"ratio orgsync / duckdb: wall median {om / dm:.2f}x, wall best {ob / db:.2f}x (target <= 1.5x);"
            f" CPU {oc / dc:.2f}x"
        )
        print(f"counts {'agree' if agree else 'DIFFER'}: {sorted(counts)}")
        return 0 if agree else 1
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
