"""A VAN bulk import job's file, request and results, for a batch of calls. Pure: no I/O, no Dagster.

One row per call, built from the very canvass payload the one-request-per-call path would POST
(``logic.canvass_payload``), so both paths say the same thing to VAN::

    VanID, ContactTypeID, DateCanvassed, Phone, ResultID, SQ1, SR1, ..., AC1, ..., CallID

Mappings (``Apply Canvass Results`` for result codes, one ``Apply Survey Response`` per question pair, one
``Apply Activist Code`` per code) read those columns; ``CallID`` is not mapped but echoed in the results file
(``columnsToIncludeInResultsFile``), which is how each row's outcome finds its call.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from orgsync_dagster.calls.logic import Decision

CALL_ID = "CallID"
FIXED_COLUMNS = ["VanID", "ContactTypeID", "DateCanvassed", "Phone", "ResultID"]
PROCESSED = "Processed"
SKIPPED_PREFIX = "Skipped"
FIXED_RESULT_COLUMNS = ("BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType")


@dataclass(frozen=True)
class BulkFile:
    columns: list[str]
    mapping_types: list[dict]
    csv_name: str
    zipped: bytes
    rows: int


def _context_mappings() -> list[dict]:
    return [
        {"fieldName": "ContactTypeID", "columnName": "ContactTypeID"},
        {"fieldName": "DateCanvassed", "columnName": "DateCanvassed"},
    ]


def build(decisions: list[Decision], token: str) -> BulkFile:
    """The zipped CSV (one CSV named ``<token>.csv``) and the mappings that read it."""
    survey = max(
        (sum(1 for r in d.payload.get("responses") or [] if r["type"] == "SurveyResponse") for d in decisions),
        default=0,
    )
    codes = max(
        (sum(1 for r in d.payload.get("responses") or [] if r["type"] == "ActivistCode") for d in decisions), default=0
    )
    columns = list(FIXED_COLUMNS)
    columns += [c for i in range(1, survey + 1) for c in (f"SQ{i}", f"SR{i}")]
    columns += [f"AC{i}" for i in range(1, codes + 1)]
    columns.append(CALL_ID)
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL)
    writer.writerow(columns)
    any_result = False
    for d in decisions:
        ctx = d.payload["canvassContext"]
        responses = d.payload.get("responses") or []
        pairs = [(r["surveyQuestionId"], r["surveyResponseId"]) for r in responses if r["type"] == "SurveyResponse"]
        acs = [r["activistCodeId"] for r in responses if r["type"] == "ActivistCode"]
        result = d.payload.get("resultCodeId")
        any_result = any_result or result is not None
        row = [
            d.van_id,
            ctx["contactTypeId"],
            ctx["dateCanvassed"],
            (ctx.get("phone") or {}).get("phoneNumber", ""),
            "" if result is None else result,
        ]
        for i in range(survey):
            row += list(pairs[i]) if i < len(pairs) else ["", ""]
        row += [acs[i] if i < len(acs) else "" for i in range(codes)]
        row.append(d.call_id)
        writer.writerow(row)
    mappings = []
    if any_result:
        mappings.append(
            {
                "name": "CanvassResults",
                "fieldValueMappings": [
                    {"fieldName": "ResultID", "columnName": "ResultID"},
                    *_context_mappings(),
                    {"fieldName": "Phone", "columnName": "Phone"},
                ],
            }
        )
    for i in range(1, survey + 1):
        mappings.append(
            {
                "name": "SurveyResponse",
                "fieldValueMappings": [
                    {"fieldName": "SurveyQuestionID", "columnName": f"SQ{i}"},
                    {"fieldName": "SurveyResponseID", "columnName": f"SR{i}"},
                    *_context_mappings(),
                    {"fieldName": "Phone", "columnName": "Phone"},
                ],
            }
        )
    for i in range(1, codes + 1):
        mappings.append(
            {
                "name": "ActivistCode",
                "fieldValueMappings": [{"fieldName": "ActivistCodeID", "columnName": f"AC{i}"}, *_context_mappings()],
            }
        )
    csv_name = f"{token}.csv"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(csv_name, text.getvalue())
    return BulkFile(columns, mappings, csv_name, buf.getvalue(), len(decisions))


def job_request(bulk: BulkFile, description: str, source_url: str) -> dict:
    """The POST bulkImportJobs body (``source_url`` is a presigned link: a secret, never logged)."""
    return {
        "description": description[:255],
        "file": {
            "fileName": bulk.csv_name,
            "hasHeader": True,
            "hasQuotes": True,
            "columnDelimiter": "csv",
            "columns": [{"name": c} for c in bulk.columns],
            "sourceUrl": source_url,
        },
        "actions": [
            {
                "resourceType": "Contacts",
                "actionType": "loadMappedFile",
                "mappingTypes": bulk.mapping_types,
                "resultFileSizeKbLimit": 100_000,
                "columnsToIncludeInResultsFile": [{"name": CALL_ID}],
            }
        ],
    }


@dataclass(frozen=True)
class RowOutcome:
    call_id: str
    applied: bool  # every mapping with values was processed
    partly: bool  # some mappings processed, some refused: VAN holds part of the call
    detail: str  # the statuses, for the call's error (no personal data: VAN's status texts)


def parse_results(text: str) -> dict[str, RowOutcome]:
    """call id -> outcome, from a job's results file."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or CALL_ID not in header:
        raise ValueError(f"the results file has no {CALL_ID} column (header: {header!r})")
    at = header.index(CALL_ID)
    status_columns = [i for i, name in enumerate(header) if i > at and name not in FIXED_RESULT_COLUMNS]
    out: dict[str, RowOutcome] = {}
    for row in reader:
        if len(row) <= at:
            continue
        statuses = [(header[i], row[i].strip()) for i in status_columns if i < len(row)]
        processed = [s for _n, s in statuses if s == PROCESSED]
        refused = [(n, s) for n, s in statuses if s and s != PROCESSED and not s.startswith(SKIPPED_PREFIX)]
        detail = "; ".join(f"{n}: {s}" for n, s in statuses if s)
        out[row[at]] = RowOutcome(row[at], bool(processed) and not refused, bool(processed) and bool(refused), detail)
    return out
