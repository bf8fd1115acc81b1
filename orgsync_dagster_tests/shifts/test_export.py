"""The participant export against the sandbox VAN over real HTTP: request figures, paging, bad records, 401."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pytest
import sqlalchemy as sa

from orgsync_dagster.shifts.export import export_participants
from orgsync_dagster.shifts.logic import ShiftsError
from orgsync_dagster.shifts.seed import _at
from orgsync_dagster.shifts.store import import_day_tx
from orgsync_dagster.shifts.tables import event_participants, participant_problems

PHONE_BANK, PHONE_BANKER, SCHEDULED = 143856, 111691, 1
REFERENCE_REQUESTS = 1 + 3  # GET /events/types + GET /signups/statuses per configured event type


def _rows(engine, **where):
    q = sa.select(event_participants)
    for k, v in where.items():
        q = q.where(event_participants.c[k] == v)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def test_export_costs_one_list_request_per_page(engine, make_client, settings):
    """56 events (2 event pages) and one event with 202 signups (2 signup pages): nothing else is requested."""
    client = make_client()
    tomorrow = settings.today() + dt.timedelta(days=1)
    signups_per_event = {}
    for i in range(56):
        two_shifts = i == 0
        body = {
            "name": f"Phone bank {i}",
            "eventType": {"eventTypeId": PHONE_BANK},
            "startDate": _at(tomorrow, 9, settings),
            "endDate": _at(tomorrow, 17, settings),
            "roles": [{"roleId": PHONE_BANKER}],
            "shifts": [{"name": "AM", "startTime": _at(tomorrow, 9, settings), "endTime": _at(tomorrow, 12, settings)}]
            + (
                [{"name": "PM", "startTime": _at(tomorrow, 13, settings), "endTime": _at(tomorrow, 17, settings)}]
                if two_shifts
                else []
            ),
        }
        event_id = client.create_event(body)
        shifts = client.get_event(event_id, expand=("shifts",))["shifts"]
        people = range(101) if two_shifts else range(i % 3)
        for shift in shifts:
            for p in people:
                client.upsert_signup(
                    {
                        "person": {"vanId": 100000 + p},
                        "event": {"eventId": event_id},
                        "shift": {"eventShiftId": shift["eventShiftId"]},
                        "role": {"roleId": PHONE_BANKER},
                        "status": {"statusId": SCHEDULED},
                    }
                )
        signups_per_event[event_id] = len(people) * len(shifts)
    assert signups_per_event[min(signups_per_event)] == 202

    fresh = make_client()
    result = export_participants(engine, fresh, "MI", settings)
    lists = math.ceil(56 / 50) + sum(max(1, math.ceil(n / 200)) for n in signups_per_event.values())
    assert result.requests == fresh.requests_sent == REFERENCE_REQUESTS + lists == 4 + 2 + 57
    assert result.events == 56 and result.participants == sum(signups_per_event.values()) == len(_rows(engine))

    again = make_client()
    result = export_participants(engine, again, "MI", settings)
    assert again.requests_sent == lists and not result.reference_refreshed  # reference data cached for a day
    assert len(_rows(engine)) == result.participants  # replaced, not duplicated


def test_participants_carry_phone_and_email_from_the_signups(engine, make_client, seeded, settings, sandbox, api_key):
    """VAN's signup person carries the contact fields: the export stores them without one request per person."""
    client = make_client()
    result = export_participants(engine, client, "MI", settings)
    assert client.requests_sent == REFERENCE_REQUESTS + 1 + seeded["events"]  # no GET /people/{vanId}
    assert result.with_phone == result.with_email == result.participants > 0
    people = sandbox.van.dump(api_key)["people"]
    by_id = {p["vanId"]: p for p in people}
    for row in _rows(engine):
        person = by_id[row["van_id"]]
        assert row["email"] == person["emails"][0]["email"]
        assert row["phone"] == next(p["phoneNumber"] for p in person["phones"] if p["isPreferred"])
        assert row["contact_mode_id"] == 1
    assert "@" not in str(result.problems) and "phone" not in str(result.by_status)


def test_bad_participants_are_quarantined_not_dropped(engine, make_client, seeded, sandbox, api_key, settings):
    db = sandbox.van.database(api_key)
    with sandbox.van._lock:
        first = min(db.signups)
        db.signups[first]["vanId"] = None  # a participant with no VAN id
        second = sorted(db.signups)[1]
        db.signups[second]["statusId"] = 999  # a status VAN does not list for the event type
    result = export_participants(engine, make_client(), "MI", settings)
    reasons = {p["event_signup_id"]: p["reason"] for p in result.problems}
    assert reasons == {first: "participant has no VAN id", second: "unknown status id 999 for event type 143857"}
    assert result.participants == seeded["signups"] - 2
    with engine.connect() as conn:
        stored = conn.execute(sa.select(participant_problems.c.event_signup_id, participant_problems.c.reason)).all()
    assert {r.event_signup_id for r in stored} == {first, second}
    assert "Gordon" not in str(result.problems) and "firstName" not in str(result.problems)


def test_events_without_location_and_shifts_across_midnight(engine, make_client, seeded, day, settings):
    export_participants(engine, make_client(), "MI", settings)
    phone_bank = [r for r in _rows(engine) if r["event_type_name"] == "Phone Bank"]
    assert len(phone_bank) == 4 and all(r["location_id"] is None for r in phone_bank)
    assert all(settings.local_day(r["ends_at"]) == day + dt.timedelta(days=1) for r in phone_bank)
    result = import_day_tx(engine, settings, day)
    # 2 offices x 2 shifts x 4 + 4 phone bank signups on the day; the Declined ones are counted, not imported
    assert result["participants"] == 20 and result["created"] == 20 - sum(result["not_imported_by_status"].values())
    assert result["no_location"] == sum(1 for r in phone_bank if r["status_name"] != "Declined")
    assert import_day_tx(engine, settings, day)["created"] == 0  # idempotent


def test_revoked_key_is_a_clear_error_and_changes_nothing(engine, make_client, seeded, sandbox, api_key, settings):
    export_participants(engine, make_client(), "MI", settings)
    before = len(_rows(engine))
    sandbox.van.revoke_key(api_key)
    client = make_client()
    with pytest.raises(ShiftsError) as err:
        export_participants(engine, client, "MI", settings)
    assert "MI refused the API key (HTTP 401)" in str(err.value) and "Nothing was changed" in str(err.value)
    assert api_key not in str(err.value) and not err.value.retryable
    assert client.requests_sent == 1 and len(_rows(engine)) == before


def test_no_configured_event_type_in_van_is_a_config_error(engine, make_client, seeded, settings):
    export_participants(engine, make_client(), "MI", settings)
    before = len(_rows(engine))
    wrong = dataclasses.replace(settings, event_types=("Barnstorm Deluxe",))
    with pytest.raises(ShiftsError, match="none of the event types in shifts.event_types"):
        export_participants(engine, make_client(), "MI", wrong)
    assert len(_rows(engine)) == before  # an empty answer never wipes the participants
