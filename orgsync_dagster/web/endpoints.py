"""From a registered page to a Starlette endpoint: the login check, CSRF on unsafe methods (token and same
origin), the page's scope and permission, the handler in a thread, and the store's errors as 403/404/400 pages
(or JSON); plus the security headers every response carries."""

from __future__ import annotations

import hmac
from urllib.parse import urlencode, urlparse

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from orgsync_dagster.shifts import tracker_store
from orgsync_dagster.shifts.tracker import Scope, TrackerInputError
from orgsync_dagster.web import auth, registry
from orgsync_dagster.web.context import AppState, PageContext, csrf_token

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


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


def page_endpoint(page: registry.Page):
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


class SecurityHeaders:
    def __init__(self, app):
        self.app = _security_headers(app)

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
