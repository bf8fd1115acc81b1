"""What the calls configuration page's tests share (no tests here): the calls seed configuration in the web test
warehouse, VAN reference data fetched from the sandbox (so VAN ids are checked as the ``candidate_config_valid``
check does), users of every rank, and a reader of the page's forms (what a browser would submit)."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from orgsync_dagster.calls.config import parse_deployment
from orgsync_dagster.calls.config_store import ConfigStore
from orgsync_dagster.calls.reference_assets import fetch_reference
from orgsync_dagster.calls.tables import van_reference_data
from orgsync_dagster.lib import config as cfg
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.web import tables as web_tables
from orgsync_dagster_tests.calls.helpers import SEED

from .conftest import NORTH

STAFF = {
    "intern": {
        "email": "ivy@example.org",
        "full_name": "Ivy Intern",
        "rank": "Intern",
        "state": "MI",
        "region": "R1",
        "offices": [NORTH],
    },
    "hq": {"email": "hank@example.org", "full_name": "Hank Quarters", "rank": "FD", "region": "HQ"},
    "data2": {"email": "dora@example.org", "full_name": "Dora Data", "rank": "DATA"},
}


def config_store(site) -> ConfigStore:
    return ConfigStore(site.engine, parse_deployment(cfg.section("calls")))


@pytest.fixture(scope="module")
def calls_site(site, sandbox):
    """``site`` with the calls seed configuration (candidates mo01 and mo05, VAN instances MI and WI, the term
    codes), the VAN reference data of MI (MyCampaign) fetched from the sandbox, and more staff users."""
    store = config_store(site)
    store.import_yaml(SEED.read_text(), by="seed")
    key = f"calls-web-{uuid.uuid4().hex[:8]}"
    van = VanResource(api_keys=json.dumps({"MI": key}), base_url=sandbox.urls.van_url, requests_per_second=1000)
    ref = fetch_reference(van.client("MI", db_mode=1), 1)
    ref.update(instance="MI", mode=1, fetched_at="2026-03-01T06:00:00+00:00")
    with site.engine.begin() as conn:
        conn.execute(pg_insert(van_reference_data).values(instance="MI", mode=1, data=ref).on_conflict_do_nothing())
        existing = set(conn.execute(sa.select(web_tables.users.c.email)).scalars())
        for row in STAFF.values():
            if row["email"] not in existing:
                conn.execute(web_tables.users.insert().values(**row))
    return site


def session_as(site, email: str) -> requests.Session:
    """A logged-in HTTP session (the local dev login, as the browser does it); ``.csrf`` is its token."""
    s = requests.Session()
    token = s.get(f"{site.url}/login").text.split('name="csrf-token" content="')[1].split('"')[0]
    r = s.post(f"{site.url}/login/dev", data={"csrf_token": token, "email": email, "next": "/"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] != "/login", r.text
    page = s.get(f"{site.url}/staff/calls")
    s.csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    return s


VOID = {"input", "br", "img", "meta", "link", "hr", "source", "col", "area", "base", "wbr"}


class FormReader(HTMLParser):
    """The fields one form of a page would submit (text inputs, checked boxes, selected options, hidden fields),
    and the text of every element with an id (to find the inline problems: ``err-<field>``)."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields = form_id, False, {}
        self._select, self._selected, self._first_option = None, None, None
        self.in_template = 0
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self._open.append((tag, a.get("id")))
        if a.get("id"):
            self.texts.setdefault(a["id"], "")
        if tag == "template":
            self.in_template += 1
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if not self.inside or self.in_template:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    self.fields[a["name"]] = "on"
            else:
                self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select, self._selected, self._first_option = a.get("name"), None, None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
            if "selected" in a:
                self._selected = value

    def handle_endtag(self, tag):
        if tag == "template":
            self.in_template -= 1
        if tag == "form":
            self.inside = False
        if tag == "select" and self._select:
            chosen = self._selected if self._selected is not None else self._first_option
            self.fields[self._select] = chosen or ""
            self._select = None
        if any(t == tag for t, _ in self._open):
            while self._open and self._open.pop()[0] != tag:
                pass

    def handle_data(self, data):
        for _tag, ident in self._open:
            if ident:
                self.texts[ident] += data


def read_form(html: str, form_id: str = "candidate-form") -> FormReader:
    reader = FormReader(form_id)
    reader.feed(html)
    return reader


def row_index(fields: dict, key: str) -> int:
    """The result row of the form showing ``key``."""
    for name, value in fields.items():
        if name.endswith("-key") and value == key:
            return int(name.split("-")[1])
    raise AssertionError(f"no result row {key!r} in the form")
