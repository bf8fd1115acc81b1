"""VAN emulator handlers: bulk import jobs (``bulkImportJobs``, ``bulkImportMappingTypes``) and their result files.

Faithful to what VAN documents and Parsons' ``parsons/ngpvan/bulk_import.py`` relies on:

* ``GET bulkImportJobs/resources`` -> resource types (a JSON array of names).
* ``GET bulkImportMappingTypes`` / ``GET bulkImportMappingTypes/{name}`` / ``.../{name}/{field}/values``.
* ``POST bulkImportJobs`` {description, file{fileName, hasHeader, hasQuotes, columnDelimiter, columns[{name}],
  sourceUrl}, actions[{resourceType, actionType: loadMappedFile, mappingTypes[{name, fieldValueMappings?}],
  resultFileSizeKbLimit?, columnsToIncludeInResultsFile?}]} -> 201 ``{"jobId": N}``. The request is validated
  synchronously (400 naming the property); the file is NOT read yet.
* The job runs asynchronously in a worker thread: it downloads ``sourceUrl`` (e.g. a presigned URL of the
  sandbox S3), unzips it (VAN wants a zip holding one CSV; a plain CSV is accepted too), and applies each row's
  mappings to the key's database. ``GET bulkImportJobs/{id}`` shows ``Pending`` -> ``InProgress`` ->
  ``Completed`` (or ``Failed`` when the file cannot be read: nothing applied) with ``resultFiles[{url,
  dateExpired}]``.
* The results file: one row per data row: ``BulkUploadDataID, ULFileID, PrimaryKey, PrimaryKeyType``, the
  requested ``columnsToIncludeInResultsFile``, then one status column per mapping (``<MappingType>_<n>``):
  ``Processed``, an error text, or ``Skipped: no values`` when the mapping's own columns (ResultID; the
  question and response; the activist code) are blank in that row. Its URL is a signed link (no API key needed, as VAN's file host), served by this emulator.

Documented choices (VAN's exact behaviour unknown): mapping types emulated are ``CanvassResults``,
``SurveyResponse`` and ``ActivistCode`` (resources ``Contacts`` and ``ContactsActivistCodes``; primary key
``VanID``); one action per job; fields are matched by column name (case, spaces and ``_`` ignored) unless
``fieldValueMappings`` name a ``columnName`` or a ``staticValue``; each row with at least one applied mapping
becomes ONE contact-history record (``source: "bulk_import"``, input type Bulk) and updates the person's survey
responses and activist codes; VAN's ~60-minute matching of identical canvass posts is NOT applied to bulk rows
(so a job posted twice shows as duplicates). Job ids are global across keys; another key's job answers 404.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
import time
import uuid
import weakref
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.request import urlopen

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_core import (
    PHONE_RE,
    Call,
    VanError,
    bad_param,
    digits,
    iso_z,
    json_response,
    not_found,
    parse_iso,
    to_bool,
    to_int,
)

RESOURCES = ["Contacts", "ContactsActivistCodes"]
PRIMARY_KEY = "VanID"
BULK_INPUT_TYPE_ID = 2  # "Bulk"
RESULTS_PATH = "/v4/_files/bulk-import-results/"
PROCESSING_DELAY_SECONDS = 0.05  # before a job leaves Pending (tests may change it)
ROWS_PER_LOCK = 500  # rows applied per hold of the emulator lock (REST requests interleave)
RESULT_FILE_DAYS = 7


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
_job_ids = itertools.count(40_001)
_ids_lock = threading.Lock()
_jobs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # VanDatabase -> {job id: job}
_result_files: dict[str, bytes] = {}  # signed token -> CSV bytes (process-wide, like VAN's file host)


def jobs_of(db) -> dict[int, dict[str, Any]]:
    """The bulk import jobs of one emulated database (tests and the sandbox dump)."""
    return _jobs.setdefault(db, {})


def _canon(name: Any) -> str:
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


# -- create / read jobs -----------------------------------------------------------------------------------------
def _columns(file: dict[str, Any]) -> list[str]:
    cols = file.get("columns")
    if not isinstance(cols, list) or not cols:
        raise bad_param("'file.columns' must list the file's columns in order.", "file.columns")
    names = []
    for i, c in enumerate(cols):
        name = c.get("name") if isinstance(c, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise bad_param(f"'file.columns[{i}].name' is required.", f"file.columns[{i}].name")
        names.append(name.strip())
    if len({_canon(n) for n in names}) != len(names):
        raise bad_param("'file.columns' has duplicate column names.", "file.columns")
    if len(names) > 50:
        raise bad_param("A bulk import file may have at most 50 columns.", "file.columns")
    return names


def _bindings(mapping: dict[str, Any], spec: dict[str, Any], columns: list[str], where: str) -> dict[str, tuple]:
    """field name -> ("column", column name) | ("static", value), required fields checked."""
    by_name = {_canon(c): c for c in columns}
    fields = {f["name"].lower(): f for f in mapping["fields"]}
    bound: dict[str, tuple] = {}
    explicit = spec.get("fieldValueMappings") or []
    if not isinstance(explicit, list):
        raise bad_param(f"'{where}.fieldValueMappings' must be an array.", f"{where}.fieldValueMappings")
    for i, fvm in enumerate(explicit):
        prop = f"{where}.fieldValueMappings[{i}]"
        field = fields.get(str((fvm or {}).get("fieldName") or "").lower()) if isinstance(fvm, dict) else None
        if field is None:
            raise bad_param(
                f"'{prop}.fieldName' is not a field of mapping type {mapping['name']}.", f"{prop}.fieldName"
            )
        if fvm.get("columnName") not in (None, ""):
            column = by_name.get(_canon(fvm["columnName"]))
            if column is None:
                raise bad_param(f"'{prop}.columnName' is not a column of the file.", f"{prop}.columnName")
            bound[field["name"]] = ("column", column)
        elif "staticValue" in fvm:
            bound[field["name"]] = ("static", fvm["staticValue"])
        else:
            raise bad_param(f"'{prop}' needs a columnName or a staticValue.", prop)
    for field in mapping["fields"]:
        if field["name"] not in bound and _canon(field["name"]) in by_name:
            bound[field["name"]] = ("column", by_name[_canon(field["name"])])
    missing = [f["name"] for f in mapping["fields"] if f["isRequired"] and f["name"] not in bound]
    if missing:
        raise bad_param(
            f"Mapping type {mapping['name']} needs the required field(s) {', '.join(missing)}: name a column after "
            "the field or map it with fieldValueMappings.",
            f"{where}.fieldValueMappings",
        )
    return bound


def create_job(call: Call) -> Response:
    body = call.body_object()
    description = body.get("description")
    if not isinstance(description, str) or not description.strip():
        raise bad_param("'description' is required.", "description")
    if len(description) > 255:
        raise bad_param("'description' must be 255 characters or fewer.", "description")
    file = body.get("file")
    if not isinstance(file, dict):
        raise bad_param("'file' is required.", "file")
    columns = _columns(file)
    if _canon(PRIMARY_KEY) not in {_canon(c) for c in columns}:
        raise bad_param(f"'file.columns' must include the primary key column {PRIMARY_KEY}.", "file.columns")
    source = file.get("sourceUrl")
    if not isinstance(source, str) or not source.startswith(("http://", "https://")):
        raise bad_param("'file.sourceUrl' must be an http(s) URL VAN can download the file from.", "file.sourceUrl")
    if not isinstance(file.get("fileName"), str) or not file["fileName"].strip():
        raise bad_param("'file.fileName' is required (the CSV's name inside the zip).", "file.fileName")
    delimiter = str(file.get("columnDelimiter") or "csv").lower()
    if delimiter not in ("csv", "tab"):
        raise bad_param("'file.columnDelimiter' must be 'csv' or 'tab'.", "file.columnDelimiter")
    has_header = to_bool(file.get("hasHeader"), "file.hasHeader", True)
    to_bool(file.get("hasQuotes"), "file.hasQuotes", True)
    actions = body.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise bad_param("'actions' must hold exactly one action.", "actions")
    action = actions[0]
    resource = action.get("resourceType")
    if resource not in RESOURCES:
        raise bad_param(f"'actions[0].resourceType' must be one of {', '.join(RESOURCES)}.", "actions[0].resourceType")
    if action.get("actionType") != "loadMappedFile":
        raise bad_param("'actions[0].actionType' must be 'loadMappedFile'.", "actions[0].actionType")
    specs = action.get("mappingTypes")
    if not isinstance(specs, list) or not specs:
        raise bad_param("'actions[0].mappingTypes' must list at least one mapping type.", "actions[0].mappingTypes")
    mappings = []
    for i, spec in enumerate(specs):
        where = f"actions[0].mappingTypes[{i}]"
        name = spec.get("name") if isinstance(spec, dict) else None
        mapping = next((m for k, m in MAPPING_TYPES.items() if k.lower() == str(name).lower()), None)
        if mapping is None or resource not in mapping["resourceTypes"]:
            raise bad_param(f"'{where}.name' is not a mapping type of resource {resource}.", f"{where}.name")
        mappings.append((mapping["name"], _bindings(mapping, spec, columns, where)))
    include = []
    for i, c in enumerate(action.get("columnsToIncludeInResultsFile") or []):
        name = c.get("name") if isinstance(c, dict) else None
        match = next((col for col in columns if _canon(col) == _canon(name)), None)
        if match is None:
            prop = f"actions[0].columnsToIncludeInResultsFile[{i}]"
            raise bad_param(f"'{prop}.name' is not a column of the file.", prop)
        include.append(match)
    limit = to_int(action.get("resultFileSizeKbLimit"), "actions[0].resultFileSizeKbLimit", required=False)
    with _ids_lock:
        job_id = next(_job_ids)
    job = {
        "id": job_id,
        "status": "Pending",
        "resourceType": resource,
        "webhookUrl": body.get("webhookUrl"),
        "resultFileSizeLimitKb": limit or 5000,
        "errors": [],
        "resultFiles": [],
        "_description": description,
        "_created": call.now(),
    }
    jobs_of(call.db)[job_id] = job
    spec = {
        "source": source,
        "file_name": file["fileName"].strip(),
        "delimiter": "\t" if delimiter == "tab" else ",",
        "has_header": has_header,
        "columns": columns,
        "mappings": mappings,
        "include": include,
        "results_base": f"{call.request.host_url.rstrip('/')}{RESULTS_PATH}",
    }
    lock = getattr(call, "emulator_lock", None) or threading.RLock()
    threading.Thread(target=_run_job, args=(call.db, job, spec, lock), name=f"van-bulk-{job_id}", daemon=True).start()
    return json_response({"jobId": job_id}, 201)


def get_job(call: Call, job_id: int) -> Response:
    job = jobs_of(call.db).get(job_id)
    if job is None:
        raise not_found(f"Bulk import job {job_id} not found.")
    return json_response({k: v for k, v in job.items() if not k.startswith("_")})


# -- the worker -------------------------------------------------------------------------------------------------
def _fail(job: dict[str, Any], lock, code: str, text: str) -> None:
    with lock:
        job["status"] = "Failed"
        job["errors"] = [{"code": code, "text": text}]


def _read_source(spec: dict[str, Any]) -> list[list[str]]:
    with urlopen(spec["source"], timeout=60) as resp:  # the URL the client gave VAN to fetch
        raw = resp.read()
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            name = spec["file_name"] if spec["file_name"] in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise ValueError(f"the zip does not hold {spec['file_name']!r} (it holds {len(names)} files)")
            raw = zf.read(name)
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=spec["delimiter"]))
    return rows[1:] if spec["has_header"] else rows


def _run_job(db, job: dict[str, Any], spec: dict[str, Any], lock) -> None:
    time.sleep(PROCESSING_DELAY_SECONDS)
    with lock:
        job["status"] = "InProgress"
    try:
        rows = _read_source(spec)
    except Exception as exc:  # the file cannot be read: nothing is applied
        _fail(
            job, lock, "FILE_UNREADABLE", f"The file could not be downloaded or read: {type(exc).__name__}: {exc}"[:300]
        )
        return
    columns, mappings = spec["columns"], spec["mappings"]
    labels = [f"{name}_{i + 1}" for i, (name, _b) in enumerate(mappings)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType", *spec["include"], *labels])
    file_id = job["id"] * 10 + 7
    now = datetime.now(UTC)
    for start in range(0, len(rows), ROWS_PER_LOCK):
        with lock:
            for n, row in enumerate(rows[start : start + ROWS_PER_LOCK], start=start + 1):
                values = dict(zip(columns, row)) if len(row) == len(columns) else None
                if values is None:
                    statuses = [f"Invalid row: {len(row)} fields, the file has {len(columns)} columns"] * len(labels)
                    pk = ""
                else:
                    pk = values.get(next(c for c in columns if _canon(c) == _canon(PRIMARY_KEY)), "")
                    statuses = _apply_row(db, job, n, pk, values, mappings, now)
                included = [values.get(c, "") if values else "" for c in spec["include"]]
                writer.writerow([n, file_id, pk, PRIMARY_KEY, *included, *statuses])
    token = uuid.uuid4().hex
    _result_files[token] = out.getvalue().encode()
    with lock:
        job["resultFiles"] = [
            {
                "url": f"{spec['results_base']}{token}.csv",
                "dateExpired": (now + timedelta(days=RESULT_FILE_DAYS)).isoformat(),
            }
        ]
        job["status"] = "Completed"


def _value(values: dict[str, str], binding: tuple | None) -> str:
    if binding is None:
        return ""
    kind, what = binding
    return str(what if kind == "static" else values.get(what, "")).strip()


def _apply_row(db, job, n: int, pk: str, values: dict[str, str], mappings, now: datetime) -> list[str]:
    person = db.people.get(int(pk)) if pk.isdigit() else None
    if person is None:
        return ["Invalid VanID"] * len(mappings)
    statuses, record = [], {"resultCodeId": None, "responses": []}
    context: dict[str, Any] = {}
    for name, bound in mappings:
        read = [bound.get(f) for f in KEY_FIELDS[name] if (bound.get(f) or ("",))[0] == "column"]
        if read and all(not _value(values, b) for b in read):
            statuses.append("Skipped: no values")
            continue
        try:
            statuses.append(_check_mapping(db, name, bound, values, record, context))
        except ValueError as exc:
            statuses.append(str(exc))
    if "Processed" not in statuses:
        return statuses
    for r in record["responses"]:
        if r["type"] == "SurveyResponse":
            person["surveyResponses"][str(r["surveyQuestionId"])] = r["surveyResponseId"]
        elif r["activistCodeId"] not in person["activistCodeIds"]:
            person["activistCodeIds"].append(r["activistCodeId"])
    db.add_canvass_response(
        {
            "vanId": person["vanId"],
            "contactTypeId": context.get("contactTypeId"),
            "inputTypeId": BULK_INPUT_TYPE_ID,
            "dateCanvassed": context.get("dateCanvassed") or now.date().isoformat(),
            "phoneId": None,
            "phone": context.get("phone"),
            "resultCodeId": record["resultCodeId"],
            "responses": record["responses"],
            "source": "bulk_import",
            "bulkImportJobId": job["id"],
            "bulkUploadDataId": n,
            "contactHistory": True,
        },
        iso_z(now, precise=True),
    )
    return statuses


def _int_value(values, bound, field: str, label: str) -> int | None:
    raw = _value(values, bound.get(field))
    if raw == "":
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise ValueError(f"Invalid {label}")
    return int(raw)


def _check_mapping(db, name: str, bound, values, record: dict, context: dict) -> str:
    contact_type = _int_value(values, bound, "ContactTypeID", "Contact Type")
    if contact_type is not None:
        if contact_type not in db.contact_types:
            raise ValueError("Invalid Contact Type")
        context["contactTypeId"] = contact_type
    date = _value(values, bound.get("DateCanvassed"))
    if date:
        try:
            parse_iso(date, "DateCanvassed")
        except VanError:
            raise ValueError("Invalid Date Canvassed") from None
        context["dateCanvassed"] = date
    phone = digits(_value(values, bound.get("Phone")))
    if phone:
        if not PHONE_RE.match(phone):
            raise ValueError("Invalid phone number")
        context["phone"] = {"dialingPrefix": "1", "phoneNumber": phone, "smsOptInStatus": None}
    if name == "CanvassResults":
        code = db.result_codes.get(_int_value(values, bound, "ResultID", "Result"))
        if code is None or (contact_type is not None and contact_type not in code["contactTypeIds"]):
            raise ValueError("Invalid Result for this Contact Type")
        record["resultCodeId"] = code["resultCodeId"]
    elif name == "SurveyResponse":
        question = db.survey_questions.get(_int_value(values, bound, "SurveyQuestionID", "Survey Question"))
        if question is None:
            raise ValueError("Invalid Survey Question")
        if question.get("status", "Active") != "Active":
            raise ValueError("Survey Question is not active")
        rid = _int_value(values, bound, "SurveyResponseID", "Survey Response")
        if rid not in {r["surveyResponseId"] for r in question["responses"]}:
            raise ValueError("Invalid Survey Response for this Survey Question")
        record["responses"].append(
            {"type": "SurveyResponse", "surveyQuestionId": question["surveyQuestionId"], "surveyResponseId": rid}
        )
    elif name == "ActivistCode":
        code = db.activist_codes.get(_int_value(values, bound, "ActivistCodeID", "Activist Code"))
        if code is None or code.get("status", "Active") != "Active":
            raise ValueError("Invalid Activist Code")
        record["responses"].append(
            {"type": "ActivistCode", "activistCodeId": code["activistCodeId"], "action": "Apply"}
        )
    return "Processed"


# -- the signed result-file links (no API key, like VAN's file host) ----------------------------------------------
def is_result_file(path: str) -> bool:
    return path.lower().startswith(RESULTS_PATH.lower())


def result_file(path: str) -> Response:
    token = path[len(RESULTS_PATH) :].removesuffix(".csv")
    data = _result_files.get(token)
    if data is None:
        return Response("The file does not exist or its link has expired.", status=404, content_type="text/plain")
    return Response(data, status=200, content_type="text/csv")


ROUTES = [
    ("/v4/bulkImportJobs/resources", ["GET"], resources),
    ("/v4/bulkImportJobs", ["POST"], create_job),
    ("/v4/bulkImportJobs/<int:job_id>", ["GET"], get_job),
    ("/v4/bulkImportMappingTypes", ["GET"], mapping_types),
    ("/v4/bulkImportMappingTypes/<name>", ["GET"], mapping_type),
    ("/v4/bulkImportMappingTypes/<name>/<field_name>/values", ["GET"], mapping_type_field_values),
]
