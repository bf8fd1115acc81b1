"""Read an ActionKit membership export into a validated snapshot.

Pure logic (no Dagster import).  One entry point, :func:`read_export` (or :func:`read_export_file`), turns

* a raw email as stored by SES (MIME, exactly one CSV or ZIP attachment),
* a ZIP archive holding exactly one CSV member, or
* a plain CSV file

into a :class:`ParsedExport`: canonical rows (a polars ``DataFrame``, every column ``String``), the rows
that were quarantined (original values + reason + line number) and bookkeeping (encoding, container,
original header, the national header format recognised).  Nothing is dropped silently:
``rows_in == rows_ok + rows_quarantined``.

Modules:

* :mod:`.columns` — header normalisation (BOM, case, spaces/punctuation -> ``_``) and :data:`HEADER_ALIASES`
  onto :data:`CANONICAL_COLUMNS` (the current national spelling, seed-origins §2.3); unknown columns are
  kept under their normalised name and listed in ``ParsedExport.extra_columns``;
* :mod:`.formats` — the versioned national header formats (``national-2019``, ``national-2021``,
  ``national-2023``) recognised by their header;
* :mod:`.containers` — ZIP (inflated with a counted, limited stream: ZIP bombs are refused) and e-mail;
* :mod:`.decoding` — UTF-8 / UTF-16 / cp1252 fallback decoding, separator sniffing;
* :mod:`.csvparse` — polars fast path, Python ``csv`` fallback;
* :mod:`.validate` — the row checks: control characters, overlong fields, missing/invalid/duplicate keys.

Values are normalised so that two snapshots compare cleanly: surrounding whitespace stripped, empty
strings become null, e-mail addresses lower-cased, 3-4 digit numeric zips left-padded to 5 digits.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import polars as pl

from .columns import (
    CANONICAL_COLUMNS,
    EMAIL_PATTERN,
    HEADER_ALIASES,
    canonical_column,
    normalize_header,
    resolve_column,
)
from .containers import inflate_zip, is_zip, looks_like_email, read_email
from .csvparse import parse_csv
from .formats import GENERIC, KNOWN_FORMATS, ExportFormat, detect_format
from .model import QUARANTINE_REASONS, ExportError, ParsedExport, ParseLimits, quarantined_values

__all__ = [
    "CANONICAL_COLUMNS",
    "EMAIL_PATTERN",
    "GENERIC",
    "HEADER_ALIASES",
    "KNOWN_FORMATS",
    "QUARANTINE_REASONS",
    "ExportError",
    "ExportFormat",
    "ParseLimits",
    "ParsedExport",
    "canonical_column",
    "detect_format",
    "normalize_header",
    "quarantined_values",
    "read_export",
    "read_export_file",
    "resolve_column",
]


def _make_export(
    rows: pl.DataFrame,
    quarantine: pl.DataFrame,
    info: dict,
    container: str,
    filename: str,
    member: str | None,
    source: dict[str, str],
) -> ParsedExport:
    return ParsedExport(
        rows=rows,
        quarantine=quarantine,
        key_column=info["key_column"],
        encoding=info["encoding"],
        container=container,
        header=info["header"],
        column_mapping=info["column_mapping"],
        extra_columns=info["extra_columns"],
        rows_in=info["rows_in"],
        filename=filename,
        member=member,
        source=source,
        parser=info["parser"],
        warnings=info["warnings"],
        format_name=info["format_name"],
    )


def _parse_zip(source: bytes | Path, zip_name: str, key_column: str, limits: ParseLimits) -> tuple:
    """Inflate (counted, limited) into a temporary file and let polars read that file: no copy on the heap."""
    tmp, inner = inflate_zip(source, zip_name, limits)
    try:
        rows, quarantine, info = parse_csv([], name=inner, key_column=key_column, limits=limits, path=tmp)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return rows, quarantine, info, inner


def _read(box: list[bytes], filename: str, key_column: str, limits: ParseLimits) -> ParsedExport:
    data = box.pop()
    name = filename or "(unnamed)"
    if len(data) == 0:
        raise ExportError(f"empty export: {name!r} is 0 bytes")
    lower = name.lower()
    if is_zip(data) or lower.endswith(".zip"):
        rows, quarantine, info, member = _parse_zip(data, name, key_column, limits)
        return _make_export(rows, quarantine, info, "zip", filename, member, {})
    if lower.endswith((".eml", ".mime")) or (not lower.endswith((".csv", ".txt", ".tsv")) and looks_like_email(data)):
        payload, attachment, source = read_email(data, name)
        del data
        if is_zip(payload) or attachment.lower().endswith(".zip"):
            rows, quarantine, info, inner = _parse_zip(payload, attachment, key_column, limits)
            return _make_export(rows, quarantine, info, "email", filename, f"{attachment}/{inner}", source)
        inner_box = [payload]
        del payload
        rows, quarantine, info = parse_csv(inner_box, name=attachment, key_column=key_column, limits=limits)
        return _make_export(rows, quarantine, info, "email", filename, attachment, source)
    inner_box = [data]
    del data
    rows, quarantine, info = parse_csv(inner_box, name=name, key_column=key_column, limits=limits)
    return _make_export(rows, quarantine, info, "csv", filename, None, {})


def read_export(
    data: bytes, filename: str, *, key_column: str = "email", limits: ParseLimits | None = None
) -> ParsedExport:
    """Parse one export (raw e-mail, ZIP or CSV bytes) into a validated :class:`ParsedExport`.

    The container is detected from the content (ZIP magic, RFC 822 header block) and the file name
    (``.zip``, ``.eml``).  ``key_column`` may be spelled any way a header could be (``"Email"``,
    ``"AK_ID"``); it is normalised and mapped like the headers.  ``limits`` default to the membership
    settings (orgsync.yaml).  Raises :class:`ExportError` when the file as a whole is unusable;
    problems with individual rows are quarantined instead.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"read_export() needs bytes, got {type(data).__name__}")
    return _read([data], filename, key_column, limits or ParseLimits.from_settings())


def read_export_file(path: str | Path, *, key_column: str = "email", limits: ParseLimits | None = None) -> ParsedExport:
    """:func:`read_export` on a file (``ExportError`` if it cannot be read).  A plain CSV or a ZIP is read
    without loading the whole file on the heap."""
    p = Path(path)
    limits = limits or ParseLimits.from_settings()
    try:
        with open(p, "rb") as fh:
            head = fh.read(16384)
        lower = p.name.lower()
        if head and (is_zip(head) or lower.endswith(".zip")):
            rows, quarantine, info, member = _parse_zip(p, p.name, key_column, limits)
            return _make_export(rows, quarantine, info, "zip", p.name, member, {})
        if head and not (
            lower.endswith((".eml", ".mime"))
            or (not lower.endswith((".csv", ".txt", ".tsv")) and looks_like_email(head))
        ):
            # plain CSV: let polars read the file itself (no copy of the whole file on the heap)
            rows, quarantine, info = parse_csv([], name=p.name, key_column=key_column, limits=limits, path=p)
            return _make_export(rows, quarantine, info, "csv", p.name, None, {})
        box = [p.read_bytes()]
    except FileNotFoundError:
        raise ExportError(f"no such file: {str(p)!r}") from None
    except IsADirectoryError:
        raise ExportError(f"{str(p)!r} is a directory, not an export file") from None
    except OSError as exc:
        raise ExportError(f"cannot read {str(p)!r}: {exc.strerror or exc}") from None
    return _read(box, p.name, key_column, limits)
