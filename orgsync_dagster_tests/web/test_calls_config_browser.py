"""The calls configuration page in a real browser (Debian's Chromium via Playwright, the page's Content-Security-
Policy enforced): an invalid edit shows each problem next to its field, the fix is saved and the history shows it;
a conflicting edit from a second browser is refused with the fresh values; and the figure of issue 9 - a change
made in the web app is used by the next calls run, in the same process, with no restart."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from orgsync_dagster.calls import seed
from orgsync_dagster.calls.assets import call_sync_status, every_call_final
from orgsync_dagster.calls.jobs import calls_sync_job
from orgsync_dagster.calls.partitions import candidate_partitions, partition_key
from orgsync_dagster.calls.reference_assets import van_reference_data_asset
from orgsync_dagster.calls.report_assets import calls_daily_report
from orgsync_dagster.resources.calls_store import CallsStoreResource
from orgsync_dagster.resources.config import OrgsyncConfigResource
from orgsync_dagster.resources.livevox import LivevoxResource
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster.resources.van import VanResource
from orgsync_dagster.resources.warehouse import WarehouseResource
from orgsync_dagster_tests.calls.conftest import AWS_ENV, write_config

from .conftest import USERS, dev_logins
from .test_calls_config_support import STAFF, calls_site, config_store

_ = calls_site  # the fixture is used by name
pytestmark = pytest.mark.slow
DAY, NEXT_DAY = "2026-03-05", "2026-03-06"


@pytest.fixture
def login_as(browser, calls_site):
    """``login_as(email)`` -> a page logged in (own browser context, own cookies; the CSP is enforced)."""
    with dev_logins(browser, calls_site.url) as make:
        yield make


def row_of(page, key: str) -> str:
    """The index of the result row showing ``key`` (its inputs are named ``r-<i>-...``)."""
    name = page.locator(f"#result-rows input[name$='-key'][value='{key}']").get_attribute("name")
    return name.split("-")[1]


def test_an_invalid_edit_shows_each_problem_inline_then_the_fix_is_saved_and_in_the_history(login_as, calls_site):
    site = calls_site
    store = config_store(site)
    before = store.get_candidate("mo01")
    page = login_as(USERS["data"]["email"])
    page.click("header nav a:text('Calls configuration')")
    assert page.locator("#candidate-mo01 .version").inner_text() == str(before.version)
    page.click("#candidate-mo01 a:text('Edit')")
    busy = row_of(page, "busy")
    page.fill("#f-sync_hour", "25")
    page.fill(f"#f-r{busy}-value", "high")
    page.fill("#f-report_webhook_env", "https://hooks.slack.com/services/T0/B0/secret-token")
    page.click("#save")
    assert "Not saved: 3 problem(s)" in page.locator("#problems").inner_text()
    assert "must be at most 23, got 25" in page.locator("#err-sync_hour").inner_text()
    assert "must be a whole number, got 'high'" in page.locator(f"#err-r{busy}-value").inner_text()
    assert "webhook URLs are secrets" in page.locator("#err-report_webhook_env").inner_text()
    assert page.locator("#f-sync_hour").get_attribute("aria-invalid") == "true"
    assert page.input_value("#f-sync_hour") == "25" and page.input_value(f"#f-r{busy}-value") == "high"  # kept
    assert "secret-token" not in page.content()
    page.click("#problems a[data-slot='sync_hour']")  # a problem in the list leads to its field
    assert page.evaluate("document.activeElement.id") == "f-sync_hour"
    assert store.get_candidate("mo01").version == before.version

    page.fill("#f-sync_hour", "7")
    page.fill(f"#f-r{busy}-value", "15")
    page.fill("#f-report_webhook_env", "SLACK_WEBHOOK_MO01")
    page.click("#add-result")  # the page's script adds a row (the CSP allows only the app's own files)
    new = int(page.locator("input[name=rows]").input_value()) - 1
    page.fill(f"#f-r{new}-key", "Call Back")
    page.fill(f"#f-r{new}-display_name", "Call back later")
    page.check(f"#f-r{new}-include_in_csv")
    page.click("#save")
    version = before.version + 1
    assert f"Candidate mo01 saved: version {version}" in page.locator("#flash").inner_text()
    assert page.locator("#doc-version").inner_text().startswith(f"version {version} · saved by dana@example.org")
    page.click("#history-link")
    latest = page.locator(f"#version-{version}").inner_text()
    assert "dana@example.org" in latest and "sync_hour: 6 → 7" in latest
    assert "results['busy'].value: (not set) → 15" in latest and "results['call back']" in latest
    doc = store.get_candidate("mo01")
    assert doc.body["sync_hour"] == 7 and doc.body["results"]["busy"]["value"] == 15
    assert doc.body["results"]["call back"]["display_name"] == "Call back later"


def test_a_conflicting_edit_from_a_second_browser_is_refused_with_the_fresh_values(login_as, calls_site):
    site = calls_site
    store = config_store(site)
    url = f"{site.url}/staff/calls/candidates/mo01"
    dana, dora = login_as(USERS["data"]["email"]), login_as(STAFF["data2"]["email"])
    for p in (dana, dora):
        p.goto(url)
    version = int(dana.locator("#candidate-form input[name=version]").input_value())
    dana.fill("#f-display_name", "MO-01 (renamed by Dana)")
    dana.click("#save")
    assert f"version {version + 1}" in dana.locator("#flash").inner_text()
    dora.fill("#f-bulk_import_threshold", "50")  # made on the page opened before Dana's save
    dora.click("#save")
    conflict = dora.locator("#conflict").inner_text()
    assert f"dana@example.org saved version {version + 1}" in conflict and "Not saved" in conflict
    assert dora.input_value("#f-display_name") == "MO-01 (renamed by Dana)"  # the fresh values are shown
    assert dora.input_value("#f-bulk_import_threshold") == "20"
    assert dora.locator("#candidate-form input[name=version]").input_value() == str(version + 1)
    assert "bulk_import_threshold: current 20 · yours 50" in dora.locator("#your-values").inner_text()
    doc = store.get_candidate("mo01")
    assert doc.version == version + 1 and doc.body["bulk_import_threshold"] == 20  # never silently overwritten
    dora.fill("#f-bulk_import_threshold", "50")  # made again on the fresh values, it saves
    dora.click("#save")
    assert f"version {version + 2}" in dora.locator("#flash").inner_text()
    doc = store.get_candidate("mo01")
    assert doc.body["bulk_import_threshold"] == 50 and doc.body["display_name"] == "MO-01 (renamed by Dana)"


# -- the figure: config edit to next run -----------------------------------------------------------------------------
@pytest.fixture
def calls_job(calls_site, sandbox, tmp_path, monkeypatch):
    """The calls sync job (``calls_sync``: reference data + config check, the sync, the report) on the web app's
    warehouse, with the sandbox for VAN and S3 and an in-process calls store."""
    for k, v in AWS_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    bucket = f"calls-web-{uuid.uuid4().hex[:8]}"
    s3 = S3Resource(endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    s3.get_client().create_bucket(Bucket=bucket)
    key = f"calls-fig-{uuid.uuid4().hex[:8]}"
    calls = CallsStoreResource(uri=f"mongomock://{uuid.uuid4().hex}")
    defs = dg.Definitions(
        assets=[van_reference_data_asset, call_sync_status, calls_daily_report],
        asset_checks=[every_call_final],
        jobs=[calls_sync_job],
        resources={
            "orgsync_config": OrgsyncConfigResource(path=write_config(tmp_path / "orgsync.yaml", s3_bucket=bucket)),
            "warehouse": WarehouseResource(url=calls_site.pg_url),
            "s3": s3,
            "calls_store": calls,
            "slack": SlackResource(),
            "van": VanResource(
                api_keys=f"MI={key},WI={key}-wi", base_url=sandbox.urls.van_url, requests_per_second=500
            ),
            "livevox": LivevoxResource(
                base_url=sandbox.urls.van_url.replace("/v4/", "/livevox/"),
                access_token=f"lv-{key}",
                client_name="jd",
                user_name="api",
                password="pw",
            ),
        },
    )
    return defs.resolve_job_def("calls_sync"), calls


def run_sync(job, instance, slug: str, day: str) -> dict:
    """One run of the calls sync job for a candidate-day (off the browser driver's thread: it runs an event loop);
    the metadata of its ``calls/call_sync_status`` materialization."""
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(job.execute_in_process, partition_key=partition_key(slug, day), instance=instance).result()
    assert result.success
    (mat,) = result.asset_materializations_for_node("calls__call_sync_status")
    return {k: v.value for k, v in mat.metadata.items()}


def test_a_change_made_in_the_web_app_is_used_by_the_next_run_without_a_restart(login_as, calls_site, calls_job):
    job, calls = calls_job
    store = config_store(calls_site)
    mo05 = store.load_settings().candidate("mo05")
    for day, seed_no in ((DAY, 5), (NEXT_DAY, 6)):
        calls.insert_many(list(seed.sample_calls(mo05.district, day, mo05.timezone, 40, seed=seed_no)))
    before = store.get_candidate("mo05")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(candidate_partitions.name, ["mo05"])
        first = run_sync(job, instance, "mo05", DAY)
        assert first["config_version"] == before.version and first["strategy"] == "hybrid"
        assert first["van_requests_spent_this_run"] > 0 and first["planned_calls_by_route"]["van"] > 0

        # a staff member switches mo05 to CSV only on the page; the web server runs in this same process
        page = login_as(USERS["data"]["email"])
        page.goto(f"{calls_site.url}/staff/calls/candidates/mo05")
        page.select_option("#f-strategy", "all_csv")
        page.click("#save")
        assert f"Candidate mo05 saved: version {before.version + 1}" in page.locator("#flash").inner_text()

        second = run_sync(job, instance, "mo05", NEXT_DAY)  # the same process, web server and Dagster instance
    assert second["config_version"] == before.version + 1 and second["strategy"] == "all_csv"
    assert second["van_requests_spent_this_run"] == 0 and second["planned_calls_by_route"].get("van", 0) == 0
    assert second["planned_calls_by_route"]["csv"] > 0
    (latest,) = store.history("mo05")[-1:]
    assert latest.changed_by == USERS["data"]["email"]
    assert latest.changes == [{"field": "strategy", "old": "hybrid", "new": "all_csv"}]
