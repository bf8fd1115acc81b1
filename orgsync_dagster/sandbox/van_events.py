"""VAN emulator handlers: events, event shifts and event types (locations: van_locations.py).

Every handler takes the request context (``van_core.Call``) plus route arguments and returns a
werkzeug ``Response`` or raises ``VanError``. Runs under the emulator lock.
"""

from __future__ import annotations

import copy
from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_core import (
    Call,
    bad_param,
    iso_z,
    json_response,
    no_content,
    not_found,
    parse_iso,
    ref_id,
    text_value,
    to_bool,
    to_int,
)
from orgsync_dagster.sandbox.van_db import VanDatabase

EVENTS_DEFAULT_TOP, EVENTS_MAX_TOP = 10, 50


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------
def _list(body: dict[str, Any], prop: str) -> list[Any]:
    value = body.get(prop)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_param(f"'{prop}' must be an array.", prop)
    return value


def _validate_event(call: Call, body: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a full Event body; return the stored fields (new shifts get ids last)."""
    db = call.db
    name = text_value(body, "name", 500, required=True)
    short_name = text_value(body, "shortName", 12)
    description = text_value(body, "description", 500)
    start = parse_iso(body.get("startDate"), "startDate")
    end = parse_iso(body.get("endDate"), "endDate")
    if end <= start:
        raise bad_param("'endDate' must be after 'startDate'.", "endDate")

    type_id = ref_id(body, "eventType", "eventTypeId", required=True)
    event_type = db.event_types.get(type_id)
    if event_type is None:
        raise bad_param("'eventType' must be a valid event type in the current context.", "eventType")

    roles = _list(body, "roles")
    if not roles:
        raise bad_param("At least one role is required.", "roles")
    valid_roles = {r["roleId"] for r in event_type["roles"]}
    role_ids: list[int] = []
    for i, role in enumerate(roles):
        rid = to_int(role.get("roleId") if isinstance(role, dict) else None, f"roles[{i}].roleId")
        if rid not in valid_roles:
            raise bad_param(f"'roles[{i}].roleId' must be a valid role for event type {type_id}.", f"roles[{i}].roleId")
        if rid not in role_ids:
            role_ids.append(rid)

    location_ids: list[int] = []
    for i, loc in enumerate(_list(body, "locations")):
        lid = to_int(loc.get("locationId") if isinstance(loc, dict) else None, f"locations[{i}].locationId")
        if lid not in db.locations:
            raise bad_param(f"'locations[{i}].locationId' is not a valid location.", f"locations[{i}].locationId")
        if lid not in location_ids:
            location_ids.append(lid)
    if not location_ids and event_type["isAtLeastOneLocationRequired"]:
        raise bad_param(f"Event type '{event_type['name']}' requires at least one location.", "locations")
    if len(location_ids) > 1 and not event_type["canHaveMultipleLocations"]:
        raise bad_param(f"Event type '{event_type['name']}' cannot have multiple locations.", "locations")

    old_shift_ids = {s["eventShiftId"] for s in existing["shifts"]} if existing else set()
    shifts: list[dict[str, Any]] = []
    for i, shift in enumerate(_list(body, "shifts")):
        if not isinstance(shift, dict):
            raise bad_param(f"'shifts[{i}]' must be an object.", f"shifts[{i}]")
        shifts.append(_validate_shift(shift, f"shifts[{i}]", old_shift_ids))
    if not shifts:
        shifts = [
            {"eventShiftId": None, "name": "Default Shift", "startTime": body["startDate"], "endTime": body["endDate"]}
        ]
    if len(shifts) > 1 and not event_type["canHaveMultipleShifts"]:
        raise bad_param(f"Event type '{event_type['name']}' cannot have multiple shifts.", "shifts")

    codes: list[dict[str, Any]] = []
    for i, code in enumerate(_list(body, "codes")):
        cid = code.get("codeId", code.get("codeID")) if isinstance(code, dict) else None
        cid = to_int(cid, f"codes[{i}].codeId")
        if cid not in db.codes:
            raise bad_param(f"'codes[{i}].codeId' must be a valid code in the current context.", f"codes[{i}].codeId")
        if all(c["codeId"] != cid for c in codes):
            codes.append({"codeId": cid})
    if sum(1 for c in codes if db.codes[c["codeId"]]["codeType"] == "SourceCode") > 1:
        raise bad_param("An event can have at most one source code.", "codes")
    notes = []
    for i, n in enumerate(_list(body, "notes")):
        text = n.get("text") if isinstance(n, dict) else n
        if not isinstance(text, str) or not text.strip():
            raise bad_param(f"'notes[{i}].text' is required.", f"notes[{i}].text")
        restricted = to_bool(n.get("isViewRestricted") if isinstance(n, dict) else None, f"notes[{i}].isViewRestricted")
        notes.append({"noteId": i + 1, "text": text, "isViewRestricted": bool(restricted)})
    return {
        "name": name,
        "shortName": short_name,
        "description": description,
        "startDate": body["startDate"],
        "endDate": body["endDate"],
        "eventTypeId": type_id,
        "isOnlyEditableByCreatingUser": bool(
            to_bool(body.get("isOnlyEditableByCreatingUser"), "isOnlyEditableByCreatingUser", False)
        ),
        "isPubliclyViewable": to_bool(body.get("isPubliclyViewable"), "isPubliclyViewable"),
        "locationIds": location_ids,
        "roleIds": role_ids,
        "shifts": shifts,
        "codes": codes,
        "notes": notes,
        "districtFieldValue": text_value(body, "districtFieldValue", 50),
        "dotNetTimeZoneId": body.get("dotNetTimeZoneId") or "Eastern Standard Time",
    }


def _validate_shift(shift: dict[str, Any], prefix: str, keep_ids: set[int]) -> dict[str, Any]:
    name = shift.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_param(f"'{prefix}.name' is required.", f"{prefix}.name")
    start = parse_iso(shift.get("startTime"), f"{prefix}.startTime")
    end = parse_iso(shift.get("endTime"), f"{prefix}.endTime")
    if end <= start:
        raise bad_param(f"'{prefix}.endTime' must be after '{prefix}.startTime'.", f"{prefix}.endTime")
    sid = shift.get("eventShiftId")
    return {
        "eventShiftId": sid if isinstance(sid, int) and sid in keep_ids else None,
        "name": name,
        "startTime": shift["startTime"],
        "endTime": shift["endTime"],
    }


def _assign_shift_ids(db: VanDatabase, shifts: list[dict[str, Any]]) -> None:
    for shift in shifts:
        if shift["eventShiftId"] is None:
            shift["eventShiftId"] = db.next_id("shift")


def _event_or_404(db: VanDatabase, event_id: int) -> dict[str, Any]:
    event = db.active_event(event_id)
    if event is None:
        raise not_found(f"Event {event_id} not found.")
    return event


def list_events(call: Call) -> Response:
    db = call.db
    type_ids = call.csv_ints("eventTypeIds")
    code_ids = call.csv_ints("codeIds")
    after = parse_iso(call.arg("startingAfter"), "startingAfter").date() if call.arg("startingAfter") else None
    before = parse_iso(call.arg("startingBefore"), "startingBefore").date() if call.arg("startingBefore") else None
    district = call.arg("districtFieldValue")
    items = []
    for event in db.events.values():
        if not event["isActive"]:
            continue
        if type_ids is not None and event["eventTypeId"] not in type_ids:
            continue
        if code_ids is not None and not {c["codeId"] for c in event["codes"]} & set(code_ids):
            continue
        if district is not None and event["districtFieldValue"] != district:
            continue
        start_day = parse_iso(event["startDate"], "startDate").date()
        if after is not None and not start_day > after:
            continue
        if before is not None and not start_day < before:
            continue
        items.append(event)
    expand = call.expand()
    return call.page(items, EVENTS_DEFAULT_TOP, EVENTS_MAX_TOP, view=lambda e: db.event_view(e, expand))


def get_event(call: Call, event_id: int) -> Response:
    event = _event_or_404(call.db, event_id)
    return json_response(call.db.event_view(event, call.expand()))


def create_event(call: Call) -> Response:
    db = call.db
    fields = _validate_event(call, call.body_object(), None)
    _assign_shift_ids(db, fields["shifts"])
    event_id = db.next_id("event")
    db.events[event_id] = {"eventId": event_id, **fields, "createdDate": iso_z(call.now()), "isActive": True}
    return call.created(event_id, f"events/{event_id}")


def put_event(call: Call, event_id: int) -> Response:
    db = call.db
    event = _event_or_404(db, event_id)
    body = call.body_object()
    if body.get("eventId") not in (None, event_id):
        raise bad_param("'eventId' must match the eventId in the URL.", "eventId")
    fields = _validate_event(call, body, event)
    _assign_shift_ids(db, fields["shifts"])
    event.update(fields)
    return no_content()


def patch_event(call: Call, event_id: int) -> Response:
    event = call.db.events.get(event_id)
    if event is None:
        raise not_found(f"Event {event_id} not found.")
    body = call.body_object()
    extra = sorted(set(body) - {"eventId", "isActive"})
    if extra:
        raise bad_param("Only 'isActive' can be changed with PATCH.", *extra)
    if body.get("eventId") not in (None, event_id):
        raise bad_param("'eventId' must match the eventId in the URL.", "eventId")
    if "isActive" not in body or not isinstance(body["isActive"], bool):
        raise bad_param("'isActive' is required and must be a boolean.", "isActive")
    event["isActive"] = body["isActive"]
    return no_content()


def delete_event(call: Call, event_id: int) -> Response:
    db = call.db
    if db.events.pop(event_id, None) is None:
        raise not_found(f"Event {event_id} not found.")
    for sid in [s for s, signup in db.signups.items() if signup["eventId"] == event_id]:
        del db.signups[sid]
    return no_content()


def add_shift(call: Call, event_id: int) -> Response:
    db = call.db
    event = _event_or_404(db, event_id)
    shift = _validate_shift(call.body_object(), "shift", set())
    event_type = db.event_types[event["eventTypeId"]]
    if event["shifts"] and not event_type["canHaveMultipleShifts"]:
        raise bad_param(f"Event type '{event_type['name']}' cannot have multiple shifts.", "shifts")
    _assign_shift_ids(db, [shift])
    event["shifts"].append(shift)
    return call.created(shift["eventShiftId"], f"events/{event_id}")


def list_event_types(call: Call) -> Response:
    return json_response(copy.deepcopy(list(call.db.event_types.values())))


def get_event_type(call: Call, type_id: int) -> Response:
    event_type = call.db.event_types.get(type_id)
    if event_type is None:
        raise not_found(f"Event type {type_id} not found.")
    return json_response(copy.deepcopy(event_type))
