"""`orgsync demo` end to end: what the README's first command runs."""

import re

import pytest

from orgsync_dagster.demo import run_demo
from orgsync_dagster.lib import pg_test_server


@pytest.mark.slow
def test_demo_runs_every_domain_and_reruns_spend_nothing(capfd):
    lines = []
    admin, _where = pg_test_server.admin_url()
    report = run_demo(warehouse_url=admin, say=lines.append)
    assert report["runs"]["failed"] == 0 and report["runs"]["total"] >= 15
    events = report["domains"]["events"]
    assert events["first run: VAN events created"] > 0 and events["re-run: VAN events created"] == 0
    membership = report["domains"]["membership"]
    assert membership["re-run of week 2: Action Network requests"] == 0
    calls = report["domains"]["calls"]
    assert calls["re-run mo01 VAN requests"] == 0 and calls["re-run mo05 VAN requests"] == 0
    shifts = report["domains"]["shifts"]
    assert shifts["nightly re-run: statuses synced to VAN / requests"] == "0 / 0"
    assert {r["system"] for r in report["requests"]} == {"van", "action_network"}
    text = "\n".join(lines)
    out, err = capfd.readouterr()
    assert " - dagster - " not in out + err  # nothing else was printed around the report
    assert "Requests spent today" in text and "free requests a day" in text
    assert "Action Network: " in text and "not billed" in text
    # a report for people: no log lines anywhere, no Python literals in the report
    assert not re.search(r" - (DEBUG|INFO|WARNING|ERROR) - |^\d{4}-\d\d-\d\d \d\d:\d\d", text, re.M), text
    summary = text[text.index("== What happened ==") :]
    assert "{'" not in summary and "['" not in summary, summary
    # no secret or personal data in what the demo prints
    assert "demo-mi-key" not in text and "demo-an-key" not in text
    assert not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", text), "an e-mail address was printed"
