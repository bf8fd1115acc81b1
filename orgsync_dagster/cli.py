"""The `orgsync` command: the sandbox, the demo, and each domain's own commands (e.g. `orgsync membership`)."""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading

DOMAIN_CLIS = ("membership", "calls")  # the domains with commands of their own


def _cmd_sandbox(args) -> int:
    from orgsync_dagster.sandbox.server import SandboxServer

    if not 0.0 <= args.fault_rate < 1.0:
        print("error: --fault-rate must be at least 0 and below 1", file=sys.stderr)
        return 2
    server = SandboxServer(
        args.host,
        args.port,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        rate_limit=args.rate_limit,
        with_s3=not args.no_s3,
        seed=args.seed,
    )
    try:
        urls = server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps(urls.as_dict()), flush=True)
    stop.wait()
    server.stop()
    return 0


def _cmd_web(args) -> int:
    from orgsync_dagster.lib.config import ConfigError
    from orgsync_dagster.lib.profile import ProfileError
    from orgsync_dagster.web.server import WebServer, app_from_environment

    try:
        server = WebServer(app_from_environment(args.host), args.host, args.port)
        url = server.start()
    except (ProfileError, ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"url": url}), flush=True)
    stop.wait()
    server.stop()
    return 0


def _cmd_demo(args) -> int:
    from orgsync_dagster.demo import run_demo

    serve = None
    if args.serve:
        from orgsync_dagster.web.demo import serve_demo as serve
    report = run_demo(warehouse_url=args.warehouse_url, keep=args.keep, serve=serve)
    failed = report.get("runs", {}).get("failed", 0)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orgsync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sandbox", help="serve the VAN / Action Network / S3 emulators")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port")
    p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    p.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests answered 429/500/503 or dropped (0..1)"
    )
    p.add_argument(
        "--rate-limit",
        type=float,
        default=None,
        help="requests per second per API key; excess answered 429 with Retry-After",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for fault injection")
    p.add_argument("--no-s3", action="store_true", help="do not start the S3 endpoint")
    p.set_defaults(func=_cmd_sandbox)

    p = sub.add_parser("demo", help="run every domain end to end on embedded defaults")
    p.add_argument("--warehouse-url", default=None, help="use this PostgreSQL instead of an embedded one")
    p.add_argument("--keep", action="store_true", help="keep the demo's working directory")
    p.add_argument("--serve", action="store_true", help="then keep the tracker web app open on the demo's data")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("web", help="serve the web app (the organizers' tracker)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port")
    p.set_defaults(func=_cmd_web)

    for name in DOMAIN_CLIS:
        module = importlib.import_module(f"orgsync_dagster.{name}.cli")
        domain = sub.add_parser(name, help=f"{name} commands")
        module.register(domain.add_subparsers(dest=f"{name}_command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
