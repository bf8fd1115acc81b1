"""Logging in and out (OIDC in production; a dev login only locally, on loopback), the landing page that routes each
rank to its page, the health check and the live-update stream."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlparse

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse

from orgsync_dagster.shifts.tracker import PAGES, Scope
from orgsync_dagster.web import auth
from orgsync_dagster.web.live import Subscriber, sse
from orgsync_dagster.web.registry import SCOPE, page


def _safe_next(raw: str | None) -> str:
    """Only a local path: never an open redirect."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or urlparse(raw).netloc:
        return "/"
    return raw


def _start_session(ctx, user: auth.User) -> None:
    ctx.request.session.clear()
    ctx.request.session.update({"uid": user.id, "csrf": secrets.token_urlsafe(32)})
    auth.record_login(ctx.engine, user)


@page("/healthz", name="health", public=True)
def health(ctx):
    return PlainTextResponse("ok")


@page("/login", name="login", public=True)
def login(ctx):
    cfg = ctx.app.config
    dev = auth.dev_login_allowed(cfg, ctx.app.bound_host, ctx.request.client.host if ctx.request.client else None)
    return ctx.render(
        "login.html",
        oidc=cfg.oidc_enabled,
        dev=dev,
        next=_safe_next(ctx.request.query_params.get("next")),
        users=_dev_users(ctx) if dev else [],
    )


def _dev_users(ctx) -> list[auth.User]:
    import sqlalchemy as sa

    from orgsync_dagster.web.tables import users

    with ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(users.c.email).where(users.c.is_allowed.is_(True)).order_by(users.c.email))
        return [auth.load_user(ctx.engine, email=e) for e in rows.scalars()]


@page("/login/oidc", name="login.oidc", public=True)
async def login_oidc(ctx):
    if ctx.app.oauth is None:
        return ctx.render("error.html", status_code=404, status=404, message="single sign-on is not configured")
    ctx.request.session["next"] = _safe_next(ctx.request.query_params.get("next"))
    base = ctx.app.config.public_url or str(ctx.request.base_url).rstrip("/")
    return await ctx.app.oauth.oidc.authorize_redirect(ctx.request, f"{base}/auth/callback")


@page("/auth/callback", name="auth.callback", public=True)
async def auth_callback(ctx):
    from authlib.integrations.base_client import OAuthError

    if ctx.app.oauth is None:
        return ctx.render("error.html", status_code=404, status=404, message="single sign-on is not configured")
    try:
        token = await ctx.app.oauth.oidc.authorize_access_token(ctx.request)
    except OAuthError as exc:
        return ctx.render("error.html", status_code=401, status=401, message=f"the login failed: {exc.error}")
    info = token.get("userinfo") or {}
    email = str(info.get("email") or "").lower()
    if not email or info.get("email_verified") is False:
        return ctx.render("error.html", status_code=403, status=403, message="your account has no verified e-mail")
    user = await run_in_threadpool(auth.load_user, ctx.engine, email=email)
    if user is None or not user.is_allowed:
        return ctx.render(
            "error.html",
            status_code=403,
            status=403,
            message=f"{email} is not on the allow-list: ask your field director or the data team to add you",
        )
    nxt = _safe_next(ctx.request.session.get("next"))
    await run_in_threadpool(_start_session, ctx, user)
    return RedirectResponse(nxt, status_code=303)


@page("/login/dev", name="login.dev", methods=("POST",), public=True)
def login_dev(ctx):
    """Local profile only, on a server bound to loopback, for a loopback client (CSRF-checked like every POST)."""
    client = ctx.request.client.host if ctx.request.client else None
    if not auth.dev_login_allowed(ctx.app.config, ctx.app.bound_host, client):
        return ctx.render(
            "error.html",
            status_code=404,
            status=404,
            message="the dev login exists only with ORGSYNC_PROFILE=local on a server bound to 127.0.0.1",
        )
    user = auth.load_user(ctx.engine, email=ctx.form.get("email"))
    if user is None or not user.is_allowed:
        return ctx.redirect("/login", "that e-mail is not on the allow-list", "error")
    _start_session(ctx, user)
    return ctx.redirect(_safe_next(ctx.form.get("next")))


@page("/logout", name="logout", methods=("POST",))
def logout(ctx):
    ctx.request.session.clear()
    return ctx.redirect("/login", "you are logged out")


@page("/", name="home")
def home(ctx):
    """Organizers land on their office's Same Day Confirms, field directors on their region, HQ on the dashboard."""
    u = ctx.user
    if u.is_hq:
        return ctx.redirect("/dashboard")
    if u.rank == "FD" and u.state:
        return ctx.redirect(ctx.scope_url("sdc", Scope(u.state, region=u.region)))
    if u.offices and u.state:
        return ctx.redirect(ctx.scope_url("sdc", Scope(u.state, office=u.offices[0])))
    return ctx.render("error.html", status_code=403, status=403, message="your account has no office yet")


@page("/t/{state}/live", name="live", permission=SCOPE)
async def live(ctx):
    """The page's live stream (Server-Sent Events): changes of rows in its scope, and who else is viewing."""
    page_name = ctx.request.query_params.get("page") or "sdc"
    if page_name not in (*PAGES, "dashboard"):
        return JSONResponse({"ok": False, "error": "unknown page"}, status_code=400)
    hub = ctx.app.hub
    u = ctx.user
    sub = Subscriber(
        scope=ctx.scope,
        page=page_name,
        viewer={"name": u.full_name, "initials": u.initials, "color": u.color, "email": u.email},
        region_of=ctx.app.region_of,
    )

    async def stream():
        hub.subscribe(sub)
        try:
            yield b"retry: 2000\n\n"
            yield sse("presence", {"viewers": hub.viewers(sub.room)})
            while True:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), timeout=15)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if item is None:
                    return
                if sub.overflowed:
                    yield sse("reload", {})
                    return
                kind, data = item
                yield sse(kind, data)
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
