"""``orgsync membership resync SNAPSHOT_FILE [--apply] [--json]``: drift repair (see membership/drift.py).

Pages through the Action Network group's people (a full refresh of the warehouse mirror, 25 people per
request), compares ``is_member`` and the mapped fields with SNAPSHOT_FILE (the latest export) and lists the
drift: counts by kind (missing / update / lapse), a masked sample and the request cost. Nothing is written
without ``--apply``; with it, only the drift is written, through the same ledger as ``push``.
ACTION_NETWORK_API_KEY and ACTION_NETWORK_URL come from the environment, the ledger database from
ORGSYNC_WAREHOUSE_URL (else the embedded PostgreSQL).

Exit codes: 0 done (or drift listed), 1 some writes failed (re-run to retry them), 2 bad input or
configuration, 3 refused by the mass-lapse guard (re-run with --allow-mass-lapse after checking), 4 another push or
repair of the same target is running (waited --lock-wait seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from orgsync_dagster.membership.cli_common import finish, ledger_engine, run_locked, say, target_resource

__all__ = ["register_resync", "run_resync_command"]


def register_resync(subparsers) -> None:
    p = subparsers.add_parser(
        "resync",
        help="drift repair: compare Action Network with the latest export and write only the drift "
        "(list it without --apply)",
        description=__doc__.split("\n\n", 1)[1].split("\n\nExit codes")[0],
    )
    p.add_argument("snapshot", metavar="SNAPSHOT_FILE", help="the latest export (CSV, ZIP or raw e-mail)")
    p.add_argument("--apply", action="store_true", help="write the drift (default: list it only)")
    p.add_argument("--key", default=None, metavar="COLUMN", help="key column (default: membership.key_column)")
    p.add_argument("--max-rps", type=float, default=4.0, help="requests per second, never exceeded (default 4)")
    p.add_argument("--scope", default=None, help="ledger scope = Action Network group (default: config)")
    p.add_argument("--warehouse-url", default=None, help="ledger database (default: ORGSYNC_WAREHOUSE_URL)")
    p.add_argument(
        "--no-refresh", action="store_true", help="use the mirror as it is (no request; it may be out of date)"
    )
    p.add_argument("--allow-mass-lapse", action="store_true", help="apply even if the mass-lapse guard trips")
    p.add_argument(
        "--lock-wait",
        type=float,
        default=30.0,
        help="seconds to wait while a push or repair of the same target runs (default 30), then exit 4",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.set_defaults(func=run_resync_command)


def run_resync_command(args: argparse.Namespace) -> int:
    from orgsync_dagster.membership.mapping import scrub

    try:
        return _run(args)
    except Exception as exc:  # never a traceback on the command line
        print(f"error: unexpected failure ({type(exc).__name__}): {scrub(str(exc))}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    import math

    from orgsync_dagster.lib.config import ConfigError
    from orgsync_dagster.membership.drift import emails_in
    from orgsync_dagster.membership.exports import ExportError, read_export_file

    try:
        from orgsync_dagster.membership.settings import settings

        s = settings()
    except ConfigError as exc:
        print(f"error: configuration: {exc}", file=sys.stderr)
        return 2
    if not (math.isfinite(args.max_rps) and args.max_rps > 0):
        print("error: --max-rps must be a positive number", file=sys.stderr)
        return 2
    if not os.environ.get("ACTION_NETWORK_API_KEY", ""):
        print("error: ACTION_NETWORK_API_KEY is not set (resync reads the group's people)", file=sys.stderr)
        return 2
    if not math.isfinite(args.lock_wait) or args.lock_wait < 0:
        print("error: --lock-wait must be a number of seconds >= 0", file=sys.stderr)
        return 2
    # the same checks as the push (URL, rate) before anything is read or marked; the same ledger scope (the target:
    # scope name + URL + key fingerprint) and the same one-writer-per-target lock
    resource = target_resource(args, "ACTION_NETWORK_URL / --max-rps")
    if resource is None:
        return 2
    key = args.key or s.key_column
    scope = resource.target_scope(args.scope or s.scope)
    try:
        parsed = read_export_file(args.snapshot, key_column=key)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}", file=sys.stderr)
        return 2
    missing = s.member_rule.missing_columns(parsed.columns)
    if missing:
        print(
            f"warning: the export has no {', '.join(missing)} column: is_member follows presence in the export "
            f"({s.member_rule.describe()})",
            file=sys.stderr,
        )
    protected = emails_in(v for row in parsed.quarantine.iter_rows() for v in row)
    if parsed.rows_quarantined:
        print(
            f"warning: {parsed.rows_quarantined} quarantined row(s) {parsed.quarantine_counts}: their addresses "
            "are never lapsed",
            file=sys.stderr,
        )

    engine = ledger_engine(args)
    if engine is None:
        return 2
    run_id = f"cli-resync-{uuid.uuid4().hex[:12]}"
    return run_locked(
        args,
        engine,
        scope,
        f"orgsync membership resync {run_id}",
        lambda: _resync(args, s, engine, resource, scope, run_id, parsed, protected),
    )


def _resync(args, s, engine, resource, scope, run_id, parsed, protected) -> int:
    from orgsync_dagster.lib.runtime import metered
    from orgsync_dagster.membership.drift import lapse_guard, plan_drift, run_repair
    from orgsync_dagster.membership.mapping import scrub
    from orgsync_dagster.membership.mirror import group_of, people_by_email, refresh_mirror
    from orgsync_dagster.resources.http import ApiError

    with metered(engine) as meter:
        client = resource.client(meter=meter)
        group = group_of(client)
        try:
            if args.no_refresh:
                refresh = None
            else:
                refresh = refresh_mirror(engine, client, full=True)
                say(args, refresh.describe())
        except ApiError as exc:
            print(f"error: reading Action Network people failed: {scrub(str(exc))}", file=sys.stderr)
            return 2
        mirror = people_by_email(engine, group)
        plan = plan_drift(
            parsed.rows.iter_rows(named=True),
            key_column=parsed.key_column,
            columns=parsed.columns,
            mirror=mirror,
            protected_emails=protected,
            rule=s.member_rule,
            add_tags=s.add_tags,
            sample_size=s.sample_size,
            show_personal_data=s.show_personal_data,
        )
        dry, _ = run_repair(engine, client, plan, scope=scope, run_id=run_id, concurrency=s.concurrency, dry_run=True)
        summary: dict = {
            **plan.summary(),
            "mirror_requests": refresh.requests if refresh else 0,
            "people_in_action_network": len(mirror),
            "already_done": dry.skipped_done,
            "write_requests": dry.planned_requests,
            "sample": plan.sample,
            "applied": False,
        }
        c = plan.counts
        say(
            args,
            f"drift: {c['missing']} missing, {c['update']} to update, {c['lapse']} to lapse; "
            f"{c['in_sync']} in sync, {c['untouched_not_member']} not members left alone",
        )
        say(
            args,
            f"cost: {summary['mirror_requests']} requests to read the people, {dry.planned_requests} to write "
            f"the drift ({dry.skipped_done} already repaired)",
        )
        for item in plan.sample:
            say(args, f"  {item['kind']:8} {item['key']}  {', '.join(item['fields'])}")
        if not args.apply:
            say(args, "nothing was written (use --apply to repair)")
            return finish(args, summary, 0)
        refused = lapse_guard(plan, mirror, s.max_lapsed_share)
        if refused and not args.allow_mass_lapse:
            print(
                f"error: refusing to repair: {refused}. Re-run with --allow-mass-lapse after checking.", file=sys.stderr
            )
            return finish(args, {**summary, "error": refused}, 3)
        before = client.requests_sent
        report, outcome = run_repair(
            engine, client, plan, scope=scope, run_id=run_id, concurrency=s.concurrency, dry_run=False
        )
        spent = client.requests_sent - before
    summary.update(outcome, applied=True, requests_spent=spent, errors=[scrub(e) for e in report.errors])
    say(
        args,
        f"repaired: {outcome['repaired']} upserted, {outcome['lapsed']} lapsed, {outcome['failed']} failed, "
        f"{outcome['uncertain']} unresolved; {spent} write requests",
    )
    for err in summary["errors"][:5]:
        print(f"  {err}", file=sys.stderr)
    return finish(args, summary, 0 if report.ok else 1)
