"""``orgsync membership approve|reject EXPORT --by NAME --note TEXT`` and ``orgsync membership pending [--json]``.

A decision on an export the mass-lapse guard blocked, recorded in the warehouse (ORGSYNC_WAREHOUSE_URL or
--warehouse-url, as ``orgsync membership push``); the Dagster sensor ``membership_approval_sensor`` then starts
the push of an approved export. Rules in approvals.py (the web page /staff/membership applies the same ones).

Exit codes: 0 recorded (or listed), 2 refused (unknown export, missing --by/--note, already decided or pushed,
not blocked) or bad configuration, 1 unexpected failure. One ``error: ...`` line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["register_approvals"]


def register_approvals(subparsers) -> None:
    """Add ``approve``, ``reject`` and ``pending`` to the ``orgsync membership`` sub-parsers object."""
    for decision, verb in (("approve", "push it as it is"), ("reject", "never push it")):
        p = subparsers.add_parser(
            decision,
            help=f"{decision} an export the mass-lapse guard blocked ({verb})",
            description=f"{decision.capitalize()} a membership export the mass-lapse guard blocked ({verb}). "
            "A decision is final and recorded with who, when and why."
            + (" The push then starts by itself (sensor membership_approval_sensor)." if decision == "approve" else ""),
        )
        p.add_argument("export", metavar="EXPORT", help="the export's partition key (see `orgsync membership pending`)")
        p.add_argument("--by", default=None, metavar="NAME", help="who decides (required)")
        p.add_argument("--note", default=None, metavar="TEXT", help="why: what was checked (required)")
        p.add_argument("--warehouse-url", default=None, help="the warehouse (default: ORGSYNC_WAREHOUSE_URL)")
        p.add_argument("--json", action="store_true", help="print the recorded decision as JSON")
        p.set_defaults(func=run_decide, decision=decision)
    p = subparsers.add_parser(
        "pending",
        help="list the exports waiting for approve/reject (counts only) and the latest decisions",
    )
    p.add_argument("--warehouse-url", default=None, help="the warehouse (default: ORGSYNC_WAREHOUSE_URL)")
    p.add_argument("--history", type=int, default=10, metavar="N", help="show the N latest decisions (default 10)")
    p.add_argument("--json", action="store_true", help='print {"pending": [...], "history": [...]} as JSON')
    p.set_defaults(func=run_pending)


def _engine(args):
    from orgsync_dagster.resources.warehouse import engine_for

    return engine_for(args.warehouse_url or os.environ.get("ORGSYNC_WAREHOUSE_URL") or None)


def _first_line(exc: Exception) -> str:
    """One line of a database error (SQLAlchemy adds the SQL and a link on further lines)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(exc: Exception) -> int:
    print(f"error: unexpected failure ({type(exc).__name__}): {_first_line(exc)}", file=sys.stderr)
    return 1


def run_decide(args: argparse.Namespace) -> int:
    from orgsync_dagster.lib import config as cfg
    from orgsync_dagster.membership import approvals

    try:
        _d, _by, _note, problems = approvals.validate(args.decision, args.by, args.note)
        if problems:  # before opening the warehouse: a usage problem is reported as such
            print("error: " + "; ".join(problems), file=sys.stderr)
            return 2
        try:
            engine = _engine(args)
        except Exception as exc:
            print(f"error: cannot open the warehouse: {_first_line(exc)}", file=sys.stderr)
            return 2
        recorded = approvals.decide(engine, args.export, args.decision, args.by, args.note)
    except (approvals.DecisionError, cfg.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a traceback on the command line
        return _fail(exc)
    if args.json:
        sys.stdout.write(json.dumps(recorded) + "\n")
    else:
        what = "approved" if recorded["decision"] == "approve" else "rejected"
        print(f"{recorded['partition_key']}: {what} by {recorded['decided_by']} (decision {recorded['id']})")
        if recorded["decision"] == "approve":
            print("the push starts on the next tick of membership_approval_sensor (no run config needed)")
        else:
            print("it is never pushed and is skipped as the base of later diffs")
    return 0


def run_pending(args: argparse.Namespace) -> int:
    from orgsync_dagster.lib import config as cfg
    from orgsync_dagster.membership import approvals

    if args.history < 0:
        print("error: --history must be 0 or more", file=sys.stderr)
        return 2
    try:
        try:
            engine = _engine(args)
        except Exception as exc:
            print(f"error: cannot open the warehouse: {_first_line(exc)}", file=sys.stderr)
            return 2
        waiting = approvals.pending(engine)
        past = approvals.history(engine, limit=args.history) if args.history else []
    except cfg.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        return _fail(exc)
    if args.json:
        sys.stdout.write(json.dumps({"pending": [e.to_dict() for e in waiting], "history": past}) + "\n")
        return 0
    if not waiting:
        print("no export is waiting for a decision")
    for e in waiting:
        print(
            f"{e.partition_key}: {e.lapsed} lapsed of {e.older_rows} ({e.lapsed_share:.1%}), "
            f"{e.older_rows} -> {e.newer_rows} members (shrink {e.shrink_share:.1%}), {e.new} new, "
            f"{e.updated} updated, {e.quarantined} quarantined; vs {e.base_partition or 'nothing'}"
        )
        print(f"  blocked: {e.reason}")
    if waiting:
        print('decide with: orgsync membership approve|reject EXPORT --by NAME --note "what was checked"')
    if past:
        print("latest decisions:")
        for d in past:
            print(
                f"  #{d['id']} {d['decided_at']} {d['decision']} {d['partition_key']} by {d['decided_by']}: {d['note']}"
            )
    return 0
