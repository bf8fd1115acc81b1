import datetime as dt

from orgsync_dagster.events import logic
from orgsync_dagster.events.seed import sample_events
from orgsync_dagster.events.settings import EventsSettings

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)
SETTINGS = EventsSettings(event_type_campaigns={"Barnstorm": [1], "Canvass": [2]}, instances=["MI", "WI"])
TYPES = [
    {
        "eventTypeId": 10,
        "name": "Barnstorm",
        "roles": [
            {"roleId": 1, "name": "Host"},
            {"roleId": 2, "name": "Participant"},
            {"roleId": 3, "name": "Canvasser"},
        ],
    },
    {"eventTypeId": 11, "name": "Canvass", "roles": [{"roleId": 1, "name": "Host"}]},
]


def ak(**kw):
    row = {
        "id": 5,
        "title": "Kickoff",
        "venue": "Union Hall",
        "address1": "1 Main St",
        "city": "Detroit",
        "state": "MI",
        "zip": "48201",
        "country": "United States",
        "starts_at_utc": dt.datetime(2026, 12, 1, 23, 0),
        "ends_at_utc": None,
        "timezone": "America/Detroit",
        "status": "active",
        "host_is_confirmed": 1,
        "campaign_id": 1,
    }
    row.update(kw)
    return row


def test_eligible_event_keeps_its_timezone_and_defaults_to_one_hour():
    v = logic.validate_event(ak(), SETTINGS, NOW)
    assert v.eligible and v.instance == "MI" and v.event_type_name == "Barnstorm"
    assert v.payload["start"] == "2026-12-01T18:00:00-05:00"  # 23:00 UTC in Detroit, offset kept
    assert v.payload["end"] == "2026-12-01T19:00:00-05:00"


def test_ineligible_reasons_are_all_listed():
    v = logic.validate_event(
        ak(host_is_confirmed=0, status="cancelled", campaign_id=9, state="OH", starts_at_utc=dt.datetime(2026, 1, 1)),
        SETTINGS,
        NOW,
    )
    assert not v.eligible and not v.quarantined
    for part in ("host not confirmed", "status is cancelled", "campaign 9", "already started", "state OH"):
        assert part in v.reason


def test_unusable_rows_are_quarantined_with_a_reason():
    cases = {
        "missing title": ak(title="  "),
        "missing starts_at_utc": ak(starts_at_utc=None),
        "not after": ak(ends_at_utc=dt.datetime(2026, 12, 1, 22, 0)),
        "unknown timezone": ak(timezone="Mars/Olympus"),
        "malformed time": ak(starts_at_utc="yesterday-ish"),
    }
    for expected, row in cases.items():
        v = logic.validate_event(row, SETTINGS, NOW)
        assert v.quarantined and not v.eligible and expected in v.reason, (expected, v.reason)


def test_location_name_is_truncated_to_50_chars():
    loc = logic.location_of(ak(venue="V" * 80))
    assert len(loc["name"]) == 50 and loc["address"]["zipOrPostalCode"] == "48201"
    assert loc["address"]["countryCode"] == "US"
    assert logic.location_of(ak(venue="", address1="", city="", zip="", postal="")) is None


def _validated(rows):
    return [logic.validate_event(r, SETTINGS, NOW).as_row() for r in rows]


def test_plan_creates_missing_updates_changed_and_counts_requests():
    rows = [ak(id=1), ak(id=2), ak(id=3, venue="Other place")]
    validated = _validated(rows)
    mirror = {
        2: {
            "van_event_id": 900,
            "title": "Kickoff",
            "starts_at": dt.datetime(2026, 12, 1, 23, tzinfo=dt.UTC),
            "ends_at": dt.datetime(2026, 12, 2, 0, tzinfo=dt.UTC),
            "venue": "Union Hall",
            "raw": {},
        }
    }
    plan = logic.plan_instance(validated, mirror, TYPES, SETTINGS, known_locations=set())
    assert [(o.key, o.action) for o in plan.ops] == [("1", "create"), ("3", "create")]
    assert plan.unchanged == 1 and plan.new_locations == 2
    assert sum(o.cost for o in plan.ops) == 4  # 2 creates + 2 distinct locations
    mirror[2]["title"] = "Old title"
    plan = logic.plan_instance(validated, mirror, TYPES, SETTINGS, known_locations=set())
    update = next(o for o in plan.ops if o.action == "update")
    assert update.key == "2" and update.reason == "title changed" and update.cost == 1


def test_same_location_is_looked_up_once_and_known_ones_cost_nothing():
    validated = _validated([ak(id=i) for i in range(1, 6)])
    plan = logic.plan_instance(validated, {}, TYPES, SETTINGS, known_locations=set())
    assert plan.new_locations == 1 and sum(o.cost for o in plan.ops) == 6
    key = plan.ops[0].context["location_key"]
    plan = logic.plan_instance(validated, {}, TYPES, SETTINGS, known_locations={key})
    assert sum(o.cost for o in plan.ops) == 5


def test_missing_event_type_is_a_clear_problem_and_blocks_only_its_events():
    validated = _validated([ak(id=1), ak(id=2, campaign_id=2)])
    plan = logic.plan_instance(validated, {}, TYPES[:1], SETTINGS, known_locations=set())
    assert [o.key for o in plan.ops] == ["1"] and plan.blocked == 1
    assert "'Canvass' does not exist" in plan.problems[0] and "Barnstorm" in plan.problems[0]


def test_create_payload_matches_the_original_conventions():
    validated = _validated([ak(id=77)])
    op = logic.plan_instance(validated, {}, TYPES, SETTINGS, known_locations=set()).ops[0]
    body = logic.create_payload(op.key, op.payload, op.context, 321, "Single Shift")
    assert body["shortName"] == "77" and body["eventType"] == {"eventTypeId": 10}
    assert body["roles"] == [{"roleId": 1}, {"roleId": 2}]  # Host and Participant only
    assert body["shifts"] == [{"name": "Single Shift", "startTime": body["startDate"], "endTime": body["endDate"]}]
    assert body["locations"] == [{"locationId": 321}] and body["isOnlyEditableByCreatingUser"] is False


def test_settings_reject_bad_maps():
    import pytest

    with pytest.raises(ValueError, match="two event types"):
        EventsSettings.from_config({"event_type_campaigns": {"A": [1], "B": [1]}}, ["MI"])
    with pytest.raises(ValueError, match="must map"):
        EventsSettings.from_config({}, ["MI"])


def test_sample_data_covers_every_branch():
    vs = [logic.validate_event(r, SETTINGS, dt.datetime.now(dt.UTC)) for r in sample_events(40)]
    assert sum(v.eligible for v in vs) > 15 and any(v.quarantined for v in vs)
    assert any(v.reason and "host not confirmed" in v.reason for v in vs)


def test_cancelled_event_that_van_still_has_is_cancelled_once():
    validated = _validated([ak(id=1, status="cancelled"), ak(id=2, status="deleted"), ak(id=3, status="cancelled")])
    assert all(v["cancelled"] and not v["eligible"] for v in validated)
    mirror = {1: {"van_event_id": 901, "is_active": True}, 2: {"van_event_id": 902, "is_active": False}}
    plan = logic.plan_instance(validated, mirror, TYPES, SETTINGS, known_locations=set())
    # 1 is active in VAN -> one cancel; 2 is already inactive; 3 never reached VAN
    assert [(o.key, o.action, o.context["van_event_id"], o.cost) for o in plan.ops] == [("1", "cancel", 901, 1)]
    assert plan.ops[0].reason == "cancelled in ActionKit"
