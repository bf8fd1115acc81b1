"""What a page handler gets: ``PageContext`` (the request, the signed-in user, the page's scope, the form, and
helpers to render, redirect and flash), over the app's ``AppState``; and the session's CSRF token."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlparse

from jinja2 import Environment
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError
from orgsync_dagster.web import auth, registry
from orgsync_dagster.web.live import Hub


@dataclass
class AppState:
    engine: Engine
    settings: ShiftsSettings
    config: auth.WebConfig
    states: list[str]
    bound_host: str | None = None
    hub: Hub | None = None
    oauth: object | None = None
    templates: Environment | None = None
    extra: dict = field(default_factory=dict)

    def region_of(self, office: str | None) -> str | None:
        return self.settings.region_of(office) if office else None


class PageContext:
    """What a page handler gets: the request, the signed-in user, the page's scope, the form, and helpers."""

    def __init__(self, request: Request, state: AppState, user: auth.User | None, page: registry.Page):
        self.request, self.app, self.user, self.page = request, state, user, page
        self.scope: Scope | None = None
        self.form: dict = {}
        self.form_lists: dict[str, list[str]] = {}

    # -- data -------------------------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def settings(self) -> ShiftsSettings:
        return self.app.settings

    @property
    def today(self) -> dt.date:
        return self.settings.today()

    def day(self) -> dt.date:
        """The day a tracker page shows: ``?day=YYYY-MM-DD`` or today (in shifts.timezone)."""
        raw = self.request.query_params.get("day") or self.form.get("day")
        if not raw:
            return self.today
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise TrackerInputError(f"day {raw!r} is not a date (YYYY-MM-DD)") from None

    def allowed(self, instance: str, office: str | None, region: str | None) -> bool:
        return self.user is not None and self.user.can_see(instance, office, region or self.app.region_of(office))

    def actor(self) -> tracker_store.Actor:
        u = self.user
        return tracker_store.Actor(email=u.email, name=u.full_name, initials=u.initials, color=u.color)

    # -- responses --------------------------------------------------------------------------------------------
    @property
    def wants_json(self) -> bool:
        return "application/json" in self.request.headers.get("accept", "")

    def flash(self, message: str, kind: str = "info") -> None:
        self.request.session.setdefault("flash", []).append({"kind": kind, "text": message})

    def render(self, template: str, status_code: int = 200, **values) -> HTMLResponse:
        return HTMLResponse(self.render_text(template, **values), status_code=status_code)

    def render_text(self, template: str, **values) -> str:
        flashes = self.request.session.pop("flash", []) if not template.startswith("_") else []
        context = {
            "ctx": self,
            "user": self.user,
            "scope": self.scope,
            "csrf_token": csrf_token(self.request),
            "flashes": flashes,
            "settings": self.settings,
            "nav": registry.nav_pages(),
            "tz": self.settings.tz,
            **values,
        }
        return self.app.templates.get_template(template).render(context)

    def redirect(self, url: str, message: str | None = None, kind: str = "info") -> RedirectResponse:
        if message:
            self.flash(message, kind)
        return RedirectResponse(url, status_code=303)

    def back(self, message: str | None = None, kind: str = "info") -> RedirectResponse:
        ref = self.request.headers.get("referer") or "/"
        parsed = urlparse(ref)
        url = parsed.path + (f"?{parsed.query}" if parsed.query else "") if parsed.path else "/"
        return self.redirect(url, message, kind)

    def url(self, path: str, **query) -> str:
        query = {k: v for k, v in query.items() if v not in (None, "")}
        return path + (f"?{urlencode(query)}" if query else "")

    def scope_url(self, page: str, scope: Scope | None = None, **extra) -> str:
        scope = scope or self.scope
        q = {"office": scope.office, "region": scope.region, **extra}
        return self.url(f"/t/{scope.state}/{page}", **q)

    def visible_scopes(self) -> list[dict]:
        """The offices, regions and states this user may open (for the scope switcher)."""
        with self.engine.connect() as conn:
            offices = tracker_store.offices(conn)
        out, regions, states = [], set(), set()
        for o in offices:
            region = o["region"] or self.app.region_of(o["office"])
            if self.user.can_see(o["instance"], o["office"], region):
                out.append({"label": o["office"], "scope": Scope(o["instance"], office=o["office"])})
                regions.add((o["instance"], region))
                states.add(o["instance"])
        for state, region in sorted(r for r in regions if r[1]):
            if self.user.can_see_scope(state, None, region, None):
                out.append({"label": f"{state} region {region}", "scope": Scope(state, region=region)})
        for state in sorted(states):
            if self.user.can_see_scope(state, None, None, None):
                out.append({"label": f"{state} (all offices)", "scope": Scope(state)})
        return out


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token
