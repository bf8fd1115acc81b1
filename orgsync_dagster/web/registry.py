"""Registering a page of the web app: one decorator gives a handler its URL, its permission and (optionally) its
place in the navigation. The app wraps every registered handler the same way:

1. the signed session must name a user still on the allow-list (else: the login page, or 401 for fetch/SSE);
2. a state-changing request (POST/PUT/PATCH/DELETE) must carry the session's CSRF token (form field
   ``csrf_token`` or header ``X-CSRF-Token``) and, when the browser sends one, a same-origin ``Origin`` (else 403);
3. the page's permission must hold for the user (and, for ``SCOPE`` pages, for the office/region/state of the URL);
4. the handler runs (a plain ``def`` runs in the thread pool, so it may use the database directly).

    from orgsync_dagster.web.registry import LOGGED_IN, page, ranks

    @page("/staff/calls", name="calls.config", title="Calls configuration", section="Staff", permission=ranks("DATA"))
    def calls_config(ctx):
        return ctx.render("calls_config.html", rows=...)

then add the module to ``PAGE_MODULES`` in ``orgsync_dagster/web/app.py``. See docs/WEB.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orgsync_dagster.web.auth import User


@dataclass(frozen=True)
class Permission:
    """``check(user, ctx)`` -> bool. ``scoped``: the URL names a state (path ``{state}``) and an office or region
    (query ``office=`` / ``region=``) that the user must be allowed to see."""

    name: str
    check: Callable[[User, Any], bool]
    scoped: bool = False


LOGGED_IN = Permission("logged in", lambda user, ctx: True)
SCOPE = Permission("works in this office / region / state", lambda user, ctx: True, scoped=True)


def ranks(*allowed: str) -> Permission:
    return Permission(f"rank {' or '.join(allowed)}", lambda user, ctx: user.rank in allowed)


DASHBOARD = Permission("field directors and HQ", lambda user, ctx: user.sees_dashboard)
USER_ADMIN = Permission("manages users", lambda user, ctx: user.manages_users)


@dataclass
class Page:
    path: str
    name: str
    handler: Callable
    methods: tuple[str, ...] = ("GET",)
    permission: Permission = LOGGED_IN
    title: str | None = None  # shown in the navigation when set
    section: str = "Tracker"  # navigation group; "Tracker" pages are tabs of the current office/region
    public: bool = False  # no login needed (login pages, health check)
    order: int = 100
    is_async: bool = field(init=False, default=False)

    def __post_init__(self):
        self.is_async = inspect.iscoroutinefunction(self.handler)


PAGES: list[Page] = []


def page(
    path: str,
    *,
    name: str,
    methods: tuple[str, ...] = ("GET",),
    permission: Permission = LOGGED_IN,
    title: str | None = None,
    section: str = "Tracker",
    public: bool = False,
    order: int = 100,
):
    """Register ``handler(ctx)`` for ``path`` (Starlette path syntax, e.g. ``/t/{state}/sdc``)."""

    def register(handler: Callable) -> Callable:
        if any(p.name == name for p in PAGES):
            raise ValueError(f"a page named {name!r} is already registered")
        PAGES.append(Page(path, name, handler, tuple(methods), permission, title, section, public, order))
        return handler

    return register


def nav_pages(section: str | None = None) -> list[Page]:
    return sorted(
        (p for p in PAGES if p.title and "GET" in p.methods and (section is None or p.section == section)),
        key=lambda p: (p.order, p.name),
    )
