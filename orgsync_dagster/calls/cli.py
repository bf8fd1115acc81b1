"""`orgsync calls ...`: manual recovery of one candidate-day (the original's CallSync.Reset helpers)."""

from __future__ import annotations

import os
import sys
from collections import Counter

from orgsync_dagster.calls import logic

SYNC_FIELDS = ("sync_status", "error", "receipt", "synced_at", "sync_attempted_at", "claimed_by", "csv_key")


def reset_calls(store, engine, candidate, day: str, statuses: list[str], *, apply: bool) -> Counter:
    """Put the calls of ``statuses`` back to unsynced so the next run sends them again; their ledger entries are
    closed as "reset" so a call whose outcome was unknown is re-sent (check VAN's contact history first)."""
    from orgsync_dagster.calls.target import CANVASS_SYNC
    from orgsync_dagster.lib.ledger import FAILED, Ledger

    start, end = logic.day_window(day, candidate.tz)
    query = store.day_query(candidate.district, start, end, statuses)
    found = Counter()
    ids = []
    for doc in store.stream(query, {"id": 1, "sync_status": 1}):
        found[doc.get("sync_status") or "unsynced"] += 1
        ids.append(doc["id"])
    if apply and ids:
        ledger = Ledger(engine, CANVASS_SYNC, candidate.slug, "manual-reset")
        for key, entry in ledger.load(ids).items():
            ledger.record(key, entry.action, entry.payload_hash, FAILED, error="reset by an operator")
        store.calls().update_many({"id": {"$in": ids}}, {"$unset": {f: "" for f in SYNC_FIELDS}})
    return found


def _cmd_reset(args) -> int:
    from orgsync_dagster.calls.config import CallsConfigError, load_settings
    from orgsync_dagster.resources.calls_store import CallsStoreResource
    from orgsync_dagster.resources.warehouse import engine_for

    try:
        candidate = load_settings().candidate(args.candidate)
    except CallsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not os.environ.get("MONGODB_URI"):
        print("error: set MONGODB_URI to the calls store to reset", file=sys.stderr)
        return 2
    store = CallsStoreResource(uri=os.environ["MONGODB_URI"])
    engine = engine_for(os.environ.get("ORGSYNC_WAREHOUSE_URL") or None)
    found = reset_calls(store, engine, candidate, args.day, args.status, apply=args.apply)
    verb = "reset" if args.apply else "would reset (add --apply)"
    print(f"{args.candidate} {args.day}: {verb} {sum(found.values())} call(s): {dict(found)}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("reset", help="put a candidate-day's error calls back to unsynced")
    p.add_argument("candidate")
    p.add_argument("day", help="YYYY-MM-DD (the candidate's local day)")
    p.add_argument(
        "--status",
        nargs="+",
        default=[logic.ATTEMPTED_ERROR, logic.UNATTEMPTED_ERROR],
        choices=[logic.ATTEMPTED_ERROR, logic.UNATTEMPTED_ERROR, logic.QUEUED_FOR_CSV, logic.IN_PROGRESS],
    )
    p.add_argument("--apply", action="store_true", help="change the store (default: only count)")
    p.set_defaults(func=_cmd_reset)
