"""Tests of the NGP VAN v4 emulator: real HTTP over loopback plus a few in-process checks."""

from __future__ import annotations

import base64
import math
import threading
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from orgsync_dagster.sandbox import van_seed
from orgsync_dagster.sandbox.van import VanEmulator

BARNSTORM, PHONE_BANK, CANVASS, DVC, MEETING = 143855, 143856, 143857, 143858, 143859
HOST, PARTICIPANT, VOLUNTEER = 111687, 111688, 111689


# ---------------------------------------------------------------------------------------------
# Fixtures / helpers
# ---------------------------------------------------------------------------------------------
def _serve(app):
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    return srv, thread, f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture(scope="module")
def server():
    emu = VanEmulator()
    srv, thread, base = _serve(emu)
    yield emu, base
    srv.shutdown()
    thread.join(5)


class Van:
    """Tiny test client: Basic auth ``app`` / ``<key>|<mode>``."""

    def __init__(self, base: str, key: str, mode: int = 1):
        self.base, self.key, self.mode = base, key, mode
        self.s = requests.Session()
        self.s.auth = ("orgsync-tests", f"{key}|{mode}")

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}/v4/{path}"

    def get(self, path, **params):
        return self.s.get(self.url(path), params=params, timeout=10)

    def post(self, path, body=None, **kw):
        return self.s.post(self.url(path), json=body, timeout=10, **kw)

    def put(self, path, body):
        return self.s.put(self.url(path), json=body, timeout=10)

    def patch(self, path, body):
        return self.s.patch(self.url(path), json=body, timeout=10)

    def delete(self, path):
        return self.s.delete(self.url(path), timeout=10)

    # domain helpers
    def location(self, name="Campaign HQ", zip_code="65806", line1=None, city="Springfield"):
        r = self.post(
            "locations/findOrCreate",
            {
                "name": name,
                "address": {"addressLine1": line1, "city": city, "stateOrProvince": "MO", "zipOrPostalCode": zip_code},
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    def event(self, **overrides):
        body = event_body(**overrides)
        if "locations" not in overrides and body["eventType"]["eventTypeId"] in (BARNSTORM, CANVASS, DVC):
            body["locations"] = [{"locationId": self.location()}]
        r = self.post("events", body)
        assert r.status_code == 201, r.text
        return r.json()


def event_body(**overrides):
    body = {
        "name": "Neighbor Barnstorm",
        "shortName": "AK1234",
        "description": "Meet neighbours and plan the fall",
        "startDate": "2026-10-05T18:00:00-05:00",
        "endDate": "2026-10-05T20:00:00-05:00",
        "eventType": {"eventTypeId": PHONE_BANK},
        "roles": [{"roleId": HOST}, {"roleId": VOLUNTEER}],
        "isOnlyEditableByCreatingUser": "false",
    }
    body.update(overrides)
    return body


@pytest.fixture
def van(server):
    _, base = server
    return Van(base, f"key-{uuid.uuid4().hex[:12]}")


def assert_error(resp, status, code=None, prop=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    errors = resp.json()["errors"]
    assert isinstance(errors, list) and errors
    assert {"code", "text"} <= set(errors[0])
    if code:
        assert errors[0]["code"] == code
    if prop:
        assert prop in errors[0].get("properties", []), errors[0]
    return errors[0]


SEED_PERSON = van_seed.build_person(7)


# ---------------------------------------------------------------------------------------------
# Auth, isolation, errors
# ---------------------------------------------------------------------------------------------
def test_auth_failures_are_401_with_van_error_body(server, van):
    emu, base = server
    assert_error(requests.get(f"{base}/v4/events", timeout=5), 401, "INVALID_CREDENTIALS")
    for password in (van.key, f"{van.key}|2", f"{van.key}|", "|1"):
        r = requests.get(f"{base}/v4/events", auth=("app", password), timeout=5)
        assert_error(r, 401, "INVALID_CREDENTIALS")
    assert "Basic" in r.headers["WWW-Authenticate"]
    assert van.get("events").status_code == 200
    assert van.get("events", **{"$top": 1}).status_code == 200
    emu.revoke_key(van.key)
    assert_error(van.get("events"), 401, "INVALID_CREDENTIALS")
    assert_error(Van(base, van.key, mode=0).get("events"), 401)


def test_each_key_and_mode_is_its_own_database(server, van):
    emu, base = server
    event_id = van.event()
    other_key = Van(base, f"other-{uuid.uuid4().hex[:8]}")
    my_voters = Van(base, van.key, mode=0)
    assert van.get("events").json()["count"] == 1
    assert other_key.get("events").json()["count"] == 0
    assert my_voters.get("events").json()["count"] == 0
    assert_error(other_key.get(f"events/{event_id}"), 404, "NOT_FOUND")
    dump = emu.dump(van.key)
    assert [e["eventId"] for e in dump["events"]] == [event_id]
    assert {"events", "locations", "signups", "people", "canvass_responses", "event_types"} <= set(dump)
    assert emu.dump(van.key, mode=0)["events"] == []
    assert emu.database(van.key).events[event_id]["name"] == "Neighbor Barnstorm"


def test_unknown_paths_methods_and_bodies(van):
    assert_error(van.get("nothingHere"), 404, "NOT_FOUND")
    assert_error(van.get("events/abc"), 404)
    r = van.s.put(van.url("events"), json={}, timeout=5)
    assert_error(r, 405)
    assert "POST" in r.headers["Allow"]
    r = van.s.post(van.url("events"), data="name=x", headers={"Content-Type": "text/plain"}, timeout=5)
    assert_error(r, 415)
    r = van.s.post(van.url("events"), data="{not json", headers={"Content-Type": "application/json"}, timeout=5)
    assert_error(r, 400, "INVALID_PARAMETER")
    assert_error(van.s.post(van.url("events"), timeout=5), 400, "INVALID_PARAMETER")
    # query names and paths are case-insensitive like VAN; trailing slash tolerated
    assert van.get("EVENTS/types/").status_code == 200


# ---------------------------------------------------------------------------------------------
# Paging
# ---------------------------------------------------------------------------------------------
def test_paging_follows_next_page_link(server, van):
    emu, base = server
    db = emu.database(van.key)
    total = 123
    with emu._lock:  # bulk-create directly; the HTTP create path is tested elsewhere
        for i in range(total):
            event_id = db.next_id("event")
            db.events[event_id] = {
                "eventId": event_id,
                "name": f"Phone bank {i}",
                "shortName": f"PB{i}",
                "description": None,
                "startDate": "2026-10-06T18:00:00-05:00",
                "endDate": "2026-10-06T20:00:00-05:00",
                "eventTypeId": PHONE_BANK,
                "isOnlyEditableByCreatingUser": False,
                "isPubliclyViewable": None,
                "locationIds": [],
                "roleIds": [HOST],
                "shifts": [],
                "codes": [],
                "notes": [],
                "districtFieldValue": None,
                "dotNetTimeZoneId": None,
                "createdDate": "2026-01-01T00:00:00Z",
                "isActive": True,
            }
    default_page = van.get("events").json()
    assert len(default_page["items"]) == 10 and default_page["count"] == total

    requests_made, ids = 0, []
    url = van.url("events")
    params = {"eventTypeIds": str(PHONE_BANK), "$top": 50, "$expand": "shifts"}
    while url:
        resp = van.s.get(url, params=params, timeout=5)
        params = None  # nextPageLink already carries the query
        requests_made += 1
        page = resp.json()
        assert page["count"] == total
        ids += [e["eventId"] for e in page["items"]]
        assert all(e["shifts"] == [] and e["roles"] is None for e in page["items"])
        url = page["nextPageLink"]
        if url:
            assert url.startswith(f"{base}/v4/events?")
            query = parse_qs(urlsplit(url).query)
            assert query["eventTypeIds"] == [str(PHONE_BANK)] and query["$top"] == ["50"]
            assert query["$expand"] == ["shifts"]
    assert requests_made == math.ceil(total / 50) == 3
    assert len(ids) == len(set(ids)) == total

    assert_error(van.get("events", **{"$top": 51}), 400, "INVALID_PARAMETER", "$top")
    assert_error(van.get("events", **{"$top": 0}), 400, "INVALID_PARAMETER", "$top")
    assert_error(van.get("events", **{"$skip": -1}), 400, "INVALID_PARAMETER", "$skip")
    assert_error(van.get("locations", **{"$top": 201}), 400, "INVALID_PARAMETER", "$top")
    assert van.get("locations", **{"$top": 200}).status_code == 200
    last = van.get("events", **{"$top": 50, "$skip": 100}).json()
    assert len(last["items"]) == 23 and last["nextPageLink"] is None
    desc = van.get("events", **{"$top": 1, "$orderby": "eventId desc"}).json()["items"][0]
    assert desc["eventId"] == max(ids)


def test_people_search_paging_defaults(van):
    page = van.get("people").json()
    assert page["count"] == van_seed.DEFAULT_SEED_PEOPLE and len(page["items"]) == 50
    assert "$skip=50" in page["nextPageLink"]
    assert_error(van.get("people", **{"$top": 201}), 400, prop="$top")
    hit = van.get("people", lastName=SEED_PERSON["lastName"][:3], firstName=SEED_PERSON["firstName"]).json()
    assert SEED_PERSON["vanId"] in [p["vanId"] for p in hit["items"]]


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------
def test_create_event_201_location_and_expand(van):
    loc = van.location()
    r = van.post(
        "events",
        event_body(
            eventType={"eventTypeId": BARNSTORM},
            roles=[{"roleId": HOST}, {"roleId": PARTICIPANT}],
            locations=[{"locationId": loc}],
        ),
    )
    assert r.status_code == 201
    event_id = r.json()
    assert isinstance(event_id, int)
    assert r.headers["Location"].endswith(f"/v4/events/{event_id}")
    plain = van.get(f"events/{event_id}").json()
    assert plain["locations"] is None and plain["shifts"] is None and plain["roles"] is None
    assert plain["eventType"] == {"eventTypeId": BARNSTORM, "name": "Barnstorm"}
    assert plain["startDate"] == "2026-10-05T18:00:00-05:00"  # kept as given, with offset
    assert plain["isOnlyEditableByCreatingUser"] is False
    full = van.get(f"events/{event_id}", **{"$expand": "locations,shifts,roles"}).json()
    assert [s["name"] for s in full["shifts"]] == ["Default Shift"]
    assert full["shifts"][0]["startTime"] == plain["startDate"]
    assert [r["name"] for r in full["roles"]] == ["Host", "Participant"]
    assert full["locations"][0]["locationId"] == loc
    assert full["codes"] is None
    assert_error(van.get("events/999999"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("overrides", "prop"),
    [
        ({"name": None}, "name"),
        ({"name": "x" * 501}, "name"),
        ({"shortName": "1234567890123"}, "shortName"),
        ({"startDate": "next tuesday"}, "startDate"),
        ({"endDate": "2026-10-05T17:00:00-05:00"}, "endDate"),
        ({"startDate": "2101-01-01T10:00:00Z", "endDate": "2101-01-01T11:00:00Z"}, "startDate"),
        ({"eventType": {"eventTypeId": 1}}, "eventType"),
        ({"roles": []}, "roles"),
        ({"roles": [{"roleId": 111690}]}, "roles[0].roleId"),
        ({"locations": [{"locationId": 987654}]}, "locations[0].locationId"),
        ({"eventType": {"eventTypeId": BARNSTORM}, "roles": [{"roleId": HOST}]}, "locations"),
        (
            {
                "eventType": {"eventTypeId": MEETING},
                "roles": [{"roleId": HOST}],
                "shifts": [
                    {"name": "A", "startTime": "2026-10-05T18:00:00-05:00", "endTime": "2026-10-05T19:00:00-05:00"},
                    {"name": "B", "startTime": "2026-10-05T19:00:00-05:00", "endTime": "2026-10-05T20:00:00-05:00"},
                ],
            },
            "shifts",
        ),
    ],
)
def test_create_event_validation(van, overrides, prop):
    assert_error(van.post("events", event_body(**overrides)), 400, "INVALID_PARAMETER", prop)
    assert van.get("events").json()["count"] == 0


def test_event_update_patch_delete_and_shifts(van):
    shifts = [
        {"name": "Early", "startTime": "2026-10-05T18:00:00-05:00", "endTime": "2026-10-05T19:00:00-05:00"},
        {"name": "Late", "startTime": "2026-10-05T19:00:00-05:00", "endTime": "2026-10-05T20:00:00-05:00"},
    ]
    event_id = van.event(shifts=shifts)
    event = van.get(f"events/{event_id}", **{"$expand": "shifts,roles"}).json()
    assert [s["name"] for s in event["shifts"]] == ["Early", "Late"]
    r = van.post(
        f"events/{event_id}/shifts",
        {"name": "Night", "startTime": "2026-10-05T20:00:00-05:00", "endTime": "2026-10-05T21:00:00-05:00"},
    )
    assert r.status_code == 201 and isinstance(r.json(), int)

    event["name"] = "Renamed phone bank"
    event["shifts"] = event["shifts"][:1]
    assert van.put(f"events/{event_id}", event).status_code == 204
    again = van.get(f"events/{event_id}", **{"$expand": "shifts"}).json()
    assert again["name"] == "Renamed phone bank"
    assert [s["eventShiftId"] for s in again["shifts"]] == [event["shifts"][0]["eventShiftId"]]

    assert_error(van.patch(f"events/{event_id}", {"name": "x"}), 400, "INVALID_PARAMETER", "name")
    assert van.patch(f"events/{event_id}", {"eventId": event_id, "isActive": False}).status_code == 204
    assert_error(van.get(f"events/{event_id}"), 404)
    assert van.get("events").json()["count"] == 0
    assert van.patch(f"events/{event_id}", {"isActive": True}).status_code == 204
    assert van.get(f"events/{event_id}").status_code == 200

    shift_id = again["shifts"][0]["eventShiftId"]
    signup = van.post("signups", signup_body(SEED_PERSON["vanId"], event_id, shift_id, VOLUNTEER))
    assert signup.status_code == 201
    assert van.delete(f"events/{event_id}").status_code == 204
    assert_error(van.get(f"events/{event_id}"), 404)
    assert_error(van.get(f"signups/{signup.json()}"), 404)
    assert_error(van.delete(f"events/{event_id}"), 404)


def test_event_filters_by_type_and_dates(van):
    pb = van.event(startDate="2026-10-05T18:00:00-05:00", endDate="2026-10-05T20:00:00-05:00")
    pb2 = van.event(startDate="2026-10-07T09:00:00-05:00", endDate="2026-10-07T10:00:00-05:00")
    meeting = van.event(eventType={"eventTypeId": MEETING}, roles=[{"roleId": HOST}])
    by_type = van.get("events", eventTypeIds=f"{PHONE_BANK},{CANVASS}").json()["items"]
    assert {e["eventId"] for e in by_type} == {pb, pb2}
    window = van.get("events", startingAfter="2026-10-04", startingBefore="2026-10-06").json()["items"]
    assert {e["eventId"] for e in window} == {pb, meeting}
    later = van.get("events", startingAfter="2026-10-05").json()["items"]
    assert [e["eventId"] for e in later] == [pb2]
    assert_error(van.get("events", startingAfter="soon"), 400, prop="startingAfter")


def test_event_types_plain_array(van):
    types = van.get("events/types").json()
    assert isinstance(types, list)
    by_name = {t["name"]: t for t in types}
    assert {"Barnstorm", "Canvass", "Phone Bank", "Volunteer DVC"} <= set(by_name)
    assert {r["name"] for r in by_name["Barnstorm"]["roles"]} == {"Host", "Participant"}
    assert {"statusId": 1, "name": "Scheduled"} in by_name["Canvass"]["statuses"]
    assert van.get(f"events/types/{DVC}").json()["canHaveMultipleShifts"] is True
    assert_error(van.get("events/types/1"), 404)


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------
def test_location_find_or_create_matching(van):
    hq = van.location("Campaign HQ", "65806")
    assert van.location("campaign  hq", "65806-1234") == hq  # case/space-insensitive, ZIP5
    assert van.location("Union Hall", "65806") != hq
    assert van.location("Campaign HQ", "63104", city="St. Louis") != hq
    no_zip = van.location("Library", zip_code=None, city="Columbia")
    assert van.location("Library", zip_code=None, city="columbia") == no_zip
    assert van.location("Library", zip_code=None, city="Joplin") != no_zip
    street = van.location("Church", "64105", line1="100 Grand Ave", city="Kansas City")
    assert van.location("Church basement", "64105", line1="100 grand ave", city="Kansas City") == street

    r = van.post(
        "locations/findOrCreate", {"name": "Library", "address": {"city": "Columbia", "stateOrProvince": "MO"}}
    )
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/v4/locations/{no_zip}")
    assert_error(van.post("locations/findOrCreate", {"name": "x" * 51}), 400, "INVALID_PARAMETER", "name")
    assert_error(van.post("locations/findOrCreate", {"address": {"city": "X"}}), 400, prop="name")
    created = van.post("locations", {"name": "Campaign HQ", "address": {"zipOrPostalCode": "65806"}})
    assert created.status_code == 201 and created.json() != hq

    listing = van.get("locations", name="campaign").json()
    assert listing["count"] == 3
    loc = van.get(f"locations/{hq}").json()
    assert loc["address"]["zipOrPostalCode"] == "65806" and loc["displayName"].startswith("Campaign HQ")
    assert_error(van.get("locations/424242"), 404)


# ---------------------------------------------------------------------------------------------
# Signups
# ---------------------------------------------------------------------------------------------
def signup_body(van_id, event_id, shift_id, role_id, status_id=1, location_id=None):
    return {
        "person": {"vanId": van_id},
        "event": {"eventId": event_id},
        "shift": {"eventShiftId": shift_id},
        "role": {"roleId": role_id},
        "status": {"statusId": status_id},
        "location": {"locationId": location_id},
    }


def test_signup_upsert_semantics(server, van):
    emu, _ = server
    loc = van.location()
    event_id = van.event(
        eventType={"eventTypeId": CANVASS},
        roles=[{"roleId": HOST}, {"roleId": PARTICIPANT}],
        locations=[{"locationId": loc}],
    )
    shift_id = van.get(f"events/{event_id}", **{"$expand": "shifts"}).json()["shifts"][0]["eventShiftId"]
    vid = SEED_PERSON["vanId"]
    first = van.post("signups", signup_body(vid, event_id, shift_id, PARTICIPANT, 1, loc))
    assert first.status_code == 201 and isinstance(first.json(), int)
    assert first.headers["Location"].endswith(f"/v4/signups/{first.json()}")
    second = van.post("signups", signup_body(vid, event_id, shift_id, PARTICIPANT, 11, loc))
    assert second.status_code == 201 and second.json() == first.json()
    host = van.post("signups", signup_body(vid, event_id, shift_id, HOST, 1, loc))
    assert host.json() != first.json()

    listing = van.get("signups", eventId=event_id).json()
    assert listing["count"] == 2
    mine = next(s for s in listing["items"] if s["eventSignupId"] == first.json())
    assert mine["status"] == {"statusId": 11, "name": "Confirmed"}
    assert mine["person"]["firstName"] == SEED_PERSON["firstName"]
    assert mine["location"]["locationId"] == loc and mine["shift"]["eventShiftId"] == shift_id
    assert van.get("signups", vanID=vid).json()["count"] == 2  # Parsons spells it vanID

    signup = van.get(f"signups/{first.json()}").json()
    signup["status"] = {"statusId": 2}
    assert van.put(f"signups/{first.json()}", signup).status_code == 204
    assert van.get(f"signups/{first.json()}").json()["status"]["name"] == "Completed"
    signup["person"] = {"vanId": vid + 1}
    assert_error(van.put(f"signups/{first.json()}", signup), 400, prop="person")
    assert van.delete(f"signups/{host.json()}").status_code == 204
    assert_error(van.get(f"signups/{host.json()}"), 404)

    generated = [c for c in emu.dump(van.key)["canvass_responses"] if c["source"] == "signup"]
    assert len(generated) == 3 and all(c["inputTypeId"] == 11 for c in generated)

    # validation
    assert_error(
        van.post("signups", signup_body(vid, event_id, shift_id, PARTICIPANT, 29, loc)), 400, prop="status.statusId"
    )  # Texted is not a Canvass status
    assert_error(van.post("signups", signup_body(vid, event_id, shift_id, 111691, 1, loc)), 400, prop="role.roleId")
    assert_error(
        van.post("signups", signup_body(vid, event_id, 1, PARTICIPANT, 1, loc)), 400, prop="shift.eventShiftId"
    )
    assert_error(van.post("signups", signup_body(vid, event_id, shift_id, PARTICIPANT, 1)), 400, prop="location")
    assert_error(van.post("signups", signup_body(1, event_id, shift_id, PARTICIPANT, 1, loc)), 400, prop="person.vanId")
    assert_error(van.get("signups"), 400, "INVALID_PARAMETER")
    assert_error(van.get("signups", eventId=999999), 404)
    assert_error(van.get("signups", vanId=1), 404)


def test_signup_statuses(van):
    by_type = van.get("signups/statuses", eventTypeId=BARNSTORM).json()
    assert by_type == [{"statusId": s, "name": van_seed.STATUSES[s]} for s in (1, 2, 3, 4, 6, 11, 30)]
    event_id = van.event(eventType={"eventTypeId": DVC}, roles=[{"roleId": HOST}])
    by_event = {s["name"]: s["statusId"] for s in van.get("signups/statuses", eventId=event_id).json()}
    assert by_event["Resched"] == 20 and by_event["Left Msg"] == 18 and by_event["Walk In"] == 15
    assert_error(van.get("signups/statuses"), 400)
    assert_error(van.get("signups/statuses", eventId=event_id, eventTypeId=DVC), 400)
    assert_error(van.get("signups/statuses", eventTypeId=1), 404)


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------
def test_people_find_and_find_or_create(van):
    email = SEED_PERSON["emails"][0]["email"]
    r = van.post(
        "people/find",
        {
            "firstName": SEED_PERSON["firstName"].upper(),
            "lastName": SEED_PERSON["lastName"],
            "emails": [{"email": email}],
        },
        allow_redirects=False,
    )
    assert r.status_code == 302
    assert r.json() == {"vanId": SEED_PERSON["vanId"], "status": "Matched"}
    assert r.headers["Location"].endswith(f"/v4/people/{SEED_PERSON['vanId']}")
    phone = SEED_PERSON["phones"][0]["phoneNumber"]
    r = van.post(
        "people/find",
        {
            "firstName": SEED_PERSON["firstName"],
            "lastName": SEED_PERSON["lastName"],
            "phones": [{"phoneNumber": f"1-{phone[:3]}-{phone[3:6]}-{phone[6:]}"}],
        },
        allow_redirects=False,
    )
    assert r.status_code == 302 and r.json()["vanId"] == SEED_PERSON["vanId"]
    followed = van.post("people/find", {"emails": [{"email": email}]})  # requests follows with GET
    assert followed.status_code == 200 and followed.json()["vanId"] == SEED_PERSON["vanId"]
    assert_error(
        van.post(
            "people/find", {"firstName": "Nobody", "lastName": "Here", "emails": [{"email": "nobody@example.net"}]}
        ),
        404,
    )
    assert_error(van.post("people/find", {"firstName": "Only", "lastName": "Names"}), 400)

    new = {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "emails": [{"email": "ada@example.net"}],
        "phones": [{"phoneNumber": "3145550199", "phoneType": "C"}],
    }
    created = van.post("people/findOrCreate", new, allow_redirects=False)
    assert created.status_code == 201 and created.json()["status"] == "UnmatchedStored"
    van_id = created.json()["vanId"]
    assert van_id not in range(van_seed.PEOPLE_FIRST_VAN_ID, van_seed.PEOPLE_FIRST_VAN_ID + 200)
    matched = van.post("people/findOrCreate", {**new, "middleName": "King"}, allow_redirects=False)
    assert matched.status_code == 302 and matched.json() == {"vanId": van_id, "status": "Matched"}
    # not enough to match -> always creates
    loose = van.post("people/findOrCreate", {"firstName": "Ada", "lastName": "Lovelace"}, allow_redirects=False)
    assert loose.status_code == 201 and loose.json()["vanId"] != van_id
    assert_error(
        van.post("people/findOrCreate", {"firstName": "Bad", "lastName": "Phone", "phones": [{"phoneNumber": "12"}]}),
        400,
        prop="phones[0].phoneNumber",
    )

    person = van.get(f"people/{van_id}", **{"$expand": "phones,emails"}).json()
    assert person["middleName"] == "King" and person["addresses"] is None
    assert person["phones"][0]["phoneId"] and person["phones"][0]["phoneNumber"] == "3145550199"
    seeded = van.get(f"people/{SEED_PERSON['vanId']}").json()
    assert seeded["phones"] is None and seeded["firstName"] == SEED_PERSON["firstName"]
    assert van.get(f"people/vanid:{SEED_PERSON['vanId']}").status_code == 200
    assert_error(van.get("people/99"), 404)
    upd = van.post(
        f"people/{van_id}",
        {"addresses": [{"addressLine1": "1 Loop Rd", "zipOrPostalCode": "63104"}]},
        allow_redirects=False,
    )
    assert upd.status_code == 302
    assert van.get(f"people/{van_id}", **{"$expand": "addresses"}).json()["addresses"][0]["addressLine1"] == "1 Loop Rd"


def test_seed_people_are_deterministic():
    emu = VanEmulator(seed_people=5)
    people = emu.database("k").people
    assert sorted(people) == list(range(100000, 100005))
    assert people == VanEmulator(seed_people=5).database("other").people
    full = VanEmulator().database("k").people
    assert min(full) == 100000 and max(full) == 100199
    assert all(p["phones"][0]["phoneId"] and p["emails"] for p in full.values())


# ---------------------------------------------------------------------------------------------
# Canvass responses
# ---------------------------------------------------------------------------------------------
def canvass(result_code=None, responses=None, contact_type=1, **ctx):
    body = {
        "canvassContext": {
            "contactTypeId": contact_type,
            "inputTypeId": 11,
            "dateCanvassed": "2026-10-05T12:00:00-05:00",
            **ctx,
        },
        "resultCodeId": result_code,
    }
    if responses is not None:
        body["responses"] = responses
    return body


SURVEY = [{"type": "SurveyResponse", "surveyQuestionId": 109149, "surveyResponseId": 465468}]


def test_canvass_response_validation(server, van):
    emu, _ = server
    vid = SEED_PERSON["vanId"]
    path = f"people/{vid}/canvassResponses"
    phone_id = SEED_PERSON["phones"][0]["phoneId"]
    assert van.post(path, canvass(18, phoneId=phone_id)).status_code == 204
    assert (
        van.post(
            path, canvass(None, SURVEY + [{"type": "ActivistCode", "activistCodeId": 18917, "action": "Apply"}])
        ).status_code
        == 204
    )
    assert van.post(path, canvass(130, contact_type=37, phone={"phoneNumber": "3145550100"})).status_code == 204
    stored = [c for c in emu.dump(van.key)["canvass_responses"] if c["source"] == "api"]
    assert [c["resultCodeId"] for c in stored] == [18, None, 130]
    assert stored[0]["phoneId"] == phone_id and stored[0]["canvassResponseId"] and stored[0]["receivedAt"]
    person = emu.database(van.key).people[vid]
    assert person["activistCodeIds"] == [18917] and person["surveyResponses"] == {"109149": 465468}

    assert_error(van.post(path, canvass(18, SURVEY)), 400, "INVALID_PARAMETER", "resultCodeId")
    assert_error(van.post(path, canvass(None)), 400, "INVALID_PARAMETER", "resultCodeId")
    assert_error(van.post(path, canvass(None, [])), 400, "INVALID_PARAMETER")
    assert_error(van.post(path, canvass(99999)), 400, prop="resultCodeId")
    assert_error(van.post(path, canvass(19, contact_type=1)), 400, prop="resultCodeId")  # Not Home by phone
    assert_error(van.post(path, canvass(18, contact_type=999)), 400, prop="canvassContext.contactTypeId")
    assert_error(van.post(path, canvass(18, inputTypeId=999)), 400, prop="canvassContext.inputTypeId")
    assert_error(van.post(path, canvass(18, dateCanvassed="yesterday-ish")), 400, prop="canvassContext.dateCanvassed")
    assert_error(van.post(path, canvass(18, phoneId=1)), 400, prop="canvassContext.phoneId")
    bad = [{"type": "SurveyResponse", "surveyQuestionId": 109149, "surveyResponseId": 465473}]
    assert_error(van.post(path, canvass(None, bad)), 400, "INVALID_PARAMETER", "responses[0].surveyResponseId")
    bad = SURVEY + [{"type": "ActivistCode", "activistCodeId": 5, "action": "Apply"}]
    assert_error(van.post(path, canvass(None, bad)), 400, prop="responses[1].activistCodeId")
    assert_error(van.post(path, {"resultCodeId": 18}), 400, prop="canvassContext")
    assert_error(van.post("people/99/canvassResponses", canvass(18)), 404, "NOT_FOUND")
    # default inputTypeId is API (11)
    assert van.post(path, {"canvassContext": {"contactTypeId": 2}, "resultCodeId": 19}).status_code == 204
    assert emu.dump(van.key)["canvass_responses"][-1]["inputTypeId"] == 11


def test_canvass_response_sixty_minute_dedup():
    now = [datetime(2026, 10, 5, 17, 0, tzinfo=UTC)]
    emu = VanEmulator(seed_people=3, clock=lambda: now[0])
    client = Client(emu)
    headers = {"Authorization": "Basic " + base64.b64encode(b"app:dedup|1").decode()}

    def post(body):
        return client.post("/v4/people/100001/canvassResponses", json=body, headers=headers)

    def stored():
        return [c for c in emu.dump("dedup")["canvass_responses"] if c["source"] == "api"]

    assert post(canvass(18)).status_code == 204
    now[0] += timedelta(minutes=10)
    assert post(canvass(18, dateCanvassed="2026-10-04")).status_code == 204  # accepted...
    assert len(stored()) == 1  # ...but matched to the earlier one
    assert post(canvass(18, skipMatching=True)).status_code == 204
    assert len(stored()) == 2
    assert post(canvass(19, contact_type=2)).status_code == 204  # different method/result
    assert post(canvass(None, SURVEY)).status_code == 204
    assert post(canvass(None, SURVEY)).status_code == 204
    assert len(stored()) == 4
    now[0] += timedelta(minutes=61)
    assert post(canvass(18)).status_code == 204
    assert len(stored()) == 5
    assert emu.dump("dedup")["canvass_responses_deduplicated"] == 2
    assert stored()[0]["receivedAt"].startswith("2026-10-05T17:00:00")


# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------
def test_reference_endpoints(van):
    codes = van.get("canvassResponses/resultCodes").json()
    assert {"resultCodeId": 18, "name": "Busy", "mediumName": "Busy", "shortName": "BZ"} in codes
    sms = {c["resultCodeId"] for c in van.get("canvassResponses/resultCodes", contactTypeId=37).json()}
    assert 130 in sms and 19 not in sms
    contact = {c["contactTypeId"]: c["name"] for c in van.get("canvassResponses/contactTypes").json()}
    assert contact == {1: "Phone", 2: "Walk", 19: "Auto Dial", 37: "SMS Text"}
    assert {"inputTypeId": 11, "name": "API"} in van.get("canvassResponses/inputTypes").json()
    questions = van.get("surveyQuestions", statuses="Active").json()
    assert questions["count"] == 3 and questions["nextPageLink"] is None
    assert questions["items"][0]["responses"][0]["surveyResponseId"] == 465468
    assert van.get("surveyQuestions/109150").json()["name"] == "Volunteer Ask"
    assert_error(van.get("surveyQuestions/1"), 404)
    assert van.get("activistCodes").json()["count"] == 5
    assert van.get("activistCodes/18917").json()["name"] == "Volunteer"
    profile = van.get("apiKeyProfiles").json()
    assert profile["count"] == 1 and profile["items"][0]["apiKeyTypeName"] == "Custom Integration"
    echo = van.post("echoes", {"message": "hello"})
    assert echo.status_code == 200 and echo.json() == {"message": "hello"}


def test_reset_drops_databases():
    emu = VanEmulator(seed_people=2)
    emu.database("a").events[1] = {"fake": True}
    emu.revoke_key("b")
    emu.reset()
    assert emu.database("a").events == {} and "b" not in emu._revoked


# ---------------------------------------------------------------------------------------------
# Faithfulness: the Parsons VAN client works unchanged against the emulator
# ---------------------------------------------------------------------------------------------
def test_parsons_van_client_against_emulator(server):
    pytest.importorskip("suds")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsons = pytest.importorskip("parsons")
    emu, base = server
    key = f"parsons-{uuid.uuid4().hex[:8]}"
    van = parsons.VAN(api_key=key, db="MyCampaign")
    van.connection.uri = van.connection.api.uri = f"{base}/v4/"

    loc = van.create_location("Campaign HQ", "123 Main St", None, "Springfield", "MO", "65806")
    assert van.create_location("Campaign HQ", "123 Main St", None, "Springfield", "MO", "65806") == loc
    event_id = van.create_event(
        "Barnstorm",
        "AK1",
        "2026-10-05T18:00:00-05:00",
        "2026-10-05T20:00:00-05:00",
        BARNSTORM,
        [HOST, PARTICIPANT],
        location_ids=[loc],
    )
    for i in range(55):
        van.create_event(
            f"Phone bank {i}", f"PB{i}", "2026-10-06T18:00:00-05:00", "2026-10-06T20:00:00-05:00", PHONE_BANK, [HOST]
        )
    events = van.get_events()
    assert events.num_rows == 56
    event = van.get_event(event_id)
    shift_id = event["shifts"][0]["eventShiftId"]
    signup_id = van.create_signup(100003, event_id, shift_id, PARTICIPANT, 1, loc)
    assert van.create_signup(100003, event_id, shift_id, PARTICIPANT, 11, loc) == signup_id
    signups = van.get_event_signups(event_id)
    assert signups.num_rows == 1 and signups[0]["status_name"] == "Confirmed"
    assert [s["statusId"] for s in van.get_signups_statuses(event_type_id=BARNSTORM)][0] == 1

    created = van.upsert_person(first_name="Grace", last_name="Hopper", email="grace@example.net")
    assert created["status"] == "UnmatchedStored"
    matched = van.upsert_person(first_name="Grace", last_name="Hopper", email="grace@example.net")
    assert matched["vanId"] == created["vanId"]  # Parsons followed the 302 to the record
    assert van.apply_response(100003, SURVEY, contact_type_id=1) == 204
    van.apply_canvass_result(100003, 18, contact_type_id=1)
    api_rows = [c for c in emu.dump(key)["canvass_responses"] if c["source"] == "api"]
    assert [c["resultCodeId"] for c in api_rows] == [None, 18]
    assert van.get_person(100003)["phones"][0]["phoneId"] == van_seed.person_phone_id(3)


def test_concurrent_writes_get_unique_ids(server, van):
    results, errors = [], []

    def worker(n):
        client = Van(van.base, van.key)
        for i in range(10):
            r = client.post(
                "people/findOrCreate",
                {"firstName": f"T{n}", "lastName": f"W{i}", "emails": [{"email": f"t{n}.w{i}@example.net"}]},
                allow_redirects=False,
            )
            (results if r.status_code == 201 else errors).append(r.json())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len({r["vanId"] for r in results}) == 80
