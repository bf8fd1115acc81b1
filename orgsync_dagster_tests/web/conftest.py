"""Fixtures of the web tests: one warehouse, sandbox VAN day and app server per test module, one Chromium per
session (Debian's /usr/bin/chromium driven by Playwright; never a browser download)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import uuid
from dataclasses import dataclass

import pytest
import requests
import sqlalchemy as sa

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.lib import pg_test_server
from orgsync_dagster.resources import warehouse as warehouse_mod
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.seed import seed_van
from orgsync_dagster.shifts.settings import ShiftsSettings
from orgsync_dagster.shifts.store import import_day_tx
from orgsync_dagster.web import tables as web_tables
from orgsync_dagster.web.app import create_app
from orgsync_dagster.web.auth import WebConfig
from orgsync_dagster.web.server import WebServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NORTH, RIVERSIDE = "R1A - North Side", "R2B - Riverside"
USERS = {
    "data": {"email": "dana@example.org", "full_name": "Dana Data", "rank": "DATA", "color": "#3b6ea5"},
    "north": {
        "email": "nora@example.org",
        "full_name": "Nora North",
        "rank": "FO",
        "state": "MI",
        "region": "R1",
        "offices": [NORTH],
        "color": "#b5446e",
    },
    "north2": {
        "email": "ned@example.org",
        "full_name": "Ned Baker",
        "rank": "DFO",
        "state": "MI",
        "region": "R1",
        "offices": [NORTH],
        "color": "#2f7d32",
    },
    "river": {
        "email": "rita@example.org",
        "full_name": "Rita River",
        "rank": "FO",
        "state": "MI",
        "region": "R2",
        "offices": [RIVERSIDE],
        "color": "#a15c00",
    },
    "fd2": {"email": "fred@example.org", "full_name": "Fred Director", "rank": "FD", "state": "MI", "region": "R2"},
}


@dataclass
class Site:
    url: str
    engine: sa.engine.Engine
    settings: ShiftsSettings
    pg_url: str
    api_key: str
    day: dt.date
    server: WebServer

    def session(self, who: str) -> requests.Session:
        """A logged-in HTTP session (the dev login, as a browser would do it)."""
        s = requests.Session()
        page = s.get(f"{self.url}/login")
        token = page.text.split('name="csrf-token" content="')[1].split('"')[0]
        r = s.post(
            f"{self.url}/login/dev",
            data={"csrf_token": token, "email": USERS[who]["email"], "next": "/"},
            allow_redirects=False,
        )
        assert r.status_code == 303, r.text
        s.csrf = token_of(s, self.url)
        return s

    def shifts(self, **where) -> list[dict]:
        from orgsync_dagster.shifts.tables import shifts, volunteers

        q = (
            sa.select(shifts, volunteers.c.first_name, volunteers.c.last_name)
            .select_from(shifts.join(volunteers, volunteers.c.id == shifts.c.volunteer_id))
            .where(shifts.c.day == self.day)
            .order_by(shifts.c.id)
        )
        for k, v in where.items():
            q = q.where((shifts.c[k] if k in shifts.c else volunteers.c[k]) == v)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def token_of(session: requests.Session, url: str) -> str:
    page = session.get(f"{url}/healthz")
    page = session.get(f"{url}/")
    return page.text.split('name="csrf-token" content="')[1].split('"')[0]


@pytest.fixture(scope="module")
def site(sandbox):
    """A warehouse with today's shifts of two offices imported from the sandbox VAN, users, and the app server."""
    admin, _where = pg_test_server.admin_url()
    url = pg_test_server.create_database(admin, prefix="orgsync_web_test")
    _ = web_tables  # the web.* tables are created with the others
    engine = warehouse_mod.engine_for(url)
    settings = ShiftsSettings.from_config(cfg.section("shifts"))
    day = settings.today()
    api_key = f"web-{uuid.uuid4().hex[:10]}"
    van = VanResource(api_keys=json.dumps({"MI": api_key}), base_url=sandbox.urls.van_url, requests_per_second=1000)
    seed_van(van.client("MI"), day, settings, offices=2)
    export_participants(engine, van.client("MI"), "MI", settings, day=day)
    import_day_tx(engine, settings, day, ["MI"])
    with engine.begin() as conn:
        for row in USERS.values():
            conn.execute(web_tables.users.insert().values(**row))
    app = create_app(
        engine,
        settings,
        WebConfig(secret_key=secrets.token_urlsafe(32), local=True),
        ["MI", "WI"],
        bound_host="127.0.0.1",
    )
    server = WebServer(app, "127.0.0.1", 0)
    base = server.start()
    yield Site(base, engine, settings, url, api_key, day, server)
    server.stop()
    warehouse_mod._engines.pop(url, None)
    engine.dispose()
    warehouse_mod._ready.discard(url)
    pg_test_server.drop_database(admin, url)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/setup.sh installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@contextlib.contextmanager
def dev_logins(browser, base_url: str, *, enforce_csp: bool = True):
    """Yields ``make(email)`` -> a Playwright page logged in through the local dev login, each in its own browser
    context (own cookies); the contexts are closed afterwards. ``enforce_csp=False`` lets Playwright's
    ``wait_for_function`` evaluate its checks."""
    contexts = []

    def make(email: str):
        context = browser.new_context(bypass_csp=not enforce_csp)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base_url}/login")
        page.select_option("#dev-login select[name=email]", email)
        page.click("#dev-login button")
        page.wait_for_load_state("domcontentloaded")
        return page

    try:
        yield make
    finally:
        for c in contexts:
            c.close()


@pytest.fixture
def login(browser, site):
    """``login("north")`` -> a Playwright page logged in as that user (its own browser context: own cookies)."""
    with dev_logins(browser, site.url, enforce_csp=False) as make:
        yield lambda who: make(USERS[who]["email"])
