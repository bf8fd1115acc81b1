"""Export containers: a ZIP holding one CSV and a raw SES e-mail with one CSV/ZIP attachment (pure logic).

A ZIP member is inflated in 1 MiB chunks into a temporary file while the inflated bytes are counted:
past :attr:`ParseLimits.max_uncompressed_bytes`, or past :attr:`ParseLimits.max_compression_ratio` times
its compressed size (once above :attr:`ParseLimits.ratio_floor_bytes`), it is refused with an
:class:`ExportError` (a ZIP bomb never reaches memory; the declared sizes in the ZIP are not trusted).
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import tempfile
import zipfile
import zlib
from pathlib import Path

from .model import ExportError, ParseLimits

__all__ = ["EMAIL_HEADER_NAMES", "inflate_zip", "is_zip", "looks_like_email", "read_email"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?")
EMAIL_HEADER_NAMES = {
    b"mime-version",
    b"content-type",
    b"from",
    b"to",
    b"subject",
    b"date",
    b"received",
    b"return-path",
    b"message-id",
    b"delivered-to",
    b"x-ses-receipt",
    b"dkim-signature",
}
_ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/x-zip", "multipart/x-zip"}
_CSV_TYPES = {"text/csv", "text/comma-separated-values", "application/csv", "application/vnd.ms-excel"}
_CHUNK = 1 << 20


def is_zip(data: bytes) -> bool:
    return data[:4] in _ZIP_MAGIC


def looks_like_email(data: bytes) -> bool:
    """RFC 822 header block followed by a blank line, with at least one well-known header."""
    head = data[:16384]
    end = re.search(rb"\r?\n\r?\n", head)
    if end is None:
        return False
    lines = re.split(rb"\r?\n", head[: end.start()])
    known = 0
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            continue  # folded continuation line
        m = _HEADER_LINE.match(line)
        if m is None:
            return False
        if line.split(b":", 1)[0].strip().lower() in EMAIL_HEADER_NAMES:
            known += 1
    return known >= 1 and len(lines) >= 2


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def _bomb(name: str, member: str, what: str, setting: str) -> ExportError:
    return ExportError(
        f"ZIP {name!r}: member {member!r} {what}; refused as a possible ZIP bomb (raise membership.{setting} in "
        "orgsync.yaml if this export is genuine)"
    )


def inflate_zip(source: bytes | Path, name: str, limits: ParseLimits) -> tuple[Path, str]:
    """Inflate the single CSV member of a ZIP (bytes or a file) into a temporary file, counting the real
    inflated bytes.  Returns (temporary file path — the caller deletes it —, member name)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
        infos = [
            i
            for i in zf.infolist()
            if not i.is_dir()
            and not i.filename.startswith("__MACOSX/")
            and not i.filename.rsplit("/", 1)[-1].startswith(".")
        ]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise ExportError(f"corrupt ZIP {name!r}: {exc}") from None
    with zf:
        csvs = [i for i in infos if i.filename.lower().endswith((".csv", ".txt"))]
        members = ", ".join(i.filename for i in infos) or "none"
        if not csvs:
            raise ExportError(f"ZIP {name!r} contains no CSV member (members: {members})")
        if len(csvs) > 1:
            raise ExportError(f"ZIP {name!r} contains {len(csvs)} CSV members ({members}); expected exactly one")
        info = csvs[0]
        if info.flag_bits & 0x1:
            raise ExportError(f"ZIP {name!r}: member {info.filename!r} is encrypted")
        limit = limits.max_uncompressed_bytes
        if info.file_size > limit:
            raise _bomb(
                name,
                info.filename,
                f"declares {_human(info.file_size)} uncompressed, over the limit of {_human(limit)}",
                "max_uncompressed_bytes",
            )
        fd, tmp = tempfile.mkstemp(prefix="orgsync-export-", suffix=".csv")
        path = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_member(zf, info, out, name, limits)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path, info.filename


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out, name: str, limits: ParseLimits) -> None:
    limit, ratio = limits.max_uncompressed_bytes, limits.max_compression_ratio
    compressed = max(info.compress_size, 1)
    total = 0
    try:
        with zf.open(info) as member:
            while chunk := member.read(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _bomb(
                        name,
                        info.filename,
                        f"inflates past the limit of {_human(limit)} (declared {_human(info.file_size)})",
                        "max_uncompressed_bytes",
                    )
                if total > limits.ratio_floor_bytes and total > ratio * compressed:
                    raise _bomb(
                        name,
                        info.filename,
                        f"inflates more than {ratio:g} times its compressed size ({_human(compressed)} ->"
                        f" over {_human(total)})",
                        "max_compression_ratio",
                    )
                out.write(chunk)
    except ExportError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ExportError(f"corrupt ZIP {name!r}: cannot read {info.filename!r}: {exc}") from None
    except RuntimeError as exc:  # password required etc.
        raise ExportError(f"ZIP {name!r}: cannot read {info.filename!r}: {exc}") from None


def read_email(data: bytes, name: str) -> tuple[bytes, str, dict[str, str]]:
    """(attachment bytes, attachment file name, selected e-mail headers)."""
    try:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
    except Exception as exc:  # the parser is lenient; this is belt and braces
        raise ExportError(f"cannot parse e-mail {name!r}: {exc}") from None
    source = {}
    for h in ("Subject", "From", "To", "Date", "Message-ID"):
        v = msg.get(h)
        if v is not None:
            source[h.lower().replace("-", "_")] = str(v)
    attachments: list[tuple[str, str, object]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        fname = part.get_filename()
        disp = part.get_content_disposition()
        if fname is None and disp != "attachment":
            continue
        attachments.append((fname or "(unnamed)", part.get_content_type(), part))
    if not attachments:
        raise ExportError(f"e-mail {name!r} has no attachment; expected one CSV or ZIP attachment")
    candidates = [
        a for a in attachments if a[0].lower().endswith((".csv", ".zip", ".txt")) or a[1] in _ZIP_TYPES | _CSV_TYPES
    ]
    listing = ", ".join(f"{n} ({t})" for n, t, _ in attachments)
    if not candidates:
        raise ExportError(f"e-mail {name!r} has no CSV or ZIP attachment (attachments: {listing})")
    if len(candidates) > 1:
        raise ExportError(
            f"e-mail {name!r} has {len(candidates)} CSV/ZIP attachments ({listing}); expected exactly one"
        )
    fname, _ctype, part = candidates[0]
    payload = part.get_payload(decode=True)  # type: ignore[attr-defined]
    if not payload:
        raise ExportError(f"e-mail {name!r}: attachment {fname!r} is empty")
    source["attachment"] = fname
    return payload, fname, source
