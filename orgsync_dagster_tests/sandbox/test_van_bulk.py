"""The VAN emulator's bulk import jobs: Parsons' bulk-import functions work unchanged against the sandbox (VAN + S3),
and the emulator refuses what VAN refuses."""

from __future__ import annotations

import io
import time
import uuid
import warnings
import zipfile

import boto3
import pytest
import requests

from orgsync_dagster.sandbox import van_bulk

SURVEY_Q, STRONG, LEAN = 109149, 465468, 465469
VOLUNTEER_CODE, ARCHIVED_CODE = 18917, 18921
BUSY, NOT_HOME_WALK_ONLY = 18, 19


@pytest.fixture
def s3_env(sandbox, monkeypatch):
    bucket = f"bulk-{uuid.uuid4().hex[:8]}"
    for k, v in {
        "AWS_ENDPOINT_URL_S3": sandbox.urls.s3_endpoint_url,
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=sandbox.urls.s3_endpoint_url, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    return client, bucket


def parsons_van(sandbox, key):
    pytest.importorskip("suds")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsons = pytest.importorskip("parsons")
    van = parsons.VAN(api_key=key, db="MyCampaign")
    van.connection.uri = van.connection.api.uri = sandbox.urls.van_url
    return parsons, van


def wait_done(get_job, job_id, timeout=20):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = get_job(job_id)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in ("Completed", "Failed"):
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {seen[-1]}")


def test_parsons_bulk_import_functions_work_unchanged(sandbox, api_key, s3_env):
    _client, bucket = s3_env
    parsons, van = parsons_van(sandbox, api_key)
    assert van.get_bulk_import_resources() == ["Contacts", "ContactsActivistCodes"]
    types = van.get_bulk_import_mapping_types()
    assert {"ActivistCode", "CanvassResults", "SurveyResponse"} <= set(types["name"])
    canvass = van.get_bulk_import_mapping_type("CanvassResults")
    assert canvass["displayName"] == "Apply Canvass Results"
    assert {f["name"] for f in canvass["fields"] if f["isRequired"]} == {"ContactTypeID", "ResultID", "DateCanvassed"}

    tbl = parsons.Table(
        [
            ["vanid", "contacttypeid", "resultid", "datecanvassed", "phone"],
            [100001, 1, BUSY, "2026-03-05T10:00:00-06:00", "3145550100"],
            [100002, 1, BUSY, "2026-03-05", ""],
            [999999, 1, BUSY, "2026-03-05", ""],  # no such person
            [100003, 1, NOT_HOME_WALK_ONLY, "2026-03-05", ""],  # result not valid for phone calls
        ]
    )
    job_id = van.bulk_apply_canvass_results(tbl, "S3", bucket=bucket)
    job, seen = wait_done(van.get_bulk_import_job, job_id)
    assert seen[-1] == "Completed" and job["resourceType"] == "Contacts" and job["errors"] == []
    results = van.get_bulk_import_job_results(job_id)
    assert results.columns[:4] == ["BulkUploadDataID", "ULFileID", "PrimaryKey", "PrimaryKeyType"]
    statuses = {row["PrimaryKey"]: row["CanvassResults_1"] for row in results}
    assert statuses == {
        "100001": "Processed",
        "100002": "Processed",
        "999999": "Invalid VanID",
        "100003": "Invalid Result for this Contact Type",
    }
    rows = [r for r in sandbox.van.dump(api_key)["canvass_responses"] if r["source"] == "bulk_import"]
    assert [(r["vanId"], r["resultCodeId"], r["inputTypeId"], r["bulkImportJobId"]) for r in rows] == [
        (100001, BUSY, 2, job_id),
        (100002, BUSY, 2, job_id),
    ]
    assert rows[0]["phone"]["phoneNumber"] == "3145550100" and rows[0]["dateCanvassed"].startswith("2026-03-05")

    codes = parsons.Table([["vanid", "activistcodeid"], [100004, VOLUNTEER_CODE], [100005, ARCHIVED_CODE]])
    job2 = van.bulk_apply_activist_codes(codes, "S3", bucket=bucket)
    wait_done(van.get_bulk_import_job, job2)
    assert [r["ActivistCode_1"] for r in van.get_bulk_import_job_results(job2)] == [
        "Processed",
        "Invalid Activist Code",
    ]
    people = {p["vanId"]: p for p in sandbox.van.dump(api_key)["people"]}
    assert VOLUNTEER_CODE in people[100004]["activistCodeIds"]
    assert ARCHIVED_CODE not in people[100005]["activistCodeIds"]


def van_session(sandbox, key):
    s = requests.Session()
    s.auth = ("tests", f"{key}|1")
    return s, sandbox.urls.van_url


def upload_zip(client, bucket, csv_text, name="calls.csv"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, csv_text)
    key = f"jobs/{uuid.uuid4().hex}.zip"
    client.put_object(Bucket=bucket, Key=key, Body=buf.getvalue())
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)


