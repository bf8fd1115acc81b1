"""Who may use the web app and what they may see: the allow-list (``web.users``), ranks, and the one permission
rule every page goes through.

Ranks (as in the original tracker): ``Intern``, ``DFO``, ``FO`` work in their office(s); ``FD`` (field director)
sees the offices of their region, or everything when their region is ``HQ``; ``DATA`` sees everything and manages
every user. An FD manages the users of their region (ranks up to FO; an HQ FD: up to FD, every state).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from orgsync_dagster.lib.profile import ProfileError, is_local
from orgsync_dagster.web.tables import user_changes, users

RANKS = ("Intern", "DFO", "FO", "FD", "DATA")
OFFICE_RANKS = ("Intern", "DFO", "FO")
HQ = "HQ"
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class User:
    id: int
    email: str
    full_name: str
    rank: str
    state: str | None = None
    region: str | None = None
    offices: tuple[str, ...] = ()
    color: str = "#3b6ea5"
    version: int = 1
    is_allowed: bool = True

    @property
    def initials(self) -> str:
        parts = [p for p in re.split(r"[\s\-]+", self.full_name) if p]
        return ("".join(p[0] for p in parts[:2]) or self.email[:2]).upper()

    @property
    def is_hq(self) -> bool:
        return self.rank == "DATA" or (self.rank == "FD" and self.region == HQ)

    @property
    def sees_dashboard(self) -> bool:
        return self.rank in ("FD", "DATA")

    @property
    def manages_users(self) -> bool:
        return self.rank in ("FD", "DATA")

    # -- the one permission rule -------------------------------------------------------------------------------
    def can_see(self, state: str, office: str | None, region: str | None) -> bool:
        """May this user read and edit rows of ``office`` (in ``region``) of VAN instance ``state``?"""
        if self.is_hq:
            return True
        if self.state is not None and state != self.state:
            return False
        if self.rank == "FD":
            return region is not None and region == self.region
        return office is not None and office in self.offices

    def can_see_scope(self, state: str, office: str | None, region: str | None, office_region: str | None) -> bool:
        """A page's scope: one office (``office_region`` is its region), a region, or a whole state."""
        if office is not None:
            return self.can_see(state, office, office_region)
        if region is not None:
            return self.is_hq or (self.rank == "FD" and self.state in (None, state) and region == self.region)
        return self.is_hq

    def can_manage(self, other: dict) -> bool:
        """May this user change ``other`` (a users row, or the form of a new one)?"""
        if self.rank == "DATA":
            return True
        if self.rank != "FD" or other.get("rank") in ("DATA",):
            return False
        if self.region == HQ:
            return True
        return (
            other.get("state") == self.state
            and other.get("rank") in OFFICE_RANKS
            and (other.get("region") in (None, "", self.region))
        )

    def grantable_ranks(self) -> tuple[str, ...]:
        if self.rank == "DATA":
            return RANKS
        if self.rank == "FD":
            return (*OFFICE_RANKS, "FD") if self.region == HQ else OFFICE_RANKS
        return ()


def _user(row) -> User:
    m = row._mapping
    return User(
        id=m["id"],
        email=m["email"],
        full_name=m["full_name"],
        rank=m["rank"],
        state=m["state"],
        region=m["region"],
        offices=tuple(m["offices"] or ()),
        color=m["color"],
        version=m["version"],
        is_allowed=m["is_allowed"],
    )


def load_user(engine: Engine, user_id: int | None = None, *, email: str | None = None) -> User | None:
    q = sa.select(users)
    q = q.where(users.c.id == user_id) if user_id is not None else q.where(users.c.email == (email or "").lower())
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return _user(row) if row is not None else None


def list_users(engine: Engine, viewer: User) -> list[User]:
    with engine.connect() as conn:
        rows = [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.state, users.c.rank, users.c.email))]
    return [u for u in rows if viewer.can_manage(u.__dict__) or u.id == viewer.id]


