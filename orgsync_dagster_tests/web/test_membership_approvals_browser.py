"""The membership approvals page in a real browser (Debian's Chromium via Playwright, the page's Content-Security-
Policy enforced): a DATA user opens it from the staff navigation, sees the blocked export with its counts, is told
a note is required, approves with a note, and the decision is recorded (who, when, note) and shown in the history."""

from __future__ import annotations

import pytest

from orgsync_dagster.membership import approvals, store

from .conftest import USERS, dev_logins
from .membership_approvals_support import SECRET_EMAIL, seed_blocked

pytestmark = pytest.mark.slow


@pytest.fixture
def login_as(browser, site):
    """``login_as(email)`` -> a page logged in (own browser context, own cookies; the CSP is enforced)."""
    with dev_logins(browser, site.url) as make:
        yield make


def test_a_data_user_approves_a_blocked_export_with_a_note(login_as, site):
    pk = seed_blocked(site.engine, older=2000, newer=1500, lapsed=520, quarantined=4)
    page = login_as(USERS["data"]["email"])
    page.click("header nav a:text('Membership approvals')")
    row = page.locator(f"#waiting tr[data-export='{pk}']")
    assert row.locator(".lapsed").inner_text().startswith("520")
    assert row.locator(".quarantined").inner_text() == "4"
    assert "520 of 2000 members lapsed" in row.locator(".reason").inner_text()
    assert SECRET_EMAIL not in page.content()
    row.locator("button.approve").click()  # no note: refused by the server, nothing recorded
    page.wait_for_selector("#decision-error")
    assert "a note (--note: what was checked) is required" in page.locator("#decision-error").inner_text()
    assert store.latest_decision(site.engine, pk) is None
    row = page.locator(f"#waiting tr[data-export='{pk}']")
    row.locator("textarea[name=note]").fill("national confirmed 520 lapsed after the dues audit")
    row.locator("button.approve").click()
    page.wait_for_selector("#flash .flash")
    assert f"{pk} approved (decision" in page.locator("#flash").inner_text()
    assert page.locator(f"#waiting tr[data-export='{pk}']").count() == 0
    recorded = store.latest_decision(site.engine, pk)
    assert recorded["decision"] == "approve" and recorded["decided_by"] == USERS["data"]["full_name"]
    assert recorded["note"] == "national confirmed 520 lapsed after the dues audit" and recorded["decided_at"]
    entry = page.locator(f"#decision-{recorded['id']}")
    assert entry.locator(".decision").inner_text() == "approved"
    assert entry.locator(".by").inner_text() == USERS["data"]["full_name"]
    assert entry.locator(".note").inner_text() == "national confirmed 520 lapsed after the dues audit"
    assert pk not in [e.partition_key for e in approvals.pending(site.engine)]
