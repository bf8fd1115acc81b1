"""``orgsync membership push OLDER NEWER [--apply] [--max-rps 4] [--json]`` (bulk mode, no Dagster needed).

Without ``--apply`` it prints the plan (counts, requests, estimated duration) and changes nothing. With
``--apply`` it pushes the diff to Action Network (ACTION_NETWORK_API_KEY, ACTION_NETWORK_URL from the
environment) through the same ledger as the Dagster asset (warehouse: ORGSYNC_WAREHOUSE_URL, else the
embedded PostgreSQL), so a second run after a crash resumes instead of repeating: members already pushed are
skipped and those left in flight are looked up before anything is re-sent.

The ledger is kept per target (the scope name, the normalized ACTION_NETWORK_URL and a fingerprint of the key,
never the key): the same files pushed to another group are pushed there too. One push per target at a time:
a second one waits up to --lock-wait seconds for the first, then refuses (exit 4).

Exit codes: 0 done (or plan printed), 1 some members failed or Action Network could not be reached (re-run to
retry them), 2 bad input or configuration (nothing sent, nothing marked), 3 refused by the mass-lapse guard
(re-run with --allow-mass-lapse after checking), 4 another push of the same target is running.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import uuid
from collections.abc import Sequence

from orgsync_dagster.membership.cli_common import finish, ledger_engine, run_locked, say, target_resource

__all__ = ["main", "register_push", "run_push_command"]


def register_push(subparsers) -> None:
    """Add the ``push`` sub-command to the ``orgsync membership`` sub-parsers object."""
    p = subparsers.add_parser(
        "push",
        help="push the changes between two membership exports to Action Network (plan only without --apply)",
        description=__doc__.split("\n\n", 1)[1].split("\n\nExit codes")[0],
    )
    p.add_argument("older", metavar="OLDER", help="previous export (CSV, ZIP or raw e-mail; may be header-only)")
    p.add_argument("newer", metavar="NEWER", help="current export")
    p.add_argument("--apply", action="store_true", help="really push (default: print the plan only)")
    p.add_argument("--key", default=None, metavar="COLUMN", help="key column (default: membership.key_column)")
    p.add_argument("--max-rps", type=float, default=4.0, help="requests per second, never exceeded (default 4)")
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight (default: config, 8)")
    p.add_argument("--scope", default=None, help="ledger scope = Action Network group (default: config)")
    p.add_argument("--warehouse-url", default=None, help="ledger database (default: ORGSYNC_WAREHOUSE_URL)")
    p.add_argument("--allow-mass-lapse", action="store_true", help="push even if the mass-lapse guard trips")
    p.add_argument(
        "--lock-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait this long for another push of the same target to finish, then refuse (default 30)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")
    p.add_argument(
        "--refresh-mirror",
        action="store_true",
        help="refresh the Action Network people mirror (override_<field>) now, even without --apply; with --apply "
        "it is refreshed when older than membership.mirror.max_age_minutes",
    )
    p.set_defaults(func=run_push_command)


class _Progress:
    """A one-line progress bar on stderr (only on a terminal)."""

    def __init__(self, stream, started: float):
        self.stream, self.started, self.last = stream, started, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(1e-6, now - self.started)
        width = 30
        filled = int(width * done / max(1, total))
        eta = (total - done) / rate if rate else 0
        self.stream.write(
            f"\rpush [{'#' * filled}{'-' * (width - filled)}] {done}/{total} {rate:5.1f}/s eta {eta:4.0f} s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def run_push_command(args: argparse.Namespace) -> int:
    from orgsync_dagster.membership.diff import diff_snapshots
    from orgsync_dagster.membership.exports import ExportError, read_export_file
    from orgsync_dagster.membership.guard import guard_with_settings
    from orgsync_dagster.membership.mapping import mapped_columns
    from orgsync_dagster.membership.settings import settings

    s = settings()
    key = args.key or s.key_column
    scope_name = args.scope or s.scope
    concurrency = args.concurrency if args.concurrency is not None else s.concurrency
    if not math.isfinite(args.max_rps) or args.max_rps <= 0:
        print(f"error: --max-rps must be a positive number, not {args.max_rps:g}", file=sys.stderr)
        return 2
    if concurrency < 1:
        print(f"error: --concurrency must be at least 1, not {concurrency}", file=sys.stderr)
        return 2
    if not math.isfinite(args.lock_wait) or args.lock_wait < 0:
        print("error: --lock-wait must be a number of seconds >= 0", file=sys.stderr)
        return 2
    # the target's configuration is checked before anything is read from or written to the ledger
    if args.apply and not os.environ.get("ACTION_NETWORK_API_KEY", ""):
        print("error: ACTION_NETWORK_API_KEY is not set", file=sys.stderr)
        return 2
    resource = target_resource(args)
    if resource is None:
        return 2
    scope = resource.target_scope(scope_name)
    try:
        older = read_export_file(args.older, key_column=key)
        newer = read_export_file(args.newer, key_column=key)
        key = newer.key_column
        compare = [c for c in mapped_columns(s.member_rule) if c != key and c in older.columns and c in newer.columns]
        result = diff_snapshots(older, newer, key=key, compare_columns=compare)
    except (ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for label, parsed in (("older", older), ("newer", newer)):
        q = f", {parsed.rows_quarantined} quarantined {parsed.quarantine_counts}" if parsed.rows_quarantined else ""
        print(f"{label}: {parsed.filename}: {parsed.rows_ok} members{q}", file=sys.stderr)
    guard = guard_with_settings(
        s,
        older_rows=result.older_rows,
        newer_rows=result.newer_rows,
        lapsed=result.counts["lapsed"],
        quarantined=newer.rows_quarantined,
        held=result.held_count,
    )

    engine = ledger_engine(args)
    if engine is None:
        return 2
    run_id = f"cli-{uuid.uuid4().hex[:12]}"
    # one push per target: the lock covers the plan (ledger reads) and the push (ledger writes)
    return run_locked(
        args,
        engine,
        scope,
        f"orgsync membership push {run_id}",
        lambda: _plan_and_push(args, s, engine, resource, scope, run_id, key, older, newer, result, guard, concurrency),
    )


def _plan_and_push(args, s, engine, resource, scope, run_id, key, older, newer, result, guard, concurrency) -> int:
    import polars as pl

    from orgsync_dagster.lib.runtime import metered
    from orgsync_dagster.membership.mapping import scrub
    from orgsync_dagster.membership.push import (
        KeyRefused,
        TargetUnreachable,
        add_carry_over,
        estimate_seconds,
        known_person_ids,
        plan_push,
        run_push,
        unfinished_keys,
    )

    lapsed_rows = result.lapsed.to_dicts()
    updated_rows = result.updated.to_dicts()
    old_emails: dict[str, str] = {}
    if key != "email" and "email" in older.rows.columns and updated_rows:
        moved = [str(r[key]) for r in updated_rows]
        old = older.rows.filter(pl.col(key).is_in(moved)).select(key, "email").to_dicts()
        old_emails = {str(r[key]): r["email"] for r in old if r["email"]}
    id_keys = [str(r[key]) for r in lapsed_rows] + [k for k in old_emails]
    plan = plan_push(
        key_column=key,
        new_rows=result.new.to_dicts(),
        updated_rows=updated_rows,
        lapsed_rows=lapsed_rows,
        person_ids=known_person_ids(engine, scope, id_keys),
        unchanged=result.counts["unchanged"],
        add_tags=s.add_tags,
        old_emails=old_emails,
    )

    def rows_by_key(keys: list[str]) -> dict[str, dict]:
        found = newer.rows.filter(pl.col(key).is_in(keys)).to_dicts()
        return {str(r[key]): r for r in found}

    add_carry_over(
        plan,
        unfinished_keys(engine, scope),
        rows_by_key,
        lambda keys: known_person_ids(engine, scope, keys),
        add_tags=s.add_tags,
        old_emails=old_emails,
    )
    summary: dict = {k: int(v) for k, v in plan.counts.items()}
    for problem in plan.problems:
        print(f"warning: {problem}", file=sys.stderr)

    with metered(engine) as meter:
        client = resource.client(meter=meter) if args.apply else None
        from orgsync_dagster.membership.mirror import group_id
        from orgsync_dagster.membership.overrides import overrides_for_push
        from orgsync_dagster.resources.http import ApiError

        # the mirror of Action Network people (override_<field>): a client of its own, so requests_sent stays the
        # push's requests
        reader = resource if resource.api_key and (args.apply or args.refresh_mirror) else None
        try:
            summary.update(
                overrides_for_push(
                    engine,
                    plan.ops,
                    client=reader.client(meter=meter) if reader else None,
                    group=group_id(resource.base_url, resource.api_key) if resource.api_key else None,
                    max_age_minutes=0 if args.refresh_mirror else s.mirror_max_age_minutes,
                )
            )
        except ApiError as exc:
            if exc.not_sent:  # refused connection, DNS: nothing was sent, nothing is marked; the next run pushes
                print(
                    f"error: Action Network could not be reached ({scrub(exc.detail)}) while reading its people "
                    "(overrides): nothing was sent",
                    file=sys.stderr,
                )
                return finish(args, {**summary, "error": scrub(str(exc)), "applied": False}, 1)
            print(f"error: reading Action Network people (overrides) failed: {scrub(str(exc))}", file=sys.stderr)
            return 2
        except Exception as exc:  # the mirror of Action Network people (override_<field>) could not be read
            print(f"error: reading Action Network people (overrides) failed: {scrub(str(exc))}", file=sys.stderr)
            return 2
        dry, _ = run_push(engine, client, plan.ops, scope=scope, run_id=run_id, concurrency=concurrency, dry_run=True)
        summary.update(
            already_done=dry.skipped_done,
            planned_requests=dry.planned_requests,
            estimated_seconds=round(estimate_seconds(dry.planned_requests, args.max_rps, concurrency), 1),
            guard=guard.description,
            applied=False,
        )
        c = plan.counts
        say(
            args,
            f"plan: {c['new']} new, {c['updated']} updated, {c['lapsed']} lapsed, {c['unchanged']} unchanged"
            + (f", {c.get('carried_over', 0)} retried from earlier failures" if c.get("carried_over") else "")
            + (f", {c['email_changed']} e-mail change(s) on the same person" if c.get("email_changed") else ""),
        )
        say(
            args,
            f"      {dry.skipped_done} already pushed (ledger); {dry.planned_requests} requests, about "
            f"{summary['estimated_seconds']:.0f} s at {args.max_rps:g} req/s; guard: {guard.description}",
        )
        if not args.apply:
            if not resource.api_key:
                say(args, "note: ACTION_NETWORK_API_KEY is not set: 'already pushed' is not known for any group")
            say(args, "nothing was sent (use --apply to push)")
            return finish(args, summary, 0)
        if guard.tripped and not args.allow_mass_lapse:
            print(
                f"error: refusing to push: {guard.description.split('. Check')[0]}. Check the export, then re-run "
                "with --allow-mass-lapse.",
                file=sys.stderr,
            )
            return finish(args, summary, 3)
        started = time.monotonic()
        progress = _Progress(sys.stderr, started) if sys.stderr.isatty() and not args.json else None
        try:
            report, outcome = run_push(
                engine, client, plan.ops, scope=scope, run_id=run_id, concurrency=concurrency, progress=progress
            )
        except KeyRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return finish(args, {**summary, "error": str(exc)}, 2)
        except TargetUnreachable as exc:
            print(f"error: {scrub(str(exc))}", file=sys.stderr)
            out = {**summary, **exc.outcome, "error": scrub(str(exc)), "requests_sent": client.requests_sent}
            return finish(args, out, 1)
        seconds = time.monotonic() - started
    summary.update(outcome)
    summary.update(
        applied=True,
        requests_sent=client.requests_sent,
        seconds=round(seconds, 2),
        requests_per_second=round(client.requests_sent / seconds, 2) if seconds > 0 else 0.0,
        errors=[scrub(e) for e in report.errors],
    )
    say(
        args,
        f"pushed: {outcome['upserted']} upserted, {outcome['lapsed_in_action_network']} lapsed "
        f"({outcome['lapsed_not_in_action_network']} not found in Action Network: nothing written), "
        + (f"{outcome['email_moved']} e-mail(s) changed on the same person, " if outcome.get("email_moved") else "")
        + f"{outcome['failed']} failed, {outcome['uncertain']} unresolved; {client.requests_sent} requests in "
        f"{seconds:.1f} s",
    )
    for err in summary["errors"][:5]:
        print(f"  {err}", file=sys.stderr)
    return finish(args, summary, 0 if report.ok else 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: ``python -m orgsync_dagster.membership.push_cli push OLDER NEWER ...`` (the same
    ``orgsync membership`` command line, which registers ``push`` beside ``diff``)."""
    from orgsync_dagster.membership.cli import main as membership_main

    return membership_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
