"""Pure logic of the Livevox call sync: the call state machine, what each call becomes, the VAN canvass payload,
the hybrid budget selection and the CSV rows. No Dagster, no I/O.

State machine (``sync_status`` on each call document; absent = unsynced)::

    unsynced --claim--> in_progress --VAN 204--> finished (receipt)
        |                   |  \\--VAN refused--> attempted_error
        |                   |  \\--not sent (budget)--> unsynced
        |                   \\--outcome lost, past VAN's matching window--> attempted_error
        |--result configured CSV / hybrid over budget--> queued_for_csv --CSV in S3--> finished (receipt = URL)
        |--result neither synced nor exported--> ignored
        \\--cannot build a request (unknown result, no voter id, bad time)--> unattempted_error
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from orgsync_dagster.calls.config import Candidate, ResultRule, normalize_result

UNSYNCED = None
IN_PROGRESS, FINISHED, IGNORED = "in_progress", "finished", "ignored"
QUEUED_FOR_CSV, ATTEMPTED_ERROR, UNATTEMPTED_ERROR = "queued_for_csv", "attempted_error", "unattempted_error"
FINAL = frozenset({FINISHED, IGNORED, ATTEMPTED_ERROR, UNATTEMPTED_ERROR})
ALL_STATUSES = ("unsynced", IN_PROGRESS, QUEUED_FOR_CSV, FINISHED, IGNORED, ATTEMPTED_ERROR, UNATTEMPTED_ERROR)
TRANSITIONS = {
    UNSYNCED: {IN_PROGRESS, IGNORED, QUEUED_FOR_CSV, UNATTEMPTED_ERROR},
    IN_PROGRESS: {IN_PROGRESS, FINISHED, ATTEMPTED_ERROR, UNSYNCED, QUEUED_FOR_CSV},
    QUEUED_FOR_CSV: {FINISHED},
}
# VAN de-duplicates an identical canvass response (same person, contact type, result, responses) posted within
# about 60 minutes of the first. A post whose outcome was lost is re-sent only while that window is surely open.
VAN_MATCH_WINDOW = dt.timedelta(minutes=60)
RESEND_WINDOW = dt.timedelta(minutes=50)
NANP = re.compile(r"^[2-9][0-8]\d[2-9]\d{6}$")
CSV_COLUMNS = [
    "Voter ID",
    "Voter ID Type",
    "Voter First Name",
    "Voter Last Name",
    "Voter Phone",
    "Date Called",
    "Time Called (EST)",
    "Result",
    "Caller Login",
]
CSV_TIMEZONE = ZoneInfo("America/New_York")  # the original's "EST" column is New York local time (EST/EDT)
UTC = dt.UTC

# Where a call goes after planning
TO_VAN, TO_CSV = "van", "csv"


def status_of(call: dict) -> str | None:
    s = call.get("sync_status")
    return None if s in (None, "", "unsynced") else s


def can_transition(current: str | None, new: str | None) -> bool:
    return new in TRANSITIONS.get(current, set())


def as_utc(value) -> dt.datetime | None:
    """A stored call time -> aware UTC datetime; None when missing or not a datetime (Mongo returns naive UTC)."""
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def day_window(day: str | dt.date, tz: ZoneInfo | str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of one calendar day in a time zone (23 or 25 hours long on DST changes)."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def result_key(call: dict) -> str:
    return normalize_result(call.get("full_on_screen_result") or call.get("lv_result"))


def van_id_of(call: dict) -> int | None:
    raw = str(call.get("voter_id") or "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


def phone_digits(value) -> str:
    d = re.sub(r"\D", "", str(value or ""))
    return d[1:] if len(d) == 11 and d.startswith("1") else d


@dataclass
class Decision:
    call_id: str
    route: str  # TO_VAN | TO_CSV | IGNORED | UNATTEMPTED_ERROR
    result: str  # display name (or the raw result key when unconfigured)
    error: str | None = None
    van_id: int | None = None
    payload: dict | None = None
    value: int = 0
    at: dt.datetime | None = None


def rule_problems(rule: ResultRule) -> list[str]:
    """Why a result's settings cannot become a VAN canvass response (empty when fine)."""
    problems = []
    if not isinstance(rule.success, bool):
        problems.append(f"success must be true or false, got {rule.success!r}")
    elif rule.success is False and rule.result_code is None:
        problems.append("success is false but no result_code is set")
    has_responses = bool(rule.responses or rule.activist_codes)
    if rule.result_code is not None and has_responses:
        problems.append("set either result_code or survey responses/activist codes, not both (VAN takes one)")
    if rule.result_code is None and not has_responses:
        problems.append("needs a result_code or at least one survey response / activist code")
    if rule.success is False and rule.responses:
        problems.append("success is false but survey responses are set")
    return problems


def canvass_payload(call: dict, rule: ResultRule, candidate: Candidate, at: dt.datetime) -> dict:
    """POST /people/{vanId}/canvassResponses body: phone context, dateCanvassed = the call's local time."""
    context: dict = {
        "contactTypeId": candidate.contact_type_id,
        "inputTypeId": candidate.input_type_id,
        "dateCanvassed": at.astimezone(candidate.tz).isoformat(timespec="seconds"),
    }
    phone = phone_digits(call.get("phone_dialed"))
    if NANP.match(phone):
        context["phone"] = {"dialingPrefix": "1", "phoneNumber": phone}
    body: dict = {"canvassContext": context, "resultCodeId": rule.result_code, "responses": None}
    if rule.result_code is None:
        body["responses"] = [
            {"type": "SurveyResponse", "surveyQuestionId": q, "surveyResponseId": r} for q, r in rule.responses
        ] + [{"type": "ActivistCode", "activistCodeId": a, "action": "Apply"} for a in rule.activist_codes]
    return body


