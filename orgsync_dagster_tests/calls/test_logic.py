import datetime as dt

import pytest

from orgsync_dagster.calls import logic
from orgsync_dagster.calls.config import CallsConfigError, normalize_result, parse_settings
from orgsync_dagster_tests.calls.helpers import call, repo_settings, settings


def test_repo_config_loads_two_demo_candidates():
    s = repo_settings()
    assert {c.strategy for c in s.candidates.values()} == {"full", "hybrid"}
    assert s.budget_for("MI") == 1000 and s.instance("MI").cost_usd(1200) == 2.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"strategy": "sometimes"}, r"candidates.c1.strategy: must be one of"),
        ({"van_instance": None}, "van_instance: is required"),
        ({"van_instance": "XX"}, "not a configured VAN instance"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"van_mode": "other"}, "van_mode: must be"),
        ({"results": {"busy": {"sync_to_van": "yes"}}}, r"results\['busy'\].sync_to_van: must be true or false"),
        ({"results": {"busy": {"colour": 1}}}, "is not a setting of a result"),
        ({"report_webhook_env": "https://hooks.slack.com/services/T/B/secret"}, "webhook URLs are secrets"),
        ({"cdr_date_order": "dd/mm"}, "cdr_date_order: must be month_first"),
        ({"results": {"Busy": {}, "busy ": {}}}, "listed twice"),
        ({"results": {"busy": {"responses": [[1]]}}}, "surveyQuestionId, surveyResponseId"),
    ],
)
def test_bad_config_is_refused_with_a_clear_message(change, message):
    cand = {"district": "d1", "van_instance": "MI", "strategy": "full", **change}
    with pytest.raises(CallsConfigError, match=message):
        parse_settings({"van_instances": {"MI": {}}, "candidates": {"c1": cand}})


def test_normalize_result_drops_case_spaces_and_parenthetical():
    assert normalize_result("  Agent -  Strong Support (12) ") == "agent - strong support"


def test_day_window_is_the_local_day_across_dst():
    start, end = logic.day_window("2026-03-08", "America/Chicago")  # spring forward: 23 hours
    assert start == dt.datetime(2026, 3, 8, 6, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=23)


def test_plan_routes_every_kind_of_call():
    c = settings("full").candidate("c1")
    assert logic.plan_call(call(1, "strong support"), c).route == logic.TO_VAN
    assert logic.plan_call(call(2, "busy"), c).route == logic.TO_CSV
    assert logic.plan_call(call(3, "dropped"), c).route == logic.IGNORED
    unknown = logic.plan_call(call(4, "hung up angrily"), c)
    assert unknown.route == logic.UNATTEMPTED_ERROR and "no configuration" in unknown.error
    no_voter = logic.plan_call(call(5, voter_id=""), c)
    assert no_voter.route == logic.UNATTEMPTED_ERROR and "voter id" in no_voter.error
    bad_voter = logic.plan_call(call(6, voter_id="12ab"), c)
    assert bad_voter.route == logic.UNATTEMPTED_ERROR
    bad_time = logic.plan_call(call(7, timestamp="05/03/2026 25:99"), c)
    assert bad_time.route == logic.UNATTEMPTED_ERROR and "call time" in bad_time.error
    no_result = logic.plan_call(call(8, lv_result="", full_on_screen_result=""), c)
    assert no_result.route == logic.UNATTEMPTED_ERROR


def test_all_csv_sends_nothing_to_van():
    c = settings("all_csv").candidate("c1")
    assert logic.plan_call(call(1, "strong support"), c).route == logic.TO_CSV
    assert logic.plan_call(call(2, "dropped"), c).route == logic.IGNORED


def test_payload_has_phone_context_and_local_call_time():
    c = settings("full").candidate("c1")
    d = logic.plan_call(call(1, "volunteer yes"), c)
    ctx = d.payload["canvassContext"]
    assert ctx["dateCanvassed"] == "2026-03-05T10:01:00-06:00"
    assert ctx["phone"] == {"dialingPrefix": "1", "phoneNumber": "3145550100"} and ctx["contactTypeId"] == 1
    assert d.payload["resultCodeId"] is None
    assert {r["type"] for r in d.payload["responses"]} == {"SurveyResponse", "ActivistCode"}
    refused = logic.plan_call(call(2, "refused", phone_dialed="123"), c).payload
    assert refused["resultCodeId"] == 21 and refused["responses"] is None
    assert "phone" not in refused["canvassContext"]  # not a valid number: not sent


def test_misconfigured_result_is_an_unattempted_error_not_a_crash():
    bad = {"weird": {"success": "yes", "sync_to_van": True}}
    c = settings("full", results=bad).candidate("c1")
    d = logic.plan_call(call(1, "weird"), c)
    assert d.route == logic.UNATTEMPTED_ERROR and "success must be true or false" in d.error


def test_hybrid_keeps_highest_values_within_budget_with_bounded_memory():
    c = settings("hybrid").candidate("c1")
    sel = logic.BudgetSelector(3, "hybrid")
    lost = []
    for i, r in enumerate(["refused", "strong support", "left message", "volunteer yes", "refused", "strong support"]):
        out = sel.offer(logic.plan_call(call(i, r), c))
        if out:
            lost.append(out.result)
        assert len(sel._heap) <= 3
    assert sorted(d.value for d in sel.selected()) == [100, 100, 120]
    assert sorted(lost) == ["left message", "refused", "refused"]


def test_full_strategy_keeps_the_earliest_calls():
    c = settings("full").candidate("c1")
    sel = logic.BudgetSelector(2, "full")
    for i in (5, 1, 3):
        sel.offer(logic.plan_call(call(i), c))
    assert [d.call_id for d in sel.selected()] == ["call00001", "call00003"]
    assert logic.BudgetSelector(0, "hybrid").offer(logic.plan_call(call(1), c)) is not None


def test_resend_only_inside_vans_matching_window():
    now = dt.datetime(2026, 3, 6, 12, tzinfo=dt.UTC)
    assert logic.resend_allowed(now - dt.timedelta(minutes=10), now)
    assert not logic.resend_allowed(now - dt.timedelta(minutes=55), now)
    assert not logic.resend_allowed(None, now)
    assert logic.resend_allowed((now - dt.timedelta(minutes=1)).replace(tzinfo=None), now)  # Mongo's naive UTC


def test_state_machine_transitions():
    assert logic.can_transition(None, logic.IN_PROGRESS)
    assert logic.can_transition(logic.IN_PROGRESS, logic.FINISHED)
    assert logic.can_transition(logic.QUEUED_FOR_CSV, logic.FINISHED)
    assert not logic.can_transition(logic.FINISHED, logic.IN_PROGRESS)
    assert not logic.can_transition(logic.IGNORED, logic.FINISHED)


def test_csv_row_has_the_original_columns_in_new_york_time():
    row = logic.csv_row(call(0), "Strong Support")
    assert len(row) == len(logic.CSV_COLUMNS)
    assert row[5:8] == ["03-05-2026", "11:00 AM", "Strong Support"]
