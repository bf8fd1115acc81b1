"""VAN emulator handlers: people (find / findOrCreate / get / update / search) and the contact fields of a
signup's person. Canvass responses (``POST people/{vanId}/canvassResponses``) are in ``van_canvass.py``."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_core import (
    PHONE_RE,
    Call,
    bad_param,
    digits,
    json_response,
    norm,
    not_found,
    to_int,
    zip5,
)
from orgsync_dagster.sandbox.van_db import VanDatabase

PEOPLE_DEFAULT_TOP, PEOPLE_MAX_TOP = 50, 200
PHONE_HINT = PHONE_RE.pattern
PHONE_TYPES = {"H", "W", "C", "M", "F"}

CONTACT_MODE_PERSON = 1  # VAN's contactModeId of an individual (organizations have their own)


def signup_contact(person: dict[str, Any] | None) -> dict[str, Any]:
    """The contact fields VAN puts on a signup's ``person`` (``contactModeId``, ``email``, ``phone``): the person's
    preferred e-mail and phone records (null when the person has none), so a participant export needs no request
    per person."""
    person = person or {}

    def preferred(items: list[dict[str, Any]], keep: tuple[str, ...]) -> dict[str, Any] | None:
        if not items:
            return None
        best = next((i for i in items if i.get("isPreferred")), items[0])
        return {k: best.get(k) for k in keep}

    return {
        "contactModeId": CONTACT_MODE_PERSON if person else None,
        "email": preferred(person.get("emails") or [], ("email", "type", "isPreferred", "isSubscribed")),
        "phone": preferred(
            person.get("phones") or [], ("phoneId", "phoneNumber", "phoneType", "isPreferred", "dialingPrefix")
        ),
    }


# ---------------------------------------------------------------------------------------------
# Lookup helpers
# ---------------------------------------------------------------------------------------------
def person_or_404(db: VanDatabase, ref: str) -> dict[str, Any]:
    """``{vanId}`` or ``{idType}:{id}`` (only the ``vanid`` id type exists in the emulator)."""
    id_type, _, raw = ref.rpartition(":")
    person = None
    if id_type.lower() in ("", "vanid") and raw.isdigit():
        person = db.people.get(int(raw))
    if person is None:
        raise not_found(f"Person '{ref}' not found or not available in the current context.")
    return person


def _list_of_dicts(body: dict[str, Any], prop: str) -> list[dict[str, Any]]:
    value = body.get(prop)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise bad_param(f"'{prop}' must be an array of objects.", prop)
    return value


def _match_data(body: dict[str, Any]) -> dict[str, Any]:
    emails = {norm(e.get("email")) for e in _list_of_dicts(body, "emails") if e.get("email")}
    phones = {digits(p.get("phoneNumber")) for p in _list_of_dicts(body, "phones") if p.get("phoneNumber")}
    addresses = _list_of_dicts(body, "addresses")
    return {
        "first": norm(body.get("firstName")),
        "last": norm(body.get("lastName")),
        "emails": emails,
        "phones": phones,
        "zips": {zip5(a.get("zipOrPostalCode")) for a in addresses if zip5(a.get("zipOrPostalCode"))},
        "lines": {
            (norm(a.get("addressLine1")), zip5(a.get("zipOrPostalCode")))
            for a in addresses
            if a.get("addressLine1") and zip5(a.get("zipOrPostalCode"))
        },
        "dob": str(body.get("dateOfBirth") or "")[:10],
    }


def _enough_to_match(m: dict[str, Any]) -> bool:
    names = bool(m["first"] and m["last"])
    return bool((names and (m["emails"] or m["phones"] or m["lines"] or (m["zips"] and m["dob"]))) or m["emails"])


def _find(db: VanDatabase, m: dict[str, Any]) -> dict[str, Any] | None:
    names_given = bool(m["first"] and m["last"])
    for van_id in sorted(db.people):
        p = db.people[van_id]
        p_emails = {norm(e.get("email")) for e in p["emails"]}
        if names_given and norm(p["firstName"]) == m["first"] and norm(p["lastName"]) == m["last"]:
            p_phones = {digits(ph.get("phoneNumber")) for ph in p["phones"]}
            p_zips = {zip5(a.get("zipOrPostalCode")) for a in p["addresses"]}
            p_lines = {(norm(a.get("addressLine1")), zip5(a.get("zipOrPostalCode"))) for a in p["addresses"]}
            if (
                m["emails"] & p_emails
                or m["phones"] & p_phones
                or m["lines"] & p_lines
                or (m["zips"] & p_zips and m["dob"] and m["dob"] == str(p["dateOfBirth"] or "")[:10])
            ):
                return p
        elif not names_given and m["emails"] & p_emails:
            return p
    return None


def _validate_person_body(body: dict[str, Any]) -> None:
    for i, phone in enumerate(_list_of_dicts(body, "phones")):
        if not PHONE_RE.match(digits(phone.get("phoneNumber"))):
            raise bad_param(
                f"'phones[{i}].phoneNumber' is not a valid phone number.", f"phones[{i}].phoneNumber", hint=PHONE_HINT
            )
        if phone.get("phoneType") is not None and phone["phoneType"] not in PHONE_TYPES:
            raise bad_param(f"'phones[{i}].phoneType' must be one of H, W, C, M, F.", f"phones[{i}].phoneType")
    for i, email in enumerate(_list_of_dicts(body, "emails")):
        if "@" not in str(email.get("email") or ""):
            raise bad_param(f"'emails[{i}].email' is not a valid email address.", f"emails[{i}].email")
    _list_of_dicts(body, "addresses")
    for prop in ("firstName", "middleName", "lastName"):
        value = body.get(prop)
        if value is not None and (not isinstance(value, str) or len(value) > 50):
            raise bad_param(f"'{prop}' must be a string of 50 characters or fewer.", prop)


def _apply_person_data(db: VanDatabase, person: dict[str, Any], body: dict[str, Any]) -> None:
    """Merge supplied data into ``person`` (new emails/phones/addresses are appended)."""
    for prop in ("firstName", "middleName", "lastName", "suffix", "nickname", "dateOfBirth", "sex"):
        if body.get(prop) not in (None, ""):
            person[prop] = body[prop]
    known = {norm(e["email"]) for e in person["emails"]}
    for email in _list_of_dicts(body, "emails"):
        if norm(email["email"]) not in known:
            known.add(norm(email["email"]))
            person["emails"].append(
                {
                    "email": email["email"],
                    "type": email.get("type") or "P",
                    "isPreferred": not person["emails"],
                    "isSubscribed": email.get("isSubscribed"),
                    "subscriptionStatus": None,
                }
            )
    known = {digits(p["phoneNumber"]) for p in person["phones"]}
    for phone in _list_of_dicts(body, "phones"):
        number = digits(phone["phoneNumber"])
        if number not in known:
            known.add(number)
            person["phones"].append(
                {
                    "phoneId": db.next_id("phone"),
                    "phoneNumber": number,
                    "phoneType": phone.get("phoneType") or "H",
                    "isPreferred": not person["phones"],
                    "ext": phone.get("ext"),
                    "dialingPrefix": "1",
                    "countryCode": "US",
                    "phoneOptInStatus": phone.get("phoneOptInStatus") or "U",
                    "isCellStatus": None,
                }
            )
    known_addr = {(norm(a.get("addressLine1")), zip5(a.get("zipOrPostalCode"))) for a in person["addresses"]}
    for addr in _list_of_dicts(body, "addresses"):
        key = (norm(addr.get("addressLine1")), zip5(addr.get("zipOrPostalCode")))
        if key not in known_addr and any(addr.get(k) for k in ("addressLine1", "city", "zipOrPostalCode")):
            known_addr.add(key)
            person["addresses"].append(
                {
                    "addressId": db.next_id("address"),
                    "addressLine1": addr.get("addressLine1"),
                    "addressLine2": addr.get("addressLine2"),
                    "addressLine3": None,
                    "city": addr.get("city"),
                    "stateOrProvince": addr.get("stateOrProvince"),
                    "zipOrPostalCode": addr.get("zipOrPostalCode"),
                    "countryCode": addr.get("countryCode") or "US",
                    "type": addr.get("type") or "Home",
                    "isPreferred": not person["addresses"],
                    "geoLocation": None,
                }
            )


def _matched(call: Call, person: dict[str, Any]) -> Response:
    """VAN's match response: 302 Found to the person + ``{vanId, status: "Matched"}``."""
    van_id = person["vanId"]
    return json_response({"vanId": van_id, "status": "Matched"}, 302, {"Location": call.url(f"people/{van_id}")})


