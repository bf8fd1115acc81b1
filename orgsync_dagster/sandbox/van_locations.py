"""VAN emulator handlers: locations (findOrCreate with VAN's US matching rules, create, list, get, delete).

Every handler takes the request context (``van_core.Call``) plus route arguments and returns a werkzeug
``Response`` or raises ``VanError``. Runs under the emulator lock.
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Response

from orgsync_dagster.sandbox.van_core import (
    Call,
    bad_param,
    json_response,
    no_content,
    norm,
    not_found,
    text_value,
    zip5,
)
from orgsync_dagster.sandbox.van_db import VanDatabase

LIST_DEFAULT_TOP, LIST_MAX_TOP = 50, 200
LOCATION_NAME_MAX = 50


# ---------------------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------------------
_STREET_RE = re.compile(r"^\s*(\d+[A-Za-z]?)\s+(\S.*?)\s*$")


def _street(line1: Any) -> tuple[str, str] | None:
    m = _STREET_RE.match(str(line1 or ""))
    return (m.group(1).lower(), norm(m.group(2).rstrip("."))) if m else None


def _validate_location(body: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    name = text_value(body, "name", LOCATION_NAME_MAX, required=True)
    address = body.get("address")
    if address is not None and not isinstance(address, dict):
        raise bad_param("'address' must be an object.", "address")
    if address:
        for prop in (
            "addressLine1",
            "addressLine2",
            "addressLine3",
            "city",
            "stateOrProvince",
            "zipOrPostalCode",
            "countryCode",
        ):
            text_value(address, prop, 100)
    return name, address or None


def _new_location(db: VanDatabase, name: str, address: dict[str, Any] | None) -> int:
    loc_id = db.next_id("location")
    addr = None
    preview = None
    if address:
        addr = {
            "addressId": db.next_id("address"),
            "addressLine1": address.get("addressLine1"),
            "addressLine2": address.get("addressLine2"),
            "addressLine3": address.get("addressLine3"),
            "city": address.get("city"),
            "stateOrProvince": address.get("stateOrProvince"),
            "zipOrPostalCode": address.get("zipOrPostalCode"),
            "geoLocation": None,
            "countryCode": address.get("countryCode") or "US",
            "type": "Custom",
            "isPreferred": None,
        }
        state_zip = " ".join(str(p) for p in (addr["stateOrProvince"], addr["zipOrPostalCode"]) if p)
        parts = [addr["addressLine1"], addr["addressLine2"], addr["city"], state_zip]
        preview = ", ".join(str(p) for p in parts if p) or None
        addr["preview"] = preview
    db.locations[loc_id] = {
        "locationId": loc_id,
        "name": name,
        "displayName": f"{name}, {preview}" if preview else name,
        "address": addr,
        "notes": None,
        "codes": None,
    }
    return loc_id


def _match_location(db: VanDatabase, name: str, address: dict[str, Any] | None) -> int | None:
    """VAN's US findOrCreate rules (street+apt+ZIP5 / name+ZIP5 / name+city+state)."""
    address = address or {}
    street = _street(address.get("addressLine1"))
    z5 = zip5(address.get("zipOrPostalCode"))
    z5 = z5 if len(z5) == 5 else ""
    for loc in sorted(db.locations.values(), key=lambda loc: loc["locationId"]):
        other = loc["address"] or {}
        other_zip = zip5(other.get("zipOrPostalCode"))
        same_name = norm(loc["name"]) == norm(name)
        if street and z5:
            hit = (
                _street(other.get("addressLine1")) == street
                and other_zip == z5
                and norm(other.get("addressLine2")) == norm(address.get("addressLine2"))
            )
        elif z5:
            hit = same_name and other_zip == z5
        else:
            hit = (
                same_name
                and norm(other.get("city")) == norm(address.get("city"))
                and norm(other.get("stateOrProvince")) == norm(address.get("stateOrProvince"))
                and (street is None or _street(other.get("addressLine1")) == street)
            )
        if hit:
            return loc["locationId"]
    return None


def find_or_create_location(call: Call) -> Response:
    name, address = _validate_location(call.body_object())
    loc_id = _match_location(call.db, name, address)
    if loc_id is None:
        loc_id = _new_location(call.db, name, address)
    return call.created(loc_id, f"locations/{loc_id}")


def create_location(call: Call) -> Response:
    name, address = _validate_location(call.body_object())
    loc_id = _new_location(call.db, name, address)
    return call.created(loc_id, f"locations/{loc_id}")


def list_locations(call: Call) -> Response:
    wanted = norm(call.arg("name")) if call.arg("name") else None
    items = [loc for loc in call.db.locations.values() if wanted is None or wanted in norm(loc["name"])]
    return call.page(items, LIST_DEFAULT_TOP, LIST_MAX_TOP, view=call.db.location_view)


def get_location(call: Call, location_id: int) -> Response:
    loc = call.db.locations.get(location_id)
    if loc is None:
        raise not_found(f"Location {location_id} not found.")
    return json_response(call.db.location_view(loc))


def delete_location(call: Call, location_id: int) -> Response:
    if call.db.locations.pop(location_id, None) is None:
        raise not_found(f"Location {location_id} not found.")
    return no_content()
