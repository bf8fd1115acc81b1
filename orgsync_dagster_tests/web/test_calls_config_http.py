"""The calls configuration staff page over HTTP (issue 9): who may use it (DATA only, on the server), CSRF, every
validation problem shown next to its field with the draft kept, optimistic versions (a stale form is refused with
who saved and the current values), create / remove / restore, the history, the VAN budgets; and the form's own
mapping between fields and documents (a stored candidate reads back unchanged through the form)."""

from __future__ import annotations

import html

import pytest

from orgsync_dagster.calls import yaml_format
from orgsync_dagster.calls.config import FieldError
from orgsync_dagster.web.pages import calls_config_form as forms
from orgsync_dagster_tests.calls.helpers import seed_data

from .conftest import USERS
from .test_calls_config_support import STAFF, calls_site, config_store, read_form, row_index, session_as

_ = calls_site  # the fixture is used by name
HOME = "/staff/calls"


def post_form(s, url, fields, **changes):
    data = {**fields, **changes}
    data = {k: v for k, v in data.items() if v is not None}  # None: the field is left out (an unticked box)
    return s.post(url, data=data, allow_redirects=False)


# -- the form <-> document mapping (pure) ----------------------------------------------------------------------------
def fields_of(form: forms.CandidateForm) -> dict:
    """What the browser submits for a CandidateForm (checkboxes only when ticked)."""
    out = {"slug": form.slug, "rows": str(len(form.rows))}
    for name, value in form.values.items():
        if value is True:
            out[name] = "on"
        elif value is not False:
            out[name] = value
    for i, row in enumerate(form.rows):
        for name, value in row.items():
            if value is True:
                out[f"r-{i}-{name}"] = "on"
            elif value is not False:
                out[f"r-{i}-{name}"] = value
    return out


@pytest.mark.parametrize("slug", ["mo01", "mo05"])
def test_a_stored_candidate_reads_back_unchanged_through_the_form(slug):
    body = yaml_format.canonical_candidate(seed_data()["candidates"][slug])
    form = forms.form_from_body(slug, body).with_blank_rows()
    draft, errors, row_of = forms.draft_from_form(forms.form_from_post(fields_of(form)), body)
    assert errors == [] and yaml_format.canonical_candidate(draft) == body
    assert list(row_of) == list(body["results"])


def test_typed_text_reaches_the_validation_as_typed():
    stored = {"sync_hour": 6, "results": {"busy": {"value": 1, "sync_to_van": False}}}
    form = forms.form_from_body("c1", stored)
    form.values.update(sync_hour="soon", daily_budget=" 12 ", timezone="")
    form.rows[0].update(value="high", responses="109149:465468, 12-34", activist_codes="18917 x", success="true")
    form.rows.append({**forms.blank_row(), "display_name": "no name"})
    form.rows.append({**forms.blank_row(), "key": "BUSY (agent)"})
    form.rows.append({**forms.blank_row(), "key": "gone", "delete": True})
    draft, errors, row_of = forms.draft_from_form(forms.form_from_post(fields_of(form)), stored)
    assert draft["sync_hour"] == "soon" and draft["daily_budget"] == 12 and "timezone" not in draft
    assert "active" not in draft  # a box left at its default that the document did not have is not written
    busy = draft["results"]["busy"]
    assert busy["value"] == "high" and busy["responses"] == [[109149, 465468], "12-34"]
    assert busy["activist_codes"] == [18917, "x"] and busy["success"] is True and busy["sync_to_van"] is False
    assert "include_in_csv" not in busy and list(draft["results"]) == ["busy"]  # stored without it: kept so
    assert [e.field for e in errors] == ["results[#1]", "results[#2]"]
    assert "listed twice" in errors[1].message and row_of == {"busy": 0}


def test_more_rows_than_the_form_takes_are_refused_not_cut():
    fields = {"rows": str(forms.MAX_ROWS + 1), "r-0-key": "busy"}
    draft, errors, _ = forms.draft_from_form(forms.form_from_post(fields), {})
    assert [e.field for e in errors] == ["results"] and "at most 150 result rows" in errors[0].message
    form = forms.form_from_body("c1", {"results": {"x": {"responses": [{"question": 1, "response": 2}, [3, 4]]}}})
    assert form.rows[0]["responses"] == "1:2, 3:4"  # the import's {question, response} spelling reads as a pair


