"""``orgsync membership diff OLDER NEWER [--key COLUMN] [--compare COLS] [--out DIR] [--json]``.

Pure logic (no Dagster import).  The top-level ``orgsync`` parser calls :func:`register` with the
``add_subparsers()`` object of ``orgsync membership``; every sub-command sets ``func`` (a callable
``func(args) -> int`` exit code) via ``set_defaults``.  :func:`main` is a standalone entry point
(``python -m orgsync_dagster.membership.cli diff ...``) used by the tests.

Exit codes: 0 success, 2 bad input / usage (one ``error: ...`` line on stderr, never a traceback),
1 unexpected internal failure (also a single ``error: ...`` line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "register", "run_diff"]


def register(subparsers) -> None:
    """Add the ``diff`` and ``push`` sub-commands to the ``orgsync membership`` sub-parsers object."""
    from orgsync_dagster.membership.approvals_cli import register_approvals
    from orgsync_dagster.membership.drift_cli import register_resync
    from orgsync_dagster.membership.push_cli import register_push

    register_push(subparsers)
    register_approvals(subparsers)
    register_resync(subparsers)
    p = subparsers.add_parser(
        "diff",
        help="diff two membership exports (CSV, ZIP or raw e-mail): new / updated / lapsed / unchanged",
        description=(
            "Diff two ActionKit membership exports. OLDER and NEWER may each be a CSV file, a ZIP "
            "holding one CSV, or a raw e-mail (as stored by SES) with one CSV/ZIP attachment. Rows "
            "that cannot be used (missing/invalid/duplicate key) are quarantined and reported on "
            "stderr."
        ),
    )
    p.add_argument("older", metavar="OLDER", help="previous export")
    p.add_argument("newer", metavar="NEWER", help="current export")
    p.add_argument("--key", default="email", metavar="COLUMN", help="key column (default: email)")
    p.add_argument(
        "--compare",
        default=None,
        metavar="COLS",
        help="comma-separated columns whose change counts as an update "
        "(default: every known membership column present)",
    )
    p.add_argument("--out", default=None, metavar="DIR", help="write new.csv, updated.csv, lapsed.csv here")
    p.add_argument(
        "--json",
        action="store_true",
        help='print exactly {"new": n, "updated": n, "lapsed": n, "unchanged": n} on stdout',
    )
    p.set_defaults(func=run_diff)


def _describe(label: str, info: dict | None) -> str:
    if not info:
        return f"{label}: (frame)"
    q = info["quarantine_counts"]
    qs = ", ".join(f"{k}={v}" for k, v in q.items()) if q else "none"
    member = f" [{info['member']}]" if info.get("member") else ""
    return (
        f"{label}: {info['filename']}{member} ({info['container']}, {info['encoding']}): "
        f"{info['rows_in']} rows, {info['rows_ok']} ok, {info['rows_quarantined']} quarantined ({qs})"
    )


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formulas(frame):
    """The frame with every text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``,
    ``+1``, ``-2``, ``@SUM``, or one starting with tab/CR) prefixed with a single quote, per the OWASP CSV
    injection guidance.  Only for files meant for people (``--out``); the data pushed is never changed."""
    import polars as pl

    pattern = "^[" + "".join("\\" + p if p in "-" else p for p in FORMULA_PREFIXES) + "]"
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    if not strings or frame.height == 0:
        return frame
    return frame.with_columns(
        [pl.when(pl.col(c).str.contains(pattern)).then("'" + pl.col(c)).otherwise(pl.col(c)).alias(c) for c in strings]
    )


def _write_outputs(result, out_dir: Path) -> list[Path]:
    import polars as pl

    from .diff import CHANGED_COLUMNS

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    updated = result.updated.with_columns(pl.col(CHANGED_COLUMNS).list.join(";"))
    for name, frame in (("new", result.new), ("updated", updated), ("lapsed", result.lapsed)):
        path = out_dir / f"{name}.csv"
        neutralize_formulas(frame).write_csv(path)
        written.append(path)
    return written


def _held_line(held: int, quarantined: int) -> str:
    return (
        f"held: {held} older members not counted lapsed: their key is in one of the {quarantined} quarantined "
        "rows of the newer export (fix the export; they are not lapsed meanwhile)"
    )


def run_diff(args: argparse.Namespace) -> int:
    from .exports import ExportError

    try:
        compare = [c.strip() for c in args.compare.split(",") if c.strip()] if args.compare else None
        if args.out:  # the row sets are needed: the full diff
            from .diff import diff_snapshots
            from .readers import read_both

            older, newer = read_both(args.older, args.newer, key_column=args.key)
            result = diff_snapshots(older, newer, key=args.key, compare_columns=compare)
            warnings = [*older.warnings, *newer.warnings, *result.warnings]
            held, quarantined = result.held_count, newer.rows_quarantined
            del older, newer
        else:  # counts only: each export reduced to hashes as soon as it is parsed, both parsed at once
            from .diff_counts import diff_counts_files

            result = diff_counts_files(args.older, args.newer, key=args.key, compare_columns=compare)
            warnings = result.warnings
            held, quarantined = result.held_count, result.newer_quarantined
        print(_describe("older", result.older_info), file=sys.stderr)
        print(_describe("newer", result.newer_info), file=sys.stderr)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        if held:
            print(_held_line(held, quarantined), file=sys.stderr)
        if args.out:
            for path in _write_outputs(result, Path(args.out)):
                print(f"wrote {path}", file=sys.stderr)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback on the command line
        print(f"error: unexpected failure ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1

    counts = result.to_dict()
    if args.json:
        sys.stdout.write(json.dumps(counts) + "\n")
    else:
        for k, v in counts.items():
            print(f"{k}: {v}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone ``membership`` command line: ``main(["diff", "old.csv", "new.csv", "--json"])``."""
    parser = argparse.ArgumentParser(prog="orgsync membership", description="Membership export tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    register(sub)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse already printed "usage ... error: ..." on stderr
        return int(exc.code) if isinstance(exc.code, int) else 2
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
