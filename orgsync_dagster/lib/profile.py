"""Local vs production, chosen explicitly: ``ORGSYNC_PROFILE=local|production``; and the registry of settings.

``local`` (the demo, the tests, ``orgsync dev``) may start an embedded PostgreSQL, use mongomock and the sandbox.
``production`` (the default, so a deployment that forgets to say anything is safe) never does: a missing setting
is an error naming what is missing, never a silent fallback.

Every setting the code location reads from the environment is registered here (``register``): its variable, what
it is for, who needs it, whether production requires it, and its defaults. A domain or resource that needs a new
variable registers it next to its own code (``profile.register(Setting(...))`` at import); ``definitions.py``
then calls ``apply_defaults()`` and ``assert_ready()`` once every module is imported, so the code server (and
every run worker, which loads the same module) fails at once with ONE message listing every missing variable.

Resources bind these variables as ``dagster.EnvVar``: read when a run starts, never frozen at load, never shown
in the UI. ``apply_defaults()`` puts the documented default of an optional variable into the environment when it
is unset, so an EnvVar always resolves.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass

PROFILE_ENV = "ORGSYNC_PROFILE"
LOCAL, PRODUCTION = "local", "production"
PROFILES = (LOCAL, PRODUCTION)


class ProfileError(RuntimeError):
    """The profile is unknown, or production lacks a setting it needs."""


def current_profile(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    value = (env.get(PROFILE_ENV) or PRODUCTION).strip().lower()
    if value not in PROFILES:
        raise ProfileError(f"{PROFILE_ENV}={value!r} is not a profile; use one of {', '.join(PROFILES)}")
    return value


def is_local(environ: Mapping[str, str] | None = None) -> bool:
    return current_profile(environ) == LOCAL


# -- the registry -------------------------------------------------------------------------------------------------
Validator = Callable[[str, str], "str | None"]  # (value, profile) -> a problem, or None


@dataclass(frozen=True)
class Setting:
    """One environment variable the code location uses.

    ``required``: production refuses to start without it. ``default``: the value used in any profile when it is
    unset (an optional setting). ``local_default``: the value the local profile uses when it is unset, in place of
    ``default`` (e.g. an empty warehouse URL, which makes the warehouse resource start the embedded PostgreSQL). ``secret``: its value
    is never printed (doctor shows only "set").
    """

    name: str
    purpose: str
    owner: str = "platform"
    required: bool = False
    secret: bool = False
    default: str | None = None
    local_default: str | None = None
    validate: Validator | None = None


_registry: dict[str, Setting] = {}
_lock = threading.Lock()


def register(setting: Setting) -> Setting:
    """Declare a setting (idempotent for the same declaration; a conflicting one is a programming error)."""
    with _lock:
        known = _registry.get(setting.name)
        if known is not None and known != setting:
            raise ValueError(f"setting {setting.name} is registered twice with different declarations")
        _registry[setting.name] = setting
    return setting


def settings() -> list[Setting]:
    with _lock:
        return sorted(_registry.values(), key=lambda s: (s.owner != "platform", s.owner, s.name))


def get(name: str) -> Setting:
    return _registry[name]


def apply_defaults(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Put each unset variable's default into the environment (``local_default`` only in the local profile), so
    that every ``EnvVar`` binding resolves when a run starts. Returns the names it set."""
    env = os.environ if environ is None else environ
    local = is_local(env)
    applied = []
    for s in settings():
        if s.name in env:
            continue
        value = s.local_default if local and s.local_default is not None else s.default
        if value is not None:
            env[s.name] = value
            applied.append(s.name)
    return applied


