"""The old /configure and /validate: VAN reference data shown as copy-paste config, and a candidate's
configuration checked against it. Pure functions over plain dicts; no Dagster."""

from __future__ import annotations

from orgsync_dagster.calls.config import Candidate
from orgsync_dagster.calls.logic import rule_problems


def _by(items: list[dict], key: str) -> dict:
    return {i[key]: i for i in items or [] if key in i}


def validate_candidate(candidate: Candidate, ref: dict) -> list[str]:
    """Every problem that would make VAN refuse (or misfile) this candidate's calls, one line each."""
    problems: list[str] = []
    if candidate.strategy == "all_csv":
        return problems
    codes = _by(ref.get("result_codes"), "resultCodeId")
    questions = _by(ref.get("survey_questions"), "surveyQuestionId")
    activist = _by(ref.get("activist_codes"), "activistCodeId")
    contact_types = _by(ref.get("contact_types"), "contactTypeId")
    input_types = _by(ref.get("input_types"), "inputTypeId")
    if candidate.contact_type_id not in contact_types:
        problems.append(
            f"contact_type_id {candidate.contact_type_id} does not exist in VAN (available: {sorted(contact_types)})"
        )
    if candidate.input_type_id not in input_types:
        problems.append(
            f"input_type_id {candidate.input_type_id} does not exist in VAN (available: {sorted(input_types)})"
        )
    if not candidate.results:
        problems.append("no on-screen results are configured: every call would end in unattempted_error")
    for key, rule in sorted(candidate.results.items()):
        if not rule.sync_to_van:
            continue
        where = f"result {key!r}"
        problems.extend(f"{where}: {p}" for p in rule_problems(rule))
        if rule.result_code is not None and rule.result_code not in codes:
            problems.append(
                f"{where}: result_code {rule.result_code} is not a VAN result code for contact type "
                f"{candidate.contact_type_id} (available: {sorted(codes)})"
            )
        for code in rule.activist_codes:
            found = activist.get(code)
            if found is None:
                problems.append(f"{where}: activist code {code} does not exist in VAN")
            elif found.get("status", "Active") != "Active":
                problems.append(f"{where}: activist code {code} ({found.get('name')}) is {found.get('status')}")
        for qid, rid in rule.responses:
            q = questions.get(qid)
            if q is None:
                problems.append(f"{where}: survey question {qid} does not exist in VAN")
                continue
            if q.get("status", "Active") != "Active":
                problems.append(f"{where}: survey question {qid} ({q.get('name')}) is {q.get('status')}")
            valid = {r["surveyResponseId"]: r.get("name") for r in q.get("responses") or []}
            if rid not in valid:
                problems.append(
                    f"{where}: {rid} is not a response of survey question {qid} ({q.get('name')}); "
                    f"valid: {', '.join(f'{k} {v}' for k, v in sorted(valid.items()))}"
                )
    return problems


def validation_report(candidate: Candidate, problems: list[str]) -> str:
    head = f"Calls sync configuration of {candidate.slug} ({candidate.display_name}), strategy {candidate.strategy}"
    if not problems:
        return f"{head}\n\nThis sync is good to go!"
    return f"{head}\n\nTHIS SYNC HAS ERRORS ({len(problems)}):\n" + "\n".join(f"- {p}" for p in problems)


def configure_text(candidate: Candidate, ref: dict) -> str:
    """VAN ids in the shape of candidates.yaml, ready to copy (the old /configure/:candidate)."""
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
