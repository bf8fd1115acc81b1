"""Parsing the calls configuration documents into the typed objects of ``config.py``, collecting EVERY problem as
a ``FieldError`` with the field's path (``results['strong support'].responses[0]``) instead of stopping at the
first. No Dagster import. (Re-exported by ``config.py``: import from there.)"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orgsync_dagster.calls.config import (
    CANDIDATE_FIELDS,
    CDR_DATE_ORDERS,
    DEFAULT_FREE_REQUESTS,
    DEFAULT_USD_PER_REQUEST,
    ENV_NAME,
    INSTANCE_FIELDS,
    RULE_FIELDS,
    SLUG,
    STRATEGIES,
    VAN_MODES,
    CallsConfigError,
    CallsDeployment,
    CallsSettings,
    Candidate,
    FieldError,
    ResultRule,
    TermCode,
    VanInstance,
    normalize_result,
)


class _Errors(list):
    def add(self, where: str, message: str) -> None:
        self.append(FieldError(where, message))


def _key(name) -> str:
    return f"[{str(name)!r}]"


def _int(raw: dict, name: str, errors: _Errors, where: str = "", *, default=None, minimum=None, maximum=None):
    value = raw.get(name)
    path = f"{where}{name}"
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, f"must be a whole number, got {value!r}")
        return default
    if minimum is not None and value < minimum:
        errors.add(path, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        errors.add(path, f"must be at most {maximum}, got {value}")
    return value


def _number(raw: dict, name: str, errors: _Errors, *, default: float, minimum: float = 0.0) -> float:
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.add(name, f"must be a number, got {value!r}")
        return default
    if value < minimum:
        errors.add(name, f"must be at least {minimum}, got {value}")
    return float(value)


def _bool(raw: dict, name: str, errors: _Errors, where: str = "", default: bool = False) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        errors.add(f"{where}{name}", f"must be true or false, got {value!r}")
        return default
    return value


def _tz(value, path: str, errors: _Errors, default: str) -> str:
    if value is None:
        return default
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        errors.add(path, f"unknown time zone {value!r} (use an IANA name like America/New_York)")
        return default
    return str(value)


def _env_name(raw: dict, name: str, errors: _Errors) -> str | None:
    value = raw.get(name)
    if value in (None, ""):
        return None
    text = str(value)
    if "://" in text or text.lower().startswith("hooks."):
        # never echo the value: it is a bearer secret
        errors.add(
            name,
            "holds a URL: webhook URLs are secrets and are never stored in the configuration. Put the URL in an "
            "environment variable of the code location and write that variable's NAME here (e.g. SLACK_WEBHOOK_NY14)",
        )
        return None
    if not ENV_NAME.match(text):
        errors.add(name, f"must be an environment variable name in capitals (e.g. SLACK_WEBHOOK_NY14), got {text!r}")
        return None
    return text


def _ids(value, path: str, errors: _Errors) -> tuple[int, ...]:
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else [value]
    out = []
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, int):
            errors.add(f"{path}[{i}]", f"must be a whole number (a VAN id), got {v!r}")
        else:
            out.append(v)
    return tuple(out)


def _pairs(value, path: str, errors: _Errors) -> tuple[tuple[int, int], ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        errors.add(path, "must be a list of [surveyQuestionId, surveyResponseId] pairs")
        return ()
    out = []
    for i, pair in enumerate(value):
        if isinstance(pair, dict):
            pair = [pair.get("question"), pair.get("response")]
        ok = isinstance(pair, list) and len(pair) == 2
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
        if not ok:
            errors.add(f"{path}[{i}]", f"must be [surveyQuestionId, surveyResponseId], got {pair!r}")
            continue
        out.append((pair[0], pair[1]))
    return tuple(out)


def _rule(key: str, raw, where: str, errors: _Errors) -> ResultRule | None:
    if not isinstance(raw, dict):
        errors.add(where, "must be a mapping of settings (success, result_code, responses, sync_to_van, ...)")
        return None
    for name in sorted(set(raw) - set(RULE_FIELDS)):
        errors.add(f"{where}.{name}", f"is not a setting of a result (known: {', '.join(RULE_FIELDS)})")
    prefix = f"{where}."
    return ResultRule(
        key=key,
        display_name=str(raw.get("display_name") or key),
        success=raw.get("success"),
        result_code=_int(raw, "result_code", errors, prefix),
        activist_codes=_ids(raw.get("activist_codes"), f"{prefix}activist_codes", errors),
        responses=_pairs(raw.get("responses"), f"{prefix}responses", errors),
        sync_to_van=_bool(raw, "sync_to_van", errors, prefix),
        include_in_csv=_bool(raw, "include_in_csv", errors, prefix),
        value=_int(raw, "value", errors, prefix, default=0) or 0,
    )


def parse_candidate(
    slug: str,
    raw,
    *,
    instances: set[str] | None = None,
    deployment: CallsDeployment | None = None,
    version: int = 0,
) -> tuple[Candidate | None, list[FieldError]]:
    """One candidate document -> (Candidate, []) or (None, every problem). ``instances``: the VAN instances
    configured (a candidate must name one of them unless it is all_csv)."""
    deployment = deployment or CallsDeployment()
    errors = _Errors()
    if not SLUG.match(str(slug or "")):
        errors.add("slug", f"must be lower-case letters, digits, '-' or '_' (at most 64), got {slug!r}")
    if not isinstance(raw, dict):
        errors.add("", "a candidate must be a mapping of settings")
        return None, list(errors)
    for name in sorted(set(raw) - set(CANDIDATE_FIELDS)):
        errors.add(name, f"is not a candidate setting (known: {', '.join(CANDIDATE_FIELDS)})")
    strategy = str(raw.get("strategy", "full")).replace(" ", "_").lower()
    if strategy not in STRATEGIES:
        errors.add("strategy", f"must be one of {', '.join(STRATEGIES)}, got {raw.get('strategy')!r}")
    instance = raw.get("van_instance") or None
    if strategy != "all_csv" and not instance:
        errors.add("van_instance", f"is required for strategy {strategy} (the VAN key the calls go to)")
    if instance and instances is not None and instance not in instances:
        errors.add("van_instance", f"{instance!r} is not a configured VAN instance ({', '.join(sorted(instances))})")
    mode = VAN_MODES.get(str(raw.get("van_mode", "myc")).lower())
    if mode is None:
        errors.add("van_mode", f"must be myc (MyCampaign) or van (MyVoters), got {raw.get('van_mode')!r}")
        mode = 1
    order = raw.get("cdr_date_order")
    if order is not None and order not in CDR_DATE_ORDERS:
        errors.add("cdr_date_order", f"must be month_first, day_first or empty, got {order!r}")
        order = None
    results_raw = raw.get("results") or {}
    results: dict[str, ResultRule] = {}
    if not isinstance(results_raw, dict):
        errors.add("results", "must map on-screen results to their settings")
        results_raw = {}
    for name, rule_raw in results_raw.items():
        key = normalize_result(name)
        where = f"results{_key(name)}"
        if not key:
            errors.add(where, "an on-screen result needs a name")
            continue
        if key in results:
            errors.add(where, "is listed twice (after normalising case, spaces and '(...)')")
            continue
        rule = _rule(key, rule_raw, where, errors)
        if rule is not None:
            results[key] = rule
    district = str(raw.get("district") or slug or "").strip().lower()
    if not district or "-" in district:
        errors.add("district", f"must be the account-number prefix without '-' (e.g. ny14), got {district!r}")
    candidate = Candidate(
        slug=str(slug),
        display_name=str(raw.get("display_name") or slug),
        district=district,
        van_instance=instance,
        van_mode=mode,
        strategy=strategy if strategy in STRATEGIES else "full",
        timezone=_tz(raw.get("timezone"), "timezone", errors, deployment.timezone),
        sync_hour=_int(raw, "sync_hour", errors, default=deployment.default_sync_hour, minimum=0, maximum=23),
        active=_bool(raw, "active", errors, default=True),
        daily_budget=_int(raw, "daily_budget", errors, minimum=0),
        contact_type_id=_int(raw, "contact_type_id", errors, default=1),
        input_type_id=_int(raw, "input_type_id", errors, default=11),
        results=results,
        bulk_import_threshold=_int(raw, "bulk_import_threshold", errors, minimum=1),
        cdr_date_order=order,
        report_channel=(str(raw["report_channel"]) if raw.get("report_channel") else None),
        report_webhook_env=_env_name(raw, "report_webhook_env", errors),
        success_webhook_env=_env_name(raw, "success_webhook_env", errors),
        failure_webhook_env=_env_name(raw, "failure_webhook_env", errors),
        version=version,
    )
    return (None if errors else candidate), list(errors)


def parse_instance(name: str, raw) -> tuple[VanInstance | None, list[FieldError]]:
    errors = _Errors()
    if not re.match(r"^[A-Za-z0-9_-]{1,64}$", str(name or "")):
        errors.add("name", f"must be letters, digits, '-' or '_', got {name!r}")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        return None, [FieldError("", f"must be a mapping of {', '.join(INSTANCE_FIELDS)}")]
    for key in sorted(set(raw) - set(INSTANCE_FIELDS)):
        errors.add(key, f"is not a VAN instance setting (known: {', '.join(INSTANCE_FIELDS)})")
    inst = VanInstance(
        name=str(name),
        daily_free_requests=_int(raw, "daily_free_requests", errors, default=DEFAULT_FREE_REQUESTS, minimum=0),
        daily_paid_budget_usd=_number(raw, "daily_paid_budget_usd", errors, default=0.0),
        usd_per_request=_number(raw, "usd_per_request", errors, default=DEFAULT_USD_PER_REQUEST),
    )
    if inst.daily_paid_budget_usd > 0 and inst.usd_per_request <= 0:
        errors.add("usd_per_request", "must be above 0 when a paid budget is set")
    return (None if errors else inst), list(errors)


def parse_term_codes(raw) -> tuple[dict[str, TermCode], list[FieldError]]:
    errors = _Errors()
    out: dict[str, TermCode] = {}
    if raw in (None, ""):
        return out, []
    if not isinstance(raw, dict):
        return out, [FieldError("", "must map Livevox results (term codes) to their attributes")]
    for name, attrs in raw.items():
        where = _key(name)
        if attrs is not None and not isinstance(attrs, dict):
            errors.add(where, "must be a mapping (full_on_screen_result and attributes such as contact, dropped)")
            continue
        attrs = dict(attrs or {})
        full = normalize_result(attrs.pop("full_on_screen_result", name))
        for flag in ("contact", "dropped"):
            if flag in attrs and not isinstance(attrs[flag], bool):
                errors.add(f"{where}.{flag}", f"must be true or false, got {attrs[flag]!r}")
        key = normalize_result(name)
        if key in out:
            errors.add(where, "is listed twice (after normalising case, spaces and '(...)')")
        out[key] = TermCode(full, attrs)
    return out, list(errors)


def parse_deployment(section: dict | None) -> CallsDeployment:
    """The ``calls`` section of orgsync.yaml; raises CallsConfigError listing every problem."""
    s = dict(section or {})
    errors = _Errors()
    known = set(CallsDeployment.__dataclass_fields__)
    for name in sorted(set(s) - known):
        errors.add(f"calls.{name}", f"is not a calls setting (known: {', '.join(sorted(known))})")
    d = CallsDeployment()
    start = str(s.get("start_date", d.start_date))
    try:
        dt.date.fromisoformat(start)
    except ValueError:
        errors.add("calls.start_date", f"must be YYYY-MM-DD, got {start!r}")
        start = d.start_date
    timezone = _tz(s.get("timezone"), "calls.timezone", errors, d.timezone)
    out = CallsDeployment(
        timezone=timezone,
        start_date=start,
        default_sync_hour=_int(s, "default_sync_hour", errors, "calls.", default=6, minimum=0, maximum=23),
        report_deadline_hour=_int(s, "report_deadline_hour", errors, "calls.", default=9, minimum=0, maximum=23),
        s3_bucket=s.get("s3_bucket") or None,
        csv_prefix=str(s.get("csv_prefix", d.csv_prefix)),
        cdr_prefix=str(s.get("cdr_prefix", d.cdr_prefix)),
        quarantine_prefix=str(s.get("quarantine_prefix", d.quarantine_prefix)),
        bulk_import_prefix=str(s.get("bulk_import_prefix", d.bulk_import_prefix)),
        cdr_timezone=_tz(s.get("cdr_timezone"), "calls.cdr_timezone", errors, timezone),
        test_accounts=tuple(str(t) for t in (s.get("test_accounts") or d.test_accounts)),
        bulk_import_poll_minutes=_number(s, "bulk_import_poll_minutes", errors, default=d.bulk_import_poll_minutes),
    )
    if errors:
        raise CallsConfigError("the calls section of the configuration file is not usable:", list(errors))
    return out


def parse_documents(data: dict, deployment: CallsDeployment | None = None) -> tuple[CallsSettings | None, list]:
    """The YAML/import shape ``{van_instances, term_codes, candidates}`` -> settings, or every problem with its full
    path (``candidates.mo01.results['busy'].value``)."""
    deployment = deployment or CallsDeployment()
    errors: list[FieldError] = []
    if not isinstance(data, dict):
        return None, [FieldError("", "must be a mapping with van_instances, term_codes and candidates")]
    for name in sorted(set(data) - {"van_instances", "term_codes", "candidates"}):
        errors.append(FieldError(name, "is not a section (known: van_instances, term_codes, candidates)"))
    instances: dict[str, VanInstance] = {}
    raw_instances = data.get("van_instances") or {}
    if not isinstance(raw_instances, dict):
        errors.append(FieldError("van_instances", "must map instance names to their budgets"))
        raw_instances = {}
    for name, raw in raw_instances.items():
        inst, errs = parse_instance(str(name), raw)
        errors += [e.under(f"van_instances.{name}") for e in errs]
        if inst:
            instances[inst.name] = inst
    term_codes, errs = parse_term_codes(data.get("term_codes"))
    errors += [e.under("term_codes") for e in errs]
    candidates: dict[str, Candidate] = {}
    raw_candidates = data.get("candidates") or {}
    if not isinstance(raw_candidates, dict):
        errors.append(FieldError("candidates", "must map candidate slugs to their settings"))
        raw_candidates = {}
    for slug, raw in raw_candidates.items():
        cand, errs = parse_candidate(str(slug), raw, instances=set(raw_instances), deployment=deployment)
        errors += [e.under(f"candidates.{slug}") for e in errs]
        if cand:
            candidates[cand.slug] = cand
    errors += district_clashes(candidates.values())
    if errors:
        return None, errors
    return CallsSettings(deployment, instances, term_codes, candidates), []


def district_clashes(candidates) -> list[FieldError]:
    seen: dict[str, str] = {}
    out = []
    for c in candidates:
        if c.district in seen:
            out.append(
                FieldError(
                    f"candidates.{c.slug}.district", f"{c.district!r} is already the district of {seen[c.district]!r}"
                )
            )
        else:
            seen[c.district] = c.slug
    return out


def parse_settings(data: dict, deployment: CallsDeployment | None = None) -> CallsSettings:
    """Like ``parse_documents`` but raises CallsConfigError listing every problem (tests, the YAML seed)."""
    settings, errors = parse_documents(data, deployment)
    if errors:
        raise CallsConfigError("the calls configuration is not usable:", errors)
    return settings
