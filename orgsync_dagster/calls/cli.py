"""`orgsync calls ...`: the configuration (import/export/history), manual recovery of calls (the original's
CallSync.Reset helpers), attaching a bulk import job found by hand, and the drop rate.

Every command that changes calls takes the candidate's lock, the same one the sync asset holds (one writer)."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import sys
from collections import Counter
from pathlib import Path

from orgsync_dagster.calls import logic

SYNC_FIELDS = (
    "sync_status",
    "error",
    "receipt",
    "synced_at",
    "sync_attempted_at",
    "claimed_by",
    "csv_key",
    "bulk_batch",
    "waiting_reason",
    "waiting_since",
)


def reset_calls(store, engine, candidate, day: str, statuses: list[str], *, apply: bool) -> Counter:
    """Put the calls of ``statuses`` back to unsynced so the next run sends them again; their ledger entries are
    closed as "reset" so a call whose outcome was unknown is re-sent (check VAN's contact history first).
    With ``apply`` it holds the candidate's lock (LockBusy while a sync of the candidate runs)."""
    from orgsync_dagster.calls.locks import candidate_lock
    from orgsync_dagster.calls.target import CANVASS_SYNC
    from orgsync_dagster.lib.ledger import FAILED, Ledger

    start, end = logic.day_window(day, candidate.tz)
    query = store.day_query(candidate.district, start, end, statuses)

    def count():
        found, ids = Counter(), []
        for doc in store.stream(query, {"id": 1, "sync_status": 1}):
            found[doc.get("sync_status") or "unsynced"] += 1
            ids.append(doc["id"])
        return found, ids

    if not apply:
        return count()[0]
    with candidate_lock(engine, candidate.slug, holder=f"orgsync calls reset {candidate.slug}"):
        found, ids = count()
        if ids:
            ledger = Ledger(engine, CANVASS_SYNC, candidate.slug, "manual-reset")
            for key, entry in ledger.load(ids).items():
                ledger.record(key, entry.action, entry.payload_hash, FAILED, error="reset by an operator")
            store.calls().update_many({"id": {"$in": ids}}, {"$unset": {f: "" for f in SYNC_FIELDS}})
    return found


def _deployment():
    from orgsync_dagster.calls.config import parse_deployment
    from orgsync_dagster.lib import config as cfg

    return parse_deployment(cfg.section("calls"))


def _engine(args):
    from orgsync_dagster.resources.warehouse import engine_for

    return engine_for(getattr(args, "warehouse_url", None) or os.environ.get("ORGSYNC_WAREHOUSE_URL") or None)


def _config_store(args):
    from orgsync_dagster.calls.config_store import ConfigStore

    return ConfigStore(_engine(args), _deployment())


def _calls_store():
    from orgsync_dagster.resources.calls_store import CallsStoreResource

    if not os.environ.get("MONGODB_URI"):
        print("error: set MONGODB_URI to the calls store", file=sys.stderr)
        return None
    return CallsStoreResource(uri=os.environ["MONGODB_URI"])


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


# -- config ---------------------------------------------------------------------------------------------------------
def _cmd_config_export(args) -> int:
    text = _config_store(args).export_yaml()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _cmd_config_import(args) -> int:
    from orgsync_dagster.calls.config import CallsConfigError

    try:
        text = Path(args.file).read_text()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        report = _config_store(args).import_yaml(text, by=args.by, prune=args.prune)
    except CallsConfigError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"imported {args.file} as {args.by}: {report.summary()}")
    for what in ("created", "updated", "removed"):
        for item in getattr(report, what):
            print(f"  {what}: {item}")
    return 0


def _cmd_config_history(args) -> int:
    store = _config_store(args)
    entries = store.history(args.name, kind=args.kind)
    if not entries:
        return _fail(f"no history for {args.kind} {args.name!r}")
    for e in entries:
        print(f"v{e.version} {e.action} {e.changed_at:%Y-%m-%d %H:%M:%S %Z} by {e.changed_by}")
        for c in e.changes:
            print(f"    {c['field']}: {c['old']!r} -> {c['new']!r}")
    return 0


# -- calls ----------------------------------------------------------------------------------------------------------
def _cmd_reset(args) -> int:
    from orgsync_dagster.calls.config import CallsConfigError
    from orgsync_dagster.calls.locks import LockBusy

    store = _calls_store()
    if store is None:
        return 2
    try:
        engine = _engine(args)
        candidate = _config_store(args).load_settings().candidate(args.candidate)
    except CallsConfigError as exc:
        return _fail(str(exc))
    try:
        found = reset_calls(store, engine, candidate, args.day, args.status, apply=args.apply)
    except LockBusy as exc:
        return _fail(str(exc))
    verb = "reset" if args.apply else "would reset (add --apply)"
    print(
        f"{candidate.display_name} ({args.candidate}) {args.day}: {verb} {sum(found.values())} call(s): {dict(found)}"
    )
    return 0


