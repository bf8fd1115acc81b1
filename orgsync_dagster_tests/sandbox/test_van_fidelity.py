"""The VAN emulator answers with the fields VAN documents for each object, so a client written against VAN works
unchanged. Each list below is VAN's published field list: docs.ngpvan.com as captured by the OpenAPI registry
behind it (the generated `ngpvan-api-client` models) and the field lists in shared/reference/api-contracts.md
(A.5.1 events and event types, A.5.2 locations, A.5.5 canvass reference data)."""

import pytest
import requests

from orgsync_dagster.sandbox.server import SandboxServer

PAGE = {"items", "count", "nextPageLink"}
EVENT = {
    "eventId", "name", "shortName", "description", "startDate", "endDate", "eventType",
    "isOnlyEditableByCreatingUser", "isPubliclyViewable", "locations", "codes", "notes", "shifts", "roles",
    "districtFieldValue", "voterRegistrationBatches", "createdDate", "isActive", "dotNetTimeZoneId",
}  # fmt: skip
EVENT_TYPE_REF = {"eventTypeId", "name"}
SHIFT = {"eventShiftId", "name", "startTime", "endTime"}
EVENT_ROLE = {"roleId", "name", "isEventLead", "min", "max", "goal"}
NOTE = {"noteId", "text", "isViewRestricted"}
CODE = {"codeId", "parentCodeId", "name", "description", "codeType", "dateCreated", "dateModified", "supportedEntities"}
SUPPORTED_ENTITY = {"name", "isSearchable", "isApplicable"}
EVENT_TYPE = {
    "eventTypeId", "name", "canHaveMultipleShifts", "canHaveMultipleLocations", "canHaveGoals",
    "canHaveRoleMaximums", "canHaveRoleMinimums", "canBeRepeatable", "roles", "statuses", "color",
    "isAtLeastOneLocationRequired", "defaultLocation", "isSharedWithMasterCommitteeByDefault",
    "isSharedWithChildCommitteesByDefault", "isOnlineActionsAvailable",
}  # fmt: skip
ROLE = {"roleId", "name", "isEventLead"}
STATUS = {"statusId", "name"}
LOCATION = {"locationId", "name", "displayName", "address", "notes", "codes"}
ADDRESS = {
    "addressId", "addressLine1", "addressLine2", "addressLine3", "city", "stateOrProvince", "zipOrPostalCode",
    "geoLocation", "countryCode", "preview", "type", "isPreferred",
}  # fmt: skip
SURVEY_QUESTION = {
    "surveyQuestionId", "type", "cycle", "name", "mediumName", "shortName", "scriptQuestion", "status", "responses"
}  # fmt: skip
SURVEY_RESPONSE = {"surveyResponseId", "name", "mediumName", "shortName"}
ACTIVIST_CODE = {"activistCodeId", "type", "name", "mediumName", "shortName", "description", "scriptQuestion", "status"}
RESULT_CODE = {"resultCodeId", "name", "mediumName", "shortName"}
CONTACT_TYPE = {"contactTypeId", "name", "channelTypeName"}
INPUT_TYPE = {"inputTypeId", "name"}
API_KEY_PROFILE = {
    "databaseName", "hasMyVoters", "hasMyCampaign", "committeeName", "apiKeyTypeName", "keyReference",
    "userFirstName", "userLastName", "username",
}  # fmt: skip


@pytest.fixture(scope="module")
def van():
    with SandboxServer(with_s3=False) as server:
        session = requests.Session()
        session.auth = ("fidelity-test", "fidelity-key|1")
        base = server.urls.van_url

        def call(method, path, **kw):
            resp = session.request(method, base + path, timeout=10, **kw)
            assert resp.status_code < 300, resp.text
            return resp.json() if resp.content else None

        yield call


def _keys(obj: dict) -> set:
    return set(obj)


@pytest.fixture(scope="module")
def event_id(van):
    location = van(
        "POST",
        "locations/findOrCreate",
        json={
            "name": "Union Hall",
            "address": {
                "addressLine1": "12 Main St",
                "city": "Lansing",
                "stateOrProvince": "MI",
                "zipOrPostalCode": "48933",
            },
        },
    )
    return van(
        "POST",
        "events",
        json={
            "name": "Canvass launch",
            "shortName": "AK1001",
            "startDate": "2026-10-05T10:00:00-04:00",
            "endDate": "2026-10-05T12:00:00-04:00",
            "eventType": {"eventTypeId": 143857},
            "roles": [{"roleId": 111687}, {"roleId": 111688}],
            "locations": [{"locationId": location}],
            "codes": [{"codeId": 1001}, {"codeId": 2001}],
            "notes": [{"text": "Bring clipboards", "isViewRestricted": False}],
            "shifts": [
                {"name": "Morning", "startTime": "2026-10-05T10:00:00-04:00", "endTime": "2026-10-05T12:00:00-04:00"}
            ],
        },
    )


