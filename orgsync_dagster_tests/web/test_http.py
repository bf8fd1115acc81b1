"""The web app over plain HTTP: the login and permission layer (OIDC against a real local provider, the dev login's
limits, the allow-list), cookies and headers, CSRF and Origin checks, the users admin, the live stream."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse

import pytest
import requests
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from orgsync_dagster.lib.profile import ProfileError
from orgsync_dagster.web.app import create_app
from orgsync_dagster.web.auth import User, WebConfig, dev_login_allowed
from orgsync_dagster.web.server import WebServer

from .conftest import NORTH, RIVERSIDE, USERS

JSON = {"Accept": "application/json"}


# -- the permission rule (pure) ------------------------------------------------------------------------------------
def user(rank, **kw) -> User:
    return User(id=1, email="x@example.org", full_name="X Y", rank=rank, **kw)


def test_who_sees_what():
    fo = user("FO", state="MI", region="R1", offices=(NORTH,))
    assert fo.can_see("MI", NORTH, "R1") and not fo.can_see("MI", RIVERSIDE, "R2") and not fo.can_see("WI", NORTH, "R1")
    assert fo.can_see_scope("MI", NORTH, None, "R1") and not fo.can_see_scope("MI", None, "R1", None)
    fd = user("FD", state="MI", region="R2")
    assert fd.can_see("MI", RIVERSIDE, "R2") and not fd.can_see("MI", NORTH, "R1")
    assert fd.can_see_scope("MI", None, "R2", None) and not fd.can_see_scope("MI", None, None, None)
    for hq in (user("FD", region="HQ"), user("DATA")):
        assert hq.can_see("WI", "anything", None) and hq.can_see_scope("MI", None, None, None)
    assert fd.can_manage({"rank": "FO", "state": "MI", "region": "R2"})
    assert not fd.can_manage({"rank": "FO", "state": "MI", "region": "R1"}) and not fd.can_manage({"rank": "DATA"})
    assert fd.grantable_ranks() == ("Intern", "DFO", "FO") and fo.grantable_ranks() == ()


def test_production_needs_oidc_and_a_secret(monkeypatch):
    monkeypatch.setenv("ORGSYNC_PROFILE", "production")
    with pytest.raises(ProfileError) as err:
        WebConfig.from_env({})
    for name in ("ORGSYNC_WEB_SECRET_KEY", "ORGSYNC_WEB_OIDC_CLIENT_ID", "ORGSYNC_WEB_OIDC_CLIENT_SECRET"):
        assert name in str(err.value)
    env = {"ORGSYNC_WEB_SECRET_KEY": "short", "ORGSYNC_WEB_OIDC_CLIENT_ID": "a", "ORGSYNC_WEB_OIDC_CLIENT_SECRET": "b"}
    with pytest.raises(ProfileError, match="at least 32 characters"):
        WebConfig.from_env(env)
    cfg = WebConfig.from_env({**env, "ORGSYNC_WEB_SECRET_KEY": "s" * 40})
    assert cfg.oidc_enabled and not cfg.local
    assert not dev_login_allowed(cfg, "127.0.0.1", "127.0.0.1")  # never in production
    monkeypatch.setenv("ORGSYNC_PROFILE", "local")
    local = WebConfig.from_env({})
    assert dev_login_allowed(local, "127.0.0.1", "127.0.0.1")
    assert not dev_login_allowed(local, "0.0.0.0", "127.0.0.1") and not dev_login_allowed(
        local, "127.0.0.1", "10.0.0.7"
    )


# -- over HTTP ---------------------------------------------------------------------------------------------------
def test_production_session_cookies_are_secure(site):
    config = WebConfig(secret_key="s" * 40, local=False, oidc_client_id="a", oidc_client_secret="b")
    assert config.https_only
    with WebServer(create_app(site.engine, site.settings, config, ["MI"], bound_host="127.0.0.1")) as web:
        cookie = requests.get(f"{web.url}/login").headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_pages_need_a_login(site):
    r = requests.get(f"{site.url}/t/MI/sdc", params={"office": NORTH}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = requests.get(f"{site.url}/t/MI/live", params={"office": NORTH}, headers=JSON)
    assert r.status_code == 401
    r = requests.post(f"{site.url}/t/MI/shift/1", data={"field": "status"}, headers=JSON)
    assert r.status_code in (401, 403)


def test_session_cookie_and_security_headers(site):
    s = requests.Session()
    page = s.get(f"{site.url}/login")
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_dev_login_refuses_unknown_emails_and_never_redirects_off_site(site):
    s = requests.Session()
    token = s.get(f"{site.url}/login").text.split('name="csrf-token" content="')[1].split('"')[0]
    r = s.post(
        f"{site.url}/login/dev", data={"csrf_token": token, "email": "stranger@example.org"}, allow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = s.post(
        f"{site.url}/login/dev",
        data={"csrf_token": token, "email": USERS["north"]["email"], "next": "//evil.example/steal"},
        allow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = requests.post(f"{site.url}/login/dev", data={"email": USERS["data"]["email"]}, allow_redirects=False)
    assert r.status_code == 403  # no CSRF token: not even the login form is accepted


def test_csrf_and_origin_are_checked_on_every_post(site):
    s = site.session("north")
    row = site.shifts(office=NORTH)[-1]
    data = {"field": "call_pass", "value": "+1", "version": row["version"]}
    url = f"{site.url}/t/MI/shift/{row['id']}?office={urllib.parse.quote(NORTH)}"
    assert s.post(url, data=data, headers=JSON).status_code == 403
    assert s.post(url, data={**data, "csrf_token": "forged"}, headers=JSON).status_code == 403
    r = s.post(url, data={**data, "csrf_token": s.csrf}, headers={**JSON, "Origin": "http://evil.example"})
    assert r.status_code == 403
    assert s.post(url, data={**data, "csrf_token": s.csrf}, headers=JSON).status_code == 200
    assert s.post(f"{site.url}/logout", allow_redirects=False).status_code == 403  # logout is a POST too


def test_stale_version_is_a_conflict_with_the_fresh_row(site):
    s = site.session("north")
    row = site.shifts(office=NORTH)[-2]
    url = f"{site.url}/t/MI/shift/{row['id']}?office={urllib.parse.quote(NORTH)}"
    first = s.post(
        url, data={"field": "call_pass", "value": "3", "version": row["version"], "csrf_token": s.csrf}, headers=JSON
    )
    assert first.json()["ok"] and first.json()["version"] == row["version"] + 1
    stale = s.post(
        url, data={"field": "call_pass", "value": "7", "version": row["version"], "csrf_token": s.csrf}, headers=JSON
    )
    assert (
        stale.status_code == 409
        and stale.json()["conflict"]
        and f'data-version="{row["version"] + 1}"' in stale.json()["html"]
    )
    assert site.shifts(id=row["id"])[0]["call_pass"] == 3
    bad = s.post(
        url,
        data={"field": "status", "value": "Gone fishing", "version": row["version"] + 1, "csrf_token": s.csrf},
        headers=JSON,
    )
    assert bad.status_code == 400 and "is not a status; choose one of" in bad.json()["error"]
    field = s.post(url, data={"field": "van_id", "value": "1", "version": 1, "csrf_token": s.csrf}, headers=JSON)
    assert field.status_code == 400


def test_users_admin_validates_and_respects_regions(site):
    fd = site.session("fd2")
    ok = {"csrf_token": fd.csrf, "email": "new.fo@example.org", "full_name": "New Organizer", "rank": "FO"}
    r = fd.post(f"{site.url}/users", data={**ok, "state": "MI", "region": "R2", "offices": RIVERSIDE})
    assert r.status_code == 200 and "new.fo@example.org" in r.text  # added (after the redirect)
    r = fd.post(f"{site.url}/users", data={**ok, "email": "x@example.org", "rank": "DATA", "state": "MI"})
    assert r.status_code == 400 and "you cannot give the rank DATA" in r.text
    r = fd.post(
        f"{site.url}/users", data={**ok, "email": "y@example.org", "state": "MI", "region": "R1", "offices": NORTH}
    )
    assert r.status_code == 400 and "only manage users of your own region" in r.text
    r = fd.post(f"{site.url}/users", data={**ok, "email": "not-an-email", "state": "XX"})
    assert r.status_code == 400 and "valid e-mail" in r.text and "state must be one of MI, WI" in r.text
    assert site.session("north").get(f"{site.url}/users").status_code == 403


def test_the_live_stream_delivers_changes_and_presence(site):
    viewer = site.session("north2")
    editor = site.session("north")
    row = site.shifts(office=NORTH)[-3]
    events: list[tuple[str, dict]] = []
    url = f"{site.url}/t/MI/live?page=sdc&office={urllib.parse.quote(NORTH)}"

    def listen():
        with viewer.get(url, stream=True, timeout=10) as r:
            kind = None
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if kind == "change":
                        return

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not any(k == "presence" for k, _ in events) and time.monotonic() < deadline:
        time.sleep(0.05)
    edit = f"{site.url}/t/MI/shift/{row['id']}?office={urllib.parse.quote(NORTH)}"
    sent = time.time()
    editor.post(
        edit,
        data={"field": "claim", "value": "claim", "version": row["version"], "csrf_token": editor.csrf},
        headers=JSON,
    )
    t.join(5)
    presence = [d for k, d in events if k == "presence"]
    assert presence and {"name": "Ned Baker", "initials": "NB", "color": "#2f7d32"} in presence[0]["viewers"]
    (change,) = [d for k, d in events if k == "change"]
    assert change["e"] == "shift" and change["id"] == row["id"] and change["by"] == "Nora North"
    assert change["v"] == row["version"] + 1 and change["t"] >= sent
    other = site.session("river").get(url, headers=JSON, timeout=5)
    assert other.status_code == 403  # another office's stream is refused like its page


# -- OIDC against a real (local) provider ---------------------------------------------------------------------------
class FakeProvider:
    """A minimal OpenID provider: discovery, authorize (auto-approves as ``email``), token (RS256 id_token), JWKS."""

    def __init__(self, email: str):
        from joserfc.jwk import RSAKey

        self.email = email
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.url = ""
        routes = [
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
            Route("/jwks", self.jwks),
        ]
        self.server = WebServer(Starlette(routes=routes))

    def discovery(self, request):
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def authorize(self, request):
        q = request.query_params
        code = secrets.token_urlsafe(8)
        self.codes[code] = {"nonce": q.get("nonce"), "client_id": q["client_id"]}
        return RedirectResponse(f"{q['redirect_uri']}?code={code}&state={q['state']}", status_code=302)

    async def token(self, request):
        from joserfc import jwt

        form = await request.form()
        grant = self.codes.pop(form["code"])
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "user-1",
            "aud": grant["client_id"],
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "email": self.email,
            "email_verified": True,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

    def jwks(self, request):
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})


@pytest.mark.parametrize("who, allowed", [("north", True), ("stranger", False)])
def test_oidc_login_with_the_allow_list(site, who, allowed):
    email = USERS[who]["email"] if who in USERS else "stranger@example.org"
    provider = FakeProvider(email)
    provider.url = provider.server.start()
    config = WebConfig(
        secret_key=secrets.token_urlsafe(32),
        local=False,
        oidc_client_id="orgsync",
        oidc_client_secret="s3cret",
        oidc_metadata_url=f"{provider.url}/.well-known/openid-configuration",
        secure_cookies=False,  # plain HTTP in this test; production cookies are Secure (tested below)
    )
    app = create_app(site.engine, site.settings, config, ["MI", "WI"], bound_host="127.0.0.1")
    with WebServer(app) as web:
        s = requests.Session()
        login = s.get(f"{web.url}/login")
        assert "Log in with your organisation account" in login.text and "dev-login" not in login.text
        token = login.text.split('name="csrf-token" content="')[1].split('"')[0]
        r = s.post(f"{web.url}/login/dev", data={"csrf_token": token, "email": email}, allow_redirects=False)
        assert r.status_code == 404  # no dev login in production
        r = s.get(f"{web.url}/login/oidc", params={"next": "/t/MI/review?office=" + NORTH})
        if allowed:
            assert r.status_code == 200 and r.url.startswith(f"{web.url}/t/MI/review")
            assert "Nora North" in r.text
        else:
            assert r.status_code == 403 and "is not on the allow-list" in r.text
    provider.server.stop()


# -- the command --------------------------------------------------------------------------------------------------
def _orgsync(*args, env):
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "orgsync"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ORGSYNC_", "PYTEST"))}
    return subprocess.Popen(
        [str(exe), *args], env={**full, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_orgsync_web_prints_its_url_and_stops_on_sigterm(site):
    import signal

    proc = _orgsync("web", "--port", "0", env={"ORGSYNC_PROFILE": "local", "ORGSYNC_WAREHOUSE_URL": site.pg_url})
    try:
        line = proc.stdout.readline()
        url = json.loads(line)["url"]
        assert url.startswith("http://127.0.0.1:") and requests.get(f"{url}/healthz", timeout=5).text == "ok"
        assert "dev-login" in requests.get(f"{url}/login", timeout=5).text  # local profile, bound to loopback
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_orgsync_web_in_production_names_what_is_missing(site):
    proc = _orgsync("web", env={"ORGSYNC_PROFILE": "production", "ORGSYNC_WAREHOUSE_URL": site.pg_url})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert "ORGSYNC_WEB_SECRET_KEY" in err and "ORGSYNC_WEB_OIDC_CLIENT_ID" in err and "Traceback" not in err
    proc = _orgsync("web", env={"ORGSYNC_PROFILE": "production"})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "ORGSYNC_WAREHOUSE_URL" in err


def test_demo_serve_opens_the_tracker_on_the_demo_data_until_stopped(site, monkeypatch):
    """``orgsync demo --serve``'s hook: demo users on the allow-list, the app on the demo's warehouse, Ctrl-C stops."""
    import os
    import signal
    from types import SimpleNamespace

    from orgsync_dagster.web.demo import serve_demo

    monkeypatch.setenv("ORGSYNC_PROFILE", "local")
    said: list[str] = []
    seen: dict = {}

    def visit():
        deadline = time.monotonic() + 30
        while not any("open at" in line for line in said) and time.monotonic() < deadline:
            time.sleep(0.05)
        url = next(line for line in said if "open at" in line).split("open at ")[1].split("/login")[0]
        seen["login"] = requests.get(f"{url}/login", timeout=5).text
        os.kill(os.getpid(), signal.SIGTERM)

    t = threading.Thread(target=visit, daemon=True)
    t.start()
    serve_demo(SimpleNamespace(engine=site.engine, van_keys={"MI": "k", "WI": "k2"}, say=said.append))
    t.join(5)
    assert "Dana Data" in seen["login"] and "Organizer North Side MI" in seen["login"]  # demo users, dev login
    assert "data@example.org" not in "\n".join(said)  # names and ranks printed, never e-mail addresses


def test_volunteer_history_and_contact_edits(site):
    north = site.session("north")
    row = site.shifts(office=NORTH)[0]
    page = north.get(f"{site.url}/volunteers/{row['volunteer_id']}")
    assert page.status_code == 200 and "Past shifts" in page.text and "Upcoming signups (VAN)" in page.text
    assert site.session("river").get(f"{site.url}/volunteers/{row['volunteer_id']}").status_code == 403
    version = page.text.split('name="version" value="')[1].split('"')[0]
    form = {
        "csrf_token": north.csrf,
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "email": "x@y.org",
    }
    bad = north.post(f"{site.url}/volunteers/{row['volunteer_id']}", data={**form, "version": version, "phone": "12"})
    assert "must be a 10-digit US number" in bad.text
    ok = north.post(
        f"{site.url}/volunteers/{row['volunteer_id']}", data={**form, "version": version, "phone": "3145550111"}
    )
    assert "contact details saved" in ok.text and "3145550111" in ok.text
    stale = north.post(
        f"{site.url}/volunteers/{row['volunteer_id']}", data={**form, "version": version, "phone": "3145550122"}
    )
    assert "Not saved" in stale.text and "3145550111" in stale.text  # the fresh values are shown
    assert "phone" in ok.text.split("Contact changes")[1]  # audited: who changed what