# ---------------------------------------------------------------------------------------------
# People endpoints
# ---------------------------------------------------------------------------------------------
def find_person(call: Call) -> Response:
    body = call.body_object()
    if body.get("vanId") is not None:
        return _matched(call, person_or_404(call.db, str(to_int(body["vanId"], "vanId"))))
    m = _match_data(body)
    if not _enough_to_match(m):
        raise bad_param(
            "Not enough information was provided to attempt a match "
            "(first+last+email, first+last+phone, first+last+address+ZIP5, "
            "first+last+ZIP5+dateOfBirth, or email).",
            "body",
        )
    person = _find(call.db, m)
    if person is None:
        raise not_found("No person matched the supplied data.")
    return _matched(call, person)


def find_or_create_person(call: Call) -> Response:
    db = call.db
    body = call.body_object()
    _validate_person_body(body)
    if body.get("vanId") is not None:
        person = person_or_404(db, str(to_int(body["vanId"], "vanId")))
        _apply_person_data(db, person, body)
        return _matched(call, person)
    m = _match_data(body)
    person = _find(db, m) if _enough_to_match(m) else None
    if person is not None:
        _apply_person_data(db, person, body)
        return _matched(call, person)
    if not (m["first"] or m["last"] or m["emails"]):
        raise bad_param("A name or an email address is required to create a person.", "firstName", "lastName")
    van_id = db.next_id("person")
    person = {
        "vanId": van_id,
        "firstName": None,
        "middleName": None,
        "lastName": None,
        "suffix": None,
        "nickname": None,
        "dateOfBirth": None,
        "sex": None,
        "emails": [],
        "phones": [],
        "addresses": [],
        "activistCodeIds": [],
        "surveyResponses": {},
    }
    _apply_person_data(db, person, body)
    db.people[van_id] = person
    return json_response(
        {"vanId": van_id, "status": "UnmatchedStored"}, 201, {"Location": call.url(f"people/{van_id}")}
    )


