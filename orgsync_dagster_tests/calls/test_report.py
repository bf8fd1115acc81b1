"""The report's pieces: drop rate, agent roster, and where messages go (webhook URLs are secrets)."""

from orgsync_dagster.calls import notify, report
from orgsync_dagster.resources.slack import SlackResource
from orgsync_dagster_tests.calls.helpers import settings
from orgsync_dagster_tests.scripted_server import ScriptedServer


def test_drop_rate_is_dropped_over_dropped_plus_contacts():
    rows = [
        {"contact": True, "dropped": None, "n": 45},
        {"contact": None, "dropped": True, "n": 5},
        {"contact": False, "dropped": None, "n": 50},
    ]
    assert report.drop_rate(rows) == {"dropped": 5, "contacts": 45, "rate": 0.1}
    assert report.drop_rate([{"contact": False, "n": 3}]) is None


def test_agent_roster_counts_per_login_without_voters():
    text, agents = report.roster_csv(
        [
            {"caller_login": "caller1", "contact": True, "dropped": None, "service_name": "MO-01 Phone Bank", "n": 3},
            {"caller_login": "caller1", "contact": None, "dropped": True, "service_name": None, "n": 1},
            {"caller_login": "caller2", "contact": False, "dropped": None, "service_name": None, "n": 2},
        ]
    )
    assert agents == 2
    assert text.splitlines() == [
        "Login,Calls,Contacts,Dropped,Services",
        "caller1,4,3,1,MO-01 Phone Bank",
        "caller2,2,0,0,",
    ]


def test_a_webhook_failure_never_shows_its_url(monkeypatch):
    cand = settings("full", report_webhook_env="SLACK_WEBHOOK_C1", success_webhook_env="OK_HOOK").candidate("c1")
    with ScriptedServer() as hooks:
        hooks.answer(404, {"error": "no_service"})
        monkeypatch.setenv("SLACK_WEBHOOK_C1", hooks.url + "services/T0/B0/s3cr3t")
        delivery = notify.send_report(cand, "hello", SlackResource())
        assert (delivery.posted, delivery.note) == (False, "answered 404")
        assert "s3cr3t" not in repr(delivery)
        monkeypatch.delenv("SLACK_WEBHOOK_C1")
        fallback = notify.send_report(cand, "hello", SlackResource())  # no URL configured anywhere: logged only
        assert fallback.target == notify.DEFAULT_CHANNEL and "SLACK_WEBHOOK_C1 is not set" in fallback.note
        missing = notify.notice(cand, "2026-03-05", succeeded=True)
        assert missing.posted is False and "OK_HOOK is not set" in missing.note
        assert notify.notice(cand, "2026-03-05", succeeded=False) is None  # no failure webhook configured
