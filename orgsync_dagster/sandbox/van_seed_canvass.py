"""Seed data of the VAN emulator, canvassing side: input and contact types, result codes, survey questions and
activist codes (see van_seed)."""

from __future__ import annotations

from typing import Any

# ---------------------------------------------------------------------------------------------
# Canvass reference data
# ---------------------------------------------------------------------------------------------
INPUT_TYPES: list[dict[str, Any]] = [
    {"inputTypeId": 2, "name": "Bulk"},
    {"inputTypeId": 4, "name": "Grid"},
    {"inputTypeId": 10, "name": "VPB"},
    {"inputTypeId": 11, "name": "API"},
    {"inputTypeId": 14, "name": "MiniVAN"},
]
DEFAULT_INPUT_TYPE_ID = 11

CONTACT_TYPES: list[dict[str, Any]] = [
    {"contactTypeId": 1, "name": "Phone", "channelTypeName": "Phone"},
    {"contactTypeId": 2, "name": "Walk", "channelTypeName": "InPerson"},
    {"contactTypeId": 19, "name": "Auto Dial", "channelTypeName": "Phone"},
    {"contactTypeId": 37, "name": "SMS Text", "channelTypeName": "SMS"},
]

_PHONE_LIKE = [1, 19, 37]
_ALL_CONTACT = [1, 2, 19, 37]
# (resultCodeId, name, mediumName, shortName, contact types where it is available)
_RESULT_CODES: list[tuple[int, str, str, str, list[int]]] = [
    (14, "Canvassed", "Canvassed", "CV", _ALL_CONTACT),
    (17, "Left Message", "Left Msg", "LM", [1, 19]),
    (18, "Busy", "Busy", "BZ", [1, 19]),
    (19, "Not Home", "Not Home", "NH", [2]),
    (20, "Moved", "Moved", "MV", _ALL_CONTACT),
    (21, "Refused", "Refused", "RF", _ALL_CONTACT),
    (22, "Wrong Number", "Wrong #", "WN", _PHONE_LIKE),
    (23, "Deceased", "Deceased", "DC", _ALL_CONTACT),
    (24, "Inaccessible", "Inaccess", "IN", [2]),
    (25, "Disconnected", "Disconn", "DI", [1, 19]),
    (130, "Do Not Text", "Do Not Text", "DT", [37]),
    (136, "Deliverability Error", "Deliv Err", "DE", _PHONE_LIKE),
]
RESULT_CODES: list[dict[str, Any]] = [
    {"resultCodeId": rid, "name": n, "mediumName": m, "shortName": s, "contactTypeIds": list(ct)}
    for rid, n, m, s, ct in _RESULT_CODES
]
RESULT_CODE_IDS = {r["name"]: r["resultCodeId"] for r in RESULT_CODES}


def _question(
    qid: int, name: str, script: str, qtype: str, status: str, responses: list[tuple[int, str, str]]
) -> dict[str, Any]:
    return {
        "surveyQuestionId": qid,
        "type": qtype,
        "cycle": 2026 if status == "Active" else 2024,
        "name": name,
        "mediumName": name[:20],
        "shortName": name[:3].upper(),
        "scriptQuestion": script,
        "status": status,
        "responses": [
            {"surveyResponseId": rid, "name": rname, "mediumName": rname[:20], "shortName": short}
            for rid, rname, short in responses
        ],
    }


SURVEY_QUESTIONS: list[dict[str, Any]] = [
    _question(
        109149,
        "Support ID",
        "Can we count on your support in November?",
        "Candidate",
        "Active",
        [
            (465468, "Strong Support", "1"),
            (465469, "Lean Support", "2"),
            (465470, "Undecided", "3"),
            (465471, "Lean Oppose", "4"),
            (465472, "Strong Oppose", "5"),
        ],
    ),
    _question(
        109150,
        "Volunteer Ask",
        "Will you volunteer with us this month?",
        "Volunteer",
        "Active",
        [(465473, "Yes", "Y"), (465474, "Maybe", "M"), (465475, "No", "N")],
    ),
    _question(
        109151,
        "Top Issue",
        "What issue matters most to you?",
        "Issue",
        "Active",
        [
            (465476, "Healthcare", "HC"),
            (465477, "Economy", "EC"),
            (465478, "Climate", "CL"),
            (465479, "Education", "ED"),
        ],
    ),
    _question(
        109152,
        "2024 Support",
        "Did you support us in 2024?",
        "Candidate",
        "Archived",
        [(465480, "Yes", "Y"), (465481, "No", "N")],
    ),
]

ACTIVIST_CODES: list[dict[str, Any]] = [
    {
        "activistCodeId": 18917,
        "type": "Volunteer",
        "name": "Volunteer",
        "mediumName": "Volunteer",
        "shortName": "Vol",
        "description": "Has volunteered",
        "scriptQuestion": "Volunteer?",
        "status": "Active",
    },
    {
        "activistCodeId": 18918,
        "type": "Constituency",
        "name": "Member",
        "mediumName": "Member",
        "shortName": "Mbr",
        "description": "Dues-paying member",
        "scriptQuestion": "Member?",
        "status": "Active",
    },
    {
        "activistCodeId": 18919,
        "type": "Volunteer",
        "name": "Event Host",
        "mediumName": "Evt Host",
        "shortName": "Hst",
        "description": "Has hosted an event",
        "scriptQuestion": "Host?",
        "status": "Active",
    },
    {
        "activistCodeId": 18920,
        "type": "Fundraising",
        "name": "Donor Prospect",
        "mediumName": "Donor Pros",
        "shortName": "Dnr",
        "description": "Potential donor",
        "scriptQuestion": "Donate?",
        "status": "Active",
    },
    {
        "activistCodeId": 18921,
        "type": "Petition",
        "name": "Old Petition",
        "mediumName": "Old Pet",
        "shortName": "Pet",
        "description": "2022 petition signer",
        "scriptQuestion": "Signed?",
        "status": "Archived",
    },
]