def get_person(call: Call, ref: str) -> Response:
    person = person_or_404(call.db, ref)
    return json_response(call.db.person_view(person, call.expand()))


def update_person(call: Call, ref: str) -> Response:
    person = person_or_404(call.db, ref)
    body = call.body_object()
    _validate_person_body(body)
    _apply_person_data(call.db, person, body)
    return _matched(call, person)


def search_people(call: Call) -> Response:
    """GET /people: prefix search on names/email/phone/ZIP (summary records, paginated)."""
    db = call.db
    filters = {
        "firstName": norm(call.arg("firstName")),
        "lastName": norm(call.arg("lastName")),
        "email": norm(call.arg("email")),
        "phoneNumber": digits(call.arg("phoneNumber")),
        "zipOrPostalCode": zip5(call.arg("zipOrPostalCode")),
    }
    items = []
    for van_id in sorted(db.people):
        p = db.people[van_id]
        if filters["firstName"] and not norm(p["firstName"]).startswith(filters["firstName"]):
            continue
        if filters["lastName"] and not norm(p["lastName"]).startswith(filters["lastName"]):
            continue
        if filters["email"] and not any(norm(e["email"]).startswith(filters["email"]) for e in p["emails"]):
            continue
        if filters["phoneNumber"] and not any(
            digits(ph["phoneNumber"]) == filters["phoneNumber"] for ph in p["phones"]
        ):
            continue
        if filters["zipOrPostalCode"] and not any(
            zip5(a["zipOrPostalCode"]) == filters["zipOrPostalCode"] for a in p["addresses"]
        ):
            continue
        items.append(p)
    expand = call.expand()
    return call.page(items, PEOPLE_DEFAULT_TOP, PEOPLE_MAX_TOP, view=lambda p: db.person_view(p, expand))
