"""Livevox "Sync Export CDR" CSV -> call documents, streamed row by row. Pure: no Dagster, no I/O.

Columns (header required, matched case- and space-insensitively): id, account_number, first_name, last_name,
phone_dialed, call_connect_time, call_start_time, call_finish_time, caller_login, result, campaign_id.
Account numbers are ``<district>-<system>-<voterId>`` (e.g. ``mo01-van-100023``). Times are call-center local
time in ``settings.cdr_timezone`` (DST-aware, never a fixed offset) or ISO 8601 with an offset. ``03/05/2026`` is
read month-first or day-first as the candidate's ``cdr_date_order`` says; unset, the file decides
(``resolve_date_order``: a date like 03/25 or 25/03 settles it) and a file where every date could be either is
refused with a message saying what to configure.

Every row ends in exactly one outcome: a document to upsert, a skipped test account, or a rejected row with
its reason (reported, written to the quarantine file, never silently dropped).
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from orgsync_dagster.calls.config import CallsSettings, normalize_result
from orgsync_dagster.calls.logic import UNATTEMPTED_ERROR

CDR_COLUMNS = (
    "id",
    "account_number",
    "first_name",
    "last_name",
    "phone_dialed",
    "call_connect_time",
    "call_start_time",
    "call_finish_time",
    "caller_login",
    "result",
    "campaign_id",
)
REQUIRED = ("id", "account_number", "call_start_time", "result")
ALIASES = {
    "call_id": "id",
    "callid": "id",
    "account": "account_number",
    "account_no": "account_number",
    "phone": "phone_dialed",
    "phone_number": "phone_dialed",
    "connect_time": "call_connect_time",
    "start_time": "call_start_time",
    "finish_time": "call_finish_time",
    "agent_login": "caller_login",
    "login": "caller_login",
    "lv_result": "result",
    "term_code": "result",
    "campaign": "campaign_id",
}
MAX_FIELD = 500


class CdrFormatError(ValueError):
    """The file as a whole is not a CDR export (header missing or wrong, not text): nothing was loaded."""


@dataclass
class RowOutcome:
    line: int  # 1-based line number in the file (the header is line 1)
    call_id: str | None = None
    set_fields: dict | None = None  # fields a re-load may overwrite
    on_insert: dict | None = None  # fields written only when the call is new (sync state, bad-time errors)
    skipped_test: bool = False
    error: str | None = None  # rejected row: why
    warning: str | None = None  # loaded, but worth counting (unknown term code, bad time, unknown district)


def _canonical(name: str) -> str:
    key = "_".join(str(name).strip().lower().replace("-", " ").split())
    return ALIASES.get(key, key)


def map_header(header: list[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        key = _canonical(name)
        if key in CDR_COLUMNS and key not in index:
            index[key] = i
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        # the first row is not echoed: in a file without its header it is a call (names, phone number)
        hint = (
            " (the first row looks like data: the export needs its header row)"
            if any(any(ch.isdigit() for ch in h) for h in header)
            else ""
        )
        raise CdrFormatError(
            f"not a Livevox CDR export: missing column(s) {', '.join(missing)} among the {len(header)} columns of "
            f"the first row{hint}. Expected: {', '.join(CDR_COLUMNS)}"
        )
    return index


_NUMERIC = re.compile(
    r"^(\d{1,4})[/-](\d{1,2})[/-](\d{1,4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp][Mm])?)?$"
)
MONTH_FIRST, DAY_FIRST, EITHER = "month_first", "day_first", "either"


def date_order_of(raw: str) -> str | None:
    """What a ``A/B/YYYY`` date says about the file's order: month_first (B > 12), day_first (A > 12), either (both
    <= 12: ambiguous), None (not such a date: ISO 8601 or empty)."""
    m = _NUMERIC.match((raw or "").strip())
    if not m or len(m.group(1)) == 4:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    if a > 12 and b <= 12:
        return DAY_FIRST
    if b > 12 and a <= 12:
        return MONTH_FIRST
    return EITHER if a <= 12 and b <= 12 else None


def parse_time(raw: str, order: str | None, tz: ZoneInfo) -> dt.datetime | None:
    """Local CDR time -> aware UTC. ISO 8601 always; ``A/B/YYYY [H:MM[:SS]] [AM|PM]`` (``/`` or ``-``) read with
    ``order`` (month_first / day_first). None when it cannot be read (or the order is unknown)."""
    text = (raw or "").strip()
    if not text:
        return None
    parsed = None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        m = _NUMERIC.match(text)
        if m is None:
            return None
        a, b, c, hour, minute, second, ampm = m.groups()
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif order in (MONTH_FIRST, DAY_FIRST) and len(c) == 4:
            month, day = (int(a), int(b)) if order == MONTH_FIRST else (int(b), int(a))
            year = int(c)
        else:
            return None
        h = int(hour or 0)
        if ampm:
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if ampm.lower() == "pm" else 0)
        try:
            parsed = dt.datetime(year, month, day, h, int(minute or 0), int(second or 0))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


TIME_COLUMNS = ("call_connect_time", "call_start_time", "call_finish_time")


def resolve_date_order(lines: Iterable[str], settings: CallsSettings) -> str | None:
    """First pass over a file: the day/month order of its ``A/B/YYYY`` dates, for rows whose candidate has no
    ``cdr_date_order``. A file is one Livevox export with one format, so any unambiguous date decides. Raises
    CdrFormatError when such rows exist and the file cannot decide (every day <= 12) or contradicts itself."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return None
    try:
        index = map_header(header)
    except CdrFormatError:
        return None  # the second pass reports it
    districts = settings.by_district()
    needs: Counter = Counter()
    seen: dict[str, str] = {}
    ambiguous_example = None
    ai = index["account_number"]
    for row in _rows(reader):
        account = row[ai] if ai < len(row) else ""
        parsed = parse_account(account)
        if parsed is None or is_test_account(account, settings.test_accounts):
            continue  # rejected or skipped by the load: its dates do not matter
        cand = districts.get(parsed[0])
        for col in TIME_COLUMNS:
            i = index.get(col)
            raw = row[i].strip() if i is not None and i < len(row) else ""
            kind = date_order_of(raw)
            if kind is None:
                continue
            if kind == EITHER:
                ambiguous_example = ambiguous_example or raw[:10]
            else:
                seen.setdefault(kind, raw[:10])
            if not (cand and cand.cdr_date_order):
                needs[cand.slug if cand else f"district {parsed[0]} (no candidate)"] += 1
    if not needs:
        return None
    who = ", ".join(sorted(needs))
    if len(seen) == 2:
        raise CdrFormatError(
            f"the dates in this file contradict each other: {seen[MONTH_FIRST]} reads only as month/day and "
            f"{seen[DAY_FIRST]} only as day/month. Fix the export, or set cdr_date_order for {who}."
        )
    if seen:
        return next(iter(seen))
    raise CdrFormatError(
        f"the dates in this file are ambiguous: every date (e.g. {ambiguous_example}) reads both as month/day and as "
        f"day/month, and no cdr_date_order is configured for {who}. Set cdr_date_order (month_first or day_first) "
        "for the candidate and load the file again."
    )