def record_login(engine: Engine, user: User) -> None:
    with engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == user.id).values(last_login_at=sa.func.now()))


class UserFormError(ValueError):
    pass


def validate_user_form(form: dict, editor: User, known_states: list[str]) -> dict:
    """A users row from the admin form, every problem named at once."""
    problems = []
    email = str(form.get("email") or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 200:
        problems.append("a valid e-mail address is required (the one the person logs in with)")
    name = " ".join(str(form.get("full_name") or "").split())
    if not name or len(name) > 100:
        problems.append("the full name is required (at most 100 characters)")
    rank = str(form.get("rank") or "").strip()
    if rank not in RANKS:
        problems.append(f"rank must be one of {', '.join(RANKS)}")
    elif rank not in editor.grantable_ranks():
        problems.append(f"you cannot give the rank {rank}")
    state = str(form.get("state") or "").strip() or None
    if state is not None and state not in known_states:
        problems.append(f"state must be one of {', '.join(known_states)} (or empty for every state)")
    region = str(form.get("region") or "").strip() or None
    if region is not None and (len(region) > 32 or not re.match(r"^[\w\- ]+$", region)):
        problems.append("the region is a short code such as R2 or HQ")
    raw_offices = form.get("offices") or ""
    offices = sorted({o.strip() for o in re.split(r"[\n;]", str(raw_offices)) if o.strip()})
    if any(len(o) > 100 for o in offices):
        problems.append("an office name holds at most 100 characters")
    if rank in OFFICE_RANKS and (not offices or state is None):
        problems.append(f"an {rank} needs a state and at least one office (one per line)")
    if rank == "FD" and region is None:
        problems.append("a field director needs a region (HQ for headquarters)")
    if rank == "FD" and region != HQ and state is None:
        problems.append("a regional field director needs a state")
    color = str(form.get("color") or "#3b6ea5").strip()
    if not COLOR_RE.match(color):
        problems.append("the colour is #rrggbb")
    allowed = str(form.get("is_allowed", "on")).lower() in ("on", "true", "1", "yes")
    if problems:
        raise UserFormError("; ".join(problems))
    row = {
        "email": email,
        "full_name": name,
        "rank": rank,
        "state": state,
        "region": region,
        "offices": offices,
        "color": color,
        "is_allowed": allowed,
    }
    if not editor.can_manage(row):
        raise UserFormError("you can only manage users of your own region (and not DATA users)")
    return row


def save_user(engine: Engine, editor: User, row: dict, user_id: int | None, version: int | None) -> User:
    """Create (``user_id`` None) or update a user, optimistic on ``version``; every change audited."""
    with engine.begin() as conn:
        if user_id is None:
            exists = conn.execute(sa.select(users.c.id).where(users.c.email == row["email"])).first()
            if exists is not None:
                raise UserFormError(f"{row['email']} is already on the allow-list")
            new_id = conn.execute(
                users.insert().values(**row, updated_by=editor.email).returning(users.c.id)
            ).scalar_one()
            conn.execute(
                user_changes.insert().values(
                    user_id=new_id, field="created", new_value=f"{row['rank']} {row['email']}", by_email=editor.email
                )
            )
            return _user(conn.execute(sa.select(users).where(users.c.id == new_id)).one())
        current = conn.execute(sa.select(users).where(users.c.id == user_id).with_for_update()).first()
        if current is None:
            raise UserFormError("no such user")
        before = dict(current._mapping)
        if not editor.can_manage(before):
            raise UserFormError("you cannot change this user")
        if version is None or before["version"] != version:
            raise UserFormError(
                f"{before['email']} was changed by {before['updated_by'] or 'someone'} since you opened the page; "
                "the form now shows the current values"
            )
        if editor.id == user_id and (row["rank"] != before["rank"] or not row["is_allowed"]):
            raise UserFormError("you cannot change your own rank or remove yourself from the allow-list")
        changed = {k: v for k, v in row.items() if (list(before[k]) if k == "offices" else before[k]) != v}
        if changed:
            conn.execute(
                users.update()
                .where(users.c.id == user_id)
                .values(**changed, version=users.c.version + 1, updated_by=editor.email, updated_at=sa.func.now())
            )
            conn.execute(
                user_changes.insert(),
                [
                    {
                        "user_id": user_id,
                        "field": k,
                        "old_value": str(before[k]),
                        "new_value": str(v),
                        "by_email": editor.email,
                    }
                    for k, v in changed.items()
                ],
            )
        return _user(conn.execute(sa.select(users).where(users.c.id == user_id)).one())


def ensure_admins(engine: Engine, emails: list[str]) -> None:
    """Bootstrap: these e-mails are DATA users on the allow-list (ORGSYNC_WEB_ADMIN_EMAILS)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    rows = [{"email": e.lower(), "full_name": e.split("@")[0], "rank": "DATA"} for e in emails if EMAIL_RE.match(e)]
    if rows:
        with engine.begin() as conn:
            conn.execute(pg_insert(users).values(rows).on_conflict_do_nothing(index_elements=["email"]))


# -- configuration -------------------------------------------------------------------------------------------------
GOOGLE_METADATA = "https://accounts.google.com/.well-known/openid-configuration"


@dataclass
class WebConfig:
    """How the app authenticates, from the environment (never from files: these are secrets)."""

    secret_key: str
    local: bool
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_metadata_url: str = GOOGLE_METADATA
    public_url: str | None = None
    admin_emails: list[str] = field(default_factory=list)
    session_max_age: int = 12 * 3600
    secure_cookies: bool | None = None  # None: Secure (HTTPS only) everywhere but the local profile

    @property
    def https_only(self) -> bool:
        return (not self.local) if self.secure_cookies is None else self.secure_cookies

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_client_id and self.oidc_client_secret)

    @classmethod
    def from_env(cls, env: dict | None = None) -> WebConfig:
        env = os.environ if env is None else env
        local = is_local()
        secret = env.get("ORGSYNC_WEB_SECRET_KEY") or ""
        cfg = cls(
            secret_key=secret or secrets.token_urlsafe(32),
            local=local,
            oidc_client_id=env.get("ORGSYNC_WEB_OIDC_CLIENT_ID") or None,
            oidc_client_secret=env.get("ORGSYNC_WEB_OIDC_CLIENT_SECRET") or None,
            oidc_metadata_url=env.get("ORGSYNC_WEB_OIDC_METADATA_URL") or GOOGLE_METADATA,
            public_url=(env.get("ORGSYNC_WEB_PUBLIC_URL") or "").rstrip("/") or None,
            admin_emails=[e.strip() for e in (env.get("ORGSYNC_WEB_ADMIN_EMAILS") or "").split(",") if e.strip()],
        )
        if not local:
            missing = [
                name
                for name, value in (
                    ("ORGSYNC_WEB_SECRET_KEY", secret),
                    ("ORGSYNC_WEB_OIDC_CLIENT_ID", cfg.oidc_client_id),
                    ("ORGSYNC_WEB_OIDC_CLIENT_SECRET", cfg.oidc_client_secret),
                )
                if not value
            ]
            if missing:
                raise ProfileError(
                    f"the web app in production needs {', '.join(missing)} (OIDC login and signed sessions); "
                    "set them, or ORGSYNC_PROFILE=local for a local dev login"
                )
            if len(secret) < 32:
                raise ProfileError("ORGSYNC_WEB_SECRET_KEY must be at least 32 characters")
        return cfg


def dev_login_allowed(cfg: WebConfig, bound_host: str | None, client_host: str | None) -> bool:
    """The local dev login exists only in the local profile, on a server bound to loopback, for a loopback client."""
    return bool(cfg.local and bound_host in LOOPBACK and client_host in LOOPBACK)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
