"""The old /configure and /validate: VAN reference data shown as copy-paste config, and a candidate's
configuration checked (shape + every VAN id) by ONE function, ``check_candidate``, that the config store and the
``candidate_config_valid`` check share. Pure functions over plain dicts; no Dagster."""

from __future__ import annotations

from orgsync_dagster.calls.config import CallsDeployment, Candidate, FieldError, parse_candidate
from orgsync_dagster.calls.logic import rule_problems


def _by(items: list[dict], key: str) -> dict:
    return {i[key]: i for i in items or [] if key in i}


def van_problems(candidate: Candidate, ref: dict) -> list[FieldError]:
    """Every id in the candidate's configuration that VAN would refuse (or misfile), with the field it is in."""
    problems: list[FieldError] = []
    if candidate.strategy == "all_csv":
        return problems
    codes = _by(ref.get("result_codes"), "resultCodeId")
    questions = _by(ref.get("survey_questions"), "surveyQuestionId")
    activist = _by(ref.get("activist_codes"), "activistCodeId")
    contact_types = _by(ref.get("contact_types"), "contactTypeId")
    input_types = _by(ref.get("input_types"), "inputTypeId")
    if candidate.contact_type_id not in contact_types:
        problems.append(
            FieldError(
                "contact_type_id",
                f"contact_type_id {candidate.contact_type_id} does not exist in VAN (available: {sorted(contact_types)})",
            )
        )
    if candidate.input_type_id not in input_types:
        problems.append(
            FieldError(
                "input_type_id",
                f"input_type_id {candidate.input_type_id} does not exist in VAN (available: {sorted(input_types)})",
            )
        )
    if not candidate.results:
        problems.append(
            FieldError("results", "no on-screen results are configured: every call would end in unattempted_error")
        )
    for key, rule in sorted(candidate.results.items()):
        if not rule.sync_to_van:
            continue
        where = f"results[{key!r}]"
        problems.extend(FieldError(where, f"result {key!r}: {p}") for p in rule_problems(rule))
        codes_known = ref.get("result_codes_contact_type", candidate.contact_type_id) == candidate.contact_type_id
        if rule.result_code is not None and codes_known and rule.result_code not in codes:
            problems.append(
                FieldError(
                    f"{where}.result_code",
                    f"result {key!r}: result_code {rule.result_code} is not a VAN result code for contact type "
                    f"{candidate.contact_type_id} (available: {sorted(codes)})",
                )
            )
        for i, code in enumerate(rule.activist_codes):
            found = activist.get(code)
            path = f"{where}.activist_codes[{i}]"
            if found is None:
                problems.append(FieldError(path, f"result {key!r}: activist code {code} does not exist in VAN"))
            elif found.get("status", "Active") != "Active":
                problems.append(
                    FieldError(
                        path, f"result {key!r}: activist code {code} ({found.get('name')}) is {found.get('status')}"
                    )
                )
        for i, (qid, rid) in enumerate(rule.responses):
            path = f"{where}.responses[{i}]"
            q = questions.get(qid)
            if q is None:
                problems.append(FieldError(path, f"result {key!r}: survey question {qid} does not exist in VAN"))
                continue
            if q.get("status", "Active") != "Active":
                problems.append(
                    FieldError(path, f"result {key!r}: survey question {qid} ({q.get('name')}) is {q.get('status')}")
                )
            valid = {r["surveyResponseId"]: r.get("name") for r in q.get("responses") or []}
            if rid not in valid:
                problems.append(
                    FieldError(
                        path,
                        f"result {key!r}: {rid} is not a response of survey question {qid} ({q.get('name')}); "
                        f"valid: {', '.join(f'{k} {v}' for k, v in sorted(valid.items()))}",
                    )
                )
    return problems


def validate_candidate(candidate: Candidate, ref: dict) -> list[str]:
    """Every problem that would make VAN refuse (or misfile) this candidate's calls, one line each."""
    return [e.message for e in van_problems(candidate, ref)]


def check_candidate(
    slug: str,
    raw: dict,
    *,
    instances: set[str] | None,
    deployment: CallsDeployment | None = None,
    ref: dict | None = None,
    other_districts: dict[str, str] | None = None,
) -> list[FieldError]:
    """THE validation of one candidate document, used by the config store (web page, import) and by the
    ``candidate_config_valid`` check: the document's shape and, when VAN reference data of the candidate's
    instance and mode is given, every id against it. Empty when the candidate is good to go."""
    candidate, errors = parse_candidate(slug, raw, instances=instances, deployment=deployment)
    if candidate is None:
        return errors
    owner = (other_districts or {}).get(candidate.district)
    if owner and owner != slug:
        errors.append(FieldError("district", f"{candidate.district!r} is already the district of {owner!r}"))
    if ref is not None:
        errors.extend(van_problems(candidate, ref))
    return errors


def validation_report(candidate: Candidate, problems: list[str]) -> str:
    head = f"Calls sync configuration of {candidate.slug} ({candidate.display_name}), strategy {candidate.strategy}"
    if not problems:
        return f"{head}\n\nThis sync is good to go!"
    return f"{head}\n\nTHIS SYNC HAS ERRORS ({len(problems)}):\n" + "\n".join(f"- {p}" for p in problems)


def configure_text(candidate: Candidate, ref: dict) -> str:
    """VAN ids in the shape of candidates.yaml, ready to copy into the candidate's results (the old /configure/:candidate)."""
    lines = [
        f"# VAN reference data for {candidate.slug}: instance {ref.get('instance')}, mode {ref.get('mode')}",
        f"# fetched {ref.get('fetched_at')}",
        "",
        "# contact_type_id:",
    ]
    lines += [f"#   {c['contactTypeId']}: {c['name']}" for c in ref.get("contact_types") or []]
    lines += ["# input_type_id:"] + [f"#   {i['inputTypeId']}: {i['name']}" for i in ref.get("input_types") or []]
    lines += [f"# result_code (valid for contact type {candidate.contact_type_id}):"]
    lines += [f"#   {r['resultCodeId']}: {r['name']}" for r in ref.get("result_codes") or []]
    lines += ["# activist_codes:"]
    lines += [
        f"#   {a['activistCodeId']}: {a['name']} ({a.get('description') or a.get('type')}) [{a.get('status')}]"
        for a in ref.get("activist_codes") or []
    ]
    lines += ["# responses: [surveyQuestionId, surveyResponseId]"]
    for q in ref.get("survey_questions") or []:
        lines.append(f"#   {q['surveyQuestionId']}: {q['name']} - {q.get('scriptQuestion')} [{q.get('status')}]")
        lines += [
            f"#     [{q['surveyQuestionId']}, {r['surveyResponseId']}]  {r['name']}" for r in q.get("responses") or []
        ]
    example_q = next(iter(ref.get("survey_questions") or []), None)
    if example_q and example_q.get("responses"):
        r = example_q["responses"][0]
        lines += [
            "",
            "# example result entry:",
            f"strong support: {{display_name: {r['name']}, success: true, responses: "
            f"[[{example_q['surveyQuestionId']}, {r['surveyResponseId']}]], sync_to_van: true, "
            "include_in_csv: true, value: 100}",
        ]
    return "\n".join(lines)