def plan_call(call: dict, candidate: Candidate) -> Decision:
    """What one unsynced call becomes for this candidate's strategy (before the budget is applied)."""
    call_id = str(call.get("id"))
    key = result_key(call)
    rule = candidate.rule_for(key)
    at = as_utc(call.get("timestamp"))
    if not key:
        return Decision(call_id, UNATTEMPTED_ERROR, "(no result)", "the call has no Livevox result", at=at)
    if rule is None:
        return Decision(call_id, UNATTEMPTED_ERROR, key, f"no configuration for on-screen result {key!r}", at=at)
    name = rule.display_name
    if rule.ignored:
        return Decision(call_id, IGNORED, name, at=at)
    if at is None:
        return Decision(call_id, UNATTEMPTED_ERROR, name, "malformed or missing call time")
    wants_van = rule.sync_to_van and candidate.strategy != "all_csv"
    if not wants_van:
        return Decision(call_id, TO_CSV, name, at=at)
    van_id = van_id_of(call)
    if van_id is None:
        return Decision(call_id, UNATTEMPTED_ERROR, name, "missing or malformed voter id", at=at)
    problems = rule_problems(rule)
    if problems:
        return Decision(call_id, UNATTEMPTED_ERROR, name, f"result {key!r} misconfigured: {'; '.join(problems)}", at=at)
    payload = canvass_payload(call, rule, candidate, at)
    return Decision(call_id, TO_VAN, name, van_id=van_id, payload=payload, value=rule.value, at=at)


class BudgetSelector:
    """Keeps at most ``limit`` VAN-bound decisions in memory (a bounded heap), so a day of any size streams.

    hybrid: the highest ``value`` results win (ties: the earlier call); every decision pushed out goes to the CSV.
    full: the earliest calls win; the rest wait for the next day's budget (they stay unsynced).
    """

    def __init__(self, limit: int, strategy: str):
        self.limit, self.strategy = max(0, limit), strategy
        self._heap: list = []
        self._seq = 0

    def _rank(self, d: Decision):
        ts = -(d.at.timestamp() if d.at else 0.0)
        return (d.value, ts) if self.strategy == "hybrid" else (ts,)

    def offer(self, d: Decision) -> Decision | None:
        """Add a VAN-bound decision; returns the decision that lost its place (or None)."""
        if self.limit == 0:
            return d
        self._seq += 1
        item = (self._rank(d), -self._seq, d)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, item)
            return None
        if item[:2] > self._heap[0][:2]:
            return heapq.heappushpop(self._heap, item)[2]
        return d

    def selected(self) -> list[Decision]:
        return sorted(
            (i[2] for i in self._heap), key=lambda d: (d.at or dt.datetime.min.replace(tzinfo=UTC), d.call_id)
        )


def split_by_rank(decisions: list[Decision], n: int, strategy: str) -> tuple[list[Decision], list[Decision]]:
    """The best ``n`` decisions by the strategy's rank (as ``BudgetSelector``), in time order, and the rest."""
    if len(decisions) <= n:
        return decisions, []
    ranker = BudgetSelector(max(0, n), strategy)
    lost = [d for d in (ranker.offer(d) for d in decisions) if d is not None]
    return ranker.selected(), lost


def resend_allowed(first_attempt_at: dt.datetime | None, now: dt.datetime) -> bool:
    """A post whose outcome is unknown may be sent again only while VAN would still match it as a duplicate."""
    first = as_utc(first_attempt_at)
    return first is not None and dt.timedelta(0) <= now - first < RESEND_WINDOW


def van_receipt(instance: str, van_id: int, call_id: str) -> str:
    """VAN answers 204 without an id: the receipt names where the response went and which call it was."""
    return f"van:{instance}:people/{van_id}/canvassResponses#call={call_id}"


def csv_row(call: dict, display_name: str) -> list[str]:
    at = as_utc(call.get("timestamp"))
    local = at.astimezone(CSV_TIMEZONE) if at else None
    return [
        str(call.get("voter_id") or ""),
        str(call.get("system_id") or ""),
        str(call.get("first_name") or ""),
        str(call.get("last_name") or ""),
        phone_digits(call.get("phone_dialed")),
        local.strftime("%m-%d-%Y") if local else "",
        local.strftime("%I:%M %p") if local else "",
        display_name,
        str(call.get("caller_login") or ""),
    ]


def display_name_for(call: dict, candidate: Candidate) -> str:
    rule = candidate.rule_for(result_key(call))
    return rule.display_name if rule else (result_key(call) or "(no result)")


@dataclass
class DayCounts:
    """Counts per status and per (result, status) for a day's calls; never holds the calls themselves."""

    by_status: Counter = field(default_factory=Counter)
    by_result: dict = field(default_factory=dict)

    def add(self, status: str | None, result: str, n: int = 1) -> None:
        status = status or "unsynced"
        self.by_status[status] += n
        self.by_result.setdefault(result, Counter())[status] += n

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def as_metadata(self) -> dict:
        return {
            "by_status": {s: self.by_status.get(s, 0) for s in ALL_STATUSES},
            "by_result": {r: dict(c) for r, c in sorted(self.by_result.items())},
        }

    def result_rows(self) -> list[dict]:
        return [
            {"result": r, "total": sum(c.values()), **{s: c.get(s, 0) for s in ALL_STATUSES if c.get(s)}}
            for r, c in sorted(self.by_result.items(), key=lambda kv: -sum(kv[1].values()))
        ]
