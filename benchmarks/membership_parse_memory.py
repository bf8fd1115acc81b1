"""Peak memory of parsing one membership export: whole-file (``read_export_file``, the CLI) and streamed
(``stream_export_file``, the pipeline's snapshot load; with a no-op sink or COPY into PostgreSQL).

Each case runs in a fresh subprocess; its peak RSS is the child's VmHWM
(``/proc/self/status``; ``ru_maxrss`` is inherited across fork + exec on Linux, so the child's own
``getrusage`` would report the generating parent's peak; so ``VmHWM`` is used).
The baseline case only imports polars + the exports package (the interpreter's fixed cost), so the
table shows both the absolute peak and the peak above that baseline, each against the size of the
uncompressed CSV (issue 8 item 4 target: peak RSS <= 1.5x the uncompressed CSV).

Cases (``--mb`` sets the CSV size, default 150):
  csv         a synthetic 11-column export (~115 bytes/row), plain file
  zip         the same CSV inside a ZIP (inflated to a temporary file, then read by polars from disk)
  wide        a few rows with 1 MB fields (quarantined as field_too_long)
  blank       20 MB of blank lines (refused before parsing: polars would hold 16 bytes per null value)
  empty rows  2M rows of commas only (quarantined as blank_row: the worst content that is still parsed)
  bomb        a ~1 MB ZIP inflating to 1 GiB of one byte (refused by the compression-ratio check)

Usage:
  PYTHONPATH=. python benchmarks/membership_parse_memory.py [--mb 150] [--keep DIR]
      [--modes whole stream whole+pg stream+pg]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CHILD = r"""
import json, sys, time
import polars  # noqa: F401
from orgsync_dagster.membership.exports import ExportError, ParseLimits, read_export_file, stream_export_file
mode, path, url = sys.argv[1], sys.argv[2], sys.argv[3]
if mode.endswith("pg"):
    import sqlalchemy as sa
    from orgsync_dagster.membership import store
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    store.record_export(engine, "bench", bucket="b", s3_key=path, etag="e", status="received")
t = time.perf_counter()
out = {}
if path != "-":
    try:
        if mode.startswith("whole"):
            p = read_export_file(path, limits=ParseLimits())
            if mode == "whole+pg":
                store.store_snapshot(engine, "bench", p)
            out = {"rows_ok": p.rows_ok, "quarantined": p.quarantine_counts, "container": p.container}
        else:
            with stream_export_file(path, limits=ParseLimits()) as p:
                if mode == "stream+pg":
                    store.store_snapshot_stream(engine, "bench", p)
                else:
                    for rows, q in p:  # a no-op sink: parse memory alone
                        del rows, q
            out = {"rows_ok": p.rows_ok, "quarantined": p.quarantine_counts, "container": p.container}
    except ExportError as exc:
        out = {"refused": str(exc)[:160]}
