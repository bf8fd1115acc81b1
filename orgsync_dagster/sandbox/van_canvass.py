"""VAN emulator handler: canvass responses (``POST people/{vanId}/canvassResponses``): the canvass context, survey
responses, activist codes and result codes as VAN validates them, with VAN's ~60 minute de-duplication of
identical posts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox import van_seed
from orgsync_dagster.sandbox.van_core import (
    DEFAULT_TZ,
    PHONE_RE,
    Call,
    bad_param,
    digits,
    iso_z,
    no_content,
    norm,
    parse_iso,
    to_bool,
    to_int,
)
from orgsync_dagster.sandbox.van_db import VanDatabase
from orgsync_dagster.sandbox.van_people import PHONE_HINT, person_or_404

DEDUP_WINDOW = timedelta(minutes=60)


def _validate_responses(db: VanDatabase, responses: list[Any]) -> list[dict[str, Any]]:
    clean: list[dict[str, Any]] = []
    for i, item in enumerate(responses):
        prefix = f"responses[{i}]"
        if not isinstance(item, dict):
            raise bad_param(f"'{prefix}' must be an object.", prefix)
        kind = norm(item.get("type")).replace(" ", "")
        if kind == "surveyresponse":
            qid = to_int(item.get("surveyQuestionId"), f"{prefix}.surveyQuestionId")
            question = db.survey_questions.get(qid)
            if question is None:
                raise bad_param(
                    f"'{prefix}.surveyQuestionId' must be a valid survey question in the current context.",
                    f"{prefix}.surveyQuestionId",
                )
            rid = to_int(item.get("surveyResponseId"), f"{prefix}.surveyResponseId")
            if rid not in {r["surveyResponseId"] for r in question["responses"]}:
                raise bad_param(
                    f"'{prefix}.surveyResponseId' must be a valid response to survey question {qid}.",
                    f"{prefix}.surveyResponseId",
                )
            clean.append({"type": "SurveyResponse", "surveyQuestionId": qid, "surveyResponseId": rid})
        elif kind == "activistcode":
            aid = to_int(item.get("activistCodeId"), f"{prefix}.activistCodeId")
            if aid not in db.activist_codes:
                raise bad_param(
                    f"'{prefix}.activistCodeId' must be a valid activist code in the current context.",
                    f"{prefix}.activistCodeId",
                )
            action = norm(item.get("action") or "apply")
            if action not in ("apply", "remove"):
                raise bad_param(f"'{prefix}.action' must be 'Apply' or 'Remove'.", f"{prefix}.action")
            clean.append({"type": "ActivistCode", "activistCodeId": aid, "action": action.title()})
        elif kind == "volunteeractivity":
            raise bad_param(
                f"'{prefix}.volunteerActivityId' must be a valid volunteer activity in the current context.",
                f"{prefix}.volunteerActivityId",
            )
        else:
            raise bad_param(
                f"'{prefix}.type' must be SurveyResponse, ActivistCode or VolunteerActivity.", f"{prefix}.type"
            )
    return clean


def _context(call: Call, person: dict[str, Any], ctx: Any) -> dict[str, Any]:
    db = call.db
    if not isinstance(ctx, dict):
        raise bad_param("'canvassContext' is required.", "canvassContext")
    contact_type_id = to_int(ctx.get("contactTypeId"), "canvassContext.contactTypeId", required=False)
    if contact_type_id is not None and contact_type_id not in db.contact_types:
        raise bad_param(
            "'canvassContext.contactTypeId' must be a valid contact type in the current context.",
            "canvassContext.contactTypeId",
        )
    input_type_id = to_int(ctx.get("inputTypeId"), "canvassContext.inputTypeId", required=False)
    input_type_id = van_seed.DEFAULT_INPUT_TYPE_ID if input_type_id is None else input_type_id
    if input_type_id not in db.input_types:
        raise bad_param(
            "'canvassContext.inputTypeId' must be a valid input type in the current context.",
            "canvassContext.inputTypeId",
        )
    date_canvassed = ctx.get("dateCanvassed")
    if date_canvassed is not None:
        parse_iso(date_canvassed, "canvassContext.dateCanvassed")
    else:
        date_canvassed = call.now().astimezone(DEFAULT_TZ).date().isoformat()
    phone_id = to_int(ctx.get("phoneId"), "canvassContext.phoneId", required=False)
    if phone_id is not None and phone_id not in {p["phoneId"] for p in person["phones"]}:
        raise bad_param("'canvassContext.phoneId' is not a phone of this person.", "canvassContext.phoneId")
    phone = ctx.get("phone")
    if phone is not None:
        if not isinstance(phone, dict) or not PHONE_RE.match(digits(phone.get("phoneNumber"))):
            raise bad_param("'phone.phoneNumber' is not a valid phone number.", "canvassContext", hint=PHONE_HINT)
        phone = {k: phone.get(k) for k in ("dialingPrefix", "phoneNumber", "smsOptInStatus")}
    return {
        "contactTypeId": contact_type_id,
        "inputTypeId": input_type_id,
        "dateCanvassed": date_canvassed,
        "phoneId": phone_id,
        "phone": phone,
        "skipMatching": bool(to_bool(ctx.get("skipMatching"), "canvassContext.skipMatching", False)),
        "omitActivistCodeContactHistory": bool(
            to_bool(ctx.get("omitActivistCodeContactHistory"), "canvassContext.omitActivistCodeContactHistory", False)
        ),
        "campaignId": ctx.get("campaignId"),
        "contentId": ctx.get("contentId"),
    }


def _fingerprint(record: dict[str, Any]) -> str:
    responses = sorted(json.dumps(r, sort_keys=True) for r in record["responses"])
    return json.dumps([record["vanId"], record["contactTypeId"], record["resultCodeId"], responses])


def post_canvass_responses(call: Call, ref: str) -> Response:
    """POST /people/{vanId}/canvassResponses -> 204 (with VAN's ~60 minute de-duplication)."""
    db = call.db
    person = person_or_404(db, ref)
    body = call.body_object()
    context = _context(call, person, body.get("canvassContext"))
    result_code_id = to_int(body.get("resultCodeId"), "resultCodeId", required=False)
    raw_responses = body.get("responses")
    if raw_responses is not None and not isinstance(raw_responses, list):
        raise bad_param("'responses' must be an array.", "responses")
    if result_code_id is not None and raw_responses:
        raise bad_param("Specify either 'resultCodeId' or 'responses', not both.", "resultCodeId", "responses")
    if result_code_id is None and not raw_responses:
        raise bad_param("Either 'resultCodeId' or at least one response is required.", "resultCodeId", "responses")
    if result_code_id is not None:
        code = db.result_codes.get(result_code_id)
        ct = context["contactTypeId"]
        if code is None or (ct is not None and ct not in code["contactTypeIds"]):
            raise bad_param("'resultCodeId' must be a valid result code in the current context.", "resultCodeId")
    responses = _validate_responses(db, raw_responses or [])

    now = call.now()
    record = {
        "vanId": person["vanId"],
        **context,
        "resultCodeId": result_code_id,
        "responses": responses,
        "source": "api",
    }
    only_codes = bool(responses) and all(r["type"] == "ActivistCode" for r in responses)
    record["contactHistory"] = not (only_codes and context["omitActivistCodeContactHistory"])
    if not context["skipMatching"]:
        fp = _fingerprint(record)
        for earlier in reversed(db.canvass_responses):
            if earlier.get("source") != "api" or _fingerprint(earlier) != fp:
                continue
            if abs(now - datetime.fromisoformat(earlier["receivedAt"])) < DEDUP_WINDOW:
                db.canvass_responses_deduplicated += 1
                return no_content()
            break
    for r in responses:
        if r["type"] == "SurveyResponse":
            person["surveyResponses"][str(r["surveyQuestionId"])] = r["surveyResponseId"]
        elif r["action"] == "Apply" and r["activistCodeId"] not in person["activistCodeIds"]:
            person["activistCodeIds"].append(r["activistCodeId"])
        elif r["action"] == "Remove" and r["activistCodeId"] in person["activistCodeIds"]:
            person["activistCodeIds"].remove(r["activistCodeId"])
    db.add_canvass_response(record, iso_z(now, precise=True))
    return no_content()
