"""The Starlette application: sessions, the login and permission layer, CSRF, the registered pages, live updates.

``create_app(...)`` builds it; ``orgsync web`` serves it (server.py). Pages live in ``PAGE_MODULES`` and register
themselves with ``registry.page`` (see registry.py and docs/WEB.md). What a handler gets is in ``context.py``;
how a request reaches it (login, CSRF, scope, permission, errors) in ``endpoints.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import logging
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.tracker import Scope
from orgsync_dagster.web import auth, registry
from orgsync_dagster.web.context import AppState
from orgsync_dagster.web.endpoints import SecurityHeaders, page_endpoint
from orgsync_dagster.web.live import Hub

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
PAGE_MODULES = (
    "orgsync_dagster.web.pages.account",
    "orgsync_dagster.web.pages.tracker",
    "orgsync_dagster.web.pages.users",
    "orgsync_dagster.web.pages.calls_config",
    "orgsync_dagster.web.pages.calls_config_instances",
    "orgsync_dagster.web.pages.membership_approvals",
)


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

    routes = [Route(p.path, page_endpoint(p), methods=list(p.methods), name=p.name) for p in registry.PAGES]
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
    app.add_middleware(SecurityHeaders)
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