def job_body(url, columns, mappings, include=("CallID",), file_name="calls.csv"):
    return {
        "description": "orgsync test",
        "file": {
            "fileName": file_name,
            "hasHeader": True,
            "hasQuotes": True,
            "columnDelimiter": "csv",
            "columns": [{"name": c} for c in columns],
            "sourceUrl": url,
        },
        "actions": [
            {
                "resourceType": "Contacts",
                "actionType": "loadMappedFile",
                "mappingTypes": mappings,
                "columnsToIncludeInResultsFile": [{"name": c} for c in include],
            }
        ],
    }


def test_mapped_columns_survey_responses_and_codes_in_one_row(sandbox, api_key, s3_env):
    client, bucket = s3_env
    s, base = van_session(sandbox, api_key)
    columns = ["VanID", "ContactTypeID", "DateCanvassed", "ResultID", "SQ1", "SR1", "AC1", "CallID"]
    text = "\n".join(
        [
            ",".join(columns),
            f"100010,1,2026-03-05,,{SURVEY_Q},{STRONG},{VOLUNTEER_CODE},call-a",
            f"100011,1,2026-03-05,{BUSY},,,,call-b",
            f"100012,1,2026-03-05,,{SURVEY_Q},999,,call-c",
        ]
    )
    mappings = [
        {"name": "CanvassResults"},
        {
            "name": "SurveyResponse",
            "fieldValueMappings": [
                {"fieldName": "SurveyQuestionID", "columnName": "SQ1"},
                {"fieldName": "SurveyResponseID", "columnName": "SR1"},
            ],
        },
        {"name": "ActivistCode", "fieldValueMappings": [{"fieldName": "ActivistCodeID", "columnName": "AC1"}]},
    ]
    r = s.post(f"{base}bulkImportJobs", json=job_body(upload_zip(client, bucket, text), columns, mappings), timeout=10)
    assert r.status_code == 201, r.text
    job_id = r.json()["jobId"]
    job, _seen = wait_done(lambda j: s.get(f"{base}bulkImportJobs/{j}", timeout=10).json(), job_id)
    url = job["resultFiles"][0]["url"]
    results = requests.get(url, timeout=10)  # a signed link: no API key
    assert results.status_code == 200
    lines = [line.split(",") for line in results.text.strip().splitlines()]
    assert lines[0][4:] == ["CallID", "CanvassResults_1", "SurveyResponse_2", "ActivistCode_3"]
    by_call = {row[4]: row[5:] for row in lines[1:]}
    assert by_call["call-a"] == ["Skipped: no values", "Processed", "Processed"]
    assert by_call["call-b"] == ["Processed", "Skipped: no values", "Skipped: no values"]
    assert by_call["call-c"] == [
        "Skipped: no values",
        "Invalid Survey Response for this Survey Question",
        "Skipped: no values",
    ]
    rows = [r for r in sandbox.van.dump(api_key)["canvass_responses"] if r["source"] == "bulk_import"]
    assert len(rows) == 2  # call-c applied nothing
    assert rows[0]["responses"] == [
        {"type": "SurveyResponse", "surveyQuestionId": SURVEY_Q, "surveyResponseId": STRONG},
        {"type": "ActivistCode", "activistCodeId": VOLUNTEER_CODE, "action": "Apply"},
    ]
    other, _ = van_session(sandbox, f"{api_key}-other")
    assert other.get(f"{base}bulkImportJobs/{job_id}", timeout=10).status_code == 404  # another key's job


