"""Livevox "Sync Export CDR" CSV -> call documents, streamed row by row. Pure: no Dagster, no I/O.

Columns (header required, matched case- and space-insensitively): id, account_number, first_name, last_name,
phone_dialed, call_connect_time, call_start_time, call_finish_time, caller_login, result, campaign_id.
Account numbers are ``<district>-<system>-<voterId>`` (e.g. ``mo01-van-100023``). Times are call-center local
time in ``settings.cdr_timezone`` (DST-aware, never a fixed offset) or ISO 8601 with an offset.

Every row ends in exactly one outcome: a document to upsert, a skipped test account, or a rejected row with
its reason (reported, written to the quarantine file, never silently dropped).
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
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


def parse_time(raw: str, formats: tuple[str, ...], tz: ZoneInfo) -> dt.datetime | None:
    """Local CDR time -> aware UTC. None when it matches no known format."""
    text = (raw or "").strip()
    if not text:
        return None
    parsed = None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in formats:
            try:
                parsed = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(dt.UTC)


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


def parse_cdr(lines: Iterable[str], settings: CallsSettings, source: str) -> Iterator[RowOutcome]:
    """Stream the outcomes of a CDR file. Raises CdrFormatError before yielding anything if the header is wrong."""
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
        yield _row(row, index, line, settings, tz, districts, source)


def _row(row, index, line, settings: CallsSettings, tz, districts, source) -> RowOutcome:
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
        times[name] = parse_time(raw, settings.cdr_time_formats, tz)
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
