"""Column mapping: canonical column names, header aliases and header normalisation (pure logic)."""

from __future__ import annotations

import re

__all__ = [
    "CANONICAL_COLUMNS",
    "EMAIL_PATTERN",
    "HEADER_ALIASES",
    "canonical_column",
    "map_header",
    "normalize_header",
    "resolve_column",
]

#: Canonical column names, in output order.  Spelling follows the current national export
#: (lower-case, ``mailing_*``) so the Action Network field mapper can be written against one format.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "ak_id",
    "dsa_id",
    "email",
    "first_name",
    "middle_name",
    "last_name",
    "suffix",
    "mailing_address1",
    "mailing_address2",
    "mailing_city",
    "mailing_state",
    "mailing_zip",
    "country",
    "best_phone",
    "mobile_phone",
    "home_phone",
    "work_phone",
    "mailing_preference",
    "do_not_call",
    "p2ptext_optout",
    "join_date",
    "xdate",
    "memb_status_letter",
    "membership_status",
    "membership_type",
    "monthly_dues_status",
    "annual_recurring_dues_status",
    "union_member",
    "union_name",
    "union_local",
    "student_yes_no",
    "student_school_name",
    "ydsa_chapter",
    "dsa_chapter",
)

_ALIASES: dict[str, tuple[str, ...]] = {
    "ak_id": ("akid", "actionkit_id", "ak_user_id", "user_id"),
    "dsa_id": (),
    "email": ("email_address", "e_mail", "emailaddress", "email_addr", "e_mail_address", "primary_email"),
    "first_name": ("firstname", "first", "given_name"),
    "middle_name": ("middlename", "middle", "middle_initial"),
    "last_name": ("lastname", "last", "surname", "family_name"),
    "suffix": ("name_suffix",),
    "mailing_address1": (
        "mailing_address_1",
        "mailing_address_line_1",
        "mailing_address",
        "mailing_street",
        "address_line_1",
        "address_line1",
        "address1",
        "address_1",
        "address",
        "street_address",
        "street",
    ),
    "mailing_address2": (
        "mailing_address_2",
        "mailing_address_line_2",
        "address_line_2",
        "address_line2",
        "address2",
        "address_2",
    ),
    "mailing_city": ("city",),
    "mailing_state": ("state", "mailing_region", "region"),
    "mailing_zip": (
        "zip",
        "zip_code",
        "zipcode",
        "zip5",
        "postal",
        "postal_code",
        "postcode",
        "mailing_postal_code",
        "mailing_zip_code",
        "mailing_zipcode",
    ),
    "country": ("mailing_country",),
    "best_phone": ("phone", "phone_number", "primary_phone"),
    "mobile_phone": ("mobile", "mobile_number", "cell", "cell_phone", "cellphone"),
    "home_phone": ("home",),
    "work_phone": ("work",),
    "mailing_preference": ("mail_preference", "mail_pref"),
    "do_not_call": ("dnc",),
    "p2ptext_optout": ("p2p_text_optout", "do_not_text", "text_optout"),
    "join_date": ("joined", "join", "date_joined", "joindate"),
    "xdate": ("expiry_date", "expiration_date", "expires", "expiration", "membership_expiration", "x_date"),
    "memb_status_letter": ("memb_status",),
    "membership_status": (),
    "membership_type": ("memb_type",),
    "monthly_dues_status": ("monthly_status",),
    "annual_recurring_dues_status": ("annual_dues_status", "annual_status"),
    "union_member": (),
    "union_name": (),
    "union_local": (),
    "student_yes_no": ("student",),
    "student_school_name": ("school_name",),
    "ydsa_chapter": (),
    "dsa_chapter": ("chapter",),
}

#: normalised header name -> canonical column name (includes the identity mappings).
HEADER_ALIASES: dict[str, str] = {}
for _canon, _alts in _ALIASES.items():
    HEADER_ALIASES[_canon] = _canon
    for _alt in _alts:
        HEADER_ALIASES[_alt] = _canon
assert set(_ALIASES) == set(CANONICAL_COLUMNS)

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
# Deliberately permissive: one "@", no whitespace, a dotted domain without empty labels.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"


def normalize_header(name: str) -> str:
    """``"\\ufeffE-mail Address "`` -> ``"e_mail_address"``; ``"YDSA Chapter"`` -> ``"ydsa_chapter"``."""
    name = name.replace("\ufeff", "").strip().lower()
    return _NON_ALNUM.sub("_", name).strip("_")


def canonical_column(name: str) -> str | None:
    """Canonical column for a raw header name, or ``None`` if it is not one we know."""
    return HEADER_ALIASES.get(normalize_header(name))


def resolve_column(name: str) -> str:
    """Output column name for a user-supplied column name (``"Email"`` -> ``"email"``,
    ``"Zip"`` -> ``"mailing_zip"``, ``"Favourite Colour"`` -> ``"favourite_colour"``)."""
    n = normalize_header(name)
    return HEADER_ALIASES.get(n, n)


def map_header(header: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Return (output names in file order, extra column names, warnings)."""
    normalised = [normalize_header(h) for h in header]
    targets = [HEADER_ALIASES.get(n) for n in normalised]
    # A column spelled exactly like the canonical name wins over an alias of it; otherwise first wins.
    winner: dict[str, int] = {}
    for i, (n, t) in enumerate(zip(normalised, targets)):
        if t is None:
            continue
        if t not in winner or (n == t and normalised[winner[t]] != t):
            winner[t] = i
    out: list[str] = [""] * len(header)
    used: set[str] = set()
    for t, i in winner.items():
        out[i] = t
        used.add(t)
    extras: list[str] = []
    warnings: list[str] = []
    for i, n in enumerate(normalised):
        if out[i]:
            continue
        base = n or f"column_{i + 1}"
        if targets[i] is not None:
            warnings.append(f"column {header[i]!r} also maps to {targets[i]!r}; kept as extra column")
        name, k = base, 2
        while name in used:
            name = f"{base}_{k}"
            k += 1
        out[i] = name
        used.add(name)
        extras.append(name)
    return out, extras, warnings
