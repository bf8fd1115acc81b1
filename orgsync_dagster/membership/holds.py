"""Keys present in an export's quarantined rows: such a member is *held*, never lapsed (issue: a row that cannot be
parsed must not lapse its member). Pure logic, used by the diff and its counts-only path."""

from __future__ import annotations

import polars as pl

from .exports import ParsedExport

__all__ = ["quarantined_values"]

_SEPARATORS = r"[^,;\t|]+"


def quarantined_values(quarantine: pl.DataFrame | None) -> pl.Series:
    """Every value found in the quarantined rows of an export (``ParsedExport.quarantine`` or the same frame
    built from ``membership.quarantine_rows.data``: ``_line``, ``_reason`` and the original values).

    Each field value, stripped, as is and lower-cased (an e-mail key is lower-cased), plus the pieces of it
    between separators (``, ; TAB |``): a malformed row (e.g. an unquoted comma in the address) shifts its
    fields, and its last column holds the rest of the line joined.  The set is deliberately generous: a key
    found in it is *held* (not lapsed) - a wrong hold delays a lapse by one export, a wrong lapse writes to a
    real person."""
    if quarantine is None or quarantine.height == 0:
        return pl.Series("v", [], dtype=pl.String)
    cols = [c for c in quarantine.columns if c not in ("_line", "_reason")]
    if not cols:
        return pl.Series("v", [], dtype=pl.String)
    vals = quarantine.select(pl.concat_list([pl.col(c).cast(pl.String) for c in cols]).alias("v")).explode("v")["v"]
    vals = vals.drop_nulls()
    pieces = vals.str.extract_all(_SEPARATORS).explode().drop_nulls()
    allv = pl.concat([vals, pieces]).str.strip_chars()
    allv = pl.concat([allv, allv.str.to_lowercase()])
    return allv.filter(allv != "").unique().alias("v")


def _quarantine_of(snap, given: pl.DataFrame | None) -> pl.DataFrame | None:
    if given is not None:
        return given
    return snap.quarantine if isinstance(snap, ParsedExport) else None


def _values_of(snap, quarantine: pl.DataFrame | None) -> pl.Series:
    """The held-key candidates of one side: ours above, plus the parser's own (``ParsedExport.quarantined_values``,
    which also splits malformed rows and un-escapes control characters) when ``quarantine`` is that export's."""
    values = quarantined_values(quarantine)
    if isinstance(snap, ParsedExport) and quarantine is not None and quarantine is snap.quarantine:
        extra = snap.quarantined_values().cast(pl.String).alias("v")
        values = pl.concat([values, extra]).unique()
    return values
