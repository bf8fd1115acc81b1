"""The Starlette application: sessions, the login and permission layer, CSRF, the registered pages, live updates.

``create_app(...)`` builds it; ``orgsync web`` serves it (server.py). Pages live in ``PAGE_MODULES`` and register
themselves with ``registry.page`` (see registry.py and docs/WEB.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hmac
import importlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlparse

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError
from orgsync_dagster.web import auth, registry
from orgsync_dagster.web.live import Hub

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
PAGE_MODULES = (
    "orgsync_dagster.web.pages.account",
    "orgsync_dagster.web.pages.tracker",
    "orgsync_dagster.web.pages.users",
    "orgsync_dagster.web.pages.calls_config",
)
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


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


class HttpProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _problem(request: Request, state: AppState, status: int, message: str, user=None) -> Response:
    if "application/json" in request.headers.get("accept", "") or request.url.path.endswith("/live"):
        return JSONResponse({"ok": False, "error": message}, status_code=status)
    template = state.templates.get_template("error.html")
    html = template.render(
        {
            "ctx": None,
            "user": user,
            "scope": None,
            "csrf_token": csrf_token(request),
            "flashes": [],
            "nav": [],
            "status": status,
            "message": message,
        }
    )
    return HTMLResponse(html, status_code=status)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    o, host = urlparse(origin), request.headers.get("host", "")
    return o.netloc == host


def _endpoint(page: registry.Page):
    async def endpoint(request: Request) -> Response:
        state: AppState = request.app.state.orgsync
        user = None
        if not page.public:
            uid = request.session.get("uid")
            user = await run_in_threadpool(auth.load_user, state.engine, uid) if uid else None
            if user is None or not user.is_allowed:
                if uid:
                    request.session.clear()
                if request.method == "GET" and "application/json" not in request.headers.get("accept", ""):
                    if not request.url.path.endswith("/live"):
                        return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)
                return _problem(request, state, 401, "please log in")
        ctx = PageContext(request, state, user, page)
        if request.method in UNSAFE:
            form = await request.form(max_fields=2000)
            ctx.form = {k: v for k, v in form.items() if isinstance(v, str)}
            ctx.form_lists = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}
            sent = request.headers.get("x-csrf-token") or ctx.form.get("csrf_token") or ""
            expected = request.session.get("csrf") or ""
            if not expected or not hmac.compare_digest(sent.encode(), expected.encode()) or not _same_origin(request):
                return _problem(request, state, 403, "the form is missing its security token (CSRF); reload the page")
        try:
            if page.permission.scoped:
                ctx.scope = _scope(request, state, user)
            if not page.public and not page.permission.check(user, ctx):
                raise HttpProblem(403, f"this page is for {page.permission.name}")
            if page.is_async:
                return await page.handler(ctx)
            return await run_in_threadpool(page.handler, ctx)
        except HttpProblem as exc:
            return _problem(request, state, exc.status, exc.message, user)
        except tracker_store.Forbidden as exc:
            return _problem(request, state, 403, str(exc), user)
        except tracker_store.NotFound as exc:
            return _problem(request, state, 404, str(exc), user)
        except TrackerInputError as exc:
            if ctx.wants_json:
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
            if request.method in UNSAFE:
                return ctx.back(str(exc), "error")
            return _problem(request, state, 400, str(exc), user)

    endpoint.__name__ = page.name.replace(".", "_")
    return endpoint


def _scope(request: Request, state: AppState, user: auth.User) -> Scope:
    name = request.path_params.get("state") or request.query_params.get("state") or ""
    if name not in state.states:
        raise HttpProblem(404, f"no VAN instance named {name!r}")
    office = request.query_params.get("office") or None
    region = None if office else (request.query_params.get("region") or None)
    if not user.can_see_scope(name, office, region, state.region_of(office)):
        what = office or (f"region {region}" if region else f"all of {name}")
        raise HttpProblem(403, f"you do not have access to {what}")
    return Scope(name, office=office, region=region)


def _security_headers(app):
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )

    async def wrapped(scope, receive, send):
        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        if scope["type"] != "http":
            return await app(scope, receive, send)
        return await app(scope, receive, send_with_headers)

    return wrapped


def create_app(
    engine: Engine,
    settings: ShiftsSettings,
    config: auth.WebConfig,
    states: list[str],
    *,
    bound_host: str | None = None,
) -> Starlette:
    import orgsync_dagster.web.tables  # noqa: F401  (the web.* tables exist before the first request)
    from orgsync_dagster.lib.tables import ensure_schema

    ensure_schema(engine)
    if config.admin_emails:
        auth.ensure_admins(engine, config.admin_emails)
    for name in PAGE_MODULES:
        importlib.import_module(name)
    state = AppState(engine=engine, settings=settings, config=config, states=list(states), bound_host=bound_host)
    state.templates = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    state.templates.globals["region_of"] = state.region_of
    state.templates.globals["scope_of"] = lambda r: (
        Scope(r["state"], office=r["office"]) if r["level"] == "office" else Scope(r["state"], region=r["region"])
    )
    state.templates.filters["local"] = lambda v, fmt="%H:%M": v.astimezone(settings.tz).strftime(fmt) if v else ""
    if config.oidc_enabled:
        from authlib.integrations.starlette_client import OAuth

        oauth = OAuth()
        oauth.register(
            name="oidc",
            server_metadata_url=config.oidc_metadata_url,
            client_id=config.oidc_client_id,
            client_secret=config.oidc_client_secret,
            client_kwargs={"scope": "openid email profile"},
        )
        state.oauth = oauth
    state.hub = Hub(engine, renderer=lambda event, variants: render_rows(state, event, variants))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await state.hub.start()
        try:
            yield
        finally:
            await state.hub.stop()

    routes = [Route(p.path, _endpoint(p), methods=list(p.methods), name=p.name) for p in registry.PAGES]
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=config.secret_key,
            session_cookie="orgsync_session",
            max_age=config.session_max_age,
            same_site="lax",
            https_only=config.https_only,
        )
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.orgsync = state
    app.add_middleware(_SecurityHeaders)
    return app


def render_rows(state: AppState, event: dict, variants: set) -> dict:
    """A changed row rendered once per (page, scope) open on it, for the live stream (see live.Hub). The forms in it
    carry no CSRF token: the page's script fills in its own session's token."""
    from orgsync_dagster.shifts import tracker as rules

    entity, entity_id = event.get("e"), int(event.get("id"))
    with state.engine.connect() as conn:
        row = (
            tracker_store.shift_row(conn, entity_id) if entity == "shift" else tracker_store.group_row(conn, entity_id)
        )
        eligible_by_scope = {}
        now = dt.datetime.now(dt.UTC)
        out = {}
        for page, scope in variants:
            if row is None:
                out[(page, scope)] = None
                continue
            region = row.get("region") or state.region_of(row.get("office"))
            values = {"scope": scope, "csrf_token": "", "settings": state.settings, "readonly": False, "ctx": None}
            if not scope.contains(row["instance"], row.get("office"), region):
                out[(page, scope)] = None
            elif entity == "shift":
                if page == "kph":
                    out[(page, scope)] = ""
                elif not rules.on_page(row, page):
                    out[(page, scope)] = None
                else:
                    template = state.templates.get_template("_shift_row.html")
                    out[(page, scope)] = template.render(r=row, page=page, **values)
            elif page == "kph" and row.get("is_active"):
                if scope not in eligible_by_scope:
                    rows = tracker_store.day_shifts(conn, row["day"], scope)
                    eligible_by_scope[scope] = [r for r in rows if rules.member_problem(r) is None and r.get("office")]
                template = state.templates.get_template("_group.html")
                out[(page, scope)] = template.render(g=row, eligible=eligible_by_scope[scope], now=now, **values)
            else:
                out[(page, scope)] = None if page == "kph" else ""
    return out


class _SecurityHeaders:
    def __init__(self, app):
        self.app = _security_headers(app)

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
