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

Here: creating and reading jobs (the request's validation). The mapping types and their discovery endpoints are
in ``van_bulk_mappings.py``; the worker that reads the file, applies its rows and serves the results file is in
``van_bulk_worker.py``.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_bulk_mappings import (
    MAPPING_TYPES,
    PRIMARY_KEY,
    RESOURCES,
    canon,
    mapping_type,
    mapping_type_field_values,
    mapping_types,
    resources,
)
from orgsync_dagster.sandbox.van_bulk_worker import RESULTS_PATH, run_job
from orgsync_dagster.sandbox.van_core import Call, bad_param, json_response, not_found, to_bool, to_int

PROCESSING_DELAY_SECONDS = 0.05  # before a job leaves Pending (tests may change it)

_job_ids = itertools.count(40_001)
_ids_lock = threading.Lock()
_jobs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # VanDatabase -> {job id: job}


def jobs_of(db) -> dict[int, dict[str, Any]]:
    """The bulk import jobs of one emulated database (tests and the sandbox dump)."""
    return _jobs.setdefault(db, {})


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
    if len({canon(n) for n in names}) != len(names):
        raise bad_param("'file.columns' has duplicate column names.", "file.columns")
    if len(names) > 50:
        raise bad_param("A bulk import file may have at most 50 columns.", "file.columns")
    return names


def _bindings(mapping: dict[str, Any], spec: dict[str, Any], columns: list[str], where: str) -> dict[str, tuple]:
    """field name -> ("column", column name) | ("static", value), required fields checked."""
    by_name = {canon(c): c for c in columns}
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
            column = by_name.get(canon(fvm["columnName"]))
            if column is None:
                raise bad_param(f"'{prop}.columnName' is not a column of the file.", f"{prop}.columnName")
            bound[field["name"]] = ("column", column)
        elif "staticValue" in fvm:
            bound[field["name"]] = ("static", fvm["staticValue"])
        else:
            raise bad_param(f"'{prop}' needs a columnName or a staticValue.", prop)
    for field in mapping["fields"]:
        if field["name"] not in bound and canon(field["name"]) in by_name:
            bound[field["name"]] = ("column", by_name[canon(field["name"])])
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
    if canon(PRIMARY_KEY) not in {canon(c) for c in columns}:
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
        match = next((col for col in columns if canon(col) == canon(name)), None)
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
    args = (call.db, job, spec, lock, PROCESSING_DELAY_SECONDS)
    threading.Thread(target=run_job, args=args, name=f"van-bulk-{job_id}", daemon=True).start()
    return json_response({"jobId": job_id}, 201)


def get_job(call: Call, job_id: int) -> Response:
    job = jobs_of(call.db).get(job_id)
    if job is None:
        raise not_found(f"Bulk import job {job_id} not found.")
    return json_response({k: v for k, v in job.items() if not k.startswith("_")})


ROUTES = [
    ("/v4/bulkImportJobs/resources", ["GET"], resources),
    ("/v4/bulkImportJobs", ["POST"], create_job),
    ("/v4/bulkImportJobs/<int:job_id>", ["GET"], get_job),
    ("/v4/bulkImportMappingTypes", ["GET"], mapping_types),
    ("/v4/bulkImportMappingTypes/<name>", ["GET"], mapping_type),
    ("/v4/bulkImportMappingTypes/<name>/<field_name>/values", ["GET"], mapping_type_field_values),
]
