"""Action Network emulator: request-body parsing and the OData filter subset."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from orgsync_dagster.sandbox.an_model import (
    _DATE_FIELDS,
    _EMAIL_RE,
    _FILTER_AND_RE,
    _FILTER_CLAUSE_RE,
    _FILTER_FIELDS,
    ID_PREFIX,
    ApiError,
    _Person,
    normalize_phone,
)


# --------------------------------------------------------------------------------------------------
# request-body parsing
# --------------------------------------------------------------------------------------------------
def _first_entry(entries: list[dict[str, Any]]) -> dict[str, Any]:
    for entry in entries:
        if entry.get("primary"):
            return entry
    return entries[0]


def _parse_email(body: dict[str, Any]) -> tuple[str | None, str | None]:
    raw = body.get("email_addresses")
    if raw is None:
        return None, None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ApiError(400, "email_addresses must be an array of email address objects.")
    if not raw:
        return None, None
    entry = _first_entry(raw)
    address = entry.get("address")
    if address is None:
        return None, None
    if not isinstance(address, str) or not _EMAIL_RE.match(address.strip()):
        raise ApiError(400, f"Email address is invalid: {address!r}")
    status = entry.get("status")
    if status is not None and not isinstance(status, str):
        raise ApiError(400, "Email status must be a string.")
    return address.strip(), status


def _parse_phone(body: dict[str, Any]) -> dict[str, Any] | None:
    raw = body.get("phone_numbers")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ApiError(400, "phone_numbers must be an array of phone number objects.")
    if not raw:
        return None
    entry = _first_entry(raw)
    number = entry.get("number")
    if number is None or (isinstance(number, str) and not number.strip()):
        return None
    if not isinstance(number, (str, int)) or isinstance(number, bool):
        raise ApiError(400, "Phone number must be a string.")
    digits = normalize_phone(number)
    if len(digits) < 10 or len(digits) > 15:
        raise ApiError(400, f"Phone number is invalid: {number!r}")
    status = entry.get("status")
    if status is not None and not isinstance(status, str):
        raise ApiError(400, "Phone status must be a string.")
    return {"number": digits, "number_type": entry.get("number_type"), "status": status}


def _parse_person_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ("given_name", "family_name"):
        if name in body:
            value = body[name]
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"{name} must be a string.")
            fields[name] = value
    if "languages_spoken" in body:
        value = body["languages_spoken"]
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ApiError(400, "languages_spoken must be an array of strings.")
        fields["languages_spoken"] = list(value or [])
    if "postal_addresses" in body:
        value = body["postal_addresses"]
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            raise ApiError(400, "postal_addresses must be an array of postal address objects.")
        if value:
            address = dict(_first_entry(value))
            lines = address.get("address_lines")
            if lines is not None and (not isinstance(lines, list) or not all(isinstance(x, str) for x in lines)):
                raise ApiError(400, "address_lines must be an array of strings.")
            address["primary"] = True
            fields["postal_addresses"] = [json.loads(json.dumps(address))]
        else:
            fields["postal_addresses"] = []
    if "identifiers" in body and body["identifiers"] is not None:
        idents = body["identifiers"]
        if not isinstance(idents, list) or not all(isinstance(i, str) and ":" in i for i in idents):
            raise ApiError(400, "identifiers must be an array of strings like 'system:id'.")
        fields["identifiers"] = [i for i in idents if not i.startswith(ID_PREFIX)]
    if "custom_fields" in body and body["custom_fields"] is not None:
        custom = body["custom_fields"]
        if not isinstance(custom, dict):
            raise ApiError(400, "custom_fields must be an object of string values.")
        for name, value in custom.items():
            if not name.strip():
                raise ApiError(400, "Custom field names must not be empty.")
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"Custom field values must be strings: {name!r} is {type(value).__name__}.")
        fields["custom_fields"] = dict(custom)
    return fields


def _parse_tag_names(body: dict[str, Any], key: str) -> list[str]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
        raise ApiError(400, f"{key} must be an array of tag names.")
    return raw


# --------------------------------------------------------------------------------------------------
# OData filter subset
# --------------------------------------------------------------------------------------------------
def _parse_filter_date(value: str) -> tuple[datetime, bool]:
    """Return (moment, date_only)."""
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC), True
        moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError as exc:
        raise ApiError(400, f"Invalid date in filter: '{value}'") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """Parse ``field op 'value' [and field op 'value' ...]`` -> [(field, op, value)]; ApiError(400)."""
    clauses: list[tuple[str, str, str]] = []
    pos = 0
    text = text.strip()
    if not text:
        raise ApiError(400, "Invalid filter: empty expression")
    while True:
        match = _FILTER_CLAUSE_RE.match(text, pos)
        if not match:
            raise ApiError(400, f"Invalid filter: could not parse '{text[pos:]}'")
        fld, op, value = match.group(1).lower(), match.group(2).lower(), match.group(3).replace("''", "'")
        if fld not in _FILTER_FIELDS:
            raise ApiError(400, f"Invalid filter: unsupported field '{fld}'")
        if op not in ("eq", "gt", "lt"):
            raise ApiError(400, f"Invalid filter: unsupported operator '{op}'")
        if op != "eq" and fld not in _DATE_FIELDS:
            raise ApiError(400, f"Invalid filter: operator '{op}' is only supported on dates")
        if fld in _DATE_FIELDS:
            _parse_filter_date(value)  # validate now
        clauses.append((fld, op, value))
        pos = match.end()
        if pos >= len(text):
            return clauses
        conj = _FILTER_AND_RE.match(text, pos)
        if not conj:
            raise ApiError(400, f"Invalid filter: could not parse '{text[pos:]}'")
        pos = conj.end()


def _matches(person: _Person, clauses: list[tuple[str, str, str]]) -> bool:
    for fld, op, value in clauses:
        if fld in _DATE_FIELDS:
            moment, date_only = _parse_filter_date(value)
            actual = person.created if fld == "created_date" else person.modified
            if op == "eq":
                ok = actual.date() == moment.date() if date_only else actual == moment
            elif op == "gt":
                ok = actual > moment
            else:
                ok = actual < moment
        elif fld == "email_address":
            ok = bool(person.email) and person.email["address"].lower() == value.strip().lower()
        elif fld == "phone_number":
            ok = bool(person.phone) and person.phone["number"] == normalize_phone(value)
        elif fld == "identifier":
            ok = value.strip() in person.identifiers
        else:
            ok = getattr(person, fld) == value
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------------------------------
# the WSGI app
# --------------------------------------------------------------------------------------------------
def _int_arg(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default
