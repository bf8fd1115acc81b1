"""The `orgsync` command: the local playground (`dev`), the sandbox, the demo, the configuration check (`doctor`),
and each domain's own commands (e.g. `orgsync membership`).

Each command is one `_add_<name>(sub)` function that declares its arguments and sets ``func``; adding a command is
adding one function to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading

DOMAIN_CLIS = ("membership", "calls")  # the domains with commands of their own


def _keys(value: str) -> list[str]:
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise argparse.ArgumentTypeError("--keys needs at least one key, e.g. --keys mi-key,wi-key,an-key")
    return keys


# -- sandbox ------------------------------------------------------------------------------------------------------
def _cmd_sandbox(args) -> int:
    from orgsync_dagster.sandbox.server import SandboxServer

    if not 0.0 <= args.fault_rate < 1.0:
        print("error: --fault-rate must be at least 0 and below 1", file=sys.stderr)
        return 2
    pkeys = None
    if args.seed:
        from orgsync_dagster.playground import PlaygroundKeys

        try:
            pkeys = PlaygroundKeys.from_list(args.keys) if args.keys else PlaygroundKeys()
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    accepted = pkeys.accepted() if pkeys else args.keys
    server = SandboxServer(
        args.host,
        args.port,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        rate_limit=args.rate_limit,
        with_s3=not args.no_s3,
        seed=args.fault_seed,
        keys=accepted,
    )
    try:
        urls = server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    out = urls.as_dict()
    if pkeys is not None:
        from orgsync_dagster.playground import environment, seed_sandbox, seed_warehouse

        if args.no_s3:
            print("error: --seed needs the S3 endpoint (drop --no-s3)", file=sys.stderr)
            server.stop()
            return 2
        log = lambda line: print(line, file=sys.stderr)  # stdout stays one line of JSON
        seed_sandbox(urls, pkeys, log)
        import os

        if os.environ.get("ORGSYNC_WAREHOUSE_URL"):
            from orgsync_dagster.resources.warehouse import engine_for

            seed_warehouse(engine_for(os.environ["ORGSYNC_WAREHOUSE_URL"]), log)
        out["env"] = environment(urls, pkeys)
    print(json.dumps(out), flush=True)
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


def _add_sandbox(sub) -> None:
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
    p.add_argument("--fault-seed", type=int, default=None, help="random seed for fault injection")
    p.add_argument(
        "--keys",
        type=_keys,
        default=None,
        help="the only API keys VAN and Action Network accept (comma-separated); others get 401 as from the real "
        "services. With --seed: the MI and WI VAN keys, then the Action Network key",
    )
    p.add_argument(
        "--seed",
        action="store_true",
        help="seed the playground: exports and CDR files in the S3 bucket, participants in VAN (and ActionKit "
        "events when ORGSYNC_WAREHOUSE_URL is set); the JSON line then carries the environment to export",
    )
    p.add_argument("--no-s3", action="store_true", help="do not start the S3 endpoint")
    p.set_defaults(func=_cmd_sandbox)


# -- dev ----------------------------------------------------------------------------------------------------------
def _cmd_dev(args) -> int:
    from orgsync_dagster.devserver import run_dev

    try:
        return run_dev(
            host=args.host,
            port=args.port,
            sandbox=not args.no_sandbox,
            seed=not args.no_seed,
            keys=args.keys,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _add_dev(sub) -> None:
    p = sub.add_parser("dev", help="the local playground: embedded PostgreSQL, the seeded sandbox and `dagster dev`")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000, help="port of the Dagster UI")
    p.add_argument(
        "--keys", type=_keys, default=None, help="playground keys: MI VAN key, WI VAN key, Action Network key"
    )
    p.add_argument("--no-seed", action="store_true", help="start the sandbox empty")
    p.add_argument("--no-sandbox", action="store_true", help="no sandbox: VAN_URL etc. come from the environment")
    p.set_defaults(func=_cmd_dev)


# -- doctor -------------------------------------------------------------------------------------------------------
def _cmd_doctor(args) -> int:
    from orgsync_dagster.doctor import run

    return run(timeout=args.timeout, as_json=args.json)


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="check the configuration and every connection; exit 1 on a problem")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per connection check")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the tables")
    p.set_defaults(func=_cmd_doctor)


# -- demo ---------------------------------------------------------------------------------------------------------
def _cmd_demo(args) -> int:
    from orgsync_dagster.demo import run_demo

    serve = None
    if args.serve:  # keep the tracker web app open on the demo's data until Ctrl-C
        from orgsync_dagster.web.demo import serve_demo as serve
    report = run_demo(warehouse_url=args.warehouse_url, keep=args.keep, on_ready=serve)
    failed = report.get("runs", {}).get("failed", 0)
    return 1 if failed else 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run every domain end to end on embedded defaults")
    p.add_argument("--warehouse-url", default=None, help="use this PostgreSQL instead of an embedded one")
    p.add_argument("--keep", action="store_true", help="keep the demo's working directory")
    p.add_argument("--serve", action="store_true", help="then keep the tracker web app open on the demo's data")
    p.set_defaults(func=_cmd_demo)


def _add_web(sub) -> None:
    p = sub.add_parser("web", help="serve the web app (the organizers' tracker and the staff pages)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port")
    p.set_defaults(func=_cmd_web)


COMMANDS = [_add_dev, _add_sandbox, _add_demo, _add_doctor, _add_web]


def build_parser(only_domain: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only_domain`` (e.g. ``"membership"``) the other domains' command modules are not
    imported (``orgsync membership diff`` starts faster)."""
    parser = argparse.ArgumentParser(prog="orgsync", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    for name in DOMAIN_CLIS:
        if only_domain and name != only_domain:
            continue
        module = importlib.import_module(f"orgsync_dagster.{name}.cli")
        domain = sub.add_parser(name, help=f"{name} commands")
        module.register(domain.add_subparsers(dest=f"{name}_command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    only = argv[0] if argv and argv[0] in DOMAIN_CLIS else None  # lazy: import only that domain's commands
    args = build_parser(only).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
