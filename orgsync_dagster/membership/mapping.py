"""ActionKit export row -> Action Network person (the field mapper), and masking of member keys.

Pure logic. The mapping follows the BostonDSA field mapper (seed-origins.md §2.3): names, one postal address
(country "US"), the phone as a custom field (AN would move or merge people sharing a phone number), and the
other columns as string custom fields; yes/no flag columns become the original's "True"/"False" strings.
``is_member`` comes from the configured rule (membership/rules.py; default: ``memb_status_letter == "M"``).
"""

from __future__ import annotations

import datetime as dt
import re

from orgsync_dagster.membership.rules import DEFAULT_RULE, MemberRule, as_flag

# canonical export column -> Action Network custom field name
CUSTOM_FIELDS: dict[str, str] = {
    "middle_name": "Middle Name",
    "mailing_address2": "Address Line 2",
    "mailing_preference": "Mail Preference",
    "do_not_call": "Do Not Call",
    "p2ptext_optout": "Do Not Text",
    "monthly_dues_status": "monthly_dues_status",
    "annual_recurring_dues_status": "annual_recurring_dues_status",
    "union_member": "union_member",
    "union_name": "union_name",
    "union_local": "union_local",
    "student_yes_no": "student_yes_no",
    "student_school_name": "student_school_name",
    "ydsa_chapter": "YDSA Chapter",
}
#: yes/no columns: written as the strings "True"/"False" as the original did (agate booleans)
FLAG_COLUMNS = frozenset({"do_not_call", "p2ptext_optout", "union_member", "student_yes_no"})
PHONE_COLUMNS = ("best_phone", "mobile_phone", "home_phone", "work_phone")
ADDRESS_COLUMNS = ("mailing_address1", "mailing_city", "mailing_state", "mailing_zip")
NAME_COLUMNS = {"first_name": "given_name", "last_name": "family_name"}

#: The export columns the person is built from: only a change in one of these makes a member "updated".
MAPPED_COLUMNS: tuple[str, ...] = (
    "email",
    *NAME_COLUMNS,
    *ADDRESS_COLUMNS,
    *PHONE_COLUMNS,
    *CUSTOM_FIELDS,
    *DEFAULT_RULE.columns,  # a change of status letter is a change (is_member follows it)
)
IS_MEMBER = "is_member"
PHONE_FIELD = "Phone"


def mapped_columns(rule: MemberRule | None = None) -> tuple[str, ...]:
    """The compared columns for a configured ``is_member`` rule (its columns are mapped too)."""
    extra = rule.columns if rule is not None else ()
    return tuple(dict.fromkeys([*MAPPED_COLUMNS, *extra]))


def _clean(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def phone_of(row: dict) -> str | None:
    """First non-empty of best, mobile, home, work phone; first of a comma list; no dashes or spaces."""
    for col in PHONE_COLUMNS:
        value = _clean(row.get(col))
        if value:
            first = value.split(",")[0]
            digits = re.sub(r"[\s\-().]", "", first)
            if digits:
                return digits
    return None


def zip_of(value) -> str | None:
    z = _clean(value)
    if z and z.isdigit() and len(z) < 5:
        z = z.zfill(5)  # Excel drops the leading zero of New England zips
    return z


def person_from_row(
    row: dict,
    *,
    cleared: tuple[str, ...] = (),
    rule: MemberRule | None = None,
    today: dt.date | None = None,
    overrides: dict[str, str] | None = None,
) -> dict:
    """The signup-helper ``person`` for one export row. ``cleared``: mapped columns that became empty since
    the last export; their custom fields are removed (set to null) instead of being left stale. ``rule``: who is
    a member (default: the original's latest rule, status letter "M"). ``overrides``: the person's
    ``override_<field>`` values from the Action Network mirror (membership/overrides.py), which win."""
    email = _clean(row.get("email"))
    person: dict = {"email_addresses": [{"address": email}]} if email else {}
    for col, field in NAME_COLUMNS.items():
        value = _clean(row.get(col))
        if value:
            person[field] = value
    address = {
        "address_lines": [_clean(row.get("mailing_address1"))] if _clean(row.get("mailing_address1")) else None,
        "locality": _clean(row.get("mailing_city")),
        "region": _clean(row.get("mailing_state")),
        "postal_code": zip_of(row.get("mailing_zip")),
    }
    address = {k: v for k, v in address.items() if v}
    if address:
        person["postal_addresses"] = [{"primary": True, **address, "country": "US"}]
    custom: dict[str, str | None] = {}
    for col, field in CUSTOM_FIELDS.items():
        value = _clean(row.get(col))
        if value is not None:
            custom[field] = as_flag(value) if col in FLAG_COLUMNS else value
        elif col in cleared:
            custom[field] = None
    phone = phone_of(row)
    if phone:
        custom[PHONE_FIELD] = phone
    elif any(c in cleared for c in PHONE_COLUMNS):
        custom[PHONE_FIELD] = None
    custom[IS_MEMBER] = (rule or DEFAULT_RULE).flag(row, today)
    person["custom_fields"] = custom
    if overrides:
        from orgsync_dagster.membership.overrides import apply_overrides

        person = apply_overrides(person, overrides)
    return person


def lapse_fields(email: str) -> dict:
    """PUT body marking a person as no longer a member (email included: AN answered a custom-fields-only PUT
    with HTTP 500, seed-origins.md §2.4)."""
    return {"email_addresses": [{"address": email}], "custom_fields": {IS_MEMBER: "False"}}


def person_matches(remote: dict, person: dict) -> bool:
    """Does an Action Network person already hold what ``person`` would write? (Used to tell whether a write
    whose answer was lost reached Action Network.)"""
    remote_custom = remote.get("custom_fields") or {}
    for name, value in (person.get("custom_fields") or {}).items():
        if remote_custom.get(name) != value:
            return False
    for field in ("given_name", "family_name"):
        if field in person and remote.get(field) != person[field]:
            return False
    if person.get("postal_addresses"):
        want = person["postal_addresses"][0]
        have = (remote.get("postal_addresses") or [{}])[0]
        if any(have.get(k) != v for k, v in want.items() if k != "primary"):
            return False
    return True


def mask_key(key: str | None) -> str:
    """``jane.doe@example.com`` -> ``ja***@e***.com``; other keys keep their first two characters."""
    if not key:
        return ""
    key = str(key)
    if "@" in key:
        local, _, domain = key.partition("@")
        host, _, tld = domain.rpartition(".")
        return f"{local[:2]}***@{(host or tld)[:1]}***" + (f".{tld}" if host else "")
    return key[:2] + "***"


EMAIL_RE = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+")


def scrub(text: str) -> str:
    """Mask every e-mail address in a message (errors, alerts) before it leaves the warehouse."""
    return EMAIL_RE.sub(lambda m: mask_key(m.group(0)), text or "")