def test_each_problem_path_has_its_place_in_the_form():
    rows = {"busy": 3, "strong support": 0, "it's": 5}
    where = {
        "sync_hour": "sync_hour",
        "report_webhook_env": "report_webhook_env",
        "slug": "slug",
        "results": "results",
        "results['busy']": "r3",
        "results['busy'].value": "r3-value",
        "results['strong support'].responses[0]": "r0-responses",
        "results['strong support'].activist_codes[1]": "r0-activist_codes",
        "results['busy'].colour": "r3",
        """results["it's"].result_code""": "r5-result_code",
        "results[#7]": "r7",
        "results['unknown'].value": "results",
        "": "",
        "daily_paid_budget_usd": "daily_paid_budget_usd",
    }
    assert {path: forms.slot_of(path, rows) for path in where} == where
    assert forms.by_slot([FieldError("sync_hour", "a"), FieldError("sync_hour", "b")]) == {"sync_hour": ["a", "b"]}


# -- who may use it --------------------------------------------------------------------------------------------------
def test_only_the_data_team_opens_or_saves_the_calls_configuration(calls_site):
    site = calls_site
    store = config_store(site)
    before = store.get_candidate("mo01").version
    data = session_as(site, USERS["data"]["email"])
    page = data.get(f"{site.url}{HOME}")
    assert page.status_code == 200
    assert 'href="/staff/calls"' in page.text  # in the navigation
    for text in ('id="candidate-mo01"', 'id="candidate-mo05"', 'id="instance-MI"', 'id="instance-WI"', "no answer"):
        assert text in page.text
    fields = read_form(data.get(f"{site.url}{HOME}/candidates/mo01").text).fields
    for who in ("north", "fd2"):  # an organizer (FO) and a regional field director
        s = session_as(site, USERS[who]["email"])
        assert 'href="/staff/calls"' not in s.get(f"{site.url}/").text
        for path in (HOME, f"{HOME}/candidates/mo01", f"{HOME}/candidates/mo01/history", f"{HOME}/instances/MI"):
            r = s.get(f"{site.url}{path}")
            assert r.status_code == 403 and "rank DATA" in r.text, path
        r = post_form(s, f"{site.url}{HOME}/candidates/mo01", fields, csrf_token=s.csrf, sync_hour="9")
        assert r.status_code == 403
        r = post_form(s, f"{site.url}{HOME}/instances/MI", {"version": "1", "csrf_token": s.csrf})
        assert r.status_code == 403
    for who in ("intern", "hq"):  # an intern; an HQ field director (sees every office, still not this page)
        s = session_as(site, STAFF[who]["email"])
        assert s.get(f"{site.url}{HOME}").status_code == 403
        r = post_form(s, f"{site.url}{HOME}/candidates/mo01/remove", {"version": str(before), "csrf_token": s.csrf})
        assert r.status_code == 403
        r = post_form(s, f"{site.url}{HOME}/new-candidate", fields, csrf_token=s.csrf, slug="ks03")
        assert r.status_code == 403
    anonymous = post_form(data.__class__(), f"{site.url}{HOME}/candidates/mo01", fields)
    assert anonymous.status_code in (401, 403)
    r = data.__class__().get(f"{site.url}{HOME}", allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    doc = store.get_candidate("mo01")
    assert doc.version == before and doc.body["sync_hour"] == 6 and store.get_candidate("ks03") is None


def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(calls_site):
    site = calls_site
    store = config_store(site)
    s = session_as(site, USERS["data"]["email"])
    url = f"{site.url}{HOME}/candidates/mo05"
    fields = read_form(s.get(url).text).fields
    version = store.get_candidate("mo05").version
    assert post_form(s, url, fields, csrf_token=None, sync_hour="9").status_code == 403
    assert post_form(s, url, fields, csrf_token="forged", sync_hour="9").status_code == 403
    r = s.post(url, data={**fields, "sync_hour": "9"}, headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert r.status_code == 403
    r = post_form(s, f"{url}/remove", {"version": str(version)})
    assert r.status_code == 403
    r = post_form(s, f"{site.url}{HOME}/instances/WI", {"daily_free_requests": "1", "version": "1"})
    assert r.status_code == 403
    assert store.get_candidate("mo05").version == version and not store.get_candidate("mo05").removed
    assert store.get_instance("WI").body["daily_free_requests"] == 1000


# -- validation ------------------------------------------------------------------------------------------------------
def test_every_problem_is_shown_next_to_its_field_and_the_draft_is_kept(calls_site):
    site = calls_site
    store = config_store(site)
    s = session_as(site, USERS["data"]["email"])
    url = f"{site.url}{HOME}/candidates/mo01"
    form = read_form(s.get(url).text)
    fields = form.fields
    before = store.get_candidate("mo01")
    busy, strong = row_index(fields, "busy"), row_index(fields, "strong support")
    blank = int(fields["rows"]) - 1  # the page always offers empty rows
    secret = "https://hooks.slack.com/services/T000/B000/secret-token"
    r = post_form(
        s,
        url,
        fields,
        csrf_token=s.csrf,
        sync_hour="25",
        timezone="Mars/Olympus",
        report_webhook_env=secret,
        **{
            f"r-{busy}-value": "high",
            f"r-{strong}-responses": "109149:999",  # 999 is not a response of question 109149 in VAN
            f"r-{blank}-display_name": "a row without its result",
        },
    )
    assert r.status_code == 400
    page = read_form(r.text)
    inline = {
        "err-sync_hour": "must be at most 23, got 25",
        "err-timezone": "unknown time zone 'Mars/Olympus'",
        "err-report_webhook_env": "webhook URLs are secrets",
        f"err-r{busy}-value": "must be a whole number, got 'high'",
        f"err-r{strong}-responses": "999 is not a response of survey question 109149",
        f"err-r{blank}": "an on-screen result needs a name",
    }
    for element, message in inline.items():
        assert message in page.texts.get(element, ""), (element, page.texts.get(element))
    assert page.texts["problems"].count("\n") >= 1 and "Not saved: 6 problem(s)" in page.texts["problems"]
    # the draft is kept (but the URL typed as a webhook is a secret: never sent back)
    kept = page.fields
    assert kept["sync_hour"] == "25" and kept["timezone"] == "Mars/Olympus" and kept[f"r-{busy}-value"] == "high"
    assert kept[f"r-{strong}-responses"] == "109149:999" and kept["version"] == str(before.version)
    assert kept[f"r-{blank}-display_name"] == "a row without its result"
    assert "secret-token" not in r.text and kept["report_webhook_env"] == ""
    after = store.get_candidate("mo01")
    assert after.version == before.version and after.body == before.body
    # "Check without saving": the same validation, nothing written
    r = post_form(s, url, fields, csrf_token=s.csrf, action="check", sync_hour="7")
    assert r.status_code == 200 and 'id="check-ok"' in r.text and read_form(r.text).fields["sync_hour"] == "7"
    assert store.get_candidate("mo01").version == before.version


def test_a_valid_edit_is_saved_and_the_history_shows_each_field(calls_site):
    site = calls_site
    store = config_store(site)
    s = session_as(site, USERS["data"]["email"])
    url = f"{site.url}{HOME}/candidates/mo05"
    fields = read_form(s.get(url).text).fields
    before = store.get_candidate("mo05")
    busy = row_index(fields, "busy")
    new_row = int(fields["rows"]) - 2
    r = post_form(
        s,
        url,
        fields,
        csrf_token=s.csrf,
        sync_hour="7",
        **{
            f"r-{busy}-value": "5",
            f"r-{new_row}-key": "Call Back (agent)",
            f"r-{new_row}-display_name": "Call back",
            f"r-{new_row}-include_in_csv": "on",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"{HOME}/candidates/mo05"
    saved = s.get(f"{site.url}{r.headers['location']}")
    assert f"Candidate mo05 saved: version {before.version + 1}" in saved.text
    doc = store.get_candidate("mo05")
    assert doc.version == before.version + 1 and doc.updated_by == USERS["data"]["email"]
    assert doc.body["sync_hour"] == 7 and doc.body["results"]["busy"]["value"] == 5
    assert doc.body["results"]["call back"] == {
        "display_name": "Call back",
        "sync_to_van": False,
        "include_in_csv": True,
    }
    assert {k: v for k, v in doc.body.items() if k not in ("sync_hour", "results")} == {
        k: v for k, v in before.body.items() if k not in ("sync_hour", "results")
    }
    history = read_form(s.get(f"{url}/history").text, form_id="-")
    latest = history.texts[f"version-{doc.version}"]
    assert "update" in latest and USERS["data"]["email"] in latest
    assert "sync_hour: 6 → 7" in latest and "results['busy'].value: (not set) → 5" in latest
    assert (
        "results['call back']: (not set) → {display_name: Call back, sync_to_van: false, include_in_csv: true}"
        in latest
    )
    # the same form again changes nothing: no new version
    fields = read_form(s.get(url).text).fields
    r = post_form(s, url, fields, csrf_token=s.csrf)
    assert "Nothing changed" in s.get(f"{site.url}{r.headers['location']}").text
    assert store.get_candidate("mo05").version == doc.version


def test_a_stale_form_is_refused_with_who_saved_meanwhile_and_the_current_values(calls_site):
    site = calls_site
    store = config_store(site)
    dana, dora = session_as(site, USERS["data"]["email"]), session_as(site, STAFF["data2"]["email"])
    url = f"{site.url}{HOME}/candidates/mo01"
    mine, theirs = read_form(dana.get(url).text).fields, read_form(dora.get(url).text).fields
    version = int(mine["version"])
    assert post_form(dora, url, theirs, csrf_token=dora.csrf, display_name="MO-01 (Dora's name)").status_code == 303
    r = post_form(dana, url, mine, csrf_token=dana.csrf, display_name="MO-01 (Dana's name)", sync_hour="8")
    assert r.status_code == 409
    page = read_form(r.text)
    conflict = page.texts["conflict"]
    assert f"dora@example.org saved version {version + 1} at " in conflict and "UTC" in conflict
    assert f"after you opened version {version}" in conflict
    assert page.fields["display_name"] == "MO-01 (Dora's name)" and page.fields["version"] == str(version + 1)
    assert 'display_name: current "MO-01 (Dora\'s name)" · yours "MO-01 (Dana\'s name)"' in page.texts["your-values"]
    assert "sync_hour: current 6 · yours 8" in page.texts["your-values"]
    doc = store.get_candidate("mo01")
    assert doc.version == version + 1 and doc.body["display_name"] == "MO-01 (Dora's name)"
    assert doc.body["sync_hour"] == 6  # never silently overwritten
    # re-applied on the fresh form, it saves
    r = post_form(dana, url, page.fields, csrf_token=dana.csrf, sync_hour="8")
    assert r.status_code == 303 and store.get_candidate("mo01").body["sync_hour"] == 8


# -- create, remove, restore -----------------------------------------------------------------------------------------
def test_a_candidate_is_created_removed_with_confirmation_and_restored(calls_site):
    site = calls_site
    store = config_store(site)
    s = session_as(site, USERS["data"]["email"])
    new = read_form(s.get(f"{site.url}{HOME}/new-candidate?from=mo01").text).fields
    assert new["slug"] == "" and new["display_name"] == "" and new["version"] == "0"
    assert new[f"r-{row_index(new, 'strong support')}-responses"] == "109149:465468"  # copied from mo01
    create = f"{site.url}{HOME}/new-candidate"
    r = post_form(s, create, new, csrf_token=s.csrf, slug="KS 03!", display_name="KS-03")
    assert r.status_code == 400 and "must be lower-case letters" in read_form(r.text).texts["err-slug"]
    r = post_form(s, create, new, csrf_token=s.csrf, slug="mo05", display_name="KS-03")
    assert r.status_code == 409 and "a candidate 'mo05' already exists" in read_form(r.text).texts["conflict"]
    r = post_form(s, create, new, csrf_token=s.csrf, slug="ks03", display_name="KS-03", district="ks03")
    assert r.status_code == 303 and r.headers["location"] == f"{HOME}/candidates/ks03"
    doc = store.get_candidate("ks03")
    assert doc.version == 1 and doc.body["display_name"] == "KS-03"
    assert doc.body["results"] == store.get_candidate("mo01").body["results"]
    assert 'id="candidate-ks03"' in s.get(f"{site.url}{HOME}").text

    confirm = s.get(f"{site.url}{HOME}/candidates/ks03/remove")
    assert confirm.status_code == 200 and "Remove candidate ks03?" in confirm.text
    assert store.get_candidate("ks03").removed is False  # opening the confirmation removes nothing
    remove = read_form(confirm.text, form_id="remove-form").fields
    stale = post_form(s, f"{site.url}{HOME}/candidates/ks03/remove", remove, version="0")
    assert stale.status_code == 409 and "Not saved" in stale.text and not store.get_candidate("ks03").removed
    r = post_form(s, f"{site.url}{HOME}/candidates/ks03/remove", remove)
    assert r.status_code == 303 and r.headers["location"] == HOME
    assert store.get_candidate("ks03").removed and "ks03" not in store.candidate_slugs()
    listing = s.get(f"{site.url}{HOME}").text
    assert 'id="candidate-ks03"' not in listing and "Removed candidates (1)" in listing
    # creating it again is refused (it exists, removed); opening it and saving restores it with its history
    r = post_form(s, create, new, csrf_token=s.csrf, slug="ks03", display_name="KS-03")
    assert r.status_code == 409 and "was removed" in r.text and "restore" in r.text
    page = s.get(f"{site.url}{HOME}/candidates/ks03").text
    assert 'id="removed-note"' in page
    r = post_form(s, f"{site.url}{HOME}/candidates/ks03", read_form(page).fields)
    assert r.status_code == 303 and not store.get_candidate("ks03").removed
    assert [h.action for h in store.history("ks03")] == ["create", "remove", "restore"]
    assert s.get(f"{site.url}{HOME}/candidates/nobody").status_code == 404


# -- VAN budgets -----------------------------------------------------------------------------------------------------
def test_a_van_budget_is_edited_with_the_same_checks_and_versions(calls_site):
    site = calls_site
    store = config_store(site)
    s = session_as(site, USERS["data"]["email"])
    url = f"{site.url}{HOME}/instances/WI"
    fields = read_form(s.get(url).text, form_id="instance-form").fields
    assert fields["daily_free_requests"] == "1000" and fields["usd_per_request"] == "0.01"
    r = post_form(s, url, fields, daily_free_requests="lots", daily_paid_budget_usd="-5")
    assert r.status_code == 400
    page = read_form(r.text, form_id="instance-form")
    assert "must be a whole number, got 'lots'" in page.texts["err-daily_free_requests"]
    assert "must be at least 0.0, got -5.0" in page.texts["err-daily_paid_budget_usd"]
    assert page.fields["daily_free_requests"] == "lots" and "2 problem(s)" in page.texts["problems"]
    r = post_form(s, url, fields, daily_paid_budget_usd="2.50")
    assert r.status_code == 303 and r.headers["location"] == HOME
    listing = s.get(f"{site.url}{HOME}").text
    assert "1,250 requests a day (1,000 free + $2.50 paid (250))" in listing
    doc = store.get_instance("WI")
    assert doc.body["daily_paid_budget_usd"] == 2.5 and doc.updated_by == USERS["data"]["email"]
    r = post_form(s, url, fields, daily_paid_budget_usd="9")  # the form of the version before
    assert r.status_code == 409
    page = read_form(r.text, form_id="instance-form")
    assert "saved version" in page.texts["conflict"] and page.fields["daily_paid_budget_usd"] == "2.5"
    assert store.get_instance("WI").body["daily_paid_budget_usd"] == 2.5
    history = read_form(s.get(f"{url}/history").text, form_id="-").texts[f"version-{doc.version}"]
    assert "daily_paid_budget_usd: 0.0 → 2.5" in history
    assert s.get(f"{site.url}{HOME}/instances/XX").status_code == 404
    term_history = s.get(f"{site.url}{HOME}/term-codes/history")
    assert term_history.status_code == 200 and "create" in term_history.text


def test_an_unusable_configuration_file_is_a_clear_page_not_a_traceback(calls_site, tmp_path, monkeypatch):
    site = calls_site
    s = session_as(site, USERS["data"]["email"])
    bad = tmp_path / "orgsync.yaml"
    bad.write_text("calls:\n  timezone: Mars/Olympus\n")
    monkeypatch.setenv("ORGSYNC_CONFIG", str(bad))  # read per request (the server runs in this process)
    r = s.get(f"{site.url}{HOME}/candidates/mo01")
    assert r.status_code == 500
    assert "the calls section of the configuration file (ORGSYNC_CONFIG) is not usable" in r.text
    assert "unknown time zone 'Mars/Olympus'" in html.unescape(r.text) and "Traceback" not in r.text
    monkeypatch.delenv("ORGSYNC_CONFIG")
    assert s.get(f"{site.url}{HOME}/candidates/mo01").status_code == 200
