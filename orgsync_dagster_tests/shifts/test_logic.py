"""Pure logic of the shifts domain: participants, import selection, status mapping, change detection, metrics and
the nightly state machine. No database, no HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from orgsync_dagster.resources.http import ApiError
from orgsync_dagster.shifts import logic, metrics, nightly
from orgsync_dagster.shifts.settings import NO_OFFICE, ShiftsSettings

S = ShiftsSettings.from_config(
    {
        "timezone": "America/Chicago",
        "status_aliases": {"Same Day Confirmed": "Confirmed", "In": "Completed", "Left Message": "Left Msg"},
        "offices": {"Rural staging A": "R4F - Rural"},
    }
)
CANVASS = 143857
EVENT = {
    "eventId": 1001,
    "name": "Canvass",
    "startDate": "2026-03-10T10:00:00-05:00",
    "eventType": {"eventTypeId": CANVASS, "name": "Canvass"},
    "shifts": [
        {
            "eventShiftId": 7,
            "name": "Morning",
            "startTime": "2026-03-10T10:00:00-05:00",
            "endTime": "2026-03-10T13:00:00-05:00",
        }
    ],
}
KNOWN = {1: "Scheduled", 2: "Completed", 4: "Invited", 6: "No Show", 11: "Confirmed", 18: "Left Msg"}


def signup(**over):
    base = {
        "eventSignupId": 900,
        "person": {"vanId": 100001, "firstName": "Ann", "lastName": "Lee"},
        "shift": {"eventShiftId": 7},
        "role": {"roleId": 111690, "name": "Canvasser"},
        "status": {"statusId": 4, "name": "Invited"},
        "location": {"locationId": 201, "name": "R1A - North Side"},
    }
    base.update(over)
    return base


# -- settings -----------------------------------------------------------------------------------------------------
def test_settings_reject_bad_config():
    with pytest.raises(ValueError, match="time zone"):
        ShiftsSettings.from_config({"timezone": "Mars/Olympus"})
    with pytest.raises(ValueError, match="event_types"):
        ShiftsSettings.from_config({"event_types": "Canvass"})


def test_offices_regions_and_aliases():
    assert S.office_of("rural staging a") == "R4F - Rural" and S.region_of("R4F - Rural") == "R4"
    assert S.office_of(None) == NO_OFFICE and S.region_of(NO_OFFICE) is None
    assert S.van_status_name("same day  confirmed") == "Confirmed" and S.van_status_name("No Show") == "No Show"


def test_day_bounds_are_local_and_dst_safe():
    start, end = S.day_bounds(dt.date(2026, 3, 8))  # DST starts: a 23-hour day
    utc = dt.UTC
    assert end.astimezone(utc) - start.astimezone(utc) == dt.timedelta(hours=23)
    assert start.utcoffset() == dt.timedelta(hours=-6) and end.utcoffset() == dt.timedelta(hours=-5)


# -- participants ---------------------------------------------------------------------------------------------------
def test_participant_row_uses_shift_times_and_location():
    row, problem = logic.parse_participant("MI", EVENT, signup(), S, KNOWN)
    assert problem is None
    assert row["van_id"] == 100001 and row["status_name"] == "Invited" and row["location_id"] == 201
    assert row["starts_at"] == dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)
    assert row["event_date"] == "2026-03-10" and row["shift_name"] == "Morning"


@pytest.mark.parametrize(
    "over, reason",
    [
        ({"person": {"vanId": None, "firstName": "Ann"}}, "no VAN id"),
        ({"person": None}, "no VAN id"),
        ({"status": {"statusId": 99, "name": None}}, "unknown status id 99"),
        ({"status": None}, "unknown status id None"),
        ({"startTimeOverride": "not a time"}, "no readable start time"),
        ({"startTimeOverride": None, "shift": {"eventShiftId": 8}}, None),  # unknown shift: the event's start
        (
            {"startTimeOverride": "2026-03-10T13:00:00-05:00", "endTimeOverride": "2026-03-10T12:00:00-05:00"},
            "ends before",
        ),
    ],
)
def test_bad_participants_are_quarantined_with_ids_only(over, reason):
    row, problem = logic.parse_participant("MI", EVENT, signup(**over), S, KNOWN)
    if reason is None:
        assert row is not None and row["starts_at"].hour == 10
        return
    assert row is None and reason in problem["reason"]
    assert problem["event_signup_id"] == 900 and problem["event_id"] == 1001
    assert "Ann" not in str(problem) and "Lee" not in str(problem)


def test_event_with_no_location_is_kept():
    row, problem = logic.parse_participant("MI", {**EVENT, "locations": None}, signup(location=None), S, KNOWN)
    assert problem is None and row["location_id"] is None and row["location_name"] is None
    assert logic.shift_row(row, dt.date(2026, 3, 10), 1, S)["office"] == NO_OFFICE


def test_shift_across_midnight_belongs_to_its_start_day():
    late = signup(startTimeOverride="2026-03-10T22:30:00-05:00", endTimeOverride="2026-03-11T01:30:00-05:00")
    row, _ = logic.parse_participant("MI", EVENT, late, S, KNOWN)
    assert row["starts_at"].astimezone(dt.UTC).date() == dt.date(2026, 3, 11)  # already tomorrow in UTC
    chosen, _ = logic.select_for_import([row], S, dt.date(2026, 3, 10))
    assert chosen == [row]
    assert logic.select_for_import([row], S, dt.date(2026, 3, 11))[0] == []


def test_naive_times_are_read_in_the_campaign_zone():
    assert logic.parse_time("2026-07-01T09:00:00", S).utcoffset() == dt.timedelta(hours=-5)


def test_import_selection_keeps_the_original_statuses_and_counts_the_rest():
    day = dt.date(2026, 3, 10)
    start = dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)
    rows = [
        {"starts_at": start, "status_name": n}
        for n in ["Invited", "Left Msg", "Confirmed", "Scheduled", "Sched-Web", "Declined", "Completed", "left msg"]
    ]
    chosen, skipped = logic.select_for_import(rows, S, day)
    assert len(chosen) == 6 and skipped == {"Declined": 1, "Completed": 1}


def test_export_window_is_exclusive_on_both_ends():
    assert logic.export_window(S, dt.date(2026, 3, 10)) == ("2026-03-09", "2026-03-18")


def test_api_failures_read_as_actions():
    msg = logic.describe_api_failure("MI", ApiError("van", "GET", "/v4/events", 401, "denied"))
    assert "refused the API key" in msg and "VAN_API_KEYS" in msg


# -- sync-back planning ---------------------------------------------------------------------------------------------
STATUS_ROWS = [{"event_type_id": CANVASS, "status_id": i, "status_name": n} for i, n in KNOWN.items()]


def shift(**over):
    base = {
        "shift_id": 1,
        "event_signup_id": 900,
        "van_id": 100001,
        "event_id": 1001,
        "event_shift_id": 7,
        "role_id": 111690,
        "location_id": 201,
        "event_type_id": CANVASS,
        "status": "Invited",
        "original_status": "Invited",
        "van_status": "Invited",
    }
    base.update(over)
    return base


def test_status_ids_come_from_van_statuses_not_names():
    ids = logic.status_ids(STATUS_ROWS)
    plan = logic.plan_status_sync([shift(status="Completed", approved_status="Completed")], ids, S)
    (op,) = plan.ops
    assert op.payload["status"] == {"statusId": 2} and op.key == "900"
    assert op.payload["location"] == {"locationId": 201} and op.payload["person"] == {"vanId": 100001}


def approved(**over):
    return shift(**over, approved_status=over["status"])


def test_change_detection_sends_only_approved_statuses():
    ids = logic.status_ids(STATUS_ROWS)
    rows = [
        shift(shift_id=1),  # unchanged
        approved(shift_id=2, event_signup_id=901, status="Same Day Confirmed", van_status="Confirmed"),  # VAN has it
        approved(shift_id=3, event_signup_id=902, status="In"),  # alias -> Completed
        approved(shift_id=4, event_signup_id=None, van_id=None, status="In"),  # walk-in: flip by hand
        approved(shift_id=5, event_signup_id=903, status="Maybe later"),  # unknown status
        approved(shift_id=6, event_signup_id=904, status="No Show", location_id=None),  # event with no location
        approved(shift_id=7, event_signup_id=905, status="Completed", event_type_id=143856),  # statuses not known
        shift(shift_id=8, event_signup_id=906, status="Completed"),  # changed, never approved: not sent
        shift(shift_id=9, event_signup_id=907, status="No Show", approved_status="Completed"),  # changed after
        approved(shift_id=10, event_signup_id=908, status="Declined", van_status=None),  # gone from VAN's list
    ]
    plan = logic.plan_status_sync(rows, ids, S)
    assert [op.key for op in plan.ops] == ["902", "904"]
    assert plan.ops[0].payload["status"] == {"statusId": 2} and "location" not in plan.ops[1].payload
    assert (plan.unchanged, len(plan.already_in_van), plan.not_in_van) == (1, 1, 1)
    assert (plan.awaiting_approval, plan.stale_approvals) == (1, 1)
    assert [m["shift_id"] for m in plan.not_matched] == [4, 10]
    assert "flip it manually" in plan.not_matched[1]["reason"]
    reasons = {q["event_signup_id"]: q["reason"] for q in plan.quarantined}
    assert "not a VAN status" in reasons[903] and "no VAN signup statuses" in reasons[905]


@pytest.mark.parametrize(
    "error, outcome",
    [
        ("van POST /v4/signups -> 400: 'event.eventId' is not a valid event in the current context.", "not_matched"),
        ("van POST /v4/signups -> 404: Signup 5 not found.", "not_matched"),
        ("van POST /v4/signups -> 500: server error", "failed"),
        ("van POST /v4/signups -> 400: 'status.statusId' is not a valid status", "failed"),
        (None, "failed"),
    ],
)
def test_sync_failures_say_what_a_person_must_do(error, outcome):
    got, reason = logic.sync_failure(error)
    assert got == outcome and reason
    if outcome == "not_matched":
        assert "flip it manually in VAN" in reason


def test_signup_person_contact_fields():
    person = {
        "vanId": 1,
        "contactModeId": 1,
        "email": {"email": "a@b.org", "isPreferred": True},
        "phone": {"phoneNumber": "(314) 555-0100", "dialingPrefix": "1"},
    }
    assert logic.person_contact(person) == {"email": "a@b.org", "phone": "3145550100", "contact_mode_id": 1}
    assert logic.person_contact({"email": "x@y.org", "phone": "3145550100"})["email"] == "x@y.org"
    assert logic.person_contact({"email": None, "phone": None}) == {
        "email": None,
        "phone": None,
        "contact_mode_id": None,
    }
    listed = {"email": [{"email": "old@b.org"}, {"email": "new@b.org", "isPreferred": True}], "phone": "n/a"}
    assert logic.person_contact(listed) == {"email": "new@b.org", "phone": None, "contact_mode_id": None}


# -- metrics ----------------------------------------------------------------------------------------------------------
def test_metrics_per_office_and_knocks_per_hour():
    t0 = dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)
    shifts = [
        {"office": "R1A", "status": "Completed", "source": "van", "canvass_group_id": 1},
        {"office": "R1A", "status": "In", "source": "van", "canvass_group_id": 1},
        {"office": "R1A", "status": "No Show", "source": "van", "flake": True},
        {"office": "R1A", "status": "Same Day Confirmed", "source": "van"},
        {"office": "R2B", "status": "Invited", "source": "van"},
        {"office": "R2B", "status": "In", "source": "walk_in"},
    ]
    groups = [
        {
            "id": 1,
            "office": "R1A",
            "doors": 120,
            "goal": 100,
            "departed_at": t0,
            "returned_at": t0 + dt.timedelta(hours=2),
        }
    ]
    rows = {r["office"]: r for r in metrics.day_metrics(shifts, groups, S)}
    r1 = rows["R1A"]
    assert (r1["scheduled"], r1["confirmed"], r1["completed"], r1["no_show"]) == (4, 3, 2, 1)
    assert r1["doors"] == 120 and r1["pct_to_goal"] == 120.0 and r1["kph"] == 30.0  # 120 / (2 canvassers x 2 h)
    assert rows["R2B"]["walk_ins"] == 1 and rows["Total"]["scheduled"] == 5
    text = metrics.markdown(list(rows.values()))
    assert "| R1A |" in text and "knocks/hour" in text


# -- nightly state machine --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "stage, steps",
    [
        (None, ["backup", "verify", "reset", "import_next_day"]),
        ("backed_up", ["backup", "verify", "reset", "import_next_day"]),  # the live day is still the truth
        ("verified", ["backup", "verify", "reset", "import_next_day"]),
        ("reset", ["import_next_day"]),  # the backup is the truth now: never backed up again
        ("imported", []),
    ],
)
def test_steps_resume_from_the_stage(stage, steps):
    assert nightly.steps_to_run(stage) == steps


def test_day_must_be_over_and_old_days_import_nothing():
    today = dt.date(2026, 3, 11)
    with pytest.raises(logic.ShiftsError, match="has not ended"):
        nightly.check_day_closed(today, today, "America/Chicago")
    nightly.check_day_closed(dt.date(2026, 3, 10), today, "America/Chicago")
    assert nightly.import_next_day(dt.date(2026, 3, 10), today)
    assert not nightly.import_next_day(dt.date(2026, 3, 1), today)


def test_digest_and_compare():
    a = [{"id": 1, "at": dt.datetime(2026, 3, 10, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5)))}, {"id": 2}]
    b = [{"id": 2}, {"id": 1, "at": dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)}]
    assert nightly.digest(a) == nightly.digest(b)
    assert nightly.compare({"shifts": (2, "x")}, {"shifts": (2, "x")}) == []
    assert "1 backed up" in nightly.compare({"shifts": (2, "x")}, {"shifts": (1, "x")})[0]
    assert "differ" in nightly.compare({"notes": (2, "x")}, {"notes": (2, "y")})[0]
