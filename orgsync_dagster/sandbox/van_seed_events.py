"""Seed data of the VAN emulator, events side: roles, signup statuses, event types and codes (see van_seed)."""

from __future__ import annotations

from typing import Any

# ---------------------------------------------------------------------------------------------
# Events: roles, statuses, event types
# ---------------------------------------------------------------------------------------------
ROLES: dict[int, dict[str, Any]] = {
    111687: {"roleId": 111687, "name": "Host", "isEventLead": True},
    111688: {"roleId": 111688, "name": "Participant", "isEventLead": False},
    111689: {"roleId": 111689, "name": "Volunteer", "isEventLead": False},
    111690: {"roleId": 111690, "name": "Canvasser", "isEventLead": False},
    111691: {"roleId": 111691, "name": "Phone Banker", "isEventLead": False},
}
ROLE_IDS = {r["name"]: rid for rid, r in ROLES.items()}

STATUSES: dict[int, str] = {
    1: "Scheduled",
    2: "Completed",
    3: "Declined",
    4: "Invited",
    5: "Cancelled",
    6: "No Show",
    11: "Confirmed",
    14: "Tentative",
    15: "Walk In",
    18: "Left Msg",
    20: "Resched",
    23: "Conf Twice",
    29: "Texted",
    30: "Sched-Web",
}
STATUS_IDS = {name: sid for sid, name in STATUSES.items()}


def _event_type(
    type_id: int,
    name: str,
    roles: list[int],
    statuses: list[int],
    *,
    multiple_shifts: bool,
    multiple_locations: bool,
    location_required: bool,
    color: str,
) -> dict[str, Any]:
    return {
        "eventTypeId": type_id,
        "name": name,
        "canHaveMultipleShifts": multiple_shifts,
        "canHaveMultipleLocations": multiple_locations,
        "canHaveGoals": True,
        "canHaveRoleMaximums": True,
        "canHaveRoleMinimums": False,
        "canBeRepeatable": True,
        "roles": [dict(ROLES[r]) for r in roles],
        "statuses": [{"statusId": s, "name": STATUSES[s]} for s in statuses],
        "color": color,
        "isAtLeastOneLocationRequired": location_required,
        "defaultLocation": None,
        "isSharedWithMasterCommitteeByDefault": False,
        "isSharedWithChildCommitteesByDefault": False,
        "isOnlineActionsAvailable": False,
    }


EVENT_TYPES: dict[int, dict[str, Any]] = {
    t["eventTypeId"]: t
    for t in (
        _event_type(
            143855,
            "Barnstorm",
            [111687, 111688],
            [1, 2, 3, 4, 6, 11, 30],
            multiple_shifts=False,
            multiple_locations=False,
            location_required=True,
            color="#7B1FA2",
        ),
        _event_type(
            143856,
            "Phone Bank",
            [111687, 111689, 111691],
            [1, 2, 3, 4, 6, 11, 15, 18, 23, 29, 30],
            multiple_shifts=True,
            multiple_locations=False,
            location_required=False,
            color="#1565C0",
        ),
        _event_type(
            143857,
            "Canvass",
            [111687, 111688, 111690],
            [1, 2, 3, 4, 6, 11, 15, 18, 23, 30],
            multiple_shifts=True,
            multiple_locations=False,
            location_required=True,
            color="#2E7D32",
        ),
        _event_type(
            143858,
            "Volunteer DVC",
            [111687, 111689, 111690, 111691],
            [1, 2, 3, 4, 5, 6, 11, 14, 15, 18, 20, 23, 29, 30],
            multiple_shifts=True,
            multiple_locations=True,
            location_required=True,
            color="#EF6C00",
        ),
        _event_type(
            143859,
            "Meeting",
            [111687, 111688],
            [1, 2, 3, 4, 6, 11],
            multiple_shifts=False,
            multiple_locations=False,
            location_required=False,
            color="#455A64",
        ),
    )
}
EVENT_TYPE_IDS = {t["name"]: tid for tid, t in EVENT_TYPES.items()}

# Result code generated for the canvass response VAN records with each signup create/update.
SIGNUP_STATUS_RESULT_CODES: dict[int, int] = {3: 21, 18: 17}  # Declined -> Refused, Left Msg -> LM
SIGNUP_DEFAULT_RESULT_CODE = 14  # Canvassed


# Codes (tags and source codes) events can carry: GET /codes shape.
CODES: dict[int, dict[str, Any]] = {
    c["codeId"]: c
    for c in (
        {
            "codeId": 1001,
            "parentCodeId": None,
            "name": "GOTV",
            "description": "Get out the vote",
            "codeType": "Tag",
            "dateCreated": "2025-06-01T12:00:00Z",
            "dateModified": "2025-06-01T12:00:00Z",
            "supportedEntities": [{"name": "Events", "isSearchable": True, "isApplicable": True}],
        },
        {
            "codeId": 1002,
            "parentCodeId": None,
            "name": "Volunteer Recruitment",
            "description": "Volunteer recruitment events",
            "codeType": "Tag",
            "dateCreated": "2025-06-01T12:00:00Z",
            "dateModified": "2025-06-01T12:00:00Z",
            "supportedEntities": [{"name": "Events", "isSearchable": True, "isApplicable": True}],
        },
        {
            "codeId": 2001,
            "parentCodeId": None,
            "name": "ActionKit",
            "description": "Created from ActionKit",
            "codeType": "SourceCode",
            "dateCreated": "2025-06-01T12:00:00Z",
            "dateModified": "2025-06-01T12:00:00Z",
            "supportedEntities": [{"name": "Events", "isSearchable": True, "isApplicable": True}],
        },
    )
}