out["seconds"] = round(time.perf_counter() - t, 2)
# VmHWM (peak RSS of this process image): ru_maxrss would carry the parent's peak across fork + exec
status = open("/proc/self/status").read()
out["_peak"] = int(status.split("VmHWM:")[1].split()[0]) * 1024
print(json.dumps(out))
"""


def _generate_csv(path: Path, mb: int) -> None:
    import numpy as np
    import polars as pl

    rows = mb * 1_000_000 // 115
    rng = np.random.default_rng(3)
    i = np.arange(rows)
    frame = pl.DataFrame(
        {
            "ak_id": (100000 + i).astype(str),
            "email": [f"member{k}@example.org" for k in i],
            "first_name": rng.choice(["Jane", "John", "Maria", "Ahmed", "Rosa", "Karl"], rows),
            "last_name": rng.choice(["Doe", "Smith", "Garcia", "Luxemburg", "Debs"], rows),
            "mailing_address1": [f"{k % 9999} Tremont St" for k in i],
            "mailing_address2": rng.choice(["", "Apt 2", "Unit 7B"], rows),
            "mailing_city": rng.choice(["Boston", "Cambridge", "Somerville"], rows),
            "mailing_state": "MA",
            "mailing_zip": rng.choice(["02111", "02139", "02143"], rows),
            "mobile_phone": [f"617555{k % 10000:04d}" for k in i],
            "memb_status_letter": rng.choice(["M", "L"], rows),
        }
    )
    frame.write_csv(path)


def _zip(src: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(src, src.name)


def _bomb(dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("export.csv", "w", force_zip64=True) as fh:
        fh.write(b"email,first_name\n")
        block = b"a" * (1 << 20)
        for _ in range(1024):
            fh.write(block)


def _blank(dest: Path, header: bytes) -> None:
    with open(dest, "wb") as fh:
        fh.write(header + b"\n" * (20 << 20))


def _empty_rows(dest: Path, header: bytes) -> None:
    width = header.count(b",") + 1
    with open(dest, "wb") as fh:
        fh.write(header + (b"," * (width - 1) + b"\n") * (2 << 20))


def _wide(dest: Path) -> None:
    with open(dest, "wb") as fh:
        fh.write(b"email,first_name,memb_status_letter\n")
        for k in range(50):
            fh.write(f"w{k}@example.org,".encode() + b"x" * (1 << 20) + b",M\n")


def _run(mode: str, path: str, url: str = "-") -> tuple[dict, int]:
    """Peak RSS of a fresh child: its VmHWM at exit.  (getrusage(RUSAGE_CHILDREN).ru_maxrss, the largest over all
    children so far, was checked as an upper bound but is not reliable per child: it carries the parent's peak
    across fork + exec and, seen once, fell below a child's VmHWM.)"""
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, path, url], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed on {path}: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = out.pop("_peak")
    return out, peak


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=150, help="size of the synthetic CSV in MB (default 150)")
    ap.add_argument("--keep", default=None, help="directory for the generated files (default: a temporary one)")
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["whole", "stream"],
        choices=["whole", "whole+pg", "stream", "stream+pg"],
        help="whole: read_export_file (CLI); stream: stream_export_file with a no-op sink; +pg: and COPY into"
        " PostgreSQL (store_snapshot / store_snapshot_stream, a fresh database on the test server)",
    )
    ap.add_argument("--cases", nargs="*", help="only the cases whose label contains one of these words")
    args = ap.parse_args(argv)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="orgsync-parse-mem-"))
    tmp.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    csv_path, zip_path, bomb_path, wide_path = (
        tmp / "export.csv",
        tmp / "export.zip",
        tmp / "bomb.zip",
        tmp / "wide.csv",
    )
    if not csv_path.exists():
        _generate_csv(csv_path, args.mb)
        _zip(csv_path, zip_path)
        _bomb(bomb_path)
        _wide(wide_path)
    header = csv_path.open("rb").readline()
    blank_path, empty_path = tmp / "blank.csv", tmp / "empty_rows.csv"
    if not blank_path.exists():
        _blank(blank_path, header)
        _empty_rows(empty_path, header)
    print(f"generated in {time.perf_counter() - t:.1f}s under {tmp}", file=sys.stderr)
    csv_bytes = csv_path.stat().st_size
    cases = [
        ("baseline (imports only)", "-", None),
        ("bomb (1 GiB in a ZIP)", str(bomb_path), 1 << 30),
        ("wide (50 x 1 MB fields)", str(wide_path), wide_path.stat().st_size),
        ("20 MB of blank lines", str(blank_path), blank_path.stat().st_size),
        ("2M rows of empty fields", str(empty_path), empty_path.stat().st_size),
        ("csv", str(csv_path), csv_bytes),
        ("zip", str(zip_path), csv_bytes),
    ]
    if args.cases:
        cases = [c for c in cases if c[1] == "-" or any(w in c[0] for w in args.cases)]
    url, drop = "-", None
    if any(m.endswith("pg") for m in args.modes):
        from orgsync_dagster.lib import pg_test_server
        from orgsync_dagster.resources.warehouse import engine_for

        admin = pg_test_server.admin_url()[0]
        url = pg_test_server.create_database(admin, "orgsync_bench")
        engine_for(url).dispose()  # creates the tables

        def drop() -> None:
            pg_test_server.drop_database(admin, url)

    print(f"CSV: {csv_bytes / 1e6:.1f} MB; modes: {', '.join(args.modes)}")
    print(
        "| mode | case | file | uncompressed | peak RSS | peak - baseline | ratio peak/CSV | ratio (peak-base)/CSV"
        " | seconds | result |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    try:
        for mode in args.modes:
            base = 0
            for label, path, size in cases:
                out, peak = _run(mode, path, url)
                if path == "-":
                    base = peak
                fsize = Path(path).stat().st_size if path != "-" else 0
                r1 = f"{peak / size:.2f}" if size else "-"
                r2 = f"{(peak - base) / size:.2f}" if size else "-"
                secs = out.pop("seconds")
                print(
                    f"| {mode} | {label} | {fsize / 1e6:.1f} MB | {(size or 0) / 1e6:.1f} MB | {peak / 1e6:.0f} MB |"
                    f" {(peak - base) / 1e6:.0f} MB | {r1} | {r2} | {secs} | {json.dumps(out)[:120]} |",
                    flush=True,
                )
    finally:
        if drop is not None:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
