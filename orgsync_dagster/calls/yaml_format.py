"""The calls configuration as YAML (the seed/import/export format of ``candidates.yaml``): one canonical text per
configuration, so ``export(import(text)) == text`` for any text that is itself an export. No Dagster import."""

from __future__ import annotations

import json
import math
import re

import yaml

from orgsync_dagster.calls.config import CANDIDATE_FIELDS, INSTANCE_FIELDS, MODE_NAMES, RULE_FIELDS, VAN_MODES
from orgsync_dagster.calls.config import normalize_result as _norm

HEADER = """\
# Livevox call sync configuration (seed/import/export format: `orgsync calls config import|export`).
# Kept in the warehouse (calls.config_documents, with every change in calls.config_history) and edited there;
# this file is what `export` prints and what `import` reads (everything is validated before anything is written).
# No secrets here: VAN keys are in VAN_API_KEYS; webhooks are named by environment variable (`*_webhook_env`).
#
# van_instances.<name>: daily_free_requests (VAN's free allowance, 1000), daily_paid_budget_usd (what a day may
#   cost above it; 0 = never pay), usd_per_request (0.01). The sync never sends more than free + paid.
# term_codes.<Livevox result>: full_on_screen_result and attributes stored on each call (contact, dropped, ...).
# candidates.<slug>: display_name, district (account-number prefix), active, van_instance, van_mode (myc|van),
#   strategy (full|hybrid|all_csv), timezone, sync_hour (local), daily_budget (this candidate's share),
#   bulk_import_threshold (more VAN-bound calls than this in one run go as one VAN bulk import job),
#   contact_type_id, input_type_id, cdr_date_order (month_first|day_first; unset: detected, ambiguous refused),
#   report_channel, report_webhook_env / success_webhook_env / failure_webhook_env (environment variable NAMES),
#   results.<on-screen result>: display_name, success, result_code | responses [[question, response]] +
#   activist_codes, sync_to_van, include_in_csv, value (hybrid: higher goes to VAN first).
"""
_PLAIN = re.compile(r"^[A-Za-z_/.][A-Za-z0-9 _./()+-]*$")
_SPECIAL_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n", "~"}


def scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("not a finite number")
        return repr(value)
    text = str(value)
    plain = (
        _PLAIN.match(text)
        and text == text.strip()
        and text.lower() not in _SPECIAL_WORDS
        and yaml.safe_load(text) == text
        and "  " not in text
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    return scalar(value)


def _ordered(body: dict, order: tuple[str, ...]) -> dict:
    """Known keys in canonical order (None values dropped), unknown keys after them (validation reports those)."""
    out = {k: body[k] for k in order if k in body and body[k] is not None}
    out.update({k: v for k, v in body.items() if k not in order and v is not None})
    return out


def canonical_rule(rule) -> dict:
    if not isinstance(rule, dict):
        return rule
    out = _ordered(rule, RULE_FIELDS)
    if isinstance(out.get("responses"), list):
        out["responses"] = [list(p) if isinstance(p, list | tuple) else p for p in out["responses"]]
    if isinstance(out.get("activist_codes"), int) and not isinstance(out.get("activist_codes"), bool):
        out["activist_codes"] = [out["activist_codes"]]
    for empty in ("responses", "activist_codes"):
        if out.get(empty) in ([], ""):
            del out[empty]
    return out


def canonical_candidate(body: dict) -> dict:
    """A candidate document as stored and exported: canonical key order, normalised names, no null settings."""
    if not isinstance(body, dict):
        return body
    out = _ordered(body, CANDIDATE_FIELDS)
    if isinstance(out.get("strategy"), str):
        out["strategy"] = out["strategy"].replace(" ", "_").lower()
    mode = VAN_MODES.get(str(out.get("van_mode", "")).lower())
    if mode is not None:
        out["van_mode"] = MODE_NAMES[mode]
    if isinstance(out.get("district"), str):
        out["district"] = out["district"].strip().lower()
    results = out.get("results")
    if isinstance(results, dict):
        out["results"] = {_norm(k) or k: canonical_rule(v) for k, v in results.items()}
    return out


def canonical_instance(body) -> dict:
    return _ordered(body or {}, INSTANCE_FIELDS) if isinstance(body, dict) or body is None else body


def canonical_term_codes(body) -> dict:
    if not isinstance(body, dict):
        return body
    out = {}
    for name, attrs in body.items():
        attrs = dict(attrs or {}) if isinstance(attrs, dict) or attrs is None else attrs
        if isinstance(attrs, dict):
            first = (
                {"full_on_screen_result": attrs.pop("full_on_screen_result")}
                if "full_on_screen_result" in attrs
                else {}
            )
            attrs = {**first, **attrs}
        out[_norm(name) or name] = attrs
    return out


def canonical(data: dict) -> dict:
    return {
        "van_instances": {str(k): canonical_instance(v) for k, v in (data.get("van_instances") or {}).items()},
        "term_codes": canonical_term_codes(data.get("term_codes") or {}),
        "candidates": {str(k): canonical_candidate(v) for k, v in (data.get("candidates") or {}).items()},
    }


def dump(data: dict) -> str:
    """The canonical YAML text of ``{van_instances, term_codes, candidates}`` (already canonical documents)."""
    lines = [HEADER.rstrip("\n"), ""]
    for section in ("van_instances", "term_codes"):
        items = data.get(section) or {}
        lines.append(f"{section}:" + ("" if items else " {}"))
        lines += [f"  {scalar(name)}: {flow(body)}" for name, body in items.items()]
        lines.append("")
    candidates = data.get("candidates") or {}
    lines.append("candidates:" + ("" if candidates else " {}"))
    for slug, body in candidates.items():
        lines.append(f"  {scalar(slug)}:")
        for key, value in body.items():
            if key == "results" and isinstance(value, dict) and value:
                lines.append("    results:")
                lines += [f"      {scalar(name)}: {flow(rule)}" for name, rule in value.items()]
            else:
                lines.append(f"    {scalar(key)}: {flow(value)}")
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != {k: data.get(k) or {} for k in ("van_instances", "term_codes", "candidates")}:
        raise AssertionError("the YAML export does not read back as the configuration (a bug in yaml_format)")
    return text


def load(text: str) -> dict:
    """Parse import text; a YAML syntax error becomes a CallsConfigError naming the line."""
    from orgsync_dagster.calls.config import CallsConfigError

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise CallsConfigError(f"the file is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CallsConfigError("the file must be a mapping with van_instances, term_codes and candidates")
    return data