def test_events_carry_the_documented_fields_collapsed_and_expanded(van, event_id):
    page = van("GET", "events", params={"$top": 50})
    assert _keys(page) == PAGE
    plain = page["items"][0]
    assert _keys(plain) == EVENT and _keys(plain["eventType"]) == EVENT_TYPE_REF
    assert all(plain[k] is None for k in ("locations", "codes", "notes", "shifts", "roles"))  # unless expanded
    full = van("GET", f"events/{event_id}", params={"$expand": "locations,codes,notes,shifts,roles"})
    assert _keys(full) == EVENT
    assert all(_keys(s) == SHIFT for s in full["shifts"])
    assert all(_keys(r) == EVENT_ROLE for r in full["roles"])
    assert all(_keys(n) == NOTE for n in full["notes"]) and full["notes"][0]["text"] == "Bring clipboards"
    assert [c["name"] for c in full["codes"]] == ["GOTV", "ActionKit"]
    for code in full["codes"]:
        assert _keys(code) == CODE and all(_keys(e) == SUPPORTED_ENTITY for e in code["supportedEntities"])
    (loc,) = full["locations"]
    assert _keys(loc) == LOCATION and _keys(loc["address"]) == ADDRESS


def test_event_types_locations_and_codes_carry_the_documented_fields(van, event_id):
    types = van("GET", "events/types")
    assert isinstance(types, list) and types  # a plain array, not a page
    for t in types:
        assert _keys(t) == EVENT_TYPE
        assert all(_keys(r) == ROLE for r in t["roles"]) and all(_keys(s) == STATUS for s in t["statuses"])
    assert _keys(van("GET", f"events/types/{types[0]['eventTypeId']}")) == EVENT_TYPE
    locations = van("GET", "locations")
    assert _keys(locations) == PAGE and all(_keys(loc) == LOCATION for loc in locations["items"])
    codes = van("GET", "codes", params={"codeType": "Tag"})
    assert _keys(codes) == PAGE and {c["codeType"] for c in codes["items"]} == {"Tag"}
    assert all(_keys(c) == CODE for c in codes["items"])
    assert _keys(van("GET", "codes/2001")) == CODE


def test_canvass_reference_data_carries_the_documented_fields(van):
    questions = van("GET", "surveyQuestions")
    assert _keys(questions) == PAGE
    for q in questions["items"]:
        assert _keys(q) == SURVEY_QUESTION and all(_keys(r) == SURVEY_RESPONSE for r in q["responses"])
    assert _keys(van("GET", f"surveyQuestions/{questions['items'][0]['surveyQuestionId']}")) == SURVEY_QUESTION
    codes = van("GET", "activistCodes")
    assert _keys(codes) == PAGE and all(_keys(c) == ACTIVIST_CODE for c in codes["items"])
    assert _keys(van("GET", f"activistCodes/{codes['items'][0]['activistCodeId']}")) == ACTIVIST_CODE
    assert all(_keys(r) == RESULT_CODE for r in van("GET", "canvassResponses/resultCodes"))
    assert all(_keys(c) == CONTACT_TYPE for c in van("GET", "canvassResponses/contactTypes"))
    assert all(_keys(i) == INPUT_TYPE for i in van("GET", "canvassResponses/inputTypes"))
    profiles = van("GET", "apiKeyProfiles")
    assert _keys(profiles) == PAGE and _keys(profiles["items"][0]) == API_KEY_PROFILE


def test_an_unknown_code_or_two_source_codes_are_refused_like_van(van):
    body = {
        "name": "x",
        "startDate": "2026-10-05T10:00:00-04:00",
        "endDate": "2026-10-05T12:00:00-04:00",
        "eventType": {"eventTypeId": 143859},
        "roles": [{"roleId": 111687}],
    }
    with pytest.raises(AssertionError, match="must be a valid code"):
        van("POST", "events", json={**body, "codes": [{"codeId": 999}]})
    two_sources = {**body, "codes": [{"codeId": 2001}, {"codeId": 2001}]}
    assert isinstance(van("POST", "events", json=two_sources), int)  # the same code twice is one code
