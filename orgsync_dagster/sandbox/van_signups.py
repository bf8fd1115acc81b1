"""VAN emulator handlers: event signups (participants) and signup statuses."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox import van_seed
from orgsync_dagster.sandbox.van_core import (
    DEFAULT_TZ,
    Call,
    bad_param,
    iso_z,
    json_response,
    no_content,
    not_found,
    parse_iso,
    ref_id,
    to_int,
)
from orgsync_dagster.sandbox.van_people import signup_contact

SIGNUPS_DEFAULT_TOP, SIGNUPS_MAX_TOP = 50, 200


def signup_view(db, signup: dict[str, Any]) -> dict[str, Any]:
    """A signup as VAN returns it: its person carries the contact fields (contactModeId, email, phone)."""
    view = db.signup_view(signup)
    view["person"].update(signup_contact(db.people.get(signup["vanId"])))
    return view


def _validate_signup(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    db = call.db
    van_id = ref_id(body, "person", "vanId", required=True)
    if van_id not in db.people:
        raise bad_param("'person.vanId' is not a valid person in the current context.", "person.vanId")
    event_id = ref_id(body, "event", "eventId", required=True)
    event = db.active_event(event_id)
    if event is None:
        raise bad_param("'event.eventId' is not a valid event in the current context.", "event.eventId")
    shift_id = ref_id(body, "shift", "eventShiftId", required=True)
    shift = next((s for s in event["shifts"] if s["eventShiftId"] == shift_id), None)
    if shift is None:
        raise bad_param(f"'shift.eventShiftId' is not a shift of event {event_id}.", "shift.eventShiftId")
    role_id = ref_id(body, "role", "roleId", required=True)
    if role_id not in event["roleIds"]:
        raise bad_param(f"'role.roleId' is not a role of event {event_id}.", "role.roleId")
    status_id = ref_id(body, "status", "statusId", required=True)
    if db.status_name(event["eventTypeId"], status_id) is None:
        raise bad_param(
            f"'status.statusId' is not a valid status for event type {event['eventTypeId']}.",
            "status.statusId",
        )
    location_id = ref_id(body, "location", "locationId", required=False)
    if event["locationIds"]:
        if location_id is None:
            raise bad_param("'location' is required because the event has locations.", "location")
        if location_id not in event["locationIds"]:
            raise bad_param(f"'location.locationId' is not a location of event {event_id}.", "location.locationId")
    elif location_id is not None:
        raise bad_param(f"Event {event_id} has no locations.", "location.locationId")
    start_ovr, end_ovr = body.get("startTimeOverride"), body.get("endTimeOverride")
    if (start_ovr is None) != (end_ovr is None):
        raise bad_param(
            "'startTimeOverride' and 'endTimeOverride' must be provided together.",
            "startTimeOverride",
            "endTimeOverride",
        )
    if start_ovr is not None and parse_iso(end_ovr, "endTimeOverride") <= parse_iso(start_ovr, "startTimeOverride"):
        raise bad_param("'endTimeOverride' must be after 'startTimeOverride'.", "endTimeOverride")
    notes = body.get("notes")
    if notes is not None and not isinstance(notes, list):
        raise bad_param("'notes' must be an array.", "notes")
    return {
        "vanId": van_id,
        "eventId": event_id,
        "eventShiftId": shift_id,
        "roleId": role_id,
        "statusId": status_id,
        "locationId": location_id,
        "startTimeOverride": start_ovr,
        "endTimeOverride": end_ovr,
        "supporterGroupId": to_int(body.get("supporterGroupId"), "supporterGroupId", required=False),
        "notes": notes,
        "_shift": shift,
    }


def _record_signup_contact(call: Call, signup: dict[str, Any]) -> None:
    """VAN writes a canvass response (Input Type API, today) with each signup create/update."""
    now = call.now()
    call.db.add_canvass_response(
        {
            "vanId": signup["vanId"],
            "contactTypeId": None,
            "inputTypeId": van_seed.DEFAULT_INPUT_TYPE_ID,
            "dateCanvassed": now.astimezone(DEFAULT_TZ).date().isoformat(),
            "resultCodeId": van_seed.SIGNUP_STATUS_RESULT_CODES.get(
                signup["statusId"], van_seed.SIGNUP_DEFAULT_RESULT_CODE
            ),
            "responses": [],
            "phoneId": None,
            "phone": None,
            "skipMatching": False,
            "source": "signup",
            "eventSignupId": signup["eventSignupId"],
        },
        iso_z(now, precise=True),
    )


def upsert_signup(call: Call) -> Response:
    """POST /signups: create, or update the signup with the same person+event+role+shift."""
    db = call.db
    fields = _validate_signup(call, call.body_object())
    shift = fields.pop("_shift")
    key = (fields["vanId"], fields["eventId"], fields["roleId"], fields["eventShiftId"])
    existing = next(
        (s for s in db.signups.values() if (s["vanId"], s["eventId"], s["roleId"], s["eventShiftId"]) == key),
        None,
    )
    stamp = iso_z(call.now())
    if existing is not None:
        existing["statusId"] = fields["statusId"]
        if fields["startTimeOverride"] is not None:
            existing["startTimeOverride"] = fields["startTimeOverride"]
            existing["endTimeOverride"] = fields["endTimeOverride"]
        if fields["locationId"] is not None:
            existing["locationId"] = fields["locationId"]
        existing["dateModified"] = stamp
        signup = existing
    else:
        signup_id = db.next_id("signup")
        signup = {
            "eventSignupId": signup_id,
            **fields,
            "startTimeOverride": fields["startTimeOverride"] or shift["startTime"],
            "endTimeOverride": fields["endTimeOverride"] or shift["endTime"],
            "dateModified": stamp,
        }
        db.signups[signup_id] = signup
    _record_signup_contact(call, signup)
    return call.created(signup["eventSignupId"], f"signups/{signup['eventSignupId']}")


def list_signups(call: Call) -> Response:
    db = call.db
    event_id, van_id = call.int_arg("eventId"), call.int_arg("vanId")
    if event_id is None and van_id is None:
        raise bad_param("Either 'eventId' or 'vanId' is required.", "eventId", "vanId")
    if event_id is not None and db.active_event(event_id) is None:
        raise not_found(f"Event {event_id} not found.")
    if van_id is not None and van_id not in db.people:
        raise not_found(f"Person {van_id} not found.")
    items = [
        s
        for s in sorted(db.signups.values(), key=lambda s: s["eventSignupId"])
        if (event_id is None or s["eventId"] == event_id)
        and (van_id is None or s["vanId"] == van_id)
        and db.active_event(s["eventId"]) is not None
    ]
    return call.page(items, SIGNUPS_DEFAULT_TOP, SIGNUPS_MAX_TOP, view=lambda s: signup_view(db, s))


def _signup_or_404(call: Call, signup_id: int) -> dict[str, Any]:
    signup = call.db.signups.get(signup_id)
    if signup is None or call.db.active_event(signup["eventId"]) is None:
        raise not_found(f"Signup {signup_id} not found.")
    return signup


def get_signup(call: Call, signup_id: int) -> Response:
    return json_response(signup_view(call.db, _signup_or_404(call, signup_id)))


def put_signup(call: Call, signup_id: int) -> Response:
    """PUT /signups/{id}: full update; person and event cannot change (delete + recreate)."""
    signup = _signup_or_404(call, signup_id)
    body = call.body_object()
    if body.get("eventSignupId") not in (None, signup_id):
        raise bad_param("'eventSignupId' must match the id in the URL.", "eventSignupId")
    fields = _validate_signup(call, body)
    shift = fields.pop("_shift")
    if fields["vanId"] != signup["vanId"]:
        raise bad_param("'person' cannot be changed; delete and re-create the signup.", "person")
    if fields["eventId"] != signup["eventId"]:
        raise bad_param("'event' cannot be changed; delete and re-create the signup.", "event")
    signup.update(fields)
    signup["startTimeOverride"] = fields["startTimeOverride"] or shift["startTime"]
    signup["endTimeOverride"] = fields["endTimeOverride"] or shift["endTime"]
    signup["dateModified"] = iso_z(call.now())
    return no_content()


def delete_signup(call: Call, signup_id: int) -> Response:
    _signup_or_404(call, signup_id)
    del call.db.signups[signup_id]
    return no_content()


def list_statuses(call: Call) -> Response:
    db = call.db
    event_id, type_id = call.int_arg("eventId"), call.int_arg("eventTypeId")
    if (event_id is None) == (type_id is None):
        raise bad_param("Exactly one of 'eventId' or 'eventTypeId' is required.", "eventId", "eventTypeId")
    if event_id is not None:
        event = db.active_event(event_id)
        if event is None:
            raise not_found(f"Event {event_id} not found.")
        type_id = event["eventTypeId"]
    event_type = db.event_types.get(type_id)
    if event_type is None:
        raise not_found(f"Event type {type_id} not found.")
    return json_response([dict(s) for s in event_type["statuses"]])
