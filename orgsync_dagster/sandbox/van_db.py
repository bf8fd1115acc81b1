"""One emulated VAN database (one API key + database mode): state, id allocation, JSON views.

Stored records are plain dicts; the ``*_view`` methods render them in VAN's wire shapes.
All access happens under the emulator's lock (see ``van.VanEmulator``).
"""

from __future__ import annotations

import copy
from typing import Any

from orgsync_dagster.sandbox import van_seed

# Expansion names for events / people that come back as ``null`` unless requested.
EVENT_EXPANDS = ("locations", "codes", "shifts", "roles", "notes")
EVENT_EXTRA_LIST_EXPANDS = {
    "onlineforms": "onlineForms",
    "ticketcategories": "ticketCategories",
    "voterregistrationbatches": "voterRegistrationBatches",
}
PERSON_EXPANDS = ("phones", "emails", "addresses")


class VanDatabase:
    """In-memory state of one VAN database (``mode`` 0 = MyVoters, 1 = MyCampaign)."""

    def __init__(self, key: str, mode: int, *, seed_people: int = van_seed.DEFAULT_SEED_PEOPLE):
        self.key = key
        self.mode = mode
        ref = van_seed.build_reference_data()
        self.event_types: dict[int, dict[str, Any]] = ref["event_types"]
        self.input_types: dict[int, dict[str, Any]] = {i["inputTypeId"]: i for i in ref["input_types"]}
        self.contact_types: dict[int, dict[str, Any]] = {c["contactTypeId"]: c for c in ref["contact_types"]}
        self.result_codes: dict[int, dict[str, Any]] = {r["resultCodeId"]: r for r in ref["result_codes"]}
        self.survey_questions: dict[int, dict[str, Any]] = {q["surveyQuestionId"]: q for q in ref["survey_questions"]}
        self.activist_codes: dict[int, dict[str, Any]] = {a["activistCodeId"]: a for a in ref["activist_codes"]}
        self.codes: dict[int, dict[str, Any]] = ref["codes"]
        self.people: dict[int, dict[str, Any]] = {p["vanId"]: p for p in van_seed.build_people(seed_people)}
        self.events: dict[int, dict[str, Any]] = {}
        self.locations: dict[int, dict[str, Any]] = {}
        self.signups: dict[int, dict[str, Any]] = {}
        self.canvass_responses: list[dict[str, Any]] = []
        self.canvass_responses_deduplicated = 0
        first_new_person = max(200_000, van_seed.PEOPLE_FIRST_VAN_ID + seed_people)
        self._next = {
            "event": 1001,
            "shift": 200_001,
            "location": 201,
            "signup": 700_001,
            "canvass": 1,
            "person": first_new_person,
            "phone": 20_000_001,
            "address": 3_000_001,
        }

    # ------------------------------------------------------------------------------------------
    def next_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def active_event(self, event_id: int) -> dict[str, Any] | None:
        event = self.events.get(event_id)
        return event if event is not None and event["isActive"] else None

    def role(self, role_id: int) -> dict[str, Any] | None:
        for event_type in self.event_types.values():
            for role in event_type["roles"]:
                if role["roleId"] == role_id:
                    return role
        return None

    def status_name(self, event_type_id: int, status_id: int) -> str | None:
        for status in self.event_types[event_type_id]["statuses"]:
            if status["statusId"] == status_id:
                return status["name"]
        return None

    def add_canvass_response(self, record: dict[str, Any], received_at: str) -> dict[str, Any]:
        """Append one contact-history row (server-assigned id + receive time)."""
        stored = {"canvassResponseId": self.next_id("canvass"), **record, "receivedAt": received_at}
        self.canvass_responses.append(stored)
        return stored

    # ------------------------------------------------------------------------------------------
    # Views (wire shapes)
    # ------------------------------------------------------------------------------------------
    def location_view(self, loc: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(loc)

    def location_ref(self, location_id: int | None) -> dict[str, Any] | None:
        loc = self.locations.get(location_id) if location_id is not None else None
        if loc is None:
            return None
        return {"locationId": loc["locationId"], "name": loc["name"], "displayName": loc["displayName"]}

    def event_view(self, event: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        event_type = self.event_types[event["eventTypeId"]]
        view: dict[str, Any] = {
            "eventId": event["eventId"],
            "name": event["name"],
            "shortName": event["shortName"],
            "description": event["description"],
            "startDate": event["startDate"],
            "endDate": event["endDate"],
            "eventType": {"eventTypeId": event_type["eventTypeId"], "name": event_type["name"]},
            "isOnlyEditableByCreatingUser": event["isOnlyEditableByCreatingUser"],
            "isPubliclyViewable": event["isPubliclyViewable"],
            "locations": None,
            "codes": None,
            "notes": None,
            "shifts": None,
            "roles": None,
            "districtFieldValue": event["districtFieldValue"],
            "voterRegistrationBatches": None,
            "createdDate": event["createdDate"],
            "isActive": event["isActive"],
            "dotNetTimeZoneId": event["dotNetTimeZoneId"],
        }
        if "locations" in expand:
            view["locations"] = [
                self.location_view(self.locations[i]) for i in event["locationIds"] if i in self.locations
            ]
        if "codes" in expand:
            view["codes"] = [
                copy.deepcopy(self.codes[c["codeId"]]) for c in event["codes"] if c["codeId"] in self.codes
            ]
        if "notes" in expand:
            view["notes"] = copy.deepcopy(event["notes"])
        if "shifts" in expand:
            view["shifts"] = copy.deepcopy(event["shifts"])
        if "roles" in expand:
            view["roles"] = [{**self.role(r), "min": None, "max": None, "goal": None} for r in event["roleIds"]]
        for lower, prop in EVENT_EXTRA_LIST_EXPANDS.items():
            if lower in expand:
                view[prop] = []
        return view

    def signup_view(self, signup: dict[str, Any]) -> dict[str, Any]:
        person = self.people.get(signup["vanId"], {})
        event = self.events[signup["eventId"]]
        shift = next((s for s in event["shifts"] if s["eventShiftId"] == signup["eventShiftId"]), None)
        role = self.role(signup["roleId"]) or {}
        return {
            "eventSignupId": signup["eventSignupId"],
            "person": {
                "vanId": signup["vanId"],
                "firstName": person.get("firstName"),
                "middleName": person.get("middleName"),
                "lastName": person.get("lastName"),
            },
            "event": {"eventId": event["eventId"], "name": event["name"], "shortName": event["shortName"]},
            "shift": {"eventShiftId": signup["eventShiftId"], "name": shift["name"] if shift else None},
            "role": {"roleId": signup["roleId"], "name": role.get("name")},
            "status": {
                "statusId": signup["statusId"],
                "name": self.status_name(event["eventTypeId"], signup["statusId"]),
            },
            "location": self.location_ref(signup["locationId"]),
            "startTimeOverride": signup["startTimeOverride"],
            "endTimeOverride": signup["endTimeOverride"],
            "supporterGroupId": signup["supporterGroupId"],
            "isOfflineSignup": False,
            "dateModified": signup["dateModified"],
            "modifiedBy": None,
            "notes": copy.deepcopy(signup["notes"]),
        }

    def person_view(self, person: dict[str, Any], expand: set[str]) -> dict[str, Any]:
        view = {k: copy.deepcopy(v) for k, v in person.items() if k not in ("activistCodeIds", "surveyResponses")}
        for prop in PERSON_EXPANDS:
            if prop not in expand:
                view[prop] = None
        return view

    # ------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """JSON-able snapshot (everything expanded, inactive events included)."""
        everything = set(EVENT_EXPANDS)
        return copy.deepcopy(
            {
                "key": self.key,
                "mode": self.mode,
                "events": [self.event_view(e, everything) for e in self.events.values()],
                "locations": [self.location_view(loc) for loc in self.locations.values()],
                "signups": [self.signup_view(s) for s in self.signups.values()],
                "people": list(self.people.values()),
                "canvass_responses": self.canvass_responses,
                "canvass_responses_deduplicated": self.canvass_responses_deduplicated,
                "event_types": list(self.event_types.values()),
                "input_types": list(self.input_types.values()),
                "contact_types": list(self.contact_types.values()),
                "result_codes": list(self.result_codes.values()),
                "survey_questions": list(self.survey_questions.values()),
                "activist_codes": list(self.activist_codes.values()),
                "codes": list(self.codes.values()),
            }
        )
