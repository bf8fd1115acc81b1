"""`orgsync doctor`: is this environment ready to run the code location? Checks the configuration (every setting
registered in lib/profile.py) and each connection: the warehouse, Dagster's storage, each VAN instance (one cheap
GET /apiKeyProfiles), Action Network (GET of the API entry point), the S3 bucket (HEAD), MongoDB (ping) and the
Slack webhooks (an empty POST, which Slack refuses without posting anything). Prints two tables; exits 1 when
something is wrong. A secret value is never printed: only "set", a host name or an HTTP status.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from orgsync_dagster.lib import profile

OK, PROBLEM, INFO = "ok", "PROBLEM", "-"
LOCAL_MEANING = {
    "ORGSYNC_WAREHOUSE_URL": "the embedded PostgreSQL",
    "MONGODB_URI": "in-process mongomock",
    "SLACK_WEBHOOK_URL": "alerts only logged",
    "ORGSYNC_S3_BUCKET": "S3 sensors skip",
    "VAN_API_KEYS": "no VAN instance",
    "ACTION_NETWORK_API_KEY": "no Action Network",
}


@dataclass
class Row:
    check: str
    status: str  # ok | PROBLEM | -
    detail: str


def _where(url: str) -> str:
    """host:port/database of a database URL, without user or password."""
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
    except Exception:
        return "an unparsable URL"
    return f"{u.host or 'local socket'}{f':{u.port}' if u.port else ''}/{u.database or ''}"


def _error(exc: BaseException) -> str:
    """A connection error without anything that could carry a secret (URLs, DSNs, headers)."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    for word in ("password", "token", "key", "@", "://"):
        if word in text.lower():
            return name
    return f"{name}: {text[:120]}" if text else name


# -- configuration ------------------------------------------------------------------------------------------------
def configuration_rows(env: Mapping[str, str]) -> list[Row]:
    prof = profile.current_profile(env)
    rows = []
    for s in profile.settings():
        value = env.get(s.name)
        if value:
            problem = s.validate(value, prof) if s.validate else None
            if problem:
                rows.append(Row(s.name, PROBLEM, problem))
            else:
                shown = "set" if s.secret else f"set: {value}"
                rows.append(Row(s.name, OK, shown))
        elif s.required and prof == profile.PRODUCTION:
            rows.append(Row(s.name, PROBLEM, f"missing: {s.purpose} (needed by {s.owner})"))
        elif s.default is not None:
            rows.append(Row(s.name, OK, f"default: {s.default or '(empty)'}"))
        elif s.local_default is not None and prof == profile.LOCAL:
            rows.append(Row(s.name, INFO, f"not set: {LOCAL_MEANING.get(s.name, 'empty')} (local profile)"))
        else:
            rows.append(Row(s.name, INFO, "not set"))
    return rows


# -- connections --------------------------------------------------------------------------------------------------
def _postgres(name: str, url: str, timeout: float, *, dagster: bool = False) -> Row:
    import sqlalchemy as sa

    from orgsync_dagster.lib.embedded_pg import normalize_url

    try:
        engine = sa.create_engine(
            normalize_url(url), connect_args={"connect_timeout": int(max(1, timeout))}, poolclass=sa.pool.NullPool
        )
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
            tables = ""
            if dagster:
                present = conn.execute(sa.text("select to_regclass('runs') is not null")).scalar()
                tables = "; Dagster tables present" if present else "; empty (Dagster creates its tables on start)"
        return Row(name, OK, f"connected to {_where(url)}{tables}")
    except Exception as exc:
        return Row(name, PROBLEM, f"cannot connect to {_where(url)}: {_error(exc)}")


def _http(name: str, method: str, url: str, timeout: float, ok: Callable[[int, str], bool], **kw) -> Row:
    import requests

    try:
        resp = requests.request(method, url, timeout=timeout, allow_redirects=False, **kw)
    except requests.RequestException as exc:
        return Row(name, PROBLEM, f"unreachable: {type(exc).__name__}")
    if ok(resp.status_code, resp.text[:200]):
        return Row(name, OK, f"HTTP {resp.status_code}")
    hint = {401: "the key was refused (wrong, revoked, or the |0/|1 database mode)", 403: "forbidden"}.get(
        resp.status_code, "unexpected answer"
    )
    return Row(name, PROBLEM, f"HTTP {resp.status_code}: {hint}")