def problems(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every configuration problem, one line each: missing required settings (production) and invalid values."""
    env = os.environ if environ is None else environ
    profile = current_profile(env)
    out = []
    for s in settings():
        value = env.get(s.name)
        if not value:
            if s.required and profile == PRODUCTION:
                out.append(f"{s.name} is not set: {s.purpose} (needed by {s.owner})")
            continue
        if s.validate is not None:
            problem = s.validate(value, profile)
            if problem:
                out.append(f"{s.name}: {problem}")
    return out


def assert_ready(what: str = "orgsync_dagster", environ: Mapping[str, str] | None = None) -> None:
    """Raise ONE ProfileError listing every problem (production: every missing required variable)."""
    found = problems(environ)
    if found:
        profile = current_profile(environ)
        lines = "\n".join(f"  - {p}" for p in found)
        hint = (
            f"Set them in the environment of the code server and of the run workers, or set {PROFILE_ENV}=local "
            "for the embedded demo defaults (never on a production host). `orgsync doctor` checks the lot."
        )
        raise ProfileError(f"{what} cannot start in the {profile} profile; {len(found)} problem(s):\n{lines}\n{hint}")


def require_setting(name: str, value: str | None, *, what: str) -> str:
    """A value a resource needs at run time: returned if set; in production a ProfileError naming the variable."""
    if value:
        return value
    s = _registry.get(name)
    purpose = f" ({s.purpose})" if s else ""
    raise ProfileError(f"{what}: {name} is not set{purpose}; production never falls back to a local stand-in")


def names(settings_: Iterable[Setting]) -> list[str]:
    return [s.name for s in settings_]


# -- the platform's own settings ----------------------------------------------------------------------------------
def _postgres_url(value: str, _profile: str) -> str | None:
    if not value.startswith(("postgres://", "postgresql://", "postgresql+")):
        return "must be a PostgreSQL URL (postgresql://user:password@host:5432/database)"
    return None


def _not_mongomock(value: str, profile: str) -> str | None:
    if profile == PRODUCTION and value.startswith("mongomock://"):
        return "mongomock:// is an in-process stand-in (calls are lost between runs); production needs MongoDB"
    return None


def _van_rate(value: str, _profile: str) -> str | None:
    from orgsync_dagster.resources.van import rate_problem

    return rate_problem(value)


def _van_budget(value: str, _profile: str) -> str | None:
    from orgsync_dagster.resources.van import budget_problem

    return budget_problem(value)


def _van_keys(value: str, _profile: str) -> str | None:
    from orgsync_dagster.resources.van import VanConfigError, parse_api_keys

    try:
        parse_api_keys(value)
    except VanConfigError as exc:
        return str(exc)
    return None


for _s in (
    Setting(
        "ORGSYNC_WAREHOUSE_URL",
        "PostgreSQL warehouse URL",
        required=True,
        secret=True,
        local_default="",
        validate=_postgres_url,
    ),
    Setting(
        "DAGSTER_PG_URL",
        "PostgreSQL URL of Dagster's own storage (dagster.yaml)",
        required=True,
        secret=True,
        validate=_postgres_url,
    ),
    Setting(
        "VAN_API_KEYS",
        'one VAN API key per instance, {"MI": "<key>"} or MI=<key>,WI=<key>',
        required=True,
        secret=True,
        local_default="",
        validate=_van_keys,
    ),
    Setting("VAN_URL", "VAN API base URL", default="https://api.securevan.com/v4/"),
    Setting("VAN_APPLICATION_NAME", "VAN application name (Basic-auth user)", default="orgsync"),
    # production paces VAN at 2 requests/s per instance (billed per request, throttled); locally it is the sandbox
    Setting(
        "VAN_REQUESTS_PER_SECOND",
        "client-side pace per VAN instance, requests per second",
        default="2",
        local_default="40",
        validate=_van_rate,
    ),
    Setting(
        "VAN_DAILY_REQUEST_BUDGET",
        "requests per VAN instance per day before sending stops (empty: no cap)",
        default="",
        validate=_van_budget,
    ),
    Setting("ACTION_NETWORK_API_KEY", "Action Network group API key", required=True, secret=True, local_default=""),
    Setting("ACTION_NETWORK_URL", "Action Network API base URL", default="https://actionnetwork.org/api/v2/"),
    Setting(
        "MONGODB_URI",
        "MongoDB holding the Livevox calls",
        owner="calls",
        required=True,
        secret=True,
        local_default="mongomock://localhost",
        validate=_not_mongomock,
    ),
    Setting(
        "ORGSYNC_S3_BUCKET", "S3 bucket of membership exports, CDR files and call CSVs", required=True, local_default=""
    ),
    Setting(
        "SLACK_WEBHOOK_URL",
        "Slack incoming webhook for alerts and summaries (the default route)",
        required=True,
        secret=True,
        local_default="",
    ),
    Setting("ORGSYNC_CONFIG", "orgsync.yaml to use (empty: the packaged one)", default=""),
):
    register(_s)
for _domain in ("events", "membership", "calls", "shifts", "platform"):
    register(
        Setting(
            f"SLACK_WEBHOOK_URL_{_domain.upper()}",
            f"Slack webhook for {_domain} alerts (empty: SLACK_WEBHOOK_URL)",
            secret=True,
            default="",
        )
    )
