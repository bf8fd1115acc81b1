"""VAN emulator: a bulk import job's worker (download and unzip the file, apply each row's mappings to the key's
database under the emulator lock, write the results file) and the signed results-file links it serves. See
``van_bulk.py`` for the whole API."""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.request import urlopen

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_bulk_mappings import KEY_FIELDS, PRIMARY_KEY, canon
from orgsync_dagster.sandbox.van_core import PHONE_RE, VanError, digits, iso_z, parse_iso

BULK_INPUT_TYPE_ID = 2  # "Bulk"
RESULTS_PATH = "/v4/_files/bulk-import-results/"

ROWS_PER_LOCK = 500  # rows applied per hold of the emulator lock (REST requests interleave)
RESULT_FILE_DAYS = 7

_result_files: dict[str, bytes] = {}  # signed token -> CSV bytes (process-wide, like VAN's file host)


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


def run_job(db, job: dict[str, Any], spec: dict[str, Any], lock, delay: float) -> None:
    """The job's thread: ``delay`` seconds in Pending (``van_bulk.PROCESSING_DELAY_SECONDS``), then InProgress ->
    Completed (or Failed when the file cannot be read)."""
    time.sleep(delay)
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
                    pk = values.get(next(c for c in columns if canon(c) == canon(PRIMARY_KEY)), "")
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