def _rows(reader) -> Iterator[list[str]]:
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error:
            continue


def parse_account(account: str) -> tuple[str, str, str | None] | None:
    """``mo01-van-100023`` -> (district, system, voter id or None). None when the shape is wrong."""
    parts = [p.strip() for p in (account or "").split("-")]
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    voter = parts[2] if parts[2].isdigit() else None
    return parts[0].lower(), parts[1].lower(), voter


def is_test_account(account: str, patterns: tuple[str, ...]) -> bool:
    account = (account or "").strip()
    return any(fnmatch.fnmatchcase(account.upper(), p.upper()) for p in patterns)


def parse_cdr(
    lines: Iterable[str], settings: CallsSettings, source: str, date_order: str | None = None
) -> Iterator[RowOutcome]:
    """Stream the outcomes of a CDR file. Raises CdrFormatError before yielding anything if the header is wrong.
    ``date_order``: from ``resolve_date_order`` (a candidate's own ``cdr_date_order`` wins for its rows)."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise CdrFormatError("the file is empty (no header row)") from None
    except csv.Error as exc:
        raise CdrFormatError(f"the header row is not valid CSV: {exc}") from None
    index = map_header(header)
    tz = ZoneInfo(settings.cdr_timezone)
    districts = settings.by_district()
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line += 1
            yield RowOutcome(line, error=f"not valid CSV: {exc}")
            continue
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            yield RowOutcome(line, error=f"has {len(row)} fields, the header has {len(header)}")
            continue
        yield _row(row, index, line, settings, tz, districts, source, date_order)


def _row(row, index, line, settings: CallsSettings, tz, districts, source, date_order=None) -> RowOutcome:
    def get(col: str) -> str:
        i = index.get(col)
        return row[i].strip()[:MAX_FIELD] if i is not None else ""

    call_id = get("id")
    if not call_id:
        return RowOutcome(line, error="missing call id")
    account = get("account_number")
    if is_test_account(account, settings.test_accounts):
        return RowOutcome(line, call_id, skipped_test=True)
    parsed = parse_account(account)
    if parsed is None:
        return RowOutcome(line, call_id, error="account number is not <district>-<system>-<voterId>")
    district, system, voter = parsed
    candidate = districts.get(district)
    lv_result = normalize_result(get("result"))
    term = settings.term_codes.get(lv_result)
    fields = {
        "id": call_id,
        "account_number": account,
        "district": district,
        "system_id": system,
        "voter_id": voter,
        "first_name": get("first_name"),
        "last_name": get("last_name"),
        "phone_dialed": get("phone_dialed"),
        "caller_login": get("caller_login"),
        "campaign_id": get("campaign_id"),
        "lv_result": lv_result,
        "full_on_screen_result": term.full_on_screen_result if term else lv_result,
        "term_code_known": term is not None,
        "client": candidate.slug if candidate else None,
        "source_file": source,
    }
    if term:
        fields.update({k: v for k, v in term.attributes.items() if k not in fields})
    warnings = []
    if term is None and lv_result:
        warnings.append("unknown term code")
    if candidate is None:
        warnings.append("no candidate for district")
    if voter is None:
        warnings.append("missing voter id")
    times = {}
    for col, name in (
        ("call_connect_time", "connect_time"),
        ("call_start_time", "start_time"),
        ("call_finish_time", "finish_time"),
    ):
        raw = get(col)
        order = (candidate.cdr_date_order if candidate else None) or date_order
        times[name] = parse_time(raw, order, tz)
        if raw and times[name] is None and col != "call_start_time":
            warnings.append(f"malformed {col}")
    on_insert = {}
    if times["start_time"] is None:
        # kept (never dropped) but unsyncable: it belongs to no day. Written only when the call is new, so a bad
        # re-upload never overwrites a good, possibly already synced, call.
        warnings.append("malformed call_start_time")
        on_insert = {
            **fields,
            **times,
            "timestamp": None,
            "sync_status": UNATTEMPTED_ERROR,
            "error": f"malformed call_start_time {get('call_start_time')[:40]!r}",
        }
        return RowOutcome(line, call_id, set_fields=None, on_insert=on_insert, warning="; ".join(warnings))
    fields.update(times)
    fields["timestamp"] = times["start_time"]
    return RowOutcome(line, call_id, set_fields=fields, on_insert={}, warning="; ".join(warnings) or None)
