"""The calls sync's configuration as data: ``orgsync_dagster/calls/candidates.yaml`` (or $ORGSYNC_CALLS_CONFIG).

Why a YAML file in the repo: it plays the part of the original's Airtable sheets (one listing row per candidate,
one row per on-screen result) but is reviewed, versioned and deployed with the code, needs no extra service, and
the partitions (one per candidate) are known at load time. The file holds no secrets: VAN keys stay in
VAN_API_KEYS, bucket and endpoint in the environment.

This module only parses and checks the file's shape; checking the ids against VAN is ``validate.py``.
No Dagster import.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "candidates.yaml"
STRATEGIES = ("full", "hybrid", "all_csv")
VAN_MODES = {"van": 0, "myvoters": 0, "0": 0, "myc": 1, "mycampaign": 1, "1": 1}
DEFAULT_DAILY_BUDGET = 1000  # VAN's free requests per day and key


class CallsConfigError(ValueError):
    """The calls configuration file cannot be used; the message says where and why."""


def normalize_result(value) -> str:
    """Livevox result / on-screen result -> lookup key: lower case, single spaces, no "(...)" suffix."""
    text = " ".join(str(value or "").strip().lower().split())
    if "(" in text and text.endswith(")"):
        text = text[: text.rfind("(")].strip()
    return text


@dataclass(frozen=True)
class ResultRule:
    """What to do with a call that ended on one on-screen result."""

    key: str
    display_name: str
    success: object = None  # must be a bool when the result goes to VAN (checked by validate.py)
    result_code: int | None = None
    activist_codes: tuple[int, ...] = ()
    responses: tuple[tuple[int, int], ...] = ()  # (surveyQuestionId, surveyResponseId)
    sync_to_van: bool = False
    include_in_csv: bool = False
    value: int = 0  # hybrid: higher values go to VAN first

    @property
    def ignored(self) -> bool:
        return not self.sync_to_van and not self.include_in_csv


@dataclass(frozen=True)
class Candidate:
    slug: str
    display_name: str
    district: str
    van_instance: str | None
    van_mode: int
    strategy: str
    timezone: str
    sync_hour: int
    active: bool
    daily_budget: int | None
    contact_type_id: int
    input_type_id: int
    results: dict[str, ResultRule] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def rule_for(self, result_key: str) -> ResultRule | None:
        return self.results.get(result_key)


@dataclass(frozen=True)
class TermCode:
    full_on_screen_result: str
    attributes: dict


@dataclass(frozen=True)
class CallsSettings:
    timezone: str
    start_date: str
    default_sync_hour: int
    report_deadline_hour: int
    s3_bucket: str | None
    csv_prefix: str
    cdr_prefix: str
    quarantine_prefix: str
    cdr_time_formats: tuple[str, ...]
    cdr_timezone: str
    test_accounts: tuple[str, ...]
    csv_link_expiry_hours: int
    van_budgets: dict[str, int]
    term_codes: dict[str, TermCode]
    candidates: dict[str, Candidate]

    def bucket(self) -> str:
        return self.s3_bucket or os.environ.get("ORGSYNC_S3_BUCKET") or "orgsync"

    def budget_for(self, instance: str) -> int:
        return self.van_budgets.get(instance, DEFAULT_DAILY_BUDGET)

    def candidate(self, slug: str) -> Candidate:
        try:
            return self.candidates[slug]
        except KeyError:
            raise CallsConfigError(f"no candidate {slug!r} in the calls configuration") from None

    def by_district(self) -> dict[str, Candidate]:
        return {c.district: c for c in self.candidates.values()}


def _tz(name, where: str) -> str:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise CallsConfigError(
            f"{where}: unknown time zone {name!r} (use an IANA name like America/New_York)"
        ) from None
    return str(name)


def _int(value, where: str, *, default=None, minimum=None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise CallsConfigError(f"{where} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise CallsConfigError(f"{where} must be at least {minimum}, got {value}")
    return value


def _ids(value, where: str) -> tuple[int, ...]:
    if value in (None, ""):
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_int(v, f"{where}[{i}]") for i, v in enumerate(items))


def _pairs(value, where: str) -> tuple[tuple[int, int], ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise CallsConfigError(f"{where} must be a list of [surveyQuestionId, surveyResponseId] pairs")
    out = []
    for i, pair in enumerate(value):
        if isinstance(pair, dict):
            pair = [pair.get("question"), pair.get("response")]
        if not isinstance(pair, list) or len(pair) != 2:
            raise CallsConfigError(f"{where}[{i}] must be [surveyQuestionId, surveyResponseId], got {pair!r}")
        out.append((_int(pair[0], f"{where}[{i}][0]"), _int(pair[1], f"{where}[{i}][1]")))
    return tuple(out)


def _rule(key: str, raw, where: str) -> ResultRule:
    if not isinstance(raw, dict):
        raise CallsConfigError(f"{where} must be a mapping of settings")
    unknown = set(raw) - {
        "display_name",
        "success",
        "result_code",
        "activist_codes",
        "responses",
        "sync_to_van",
        "include_in_csv",
        "value",
    }
    if unknown:
        raise CallsConfigError(f"{where}: unknown setting(s) {sorted(unknown)}")
    for flag in ("sync_to_van", "include_in_csv"):
        if flag in raw and not isinstance(raw[flag], bool):
            raise CallsConfigError(f"{where}.{flag} must be true or false, got {raw[flag]!r}")
    return ResultRule(
        key=key,
        display_name=str(raw.get("display_name") or key),
        success=raw.get("success"),
        result_code=_int(raw.get("result_code"), f"{where}.result_code"),
        activist_codes=_ids(raw.get("activist_codes"), f"{where}.activist_codes"),
        responses=_pairs(raw.get("responses"), f"{where}.responses"),
        sync_to_van=bool(raw.get("sync_to_van", False)),
        include_in_csv=bool(raw.get("include_in_csv", False)),
        value=_int(raw.get("value"), f"{where}.value", default=0),
    )


def _candidate(slug: str, raw, settings: dict, instances: set[str]) -> Candidate:
    where = f"candidates.{slug}"
    if not isinstance(raw, dict):
        raise CallsConfigError(f"{where} must be a mapping")
    strategy = str(raw.get("strategy", "full")).replace(" ", "_").lower()
    if strategy not in STRATEGIES:
        raise CallsConfigError(f"{where}.strategy must be one of {', '.join(STRATEGIES)}, got {raw.get('strategy')!r}")
    instance = raw.get("van_instance")
    if strategy != "all_csv":
        if not instance:
            raise CallsConfigError(f"{where}.van_instance is required for strategy {strategy}")
        if instances and instance not in instances:
            raise CallsConfigError(f"{where}.van_instance {instance!r} is not in van_instances {sorted(instances)}")
    mode = VAN_MODES.get(str(raw.get("van_mode", "myc")).lower())
    if mode is None:
        raise CallsConfigError(
            f"{where}.van_mode must be myc (MyCampaign) or van (MyVoters), got {raw.get('van_mode')!r}"
        )
    results_raw = raw.get("results") or {}
    if not isinstance(results_raw, dict):
        raise CallsConfigError(f"{where}.results must map on-screen results to their settings")
    results: dict[str, ResultRule] = {}
    for name, rule_raw in results_raw.items():
        key = normalize_result(name)
        if key in results:
            raise CallsConfigError(f"{where}.results: {name!r} is listed twice (after normalising case and spaces)")
        results[key] = _rule(key, rule_raw, f"{where}.results[{name!r}]")
    sync_hour = _int(raw.get("sync_hour"), f"{where}.sync_hour", default=settings["default_sync_hour"], minimum=0)
    if sync_hour > 23:
        raise CallsConfigError(f"{where}.sync_hour must be 0..23")
    return Candidate(
        slug=slug,
        display_name=str(raw.get("display_name") or slug),
        district=str(raw.get("district") or slug).lower(),
        van_instance=instance,
        van_mode=mode,
        strategy=strategy,
        timezone=_tz(raw.get("timezone", settings["timezone"]), f"{where}.timezone"),
        sync_hour=sync_hour,
        active=bool(raw.get("active", True)),
        daily_budget=_int(raw.get("daily_budget"), f"{where}.daily_budget", minimum=0),
        contact_type_id=_int(raw.get("contact_type_id"), f"{where}.contact_type_id", default=1),
        input_type_id=_int(raw.get("input_type_id"), f"{where}.input_type_id", default=11),
        results=results,
    )


def parse_settings(data: dict) -> CallsSettings:
    if not isinstance(data, dict):
        raise CallsConfigError("the calls configuration must be a mapping with settings, van_instances, candidates")
    s = data.get("settings") or {}
    s = {
        "timezone": _tz(s.get("timezone", "America/New_York"), "settings.timezone"),
        "default_sync_hour": _int(s.get("default_sync_hour"), "settings.default_sync_hour", default=6, minimum=0),
        **{k: v for k, v in s.items() if k not in ("timezone", "default_sync_hour")},
    }
    start = str(s.get("start_date", "2026-01-01"))
    try:
        dt.date.fromisoformat(start)
    except ValueError:
        raise CallsConfigError(f"settings.start_date must be YYYY-MM-DD, got {start!r}") from None
    budgets_raw = data.get("van_instances") or {}
    if not isinstance(budgets_raw, dict):
        raise CallsConfigError("van_instances must map instance names to {daily_budget: N}")
    budgets = {
        str(name): _int(
            (v or {}).get("daily_budget"), f"van_instances.{name}.daily_budget", default=DEFAULT_DAILY_BUDGET, minimum=0
        )
        for name, v in budgets_raw.items()
    }
    term_codes = {}
    for name, attrs in (data.get("term_codes") or {}).items():
        attrs = dict(attrs or {})
        full = normalize_result(attrs.pop("full_on_screen_result", name))
        term_codes[normalize_result(name)] = TermCode(full, attrs)
    candidates_raw = data.get("candidates") or {}
    if not isinstance(candidates_raw, dict) or not candidates_raw:
        raise CallsConfigError("candidates must map candidate slugs to their settings (at least one)")
    candidates = {str(slug): _candidate(str(slug), raw, s, set(budgets)) for slug, raw in candidates_raw.items()}
    districts: dict[str, str] = {}
    for c in candidates.values():
        if c.district in districts:
            raise CallsConfigError(f"candidates {districts[c.district]!r} and {c.slug!r} share district {c.district!r}")
        districts[c.district] = c.slug
    formats = s.get("cdr_time_formats") or ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%Y-%m-%d %H:%M:%S"]
    return CallsSettings(
        timezone=s["timezone"],
        start_date=start,
        default_sync_hour=s["default_sync_hour"],
        report_deadline_hour=_int(s.get("report_deadline_hour"), "settings.report_deadline_hour", default=9),
        s3_bucket=s.get("s3_bucket") or None,
        csv_prefix=str(s.get("csv_prefix", "calls/csv/")),
        cdr_prefix=str(s.get("cdr_prefix", "livevox/cdr/")),
        quarantine_prefix=str(s.get("quarantine_prefix", "livevox/quarantine/")),
        cdr_time_formats=tuple(formats),
        cdr_timezone=_tz(s.get("cdr_timezone", s["timezone"]), "settings.cdr_timezone"),
        test_accounts=tuple(str(t) for t in (s.get("test_accounts") or ["TEST123*", "123457"])),
        csv_link_expiry_hours=_int(s.get("csv_link_expiry_hours"), "settings.csv_link_expiry_hours", default=48),
        van_budgets=budgets,
        term_codes=term_codes,
        candidates=candidates,
    )


def load_settings(path: str | os.PathLike | None = None) -> CallsSettings:
    p = Path(path or os.environ.get("ORGSYNC_CALLS_CONFIG") or DEFAULT_PATH)
    if not p.exists():
        raise CallsConfigError(f"calls configuration {p} does not exist (ORGSYNC_CALLS_CONFIG)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise CallsConfigError(f"calls configuration {p} is not valid YAML: {exc}") from None
    return parse_settings(data or {})
