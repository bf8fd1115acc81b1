"""What the membership commands that write to Action Network share (``push``, ``resync``): the target resource
checked before anything is read or marked, the ledger database, the one-writer-per-target lock and the JSON
summary line. No Dagster import."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable


def say(args: argparse.Namespace, text: str) -> None:
    """A human line: on stdout, or on stderr when stdout carries the --json summary."""
    print(text, file=sys.stderr if args.json else sys.stdout)


def finish(args: argparse.Namespace, summary: dict, code: int) -> int:
    if args.json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return code


def target_resource(args: argparse.Namespace, what: str = "ACTION_NETWORK_URL"):
    """The Action Network resource from ACTION_NETWORK_API_KEY / ACTION_NETWORK_URL and ``--max-rps``, validated
    (URL, rate); ``None`` after printing one ``error:`` line."""
    from pydantic import ValidationError

    from orgsync_dagster.resources.action_network import AN_DEFAULT_URL, ActionNetworkResource

    api_key = os.environ.get("ACTION_NETWORK_API_KEY", "")
    raw_url = os.environ.get("ACTION_NETWORK_URL")
    base_url = AN_DEFAULT_URL if raw_url is None or raw_url == "" else raw_url
    try:
        return ActionNetworkResource(api_key=api_key, base_url=base_url, requests_per_second=args.max_rps)
    except ValidationError as exc:
        msgs = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
        print(f"error: {what}: {msgs}", file=sys.stderr)
        return None


def ledger_engine(args: argparse.Namespace):
    """The warehouse holding the ledger (``--warehouse-url``, else ORGSYNC_WAREHOUSE_URL, else the embedded one in
    the local profile); ``None`` after printing one ``error:`` line."""
    from orgsync_dagster.membership.mapping import scrub
    from orgsync_dagster.resources.warehouse import engine_for

    try:
        return engine_for(args.warehouse_url or os.environ.get("ORGSYNC_WAREHOUSE_URL") or None)
    except Exception as exc:
        print(f"error: cannot open the ledger database: {scrub(str(exc))}", file=sys.stderr)
        return None


def run_locked(args: argparse.Namespace, engine, scope: str, holder: str, work: Callable[[], int]) -> int:
    """``work()`` under the target's lock when it writes (``--apply``): a second writer of the same target waits
    ``--lock-wait`` seconds, then exits 4 naming the holder."""
    from orgsync_dagster.lib.locks import LockBusy
    from orgsync_dagster.membership.push import push_lock

    lock = push_lock(engine, scope, wait_seconds=args.lock_wait, holder=holder) if args.apply else None
    try:
        with lock or contextlib.nullcontext():
            return work()
    except LockBusy as exc:
        print(f"error: {exc}", file=sys.stderr)
        return finish(args, {"error": str(exc), "applied": False}, 4)
