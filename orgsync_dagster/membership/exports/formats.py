"""The header formats national has used for the ActionKit membership export, recognised by their header.

National changed the export's headers at least three times (seed-origins §2.3; dates are those of the
original project's commits that followed each change):

* ``national-2019`` (Dec 2019, ``06fb564``): ``AK_ID, DSA_ID, ..., Address_Line_1, City, State, Zip,
  Country, ..., Email, ..., Xdate, Memb_status, membership_type, monthly_status`` (the original's
  ``tests/data/0*.csv`` hold the same columns lower-cased; header matching ignores case);
* ``national-2021`` (Feb 2021, ``a5c56db`` "Updating columns to match new format from national"):
  ``Billing_*`` and ``Mailing_*`` address blocks, ``membership_status``, ``monthly_dues_status``, union,
  student and ``YDSA Chapter`` fields;
* ``national-2023`` (Apr 2023, ``9c65e76`` "National switched to lowercase" and ``eb67a58`` the status
  letter): lower-case ``mailing_*``, ``best_phone``, ``p2ptext_optout``, ``annual_recurring_dues_status``
  and ``memb_status_letter``.

A header is identified as the known format whose required columns it holds, preferring the one
sharing the most columns.  A header that is close to a known format (it holds most of its columns)
but lacks one of that format's required columns is refused with an :class:`ExportError` naming the
format and the missing columns (a silently missing status column would lapse everyone).  A header
close to no known format is read as ``generic`` through the alias mapping, as long as it has the key
column.
"""

from __future__ import annotations

from dataclasses import dataclass

from .columns import HEADER_ALIASES, normalize_header
from .model import ExportError

__all__ = ["GENERIC", "KNOWN_FORMATS", "ExportFormat", "detect_format"]

GENERIC = "generic"
#: share of a format's columns a header must hold to be taken as (a damaged copy of) that format
_CLOSE = 0.5


@dataclass(frozen=True)
class ExportFormat:
    name: str
    since: str  # when national started sending it (date of the original project's adapting commit)
    columns: tuple[str, ...]  # the header as national sends it
    required: tuple[str, ...]  # normalised names that must be present

    @property
    def normalised(self) -> frozenset[str]:
        return frozenset(normalize_header(c) for c in self.columns)


KNOWN_FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        "national-2019",
        "2019-12",
        [
            "AK_ID",
            "DSA_ID",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "Family_first_name",
            "Family_last_name",
            "Organization",
            "Address_Line_1",
            "Address_Line_2",
            "City",
            "State",
            "Zip",
            "Country",
            "Mobile_Phone",
            "Home_Phone",
            "Work_Phone",
            "Email",
            "Mail_preference",
            "Do_Not_Call",
            "Join_Date",
            "Xdate",
            "Memb_status",
            "membership_type",
            "monthly_status",
        ],
        ("email", "xdate", "memb_status"),
    ),
    ExportFormat(
        "national-2021",
        "2021-02",
        [
            "AK_ID",
            "first_name",
            "middle_name",
            "last_name",
            "suffix",
            "Billing_Address_Line_1",
            "Billing_Address_Line_2",
            "Billing_City",
            "Billing_State",
            "Billing_Zip",
            "Mailing_Address1",
            "Mailing_Address2",
            "Mailing_City",
            "Mailing_State",
            "Mailing_Zip",
            "Mobile_Phone",
            "Home_Phone",
            "Work_Phone",
            "Email",
            "Mail_preference",
            "Do_Not_Call",
            "Join_Date",
            "Xdate",
            "membership_type",
            "monthly_dues_status",
            "membership_status",
            "union_member",
            "union_name",
            "union_local",
            "student_yes_no",
            "student_school_name",
            "YDSA Chapter",
            "DSA_chapter",
        ],
        ("email", "xdate", "membership_status"),
    ),
    ExportFormat(
        "national-2023",
        "2023-04",
        [
            "email",
            "first_name",
            "middle_name",
            "last_name",
            "mailing_address1",
            "mailing_address2",
            "mailing_city",
            "mailing_state",
            "mailing_zip",
            "best_phone",
            "mobile_phone",
            "home_phone",
            "work_phone",
            "mailing_preference",
            "do_not_call",
            "p2ptext_optout",
            "monthly_dues_status",
            "annual_recurring_dues_status",
            "union_member",
            "union_name",
            "union_local",
            "student_yes_no",
            "student_school_name",
            "ydsa_chapter",
            "memb_status_letter",
        ],
        ("email", "memb_status_letter"),
    ),
)


def _nearest(present: set[str]) -> tuple[ExportFormat, float]:
    scored = [(len(f.normalised & present) / len(f.normalised), f) for f in KNOWN_FORMATS]
    share, fmt = max(scored, key=lambda t: t[0])
    return fmt, share


def describe_missing(header: list[str]) -> str:
    """``"nearest known format: national-2023 (missing: email, memb_status_letter)"``."""
    present = {normalize_header(h) for h in header}
    fmt, _ = _nearest(present)
    missing = [c for c in fmt.required if c not in present] or sorted(fmt.normalised - present)[:8]
    return f"nearest known format: {fmt.name} (since {fmt.since}; missing: {', '.join(missing) or 'none'})"


def detect_format(header: list[str], name: str) -> str:
    """Name of the known format of ``header`` (or :data:`GENERIC`); ``ExportError`` for a damaged known one."""
    present = {normalize_header(h) for h in header}
    # a required column is also satisfied by a column mapping onto the same canonical column
    canonical = {HEADER_ALIASES.get(n, n) for n in present}
    matches = [f for f in KNOWN_FORMATS if all(HEADER_ALIASES.get(r, r) in canonical for r in f.required)]
    if matches:
        return max(matches, key=lambda f: len(f.normalised & present) / len(f.normalised)).name
    fmt, share = _nearest(present)
    if share >= _CLOSE:
        missing = [r for r in fmt.required if HEADER_ALIASES.get(r, r) not in canonical]
        raise ExportError(
            f"the header of {name!r} looks like the {fmt.name} export format (since {fmt.since}) but lacks its "
            f"required column(s) {', '.join(missing)}; columns found: {', '.join(header)}"
        )
    return GENERIC
