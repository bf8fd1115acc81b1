"""The membership approvals staff page over HTTP (issue 8): DATA only (on the server, for the page and the POST),
CSRF, every refusal of approvals.decide shown with the draft note kept, counts only (no member data), and a
decision recorded with the signed-in user as who decided."""

from __future__ import annotations

import html

from orgsync_dagster.membership import approvals, store

from .conftest import USERS
from .membership_approvals_support import HQ, SECRET_EMAIL, add_hq, seed_blocked
from .test_calls_config_support import session_as

HOME = "/staff/membership"


def test_only_the_data_team_sees_or_decides_blocked_exports(site):
    add_hq(site.engine)
    pk = seed_blocked(site.engine)
    data = session_as(site, USERS["data"]["email"])
    page = data.get(f"{site.url}{HOME}")
    assert page.status_code == 200
    assert f'href="{HOME}"' in data.get(f"{site.url}/").text  # in the staff navigation
    text = html.unescape(page.text)
    assert pk in text and "400 of 1000 members lapsed" in text
    assert 'class="lapsed">400' in page.text and 'class="quarantined">3<' in page.text
    assert SECRET_EMAIL not in text and "Siobhan" not in text  # counts only
    for who in (USERS["north"]["email"], USERS["fd2"]["email"], HQ["email"]):  # FO, regional FD, HQ FD
        s = session_as(site, who)
        assert f'href="{HOME}"' not in s.get(f"{site.url}/").text
        r = s.get(f"{site.url}{HOME}")
        assert r.status_code == 403 and "rank DATA" in r.text and pk not in r.text
        r = s.post(
            f"{site.url}{HOME}/decide",
            data={"csrf_token": s.csrf, "export": pk, "decision": "approve", "note": "looks fine"},
            allow_redirects=False,
        )
        assert r.status_code == 403
    anonymous = data.__class__().get(f"{site.url}{HOME}", allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert store.latest_decision(site.engine, pk) is None


def test_a_post_without_the_token_or_from_another_site_is_refused(site):
    pk = seed_blocked(site.engine)
    s = session_as(site, USERS["data"]["email"])
    fields = {"export": pk, "decision": "approve", "note": "checked with national"}
    assert s.post(f"{site.url}{HOME}/decide", data=fields, allow_redirects=False).status_code == 403
    forged = {**fields, "csrf_token": "forged"}
    assert s.post(f"{site.url}{HOME}/decide", data=forged, allow_redirects=False).status_code == 403
    r = s.post(
        f"{site.url}{HOME}/decide",
        data={**fields, "csrf_token": s.csrf},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert r.status_code == 403
    assert store.latest_decision(site.engine, pk) is None


def test_refusals_keep_the_note_and_a_decision_is_recorded_once(site):
    pk = seed_blocked(site.engine)
    s = session_as(site, USERS["data"]["email"])

    def post(**fields):
        return s.post(f"{site.url}{HOME}/decide", data={"csrf_token": s.csrf, **fields}, allow_redirects=False)

    r = post(export=pk, decision="approve", note="   ")
    assert r.status_code == 400 and "a note (--note: what was checked) is required" in html.unescape(r.text)
    r = post(export=pk, decision="maybe", note="checked <b>twice</b>")
    assert r.status_code == 400 and "must be &#39;approve&#39; or &#39;reject&#39;" in r.text
    assert "checked &lt;b&gt;twice&lt;/b&gt;</textarea>" in r.text  # the draft is kept (escaped)
    r = post(export=pk[:-2], decision="approve", note="ok")
    assert r.status_code == 400 and f"did you mean: {pk}" in html.unescape(r.text)
    assert store.latest_decision(site.engine, pk) is None
    r = post(export=pk, decision="reject", note="national sent a test file")
    assert r.status_code == 303 and r.headers["location"] == HOME
    page = s.get(f"{site.url}{HOME}")
    assert "rejected (decision" in page.text and pk not in page.text.split('id="decisions"')[0].split("</h1>")[1]
    recorded = store.latest_decision(site.engine, pk)
    assert (
        recorded["decision"] == "reject" and recorded["decided_by"] == USERS["data"]["full_name"]
    )  # a name, never an e-mail
    assert recorded["note"] == "national sent a test file"
    r = post(export=pk, decision="approve", note="changed my mind")
    assert r.status_code == 400 and "a decision is final" in r.text
    assert [d["decision"] for d in approvals.history(site.engine) if d["partition_key"] == pk] == ["reject"]
