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

from orgsync_dagster.sandbox.van_seed_canvass import (
    ACTIVIST_CODES,
    CONTACT_TYPES,
    DEFAULT_INPUT_TYPE_ID,
    INPUT_TYPES,
    RESULT_CODE_IDS,
    RESULT_CODES,
    SURVEY_QUESTIONS,
)
from orgsync_dagster.sandbox.van_seed_events import (
    CODES,
    EVENT_TYPE_IDS,
    EVENT_TYPES,
    ROLE_IDS,
    ROLES,
    SIGNUP_DEFAULT_RESULT_CODE,
    SIGNUP_STATUS_RESULT_CODES,
    STATUS_IDS,
    STATUSES,
)
from orgsync_dagster.sandbox.van_seed_people import (
    DEFAULT_SEED_PEOPLE,
    PEOPLE_FIRST_VAN_ID,
    build_people,
    build_person,
    person_phone_id,
)

__all__ = [
    "ACTIVIST_CODES",
    "CODES",
    "CONTACT_TYPES",
    "DEFAULT_INPUT_TYPE_ID",
    "DEFAULT_SEED_PEOPLE",
    "EVENT_TYPES",
    "EVENT_TYPE_IDS",
    "INPUT_TYPES",
    "PEOPLE_FIRST_VAN_ID",
    "RESULT_CODES",
    "RESULT_CODE_IDS",
    "ROLES",
    "ROLE_IDS",
    "SIGNUP_DEFAULT_RESULT_CODE",
    "SIGNUP_STATUS_RESULT_CODES",
    "STATUSES",
    "STATUS_IDS",
    "SURVEY_QUESTIONS",
    "build_people",
    "build_person",
    "build_reference_data",
    "person_phone_id",
]


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
            "codes": CODES,
        }
    )
