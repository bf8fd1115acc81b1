"""Membership snapshot diff: our engine (``diff_snapshots``) vs a DuckDB SQL full-outer-join diff.

Generates two synthetic ActionKit-like exports (11 columns, ~115 bytes/row; ~3% new, ~3% lapsed,
~5% updated, rows shuffled), then runs each engine in a fresh subprocess (``--repeat`` times,
alternating) so peak RSS is measured per engine, checks that both engines report identical counts
(and the counts the generator planted), and prints a table.

Timed section
  default          : the diff only; both snapshots are loaded before the clock starts
                     (ours: ``read_export_file`` -> ParsedExport; DuckDB: ``CREATE TABLE .. read_csv``).
  --include-parse  : reading both CSV files + the diff (ours: ``read_export_file`` x2 + diff;
                     DuckDB: ``read_csv`` into tables + the same SQL diff).
Both engines produce the same outputs: counts per status and the new / updated / lapsed rows
materialised (DuckDB as Arrow tables, ours as polars frames).  Peak RSS is the child's
VmHWM (whole process: imports + loaded snapshots + diff).

Usage:
  PYTHONPATH=. python benchmarks/membership_diff.py --rows 1000000 [--include-parse] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = [
    "ak_id",
    "email",
    "first_name",
    "last_name",
    "mailing_address1",
    "mailing_address2",
    "mailing_city",
    "mailing_state",
    "mailing_zip",
    "mobile_phone",
    "join_date",
]
KEY = "email"
COMPARE = [c for c in COLUMNS if c != KEY]


# ------------------------------------------------------------------------------------------------
# data generation
# ------------------------------------------------------------------------------------------------


def generate(rows: int, out_dir: Path, seed: int = 7) -> dict:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    firsts = np.array(
        ["Jane", "John", "Maria", "Ahmed", "Li", "Oluwaseun", "Sam", "Rosa", "Karl", "Emma", "Jose", "Priya"]
    )
    lasts = np.array(
        ["Doe", "Smith", "Garcia", "Nguyen", "Khan", "Okafor", "Lee", "Luxemburg", "Marx", "Brown", "Silva"]
    )
    streets = np.array(
        [
            "Tremont Street",
            "Atlantic Avenue",
            "Congress Street",
            "Massachusetts Ave",
            "Broadway",
            "Centre Street",
            "Main Street",
        ]
    )
    cities = np.array(["Boston", "Cambridge", "Somerville", "Quincy", "Medford", "Malden", "Brookline"])
    zips = np.array(["02111", "02139", "02143", "02169", "02155", "02148", "02445"])
    apts = np.array(["", "", "", "Apt 2", "Unit 3B", "#4"])

    def people(start: int, n: int, domain: str) -> pl.DataFrame:
        ids = np.arange(start, start + n)
        ci = rng.integers(0, len(cities), n)
        fi = rng.integers(0, len(firsts), n)
        li = rng.integers(0, len(lasts), n)
        days = rng.integers(0, 3650, n).astype("timedelta64[D]") + np.datetime64("2014-01-01")
        return pl.DataFrame(
            {
                "ak_id": ids.astype(str),
                "email": None,
                "first_name": firsts[fi],
                "last_name": lasts[li],
                "mailing_address1": np.char.add(
                    np.char.add(rng.integers(1, 999, n).astype(str), " "), streets[rng.integers(0, len(streets), n)]
                ),
                "mailing_address2": apts[rng.integers(0, len(apts), n)],
                "mailing_city": cities[ci],
                "mailing_state": np.full(n, "MA"),
                "mailing_zip": zips[ci],
                "mobile_phone": rng.integers(6170000000, 6179999999, n).astype(str),
                "join_date": days.astype(str),
            }
        ).with_columns(
            pl.col("mailing_address2").replace("", None),
            # e.g. rosa.luxemburg1000123@example.org (~30 characters)
            email=(pl.col("first_name") + "." + pl.col("last_name") + pl.col("ak_id") + domain).str.to_lowercase(),
        )

    old = people(1_000_000, rows, "@example.org")
    lapsed_mask = rng.random(rows) < 0.03
    upd_mask = (rng.random(rows) < 0.05) & ~lapsed_mask
    which = rng.integers(0, 4, rows)
    u = pl.Series(upd_mask)
    w = pl.Series(which)
    new = old.with_columns(
        mobile_phone=pl.when(u & (w == 0)).then(pl.lit("6170000000")).otherwise(pl.col("mobile_phone")),
        last_name=pl.when(u & (w == 1)).then(pl.col("last_name") + "-Jones").otherwise(pl.col("last_name")),
        mailing_address1=pl.when(u & (w == 2)).then(pl.lit("1 City Hall Sq")).otherwise(pl.col("mailing_address1")),
        mailing_address2=pl.when(u & (w == 3)).then(pl.lit("Apt 9")).otherwise(pl.col("mailing_address2")),
    ).filter(~pl.Series(lapsed_mask))
    # updates that did not change anything (address2 already "Apt 9") are not updates
    n_new = int(rows * 0.03)
    added = people(90_000_000, n_new, "@example.net")
    new = pl.concat([new, added]).sample(fraction=1.0, shuffle=True, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    a, b = out_dir / f"older_{rows}.csv", out_dir / f"newer_{rows}.csv"
    old.write_csv(a)
    new.write_csv(b)
    # expected counts, computed independently of both engines (python sets on the planted changes)
    really_updated = (
        old.filter(u & ~pl.Series(lapsed_mask))
        .join(new, on="email", suffix="_n")
        .filter(pl.any_horizontal([pl.col(c).fill_null("") != pl.col(f"{c}_n").fill_null("") for c in COMPARE]))
        .height
    )
    expected = {
        "new": n_new,
        "updated": really_updated,
        "lapsed": int(lapsed_mask.sum()),
        "unchanged": rows - int(lapsed_mask.sum()) - really_updated,
    }
    return {
        "older": str(a),
        "newer": str(b),
        "expected": expected,
        "older_mb": a.stat().st_size / 1e6,
        "newer_mb": b.stat().st_size / 1e6,
    }


# ------------------------------------------------------------------------------------------------
# engines (run inside a child process)
# ------------------------------------------------------------------------------------------------


def _duckdb_sql(con, older: str, newer: str, include_parse: bool) -> tuple[dict, float]:
    load = (
        "CREATE OR REPLACE TABLE {t} AS SELECT * REPLACE (lower(trim(email)) AS email) "
        "FROM read_csv('{p}', all_varchar=true, header=true)"
    )
    h = ", ".join(f"coalesce({c}, '')" for c in COMPARE)
    diff_sql = f"""
        CREATE OR REPLACE TEMP TABLE cls AS
        SELECT coalesce(o.k, n.k) AS k,
               CASE WHEN o.k IS NULL THEN 'new' WHEN n.k IS NULL THEN 'lapsed'
                    WHEN o.h <> n.h THEN 'updated' ELSE 'unchanged' END AS status
        FROM (SELECT {KEY} AS k, hash({h}) AS h FROM o) o
        FULL OUTER JOIN (SELECT {KEY} AS k, hash({h}) AS h FROM n) n ON o.k = n.k"""
    if not include_parse:
        con.execute(load.format(t="o", p=older))
        con.execute(load.format(t="n", p=newer))
    t0 = time.perf_counter()
    if include_parse:
        con.execute(load.format(t="o", p=older))
        con.execute(load.format(t="n", p=newer))
    con.execute(diff_sql)
    counts = dict(con.execute("SELECT status, count(*) FROM cls GROUP BY status").fetchall())
    new_rows = con.sql(
        f"SELECT n.* FROM n SEMI JOIN (SELECT k FROM cls WHERE status = 'new') s ON n.{KEY} = s.k"
    ).to_arrow_table()
    upd_rows = con.sql(
        f"SELECT n.* FROM n SEMI JOIN (SELECT k FROM cls WHERE status = 'updated') s ON n.{KEY} = s.k"
    ).to_arrow_table()
    lap_rows = con.sql(
        f"SELECT o.* FROM o SEMI JOIN (SELECT k FROM cls WHERE status = 'lapsed') s ON o.{KEY} = s.k"
    ).to_arrow_table()
    elapsed = time.perf_counter() - t0
    assert new_rows.num_rows == counts.get("new", 0)
    assert upd_rows.num_rows == counts.get("updated", 0)
    assert lap_rows.num_rows == counts.get("lapsed", 0)
    return {s: int(counts.get(s, 0)) for s in ("new", "updated", "lapsed", "unchanged")}, elapsed


def _peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM).  ru_maxrss is not used: on Linux it survives fork+exec, so
    a child would report the benchmark driver's peak if that was higher."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(engine: str, older: str, newer: str, include_parse: bool) -> dict:
    rss0 = _peak_rss_mb()
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        counts, elapsed = _duckdb_sql(con, older, newer, include_parse)
    elif engine == "ours":
        from orgsync_dagster.membership.diff import diff_snapshots
        from orgsync_dagster.membership.exports import read_export_file

        if not include_parse:
            o = read_export_file(older, key_column=KEY)
            n = read_export_file(newer, key_column=KEY)
        t0 = time.perf_counter()
        if include_parse:
            o = read_export_file(older, key_column=KEY)
            n = read_export_file(newer, key_column=KEY)
        res = diff_snapshots(o, n, key=KEY, compare_columns=COMPARE)
        elapsed = time.perf_counter() - t0
        counts = res.to_dict()
    else:
        raise SystemExit(f"unknown engine {engine}")
    return {
        "engine": engine,
        "elapsed_s": elapsed,
        "counts": counts,
        "peak_rss_mb": _peak_rss_mb(),
        "start_rss_mb": rss0,
    }


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--include-parse", action="store_true", help="time reading the two CSV files too")
    ap.add_argument("--repeat", type=int, default=3, help="fresh-process runs per engine (median reported)")
    ap.add_argument("--dir", default=None, help="where to write the synthetic CSVs (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--child", choices=["ours", "duckdb"], help=argparse.SUPPRESS)
    ap.add_argument("--older", help=argparse.SUPPRESS)
    ap.add_argument("--newer", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(run_child(args.child, args.older, args.newer, args.include_parse)))
        return 0

    tmp = None
    if args.dir:
        out_dir = Path(args.dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="membership_diff_")
        out_dir = Path(tmp.name)
    t = time.perf_counter()
    files = generate(args.rows, out_dir, args.seed)
    print(
        f"generated {args.rows:,} rows: older {files['older_mb']:.0f} MB, newer {files['newer_mb']:.0f} MB "
        f"in {time.perf_counter() - t:.1f}s; expected {files['expected']}",
        file=sys.stderr,
    )

    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    results: dict[str, list[dict]] = {"duckdb": [], "ours": []}
    for i in range(args.repeat):
        for engine in ("duckdb", "ours"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                engine,
                "--older",
                files["older"],
                "--newer",
                files["newer"],
            ] + (["--include-parse"] if args.include_parse else [])
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[engine].append(r)
            print(f"  run {i + 1} {engine:6s} {r['elapsed_s']:.3f}s peak {r['peak_rss_mb']:.0f} MB", file=sys.stderr)

    load = os.getloadavg()
    ok = True
    for engine, runs in results.items():
        for r in runs:
            if r["counts"] != files["expected"]:
                ok = False
                print(f"MISMATCH {engine}: {r['counts']} != expected {files['expected']}", file=sys.stderr)
    med = {e: statistics.median(r["elapsed_s"] for r in runs) for e, runs in results.items()}
    best = {e: min(r["elapsed_s"] for r in runs) for e, runs in results.items()}
    peak = {e: max(r["peak_rss_mb"] for r in runs) for e, runs in results.items()}
    mode = "parse+diff" if args.include_parse else "diff only"
    print()
    print(
        "| rows | timed | DuckDB s (median/best) | ours s (median/best) | ratio ours/DuckDB | DuckDB peak RSS | ours peak RSS | counts equal |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    print(
        f"| {args.rows:,} | {mode} | {med['duckdb']:.3f} / {best['duckdb']:.3f} | {med['ours']:.3f} / {best['ours']:.3f} "
        f"| {med['ours'] / med['duckdb']:.2f} | {peak['duckdb']:.0f} MB | {peak['ours']:.0f} MB | {'yes' if ok else 'NO'} |"
    )
    print(
        f"\ncounts: {results['ours'][0]['counts']}; cpus: {os.cpu_count()}; "
        f"load average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    if tmp is not None and not args.keep:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
