"""VAN emulator: the bulk import mapping types (``CanvassResults``, ``SurveyResponse``, ``ActivistCode``), the
columns that decide whether a row has values for a mapping, and the discovery endpoints
(``bulkImportJobs/resources``, ``bulkImportMappingTypes...``). See ``van_bulk.py`` for the whole API."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_core import Call, json_response, not_found

RESOURCES = ["Contacts", "ContactsActivistCodes"]
PRIMARY_KEY = "VanID"


def _field(name, description, *, required=False, predefined=False, parents=None) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "hasPredefinedValues": predefined,
        "isRequired": required,
        "canBeMappedToColumn": True,
        "canBeMappedByName": True,
        "parents": parents,
    }


_CONTEXT_FIELDS = [
    _field("CanvassedBy", "Canvassed By, must be a valid User ID"),
    _field("DateCanvassed", "Date Canvassed (ISO 8601)"),
    _field("ContactTypeID", "Contacted How", predefined=True),
]
MAPPING_TYPES: dict[str, dict[str, Any]] = {
    "ActivistCode": {
        "name": "ActivistCode",
        "displayName": "Apply Activist Code",
        "allowMultipleMode": "Multiple",
        "resourceTypes": ["Contacts", "ContactsActivistCodes"],
        "fields": [_field("ActivistCodeID", "Activist Code ID", required=True, predefined=True), *_CONTEXT_FIELDS],
    },
    "CanvassResults": {
        "name": "CanvassResults",
        "displayName": "Apply Canvass Results",
        "allowMultipleMode": "Single",
        "resourceTypes": ["Contacts"],
        "fields": [
            _field("ContactTypeID", "Contact Type ID", required=True, predefined=True),
            _field("ResultID", "Contact Result ID", required=True, predefined=True),
            _field("DateCanvassed", "Date Canvassed (ISO 8601)", required=True),
            _field("CanvassedBy", "Canvassed By, must be a valid User ID"),
            _field("Phone", "Attempted Phone Number"),
            _field("CountryCode", "Country Code (ISO 3166-1 alpha-2)"),
            _field("PhoneTypeID", "Phone Type", predefined=True),
            _field("PhoneOptInStatusID", "SMS Opt-In Status", predefined=True),
            _field("AddressID", "The Contact Address ID of the address that was canvassed"),
        ],
    },
    "SurveyResponse": {
        "name": "SurveyResponse",
        "displayName": "Apply Survey Response",
        "allowMultipleMode": "Multiple",
        "resourceTypes": ["Contacts"],
        "fields": [
            _field("SurveyQuestionID", "Survey Question ID", required=True, predefined=True),
            _field(
                "SurveyResponseID",
                "Survey Response ID",
                required=True,
                predefined=True,
                parents=[{"parentFieldName": "SurveyQuestionID", "limitedToParentValues": None}],
            ),
            *_CONTEXT_FIELDS,
            _field("Phone", "Attempted Phone Number"),
        ],
    },
}

# a row "has no values" for a mapping when these of its columns are all blank (context columns such as
# ContactTypeID or DateCanvassed are shared by the mappings of a row)
KEY_FIELDS = {
    "ActivistCode": ("ActivistCodeID",),
    "CanvassResults": ("ResultID",),
    "SurveyResponse": ("SurveyQuestionID", "SurveyResponseID"),
}


def canon(name: Any) -> str:
    return re.sub(r"[\s_]", "", str(name or "")).lower()


# -- discovery ----------------------------------------------------------------------------------------------------
def resources(call: Call) -> Response:
    return json_response(list(RESOURCES))


def mapping_types(call: Call) -> Response:
    return json_response([_public(m) for m in MAPPING_TYPES.values()])


def _mapping_or_404(name: str) -> dict[str, Any]:
    found = next((m for key, m in MAPPING_TYPES.items() if key.lower() == name.lower()), None)
    if found is None:
        raise not_found(f"Bulk import mapping type '{name}' not found.")
    return found


def _public(mapping: dict[str, Any]) -> dict[str, Any]:
    return {**mapping, "fields": [dict(f) for f in mapping["fields"]]}


def mapping_type(call: Call, name: str) -> Response:
    return json_response(_public(_mapping_or_404(name)))


def mapping_type_field_values(call: Call, name: str, field_name: str) -> Response:
    mapping = _mapping_or_404(name)
    field = next((f for f in mapping["fields"] if f["name"].lower() == field_name.lower()), None)
    if field is None:
        raise not_found(f"Field '{field_name}' not found in mapping type '{mapping['name']}'.")
    db, key = call.db, field["name"]
    if key == "ContactTypeID":
        values = [(c["contactTypeId"], c["name"]) for c in db.contact_types.values()]
    elif key == "ResultID":
        values = [(r["resultCodeId"], r["name"]) for r in db.result_codes.values()]
    elif key == "ActivistCodeID":
        values = [(a["activistCodeId"], a["name"]) for a in db.activist_codes.values() if a["status"] == "Active"]
    elif key == "SurveyQuestionID":
        values = [(q["surveyQuestionId"], q["name"]) for q in db.survey_questions.values()]
    elif key == "SurveyResponseID":
        values = [(r["surveyResponseId"], r["name"]) for q in db.survey_questions.values() for r in q["responses"]]
    else:
        values = []
    return json_response([{"name": n, "id": str(i), "parents": None} for i, n in values])
