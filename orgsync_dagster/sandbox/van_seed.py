"""Deterministic, realistic seed data for the NGP VAN v4 emulator.

Every new emulator database (one per API key and database mode) starts from a fresh deep copy of
this data, so ids are stable across runs, keys and processes. Ids follow the shapes seen in real
VAN instances (6-digit event type / role ids, small status and result-code ids, 6-digit survey
question/response ids, 8-digit phone ids), but the values themselves are invented.

Ids other modules may rely on (keep them stable):

* Event types (``EVENT_TYPE_IDS``): 143855 Barnstorm, 143856 Phone Bank, 143857 Canvass,
  143858 Volunteer DVC, 143859 Meeting.
* Roles (``ROLE_IDS``): 111687 Host (event lead), 111688 Participant, 111689 Volunteer,
  111690 Canvasser, 111691 Phone Banker.
* Signup statuses (``STATUS_IDS``): 1 Scheduled, 2 Completed, 3 Declined, 4 Invited, 5 Cancelled,
  6 No Show, 11 Confirmed, 14 Tentative, 15 Walk In, 18 Left Msg, 20 Resched, 23 Conf Twice,
  29 Texted, 30 Sched-Web (which ones an event type allows: ``EVENT_TYPES[...]["statuses"]``).
* Input types: 11 API (default), 2 Bulk, 4 Grid, 10 VPB, 14 MiniVAN.
* Contact types: 1 Phone, 2 Walk, 19 Auto Dial, 37 SMS Text.
* Result codes: 14 Canvassed, 17 Left Message, 18 Busy, 19 Not Home, 20 Moved, 21 Refused,
  22 Wrong Number, 23 Deceased, 24 Inaccessible, 25 Disconnected, 130 Do Not Text,
  136 Deliverability Error (availability per contact type in ``RESULT_CODES``).
* Survey questions 109149 (Support ID; responses 465468..465472), 109150 (Volunteer Ask;
  465473..465475), 109151 (Top Issue; 465476..465479), 109152 (2024 Support, Archived; 465480..465481).
* Activist codes 18917 Volunteer, 18918 Member, 18919 Event Host, 18920 Donor Prospect,
  18921 Old Petition (Archived).
* People: vanIds ``PEOPLE_FIRST_VAN_ID`` .. ``PEOPLE_FIRST_VAN_ID + n - 1`` (100000..100199 by
  default); see ``build_people`` for the deterministic names, emails, phones and addresses.
"""

from __future__ import annotations

import copy
from typing import Any

PEOPLE_FIRST_VAN_ID = 100000
DEFAULT_SEED_PEOPLE = 200

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

# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------
_FIRST = [
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Patricia",
    "David",
    "Jennifer",
    "William",
    "Elizabeth",
    "Carlos",
    "Aisha",
    "Thomas",
    "Nguyen",
    "Daniel",
    "Keisha",
    "Matthew",
    "Sofia",
    "Anthony",
    "Priya",
    "Joseph",
    "Fatima",
    "Kevin",
    "Rosa",
    "Brian",
    "Mei",
    "Jamal",
    "Emily",
    "Luis",
    "Hannah",
    "Samuel",
    "Olivia",
    "Omar",
    "Grace",
    "Tyrone",
    "Chloe",
    "Andre",
    "Zoe",
    "Miguel",
    "Renée",
]
_LAST = [
    "Gordon",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Okafor",
]
_STREETS = [
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Washington Blvd",
    "Grand Ave",
    "Cherry St",
    "Locust St",
    "Broadway",
    "Park Ave",
    "Lindell Blvd",
    "Troost Ave",
    "Elm St",
]
_CITIES = [
    ("St. Louis", "63104"),
    ("Kansas City", "64105"),
    ("Columbia", "65201"),
    ("Springfield", "65806"),
    ("Jefferson City", "65101"),
    ("Joplin", "64801"),
    ("St. Joseph", "64501"),
    ("Cape Girardeau", "63701"),
]
_AREA_CODES = ["314", "816", "573", "417", "660", "636"]


def person_phone_id(index: int, home: bool = False) -> int:
    """phoneId of the seeded person number ``index`` (cell; ``home=True`` for the home phone)."""
    return 10_000_000 + 2 * index + (1 if home else 0)


def build_person(index: int) -> dict[str, Any]:
    """Seeded person number ``index`` (vanId ``PEOPLE_FIRST_VAN_ID + index``), stored shape."""
    first = _FIRST[index % len(_FIRST)]
    last = _LAST[(index * 7 + index // len(_FIRST)) % len(_LAST)]
    city, zip5 = _CITIES[index % len(_CITIES)]
    area = _AREA_CODES[index % len(_AREA_CODES)]
    line = f"{index % 10000:04d}"
    email_local = f"{first}.{last}{index}".lower().replace(" ", "").replace("é", "e")
    phones = [
        {
            "phoneId": person_phone_id(index),
            "phoneNumber": f"{area}555{line}",
            "phoneType": "C",
            "isPreferred": True,
            "ext": None,
            "dialingPrefix": "1",
            "countryCode": "US",
            "phoneOptInStatus": "I" if index % 4 else "U",
            "isCellStatus": {"statusId": 1, "statusName": "Verified Cell"},
        },
    ]
    if index % 3 == 0:
        phones.append(
            {
                "phoneId": person_phone_id(index, home=True),
                "phoneNumber": f"{area}556{line}",
                "phoneType": "H",
                "isPreferred": False,
                "ext": None,
                "dialingPrefix": "1",
                "countryCode": "US",
                "phoneOptInStatus": "U",
                "isCellStatus": None,
            }
        )
    return {
        "vanId": PEOPLE_FIRST_VAN_ID + index,
        "firstName": first,
        "middleName": None,
        "lastName": last,
        "suffix": None,
        "nickname": None,
        "dateOfBirth": f"{1950 + index % 50:04d}-{1 + index % 12:02d}-{1 + index % 28:02d}T00:00:00Z",
        "sex": None,
        "emails": [
            {
                "email": f"{email_local}@example.org",
                "type": "P",
                "isPreferred": True,
                "isSubscribed": index % 5 != 0,
                "subscriptionStatus": "S" if index % 5 else "N",
            },
        ],
        "phones": phones,
        "addresses": [
            {
                "addressId": 2_000_000 + index,
                "addressLine1": f"{100 + (index * 37) % 9000} {_STREETS[index % len(_STREETS)]}",
                "addressLine2": None,
                "addressLine3": None,
                "city": city,
                "stateOrProvince": "MO",
                "zipOrPostalCode": zip5,
                "countryCode": "US",
                "type": "Home",
                "isPreferred": True,
                "geoLocation": None,
            },
        ],
        "activistCodeIds": [],
        "surveyResponses": {},
    }


def build_people(n: int = DEFAULT_SEED_PEOPLE) -> list[dict[str, Any]]:
    """``n`` deterministic people with vanIds ``PEOPLE_FIRST_VAN_ID ..``."""
    return [build_person(i) for i in range(n)]


def build_reference_data() -> dict[str, Any]:
    """A fresh deep copy of all reference data for a new database."""
    return copy.deepcopy(
        {
            "event_types": EVENT_TYPES,
            "input_types": INPUT_TYPES,
            "contact_types": CONTACT_TYPES,
            "result_codes": RESULT_CODES,
            "survey_questions": SURVEY_QUESTIONS,
            "activist_codes": ACTIVIST_CODES,
        }
    )