def _cmd_bulk_attach(args) -> int:
    import sqlalchemy as sa

    from orgsync_dagster.calls import bulk
    from orgsync_dagster.calls.locks import LockBusy, candidate_lock
    from orgsync_dagster.calls.tables import bulk_import_batches

    store = _calls_store()
    if store is None:
        return 2
    engine = _engine(args)
    with engine.connect() as conn:
        row = conn.execute(sa.select(bulk_import_batches).where(bulk_import_batches.c.token == args.batch)).first()
    if row is None:
        return _fail(f"no bulk import batch {args.batch}")
    print(f"batch {row.token} of {row.candidate} {row.day}: {row.rows} calls, state {row.state}")
    if not args.apply:
        print(
            f"would record VAN job {args.job_id} for it (add --apply); the next run of {row.candidate} reads its results"
        )
        return 0
    try:
        with candidate_lock(engine, row.candidate, holder=f"orgsync calls bulk-attach {row.candidate}"):
            n = bulk.attach(engine, store, args.batch, args.job_id)
    except (LockBusy, ValueError) as exc:
        return _fail(str(exc))
    print(f"recorded job {args.job_id}; {n} call(s) wait for its results (the next run of {row.candidate} reads them)")
    return 0


def _cmd_drop_rate(args) -> int:
    from orgsync_dagster.calls import report
    from orgsync_dagster.calls.config import CallsConfigError

    store = _calls_store()
    if store is None:
        return 2
    try:
        candidate = _config_store(args).load_settings().candidate(args.candidate)
        first = dt.date.fromisoformat(args.start_day)
    except (CallsConfigError, ValueError) as exc:
        return _fail(str(exc))
    start, _ = logic.day_window(first, candidate.tz)
    _, end = logic.day_window(first + dt.timedelta(days=args.days - 1), candidate.tz)
    query = store.day_query(candidate.district, start, end)
    if args.service:
        query["service_name"] = {"$regex": args.service, "$options": "i"}
        re.compile(args.service)
    rate = report.drop_rate(store.count_by(query, ["contact", "dropped"]))
    span = f"{args.start_day} + {args.days - 1} day(s)" if args.days > 1 else args.start_day
    if rate is None:
        print(f"{candidate.display_name} ({candidate.slug}), {span}: no connected or dropped calls")
    else:
        print(
            f"{candidate.display_name} ({candidate.slug}), {span}: drop rate {rate['rate']:.1%} "
            f"({rate['dropped']} dropped, {rate['contacts']} contacts)"
        )
    return 0


def register(subparsers) -> None:
    def warehouse_option(p):
        p.add_argument("--warehouse-url", default=None, help="default: $ORGSYNC_WAREHOUSE_URL")

    p = subparsers.add_parser(
        "config", help="the calls configuration in the warehouse (candidates, budgets, term codes)"
    )
    sub = p.add_subparsers(dest="config_command", required=True)
    e = sub.add_parser("export", help="print the whole configuration as YAML (the import format)")
    e.add_argument("--out", help="write to this file instead of stdout")
    warehouse_option(e)
    e.set_defaults(func=_cmd_config_export)
    i = sub.add_parser("import", help="validate a YAML file, then make the store hold it (all or nothing)")
    i.add_argument("file")
    i.add_argument("--by", default=f"cli:{getpass.getuser()}", help="who is changing it (kept in the history)")
    i.add_argument("--prune", action="store_true", help="also remove candidates and VAN instances not in the file")
    warehouse_option(i)
    i.set_defaults(func=_cmd_config_import)
    h = sub.add_parser("history", help="every change of one candidate (or VAN instance / term codes)")
    h.add_argument("name", help="candidate slug, VAN instance name, or 'default' for term codes")
    h.add_argument("--kind", default="candidate", choices=["candidate", "van_instance", "term_codes"])
    warehouse_option(h)
    h.set_defaults(func=_cmd_config_history)

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
    warehouse_option(p)
    p.set_defaults(func=_cmd_reset)

    p = subparsers.add_parser("bulk-attach", help="record the VAN job id of a bulk import batch whose answer was lost")
    p.add_argument("batch", help="the batch token (in the job's description and the calls' error)")
    p.add_argument("job_id", type=int, help="the job id found in VAN's bulk upload history")
    p.add_argument("--apply", action="store_true", help="record it (default: only show the batch)")
    warehouse_option(p)
    p.set_defaults(func=_cmd_bulk_attach)

    p = subparsers.add_parser("drop-rate", help="dropped / (dropped + contacts) of a candidate's calls")
    p.add_argument("candidate")
    p.add_argument("start_day", help="YYYY-MM-DD (the candidate's local day)")
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--service", help="only calls whose Livevox service name matches this pattern (case-insensitive)")
    warehouse_option(p)
    p.set_defaults(func=_cmd_drop_rate)