@pytest.mark.parametrize(
    "change, prop",
    [
        (lambda b: b.pop("description"), "description"),
        (lambda b: b["file"].update(sourceUrl="ftp://x"), "file.sourceUrl"),
        (lambda b: b["file"].update(columns=[{"name": "ContactTypeID"}]), "file.columns"),
        (lambda b: b["actions"][0].update(actionType="delete"), "actions[0].actionType"),
        (lambda b: b["actions"][0]["mappingTypes"].append({"name": "Nope"}), "actions[0].mappingTypes[1].name"),
        (
            lambda b: b["actions"][0].update(mappingTypes=[{"name": "SurveyResponse"}]),
            "actions[0].mappingTypes[0].fieldValueMappings",
        ),
    ],
)
def test_invalid_job_requests_are_refused_with_the_property(sandbox, api_key, change, prop):
    s, base = van_session(sandbox, api_key)
    body = job_body(
        "http://127.0.0.1:1/x.zip",
        ["VanID", "ContactTypeID", "ResultID", "DateCanvassed"],
        [{"name": "CanvassResults"}],
        include=(),
    )
    change(body)
    r = s.post(f"{base}bulkImportJobs", json=body, timeout=10)
    assert r.status_code == 400, r.text
    assert prop in r.json()["errors"][0]["properties"]


def test_a_file_that_cannot_be_read_fails_the_job_and_applies_nothing(sandbox, api_key, s3_env):
    client, bucket = s3_env
    s, base = van_session(sandbox, api_key)
    cols = ["VanID", "ContactTypeID", "ResultID", "DateCanvassed"]
    missing = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nope.zip"}, ExpiresIn=60)
    job_id = s.post(
        f"{base}bulkImportJobs", json=job_body(missing, cols, [{"name": "CanvassResults"}], include=()), timeout=10
    ).json()["jobId"]
    job, _ = wait_done(lambda j: s.get(f"{base}bulkImportJobs/{j}", timeout=10).json(), job_id)
    assert job["status"] == "Failed" and job["errors"][0]["code"] == "FILE_UNREADABLE" and job["resultFiles"] == []
    assert sandbox.van.dump(api_key)["canvass_responses"] == []
    assert requests.get(f"{base}_files/bulk-import-results/{uuid.uuid4().hex}.csv", timeout=10).status_code == 404


def test_jobs_progress_asynchronously(sandbox, api_key, s3_env, monkeypatch):
    client, bucket = s3_env
    monkeypatch.setattr(van_bulk, "PROCESSING_DELAY_SECONDS", 0.5)
    s, base = van_session(sandbox, api_key)
    cols = ["VanID", "ContactTypeID", "ResultID", "DateCanvassed"]
    url = upload_zip(client, bucket, "VanID,ContactTypeID,ResultID,DateCanvassed\n100001,1,18,2026-03-05\n")
    job_id = s.post(
        f"{base}bulkImportJobs", json=job_body(url, cols, [{"name": "CanvassResults"}], include=()), timeout=10
    ).json()["jobId"]
    assert s.get(f"{base}bulkImportJobs/{job_id}", timeout=10).json()["status"] == "Pending"
    job, seen = wait_done(lambda j: s.get(f"{base}bulkImportJobs/{j}", timeout=10).json(), job_id)
    assert seen[0] == "Pending" and seen[-1] == "Completed"
