"""Synthetic ActionKit membership exports (CSV, ZIP, SES e-mail) for the demo, tests and benchmarks."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from dataclasses import dataclass
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

COLUMNS = [
    "ak_id",
    "first_name",
    "last_name",
    "mailing_address1",
    "mailing_city",
    "mailing_state",
    "mailing_zip",
    "mobile_phone",
    "email",
    "monthly_dues_status",
    "union_member",
    "memb_status_letter",
]
_FIRST = ["Jane", "John", "Maria", "Ahmed", "Li", "Rosa", "Karl", "Emma", "José", "Priya", "Sam", "Ella"]
_LAST = ["Doe", "Smith", "Garcia", "Nguyen", "Khan", "Luxemburg", "Marx", "Brown", "Silva", "Parks", "Debs"]
_STREETS = ["Tremont St", "Atlantic Ave", "Congress St", "Mass Ave", "Centre St", "Main St"]
_CITIES = [("Boston", "MA", "02111"), ("Cambridge", "MA", "02139"), ("Somerville", "MA", "02143")]


def member(i: int, *, version: int = 0) -> dict:
    first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
    city, state, zip_ = _CITIES[i % len(_CITIES)]
    return {
        "ak_id": str(100000 + i),
        "first_name": first,
        "last_name": last,
        "mailing_address1": f"{100 + i + version} {_STREETS[i % len(_STREETS)]}",
        "mailing_city": city,
        "mailing_state": state,
        "mailing_zip": zip_,
        "mobile_phone": f"617555{i % 10000:04d}",
        "email": f"member{i}@example.org",
        "monthly_dues_status": "active" if i % 3 else "lapsed",
        "union_member": "Yes" if i % 4 == 0 else "No",
        "memb_status_letter": "M",
    }


@dataclass
class WeekPair:
    older: list[dict]
    newer: list[dict]
    new: list[str]  # member keys (e-mail)
    updated: list[str]
    lapsed: list[str]
    unchanged: int


def week_pair(members: int, *, new: int, updated: int, lapsed: int, seed: int = 7) -> WeekPair:
    """Two weekly exports: ``members`` in the older one; the newer one drops ``lapsed``, adds ``new`` and
    changes the address of ``updated`` of them (rows shuffled, as national's exports are)."""
    rng = random.Random(seed)
    older = [member(i) for i in range(members)]
    idx = list(range(members))
    rng.shuffle(idx)
    lapsed_idx, updated_idx = set(idx[:lapsed]), set(idx[lapsed : lapsed + updated])
    newer = [member(i, version=1 if i in updated_idx else 0) for i in range(members) if i not in lapsed_idx]
    newer += [member(members + j) for j in range(new)]
    rng.shuffle(newer)
    return WeekPair(
        older=older,
        newer=newer,
        new=[member(members + j)["email"] for j in range(new)],
        updated=[older[i]["email"] for i in sorted(updated_idx)],
        lapsed=[older[i]["email"] for i in sorted(lapsed_idx)],
        unchanged=members - lapsed - updated,
    )


def to_csv(rows: list[dict], columns: list[str] | None = None, *, encoding: str = "utf-8", bom: bool = True) -> bytes:
    columns = columns or COLUMNS
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    data = buf.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom and encoding == "utf-8" else data


def to_zip(csv_bytes: bytes, name: str = "actionkit_export.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, csv_bytes)
    return buf.getvalue()


def to_eml(attachments: list[tuple[str, bytes]], *, subject: str = "Weekly membership export") -> bytes:
    """A raw e-mail as SES stores it in S3, with the given attachments (name, bytes)."""
    msg = MIMEMultipart("mixed")
    msg["Subject"] = subject
    msg["From"] = "DSA National <actionkit@example.com>"
    msg["To"] = "membership-sync@example.org"
    msg["Date"] = "Sat, 21 Nov 2026 13:45:23 -0500"
    msg["Message-ID"] = "<weekly-export@mail.example.com>"
    msg.attach(MIMEText("The weekly membership list is attached.", "plain"))
    for name, data in attachments:
        subtype = "zip" if name.endswith(".zip") else "octet-stream"
        part = MIMEApplication(data, _subtype=subtype, Name=name)
        if name.endswith(".csv"):
            part.replace_header("Content-Type", f'text/csv; name="{name}"')
        part["Content-Disposition"] = f'attachment; filename="{name}"'
        msg.attach(part)
    return msg.as_bytes()