def connection_rows(env: Mapping[str, str], timeout: float = 5.0) -> list[Row]:
    local = profile.is_local(env)
    rows = []

    # warehouse and Dagster storage
    url = env.get("ORGSYNC_WAREHOUSE_URL")
    if url:
        rows.append(_postgres("warehouse", url, timeout))
    else:
        rows.append(
            Row("warehouse", INFO, "embedded PostgreSQL (local profile; started on first use)")
            if local
            else Row("warehouse", PROBLEM, "ORGSYNC_WAREHOUSE_URL is not set")
        )
    url = env.get("DAGSTER_PG_URL")
    rows.append(
        _postgres("Dagster storage", url, timeout, dagster=True)
        if url
        else Row("Dagster storage", PROBLEM if not local else INFO, "DAGSTER_PG_URL is not set (`orgsync dev` sets it)")
    )

    # VAN, one GET per instance
    from orgsync_dagster.resources.van import VanConfigError, parse_api_keys

    try:
        keys = parse_api_keys(env.get("VAN_API_KEYS", ""))
    except VanConfigError as exc:
        keys, rows = {}, [*rows, Row("VAN", PROBLEM, str(exc))]
    base = (env.get("VAN_URL") or profile.get("VAN_URL").default).rstrip("/") + "/"
    app = env.get("VAN_APPLICATION_NAME") or "orgsync"
    for instance, key in sorted(keys.items()):
        rows.append(
            _http(
                f"VAN {instance}",
                "GET",
                base + "apiKeyProfiles",
                timeout,
                lambda status, _t: status == 200,
                auth=(app, f"{key}|1"),
            )
        )
    if not keys and not any(r.check == "VAN" for r in rows):
        rows.append(Row("VAN", INFO if local else PROBLEM, "no VAN_API_KEYS"))

    # Action Network
    an_key = env.get("ACTION_NETWORK_API_KEY")
    if an_key:
        an_url = (env.get("ACTION_NETWORK_URL") or profile.get("ACTION_NETWORK_URL").default).rstrip("/") + "/"
        rows.append(
            _http(
                "Action Network",
                "GET",
                an_url,
                timeout,
                lambda status, _t: status == 200,
                headers={"OSDI-API-Token": an_key},
            )
        )
    else:
        rows.append(Row("Action Network", INFO if local else PROBLEM, "no ACTION_NETWORK_API_KEY"))

    rows.append(_s3_row(env, timeout, local))
    rows.append(_mongo_row(env, timeout, local))
    rows.extend(_slack_rows(env, timeout, local))
    return rows


def _s3_row(env: Mapping[str, str], timeout: float, local: bool) -> Row:
    bucket = env.get("ORGSYNC_S3_BUCKET")
    if not bucket:
        return Row("S3 bucket", INFO if local else PROBLEM, "no ORGSYNC_S3_BUCKET (the S3 sensors skip)")
    try:
        import boto3
        from botocore.config import Config

        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("ORGSYNC_S3_ENDPOINT_URL") or None
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=env.get("AWS_DEFAULT_REGION") or None,
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1}),
        )
        client.head_bucket(Bucket=bucket)
        return Row("S3 bucket", OK, f"s3://{bucket} reachable")
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
        return Row("S3 bucket", PROBLEM, f"s3://{bucket}: {code or _error(exc)}")


def _mongo_row(env: Mapping[str, str], timeout: float, local: bool) -> Row:
    uri = env.get("MONGODB_URI") or ""
    if not uri or uri.startswith(("mongomock://", "mongomock+file://")):
        if local:
            if "+file" in uri:
                return Row("MongoDB", INFO, "mongomock kept in a file (local profile: shared by local runs)")
            return Row("MongoDB", INFO, "in-process mongomock (local profile: calls live only inside one process)")
        return Row("MongoDB", PROBLEM, "production needs a MongoDB (MONGODB_URI)")
    try:
        import pymongo

        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(timeout * 1000))
        try:
            client.admin.command("ping")
        finally:
            client.close()
        return Row("MongoDB", OK, "ping answered")
    except Exception as exc:
        return Row("MongoDB", PROBLEM, f"no answer: {type(exc).__name__}")


def _slack_rows(env: Mapping[str, str], timeout: float, local: bool) -> list[Row]:
    names = ["SLACK_WEBHOOK_URL"] + [
        f"SLACK_WEBHOOK_URL_{d.upper()}" for d in ("events", "membership", "calls", "shifts", "platform")
    ]
    rows = []
    for name in names:
        url = env.get(name)
        if not url:
            continue
        # an empty payload: a live webhook refuses it (400 invalid_payload/no_text) and posts nothing
        rows.append(
            _http(
                f"Slack ({name})",
                "POST",
                url,
                timeout,
                lambda status, text: status == 400 and ("no_text" in text or "invalid_payload" in text),
                json={},
            )
        )
    if not rows:
        rows.append(Row("Slack", INFO if local else PROBLEM, "no SLACK_WEBHOOK_URL (alerts are only logged)"))
    return rows


# -- report -------------------------------------------------------------------------------------------------------
def _table(title: str, rows: list[Row]) -> list[str]:
    width = max([len(r.check) for r in rows] + [len("check")])
    lines = [title, f"  {'check'.ljust(width)}  {'status':<7}  detail", f"  {'-' * width}  {'-' * 7}  {'-' * 6}"]
    lines += [f"  {r.check.ljust(width)}  {r.status:<7}  {r.detail}" for r in rows]
    return lines


def run(env: Mapping[str, str] | None = None, *, timeout: float = 5.0, as_json: bool = False, say=print) -> int:
    env = dict(os.environ if env is None else env)
    try:
        prof = profile.current_profile(env)
    except profile.ProfileError as exc:
        say(f"orgsync doctor: {exc}")
        return 1
    config = configuration_rows(env)
    # connections as the code location would make them: with the defaults it applies (e.g. VAN_URL)
    profile.apply_defaults(env)
    connections = connection_rows(env, timeout)
    problems = [r for r in config + connections if r.status == PROBLEM]
    if as_json:
        say(json.dumps({"profile": prof, "configuration": [asdict(r) for r in config],
                        "connections": [asdict(r) for r in connections], "problems": len(problems)}))  # fmt: skip
    else:
        say(f"orgsync doctor: profile {prof}\n")
        for line in _table("Configuration", config) + [""] + _table("Connections", connections):
            say(line)
        say("")
        say(f"{len(problems)} problem(s)." if problems else "Everything is ready.")
    return 1 if problems else 0
