"""The tracker in a real browser (Debian's Chromium via Playwright): login and office routing, a status flip seen
live by a second organizer, a conflicting edit, a walk-in, a canvass group out -> check-in -> return, the review ->
approve -> van/shift_status_sync -> VAN, another office refused, a POST without CSRF token refused."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import dagster as dg
import pytest
import sqlalchemy as sa

from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster.shifts.assets import (
    all_approved_statuses_synced,
    no_shifts_to_flip_manually,
    van_shift_status_sync,
)
from orgsync_dagster.shifts.partitions import partition_key
from orgsync_dagster.shifts.tables import canvass_groups, edits

from .conftest import NORTH, RIVERSIDE

pytestmark = pytest.mark.slow


def sdc_url(site, office=NORTH, page="sdc"):
    return f"{site.url}/t/MI/{page}?office={quote(office)}"


def north_rows(site):
    return [r for r in site.shifts(office=NORTH) if r["source"] == "van"]


def wait_live(page):
    page.wait_for_function("document.body.classList.contains('live')", timeout=5000)


def test_login_routes_each_rank_to_its_page(login, site):
    organizer = login("north")
    assert "/t/MI/sdc?office=R1A" in organizer.url
    assert organizer.locator("h1").inner_text().startswith("Same Day Confirms")
    names = organizer.locator("tbody[data-list=shift] tr").count()
    assert names == len(site.shifts(office=NORTH)) > 0
    director = login("fd2")
    assert "region=R2" in director.url and "Region R2" in director.locator("h1").inner_text()
    admin = login("data")
    assert admin.url.endswith("/dashboard")
    assert admin.locator("#dashboard-table tr.level-state").count() >= 1
    assert "MI total" in admin.locator("#dashboard-table").inner_text()


def test_a_status_flip_is_seen_by_a_second_browser(login, site):
    row = north_rows(site)[0]
    a, b = login("north"), login("north2")
    for p in (a, b):
        p.goto(sdc_url(site))
        wait_live(p)
    b.wait_for_function("document.querySelectorAll('#presence .viewer').length >= 2", timeout=5000)
    assert {"NN", "NB"} <= set(b.locator("#presence .viewer").all_inner_texts())
    started = time.monotonic()
    a.select_option(f"#shift-{row['id']} select.status", "Same Day Confirmed")
    b.wait_for_function(
        f"document.querySelector('#shift-{row['id']} select.status').value === 'Same Day Confirmed'", timeout=3000
    )
    seen_after = time.monotonic() - started
    assert b.locator(f"#shift-{row['id']} .who").inner_text() == "Nora North"
    assert seen_after < 3
    (fresh,) = site.shifts(id=row["id"])
    assert fresh["status"] == "Same Day Confirmed" and fresh["version"] == row["version"] + 1
    with site.engine.connect() as conn:
        audit = conn.execute(
            sa.select(edits.c.field, edits.c.old_value, edits.c.new_value, edits.c.user_email).where(
                edits.c.entity == "shift", edits.c.entity_id == row["id"]
            )
        ).all()
    assert [tuple(a) for a in audit] == [("status", row["status"], "Same Day Confirmed", "nora@example.org")]


def test_a_conflicting_edit_is_refused_with_the_fresh_row(login, site, browser):
    row = north_rows(site)[1]
    a = login("north")
    b = login("north2")
    b.context.route(re.compile(r".*/live\?.*"), lambda route: route.abort())  # b's page never hears of a's edit
    for p in (a, b):
        p.goto(sdc_url(site))
    a.select_option(f"#shift-{row['id']} select.status", "No Show")
    a.wait_for_function(f"document.querySelector('#shift-{row['id']}').dataset.version == '{row['version'] + 1}'")
    b.select_option(f"#shift-{row['id']} select.status", "Completed")  # made from the stale page
    b.wait_for_selector(f"#shift-{row['id']}.conflict")
    assert b.locator(f"#shift-{row['id']} select.status").input_value() == "No Show"  # the fresh row is shown
    assert "Not saved" in b.locator("#flash").inner_text() and "Nora North" in b.locator("#flash").inner_text()
    (fresh,) = site.shifts(id=row["id"])
    assert fresh["status"] == "No Show" and fresh["flake"] is True  # never silently overwritten
    # and the refused edit was not audited
    with site.engine.connect() as conn:
        values = conn.execute(
            sa.select(edits.c.new_value).where(edits.c.entity_id == row["id"], edits.c.field == "status")
        ).scalars()
        assert list(values) == ["No Show"]


def test_a_walk_in_is_added_and_recognised_again(login, site):
    page = login("north")
    watcher = login("north2")
    watcher.goto(sdc_url(site))
    wait_live(watcher)
    page.goto(sdc_url(site, page="walkins"))
    page.fill("#walk-in input[name=first_name]", "Wanda")
    page.fill("#walk-in input[name=last_name]", "Walker")
    page.fill("#walk-in input[name=phone]", "(314) 555-0199")
    page.select_option("#walk-in select[name=activity]", "Canvassing")
    page.select_option("#walk-in select[name=slot]", "13:00")
    page.click("#walk-in button")
    assert "Wanda Walker is In at 13:00 (new volunteer)" in page.locator("#flash").inner_text()
    assert "Wanda Walker" in page.locator("#live-region").inner_text()
    (shift,) = site.shifts(first_name="Wanda")
    assert shift["status"] == "In" and shift["source"] == "walk_in" and shift["office"] == NORTH
    watcher.wait_for_selector(f"#shift-{shift['id']}", timeout=3000)  # appears live on the other organizer's SDC
    # the same person again at another slot: recognised by first + last name + phone, not a second volunteer
    page.fill("#walk-in input[name=first_name]", "wanda")
    page.fill("#walk-in input[name=last_name]", "WALKER")
    page.fill("#walk-in input[name=phone]", "314-555-0199")
    page.select_option("#walk-in select[name=slot]", "16:00")
    page.click("#walk-in button")
    assert "(known volunteer)" in page.locator("#flash").inner_text()
    both = site.shifts(volunteer_id=shift["volunteer_id"])
    assert len(both) == 2
    # a form the server refuses says why, and adds nothing
    page.fill("#walk-in input[name=first_name]", "No")
    page.fill("#walk-in input[name=last_name]", "Phone")
    page.fill("#walk-in input[name=phone]", "")
    page.click("#walk-in button")
    assert "give a VAN id or a phone number" in page.locator("#flash").inner_text()
    assert not site.shifts(first_name="No")


def test_a_canvass_group_goes_out_checks_in_and_returns(login, site):
    members = north_rows(site)[2:4]
    page = login("north")
    page.goto(sdc_url(site))
    for m, status in zip(members, ("In", "Same Day Confirmed")):
        page.select_option(f"#shift-{m['id']} select.status", status)
        page.wait_for_function(f"document.querySelector('#shift-{m['id']}').dataset.version > '{m['version']}'")
    page.goto(sdc_url(site, page="kph"))
    for m in members:
        page.check(f"#new-group input[value='{m['id']}']")
    page.fill("#new-group input[name=goal]", "60")
    page.click("#new-group button")
    assert "created with 2 canvasser(s)" in page.locator("#flash").inner_text()
    group = page.locator("section.group").last
    gid = group.get_attribute("data-id")
    group.locator("button", has_text="Send out").click()
    page.wait_for_selector(f"#canvass_group-{gid} >> text=Next check-in due")
    with site.engine.connect() as conn:
        g = conn.execute(sa.select(canvass_groups).where(canvass_groups.c.id == int(gid))).one()
    assert round((g.next_check_in_at - g.departed_at).total_seconds() / 60) == 45
    assert {s["status"] for s in site.shifts(canvass_group_id=int(gid))} == {"In"}  # SDC went out as In
    section = page.locator(f"#canvass_group-{gid}")
    section.locator("form:has(input[value=check_in]) input[name=doors]").fill("25")
    section.locator("form:has(input[value=check_in]) button").click()
    page.wait_for_function(f"document.querySelector('#canvass_group-{gid} .doors').textContent === '25'")
    assert "1 check-in(s)" in page.locator(f"#canvass_group-{gid}").inner_text()
    section = page.locator(f"#canvass_group-{gid}")
    section.locator("form:has(input[value=return]) input[name=doors]").fill("41")
    section.locator("form:has(input[value=return]) button").click()
    page.wait_for_function(
        f"document.querySelector('#canvass_group-{gid} .group-state').textContent.startsWith('returned')"
    )
    assert page.locator(f"#canvass_group-{gid} .doors").inner_text() == "41"
    assert {s["status"] for s in site.shifts(canvass_group_id=int(gid))} == {"Completed"}
    assert "Send out again" in page.locator(f"#canvass_group-{gid}").inner_text()


def test_review_approve_then_status_sync_changes_van(login, site, sandbox):
    rows = north_rows(site)[4:7]
    approved, left_out = rows[:2], rows[2:]
    page = login("north")
    page.goto(sdc_url(site))
    for r, status in zip(rows, ("Completed", "No Show", "Declined")):
        page.select_option(f"#shift-{r['id']} select.status", status)
        page.wait_for_function(f"document.querySelector('#shift-{r['id']}').dataset.version > '{r['version']}'")
    page.goto(sdc_url(site, page="review"))
    for r in rows:
        assert "to approve" in page.locator(f"#review-{r['id']}").inner_text()
    for r in approved:
        page.check(f"#review-{r['id']} input[type=checkbox]")
    page.click("#review-form button[value=approve]")
    assert "2 shift(s) approved for VAN" in page.locator("#flash").inner_text()
    for r in approved:
        assert "waits for the nightly sync" in page.locator(f"#review-{r['id']}").inner_text()

    before = {s["eventSignupId"]: s["status"]["name"] for s in sandbox.van.dump(site.api_key)["signups"]}
    van = VanResource(api_keys=json.dumps({"MI": site.api_key}), base_url=sandbox.urls.van_url, requests_per_second=100)
    with ThreadPoolExecutor(1) as pool:  # Dagster off the browser driver's thread (it runs an event loop)
        result = pool.submit(
            dg.materialize,
            [van_shift_status_sync, all_approved_statuses_synced, no_shifts_to_flip_manually],
            partition_key=partition_key(site.day, "MI"),
            resources={
                "warehouse": WarehouseResource(url=site.pg_url),
                "van": van,
                "orgsync_config": OrgsyncConfigResource(),
            },
        ).result()
    assert result.success
    meta = result.asset_materializations_for_node("van__shift_status_sync")[0].metadata
    assert meta["statuses_sent"].value == meta["requests_spent"].value == 2  # one request per approved signup
    after = {s["eventSignupId"]: s["status"]["name"] for s in sandbox.van.dump(site.api_key)["signups"]}
    assert {k for k in after if after[k] != before[k]} == {r["event_signup_id"] for r in approved}
    assert after[approved[0]["event_signup_id"]] == "Completed" and after[approved[1]["event_signup_id"]] == "No Show"
    page.reload()
    for r in approved:
        assert "sent to VAN" in page.locator(f"#review-{r['id']}").inner_text()
    assert "to approve" in page.locator(f"#review-{left_out[0]['id']}").inner_text()  # never sent unapproved


def test_another_office_is_refused(login, site):
    page = login("north")
    response = page.goto(sdc_url(site, RIVERSIDE))
    assert response.status == 403
    assert "you do not have access to R2B - Riverside" in page.locator("#error-message").inner_text()
    river = [r for r in site.shifts(office=RIVERSIDE)][0]
    page.goto(sdc_url(site))
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    status = page.evaluate(
        """async ([url, token, version]) => {
            const body = new FormData();
            body.append("field", "status"); body.append("value", "No Show"); body.append("version", version);
            const r = await fetch(url, {method: "POST", body, headers: {"X-CSRF-Token": token, Accept: "application/json"}});
            return [r.status, (await r.json()).error];
        }""",
        [f"/t/MI/shift/{river['id']}?office={quote(NORTH)}", token, str(river["version"])],
    )
    assert status == [403, "this shift belongs to an office you do not work in"]
    assert site.shifts(id=river["id"])[0]["status"] == river["status"]  # nothing written
    assert page.goto(f"{site.url}/users").status == 403 and page.goto(f"{site.url}/dashboard").status == 403


def test_a_post_without_csrf_token_is_refused(login, site):
    row = north_rows(site)[7] if len(north_rows(site)) > 7 else north_rows(site)[-1]
    page = login("north")
    page.goto(sdc_url(site))
    result = page.evaluate(
        """async ([url, version]) => {
            const body = new FormData();
            body.append("field", "call_pass"); body.append("value", "+1"); body.append("version", version);
            const r = await fetch(url, {method: "POST", body, headers: {Accept: "application/json"}});
            return [r.status, (await r.json()).error];
        }""",
        [f"/t/MI/shift/{row['id']}?office={quote(NORTH)}", str(row["version"])],
    )
    assert result[0] == 403 and "CSRF" in result[1]
    assert site.shifts(id=row["id"])[0]["call_pass"] == row["call_pass"]
    # the same request with the page's token goes through
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    ok = page.evaluate(
        """async ([url, version, token]) => {
            const body = new FormData();
            body.append("field", "call_pass"); body.append("value", "+1"); body.append("version", version);
            const r = await fetch(url, {method: "POST", body, headers: {Accept: "application/json", "X-CSRF-Token": token}});
            return r.status;
        }""",
        [f"/t/MI/shift/{row['id']}?office={quote(NORTH)}", str(site.shifts(id=row["id"])[0]["version"]), token],
    )
    assert ok == 200 and site.shifts(id=row["id"])[0]["call_pass"] == row["call_pass"] + 1


def test_kph_page_learns_live_who_can_go_out(login, site):
    row = north_rows(site)[-1]
    kph, sdc = login("north"), login("north2")
    kph.goto(sdc_url(site, page="kph"))
    wait_live(kph)
    assert kph.locator(f"#new-group input[value='{row['id']}']").count() == 0
    sdc.goto(sdc_url(site))
    sdc.select_option(f"#shift-{row['id']} select.status", "In")
    kph.wait_for_selector(f"#new-group input[value='{row['id']}']", state="attached", timeout=3000)
