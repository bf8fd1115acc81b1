"""Result and error types of export parsing, and the limits it enforces (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["QUARANTINE_REASONS", "ExportError", "ParseLimits", "ParsedExport"]


class ExportError(ValueError):
    """The export cannot be read at all (bad container, no key column, empty file, ZIP bomb, ...)."""


#: Reasons a row can be quarantined for.
QUARANTINE_REASONS: tuple[str, ...] = (
    "blank_row",  # every field empty (also how a blank line in the file shows up)
    "malformed_row",  # more fields than the header (robust path only); the extra fields are kept
    "control_characters",  # NUL or another C0 control (tab, CR and LF are data); stored escaped as \xNN
    "field_too_long",  # a field longer than ParseLimits.max_field_chars; stored cut to the limit
    "missing_key",  # key column empty
    "invalid_email",  # key is the e-mail and it does not look like one
    "duplicate_key",  # key already seen earlier in the file (the first occurrence is kept)
)


@dataclass(frozen=True)
class ParseLimits:
    """What a single export may cost.  ``membership.max_uncompressed_bytes``,
    ``membership.max_compression_ratio`` and ``membership.max_field_chars`` in orgsync.yaml."""

    #: a ZIP member inflating past this many bytes is refused (counted while inflating)
    max_uncompressed_bytes: int = 4 << 30
    #: ... and so is one inflating more than this many times its compressed size once past ``ratio_floor_bytes``
    max_compression_ratio: float = 100.0
    ratio_floor_bytes: int = 32 << 20
    #: a row with a longer field (in characters) is quarantined as ``field_too_long``
    max_field_chars: int = 1000

    @classmethod
    def from_settings(cls) -> ParseLimits:
        from orgsync_dagster.membership.settings import settings

        s = settings()
        return cls(
            max_uncompressed_bytes=getattr(s, "max_uncompressed_bytes", cls.max_uncompressed_bytes),
            max_compression_ratio=getattr(s, "max_compression_ratio", cls.max_compression_ratio),
            max_field_chars=getattr(s, "max_field_chars", cls.max_field_chars),
        )


@dataclass
class ParsedExport:
    """A validated snapshot of one export file."""

    #: Canonical rows: canonical columns present in the file (in :data:`CANONICAL_COLUMNS` order)
    #: followed by the extra columns; every column ``pl.String``; values normalised; key unique.
    rows: pl.DataFrame
    #: Quarantined rows: ``_line`` (Int64, 1-based line in the CSV, header = line 1), ``_reason``
    #: (one of :data:`QUARANTINE_REASONS`) then the row's *original* (un-normalised) values under the
    #: same column names as ``rows`` (control characters escaped as ``\\xNN``, overlong fields cut).
    quarantine: pl.DataFrame
    key_column: str
    encoding: str  # "utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1" or "utf-8+cp1252" (mixed)
    container: str  # "csv", "zip" or "email"
    header: list[str]  # the header exactly as in the file (BOM removed)
    column_mapping: list[tuple[str, str]]  # (original header, output column) in file order
    extra_columns: list[str]
    rows_in: int
    filename: str = ""
    member: str | None = None  # CSV member / attachment name inside a ZIP or e-mail
    source: dict[str, str] = field(default_factory=dict)  # e-mail headers (subject, from, date, ...)
    parser: str = "polars"  # "polars" (fast path) or "python-csv" (robust fallback)
    warnings: list[str] = field(default_factory=list)
    #: the national header format recognised (see ``formats.KNOWN_FORMATS``) or "generic"
    format_name: str = "generic"

    @property
    def rows_ok(self) -> int:
        return self.rows.height

    @property
    def rows_quarantined(self) -> int:
        return self.quarantine.height

    @property
    def quarantine_counts(self) -> dict[str, int]:
        if self.quarantine.height == 0:
            return {}
        counts = self.quarantine.group_by("_reason").len()
        return {r: int(n) for r, n in sorted(counts.iter_rows())}

    @property
    def columns(self) -> list[str]:
        return self.rows.columns

    def quarantined_values(self) -> pl.Series:
        """Every candidate key value found in a quarantined row: each field of each quarantined row,
        stripped, non-empty, lower-cased when it holds an ``@`` (e-mail), unique (``pl.String``).

        A member whose key appears here is present in the raw export, only unusable: it must never be
        counted lapsed.  Values are as stored in the quarantine (control characters escaped)."""
        return quarantined_values(self.quarantine)

    def summary(self) -> dict:
        """JSON-able bookkeeping (no row data)."""
        return export_summary(self)


def export_summary(export) -> dict:
    """The bookkeeping of a parsed export (:class:`ParsedExport`, or a streamed one after its iteration): JSON-able,
    no row data."""
    return {
        "filename": export.filename,
        "container": export.container,
        "member": export.member,
        "encoding": export.encoding,
        "format": export.format_name,
        "parser": export.parser,
        "key_column": export.key_column,
        "rows_in": export.rows_in,
        "rows_ok": export.rows_ok,
        "rows_quarantined": export.rows_quarantined,
        "quarantine_counts": dict(export.quarantine_counts),
        "extra_columns": list(export.extra_columns),
        "warnings": list(export.warnings),
    }


def quarantined_values(quarantine: pl.DataFrame) -> pl.Series:
    """See :meth:`ParsedExport.quarantined_values`; also usable on rows loaded back from the warehouse
    (any frame whose data columns do not start with ``_``)."""
    cols = [c for c in quarantine.columns if not c.startswith("_")]
    if quarantine.height == 0 or not cols:
        return pl.Series("value", [], dtype=pl.String)
    v = quarantine.select(pl.concat_list([pl.col(c).cast(pl.String) for c in cols]).alias("value")).explode("value")
    # a malformed row's last field holds the extra fields joined by the separator: split them too
    v = v.select(pl.col("value").str.split(",")).explode("value")
    # a value with escaped control characters also stands for itself without them ("a@x.org\\x00")
    v = v.select(
        pl.concat_list(pl.col("value"), pl.col("value").str.replace_all(r"\\x[0-9a-f]{2}", "")).alias("value")
    ).explode("value")
    e = pl.col("value").str.strip_chars()
    e = pl.when(e.str.contains("@", literal=True)).then(e.str.to_lowercase()).otherwise(e)
    return (
        v.select(e.alias("value"))
        .filter(pl.col("value").is_not_null() & (pl.col("value") != ""))["value"]
        .unique(maintain_order=True)
    )
