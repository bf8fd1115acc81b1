"""Row checks on the raw string frame: why each row is quarantined (if it is) and the quarantine frame.

Vectorised polars expressions only.  A column is scanned once for control characters and its longest
field (``str.len_bytes`` is free on string views); the per-row work only runs for the columns where
something was found, so a clean file pays one scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import polars as pl

from .columns import EMAIL_PATTERN
from .model import ParseLimits

#: C0 controls that are not data.  Tab, LF and CR inside a (quoted) field are allowed.
CONTROL_PATTERN = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"
_CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]

# Values that are already normalised: no surrounding whitespace, not empty (e-mail: no upper case).
_CLEAN_VALUE = r"^\S(?:.*\S)?$"
_CLEAN_EMAIL = r"^[^\s\p{Lu}](?:\P{Lu}*[^\s\p{Lu}])?$"


def normalise_expr(c: str) -> pl.Expr:
    e = pl.col(c).str.strip_chars().replace("", None)
    if c == "email":
        e = e.str.to_lowercase()
    elif c == "mailing_zip":
        e = pl.when(e.str.contains(r"^\d{3,4}$")).then(e.str.zfill(5)).otherwise(e)
    return e.alias(c)


def _clean_expr(name: str) -> pl.Expr:
    c = pl.col(name)
    clean = c.str.contains(_CLEAN_EMAIL if name == "email" else _CLEAN_VALUE)
    if name == "mailing_zip":
        clean = clean & ~c.str.contains(r"^\d{3,4}$")
    return clean.fill_null(True).all()


def _plain_clean_expr(name: str, tabs: bool = True) -> pl.Expr:
    """:func:`_clean_expr` for a file known to be plain (see :func:`columns_needing_normalising`): the only
    whitespace a field can start or end with is a space or a tab (none when the file has no tab byte), so literal
    prefix/suffix tests (which read the string views' inline prefix) replace the regex, ~2x cheaper."""
    c = pl.col(name)
    dirty = (c == "") | c.str.starts_with(" ") | c.str.ends_with(" ")
    if tabs:
        dirty = dirty | c.str.starts_with("\t") | c.str.ends_with("\t")
    clean = (~dirty).fill_null(True).all()
    if name == "mailing_zip":  # a 3-4 digit zip is padded: only values of that length are looked at
        short = c.filter(c.str.len_bytes().is_between(3, 4))
        clean = clean & ~short.str.contains(r"^\d+$").any().fill_null(False)
    return clean


def columns_needing_normalising(
    raw: pl.DataFrame, names: list[str], *, plain: bool = False, tabs: bool = True
) -> set[str]:
    """The columns among ``names`` that :func:`needs_normalising` would flag, checked in ONE select (polars runs
    the column scans in parallel, which matters when the other file of a diff is already parsed).  ``plain``: the
    file is ASCII, holds no C0 control, no line feed inside a field and carriage returns only as CRLF line ends
    (:func:`scan_bytes` tells), so ``\\s`` at a field's edge can only be a space or a tab."""
    names = [c for c in names if c in raw.columns]
    if not names or raw.height == 0:
        return set()
    exprs = [
        (_plain_clean_expr(c, tabs) if plain and c != "email" else _clean_expr(c)).alias(str(i))
        for i, c in enumerate(names)
    ]
    flags = raw.select(exprs).row(0)
    return {c for c, clean in zip(names, flags) if not clean}


def needs_normalising(s: pl.Series) -> bool:
    """Whether a column has surrounding whitespace, empty strings, upper-case e-mails or short zips.
    A regex scan that allocates nothing per value: a clean column is kept as is (no copy), which
    matters for memory with millions of rows."""
    if s.len() == s.null_count():
        return False
    c = pl.col(s.name)
    clean = c.str.contains(_CLEAN_EMAIL if s.name == "email" else _CLEAN_VALUE)
    if s.name == "mailing_zip":
        clean = clean & ~c.str.contains(r"^\d{3,4}$")
    return not bool(s.to_frame().select(clean.fill_null(True).all()).item())


_NOT_CONTROL = bytes([9, 10, 13]) + bytes(range(32, 256))  # deleted by translate(): what is left is a C0 control


#: inputs at least this big are scanned with numpy (its import, ~0.08 s, pays for itself); smaller ones with bytes
#: methods (no numpy import on the CLI's path for ordinary files)
NUMPY_SCAN_MIN_BYTES = 32 << 20


class ByteScan(NamedTuple):
    controls: bool  # a C0 control other than tab/LF/CR somewhere
    lines: int  # line feeds
    ascii: bool  # every byte < 128
    crs: int  # carriage returns
    crlfs: int  # of which followed by a line feed
    tabs: int  # tab bytes


def _scan(chunks, numpy: bool) -> ByteScan:
    if numpy:
        import numpy as np
    controls, lines, ascii_, crs, crlfs, tabs, prev_cr = False, 0, True, 0, 0, 0, False
    for chunk in chunks:
        if prev_cr and chunk[:1] == b"\n":
            crlfs += 1
        prev_cr = chunk[-1:] == b"\r"
        ascii_ = ascii_ and chunk.isascii()
        if numpy:
            a = np.frombuffer(chunk, dtype=np.uint8)
            low = int(np.count_nonzero(a < 32))
            if not low:
                continue
            lf = int(np.count_nonzero(a == 10))
            cr = int(np.count_nonzero(a == 13)) if low > lf else 0
            tab = int(np.count_nonzero(a == 9)) if low > lf + cr else 0
            controls = controls or low > lf + cr + tab
        else:
            lf, cr, tab = chunk.count(b"\n"), chunk.count(b"\r"), chunk.count(b"\t")
            if not controls and chunk.translate(None, _NOT_CONTROL):
                controls = True
        lines += lf
        tabs += tab
        if cr:
            crs += cr
            crlfs += chunk.count(b"\r\n")
    return ByteScan(controls, lines, ascii_, crs, crlfs, tabs)


def scan_bytes(source: bytes | Path) -> ByteScan:
    """What the (UTF-8 or single-byte) CSV bytes hold: a C0 control other than tab/LF/CR?  how many line feeds
    and carriage returns?  only ASCII?  A C-speed scan of 4 MiB chunks (numpy compares for big inputs,
    ``bytes.translate`` + ``bytes.count`` for small ones): a clean file skips the per-value scan of every column
    (~50 ns a value) and gets the cheaper normalisation check, and the line count bounds the parse's memory."""
    step = 4 << 20
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        size = len(view)
        return _scan((bytes(view[i : i + step]) for i in range(0, size, step)), size >= NUMPY_SCAN_MIN_BYTES)
    size = Path(source).stat().st_size
    with open(source, "rb") as fh:
        return _scan(iter(lambda: fh.read(step), b""), size >= NUMPY_SCAN_MIN_BYTES)


def _unsafe_columns(raw: pl.DataFrame, limits: ParseLimits, controls: bool = True) -> tuple[list[str], list[str]]:
    """(columns holding a control character, columns holding a field longer than the limit).  With
    ``controls=False`` (the bytes were scanned and are clean) only the lengths are looked at."""
    if raw.height == 0 or raw.width == 0:
        return [], []
    names = raw.columns
    w = len(names)
    stats = raw.select(
        [pl.col(c).str.len_bytes().max().alias(f"l{i}") for i, c in enumerate(names)]
        + (
            [pl.col(c).str.contains(CONTROL_PATTERN).any().alias(f"c{i}") for i, c in enumerate(names)]
            if controls
            else []
        )
    ).row(0)
    ctrl = [c for i, c in enumerate(names) if controls and stats[w + i]]
    # bytes >= characters: only a column whose longest field has more bytes than the limit can be too long
    long = [c for i, c in enumerate(names) if (stats[i] or 0) > limits.max_field_chars]
    return ctrl, long


def row_reasons(
    raw: pl.DataFrame, k: pl.Series, key: str, limits: ParseLimits, *, controls: bool = True, seen=None
) -> pl.Series:
    """Per row: the quarantine reason, or null for a usable row.  ``k`` is the normalised key column;
    ``controls=False`` when the file's bytes are known to hold no control character.  ``seen`` (a chunk of a
    bigger file, :class:`.stream.SeenKeys`): the usable keys of earlier chunks; a usable row whose key is among
    them is a ``duplicate_key`` (the first occurrence in the whole file wins), and this chunk's usable keys
    are added to it."""
    ctrl, long = _unsafe_columns(raw, limits, controls)
    safety: list[tuple[pl.Expr, str]] = []
    if ctrl:
        safety.append(
            (pl.any_horizontal([pl.col(c).str.contains(CONTROL_PATTERN) for c in ctrl]), "control_characters")
        )
    if long:
        too_long = pl.any_horizontal([pl.col(c).str.len_chars() > limits.max_field_chars for c in long])
        safety.append((too_long, "field_too_long"))
    reason = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.String))
    for cond, label in safety:
        reason = reason.when(cond.fill_null(False)).then(pl.lit(label))
    reason = reason.when(pl.col("_k").is_null()).then(pl.lit("missing_key"))
    if key == "email":
        reason = reason.when(~pl.col("_k").str.contains(EMAIL_PATTERN)).then(pl.lit("invalid_email"))
    frame = raw.select([*{*ctrl, *long}]).with_columns(k.alias("_k")) if safety else pl.DataFrame({"_k": k})
    reasons = frame.select(reason.otherwise(pl.lit(None, dtype=pl.String)).alias("_reason"))["_reason"]
    del frame
    n_ok = reasons.null_count()
    if n_ok:
        ok_key = pl.when(pl.col("_reason").is_null()).then(pl.col("_k"))
        frame = pl.DataFrame({"_k": k, "_reason": reasons})
        if frame.select(ok_key.drop_nulls().hash().n_unique()).item() != n_ok:
            # duplicates (or a 64-bit hash collision, settled exactly here): keep the first occurrence
            reasons = frame.select(
                pl.when(ok_key.is_not_null() & ~ok_key.is_first_distinct())
                .then(pl.lit("duplicate_key"))
                .otherwise(pl.col("_reason"))
                .alias("_reason")
            )["_reason"]
    if seen is not None and n_ok:
        ok = reasons.is_null()
        ok_keys = k.filter(ok)
        again = seen.contains(ok_keys)
        if again.any():
            idx = pl.int_range(0, k.len(), eager=True).filter(ok).filter(again)
            reasons = reasons.scatter(idx, "duplicate_key")
            ok_keys = ok_keys.filter(~again)
        seen.add(ok_keys)
    return reasons


def embedded_newline_offsets(raw: pl.DataFrame) -> pl.Series:
    """Per row: number of newlines inside fields of *earlier* rows (to turn record numbers into lines)."""
    per_row = raw.select(
        pl.sum_horizontal([pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in raw.columns]).alias(
            "n"
        )
    )["n"]
    return (per_row.cum_sum() - per_row).cast(pl.Int64)


def empty_quarantine(names: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"_line": pl.Series([], dtype=pl.Int64), "_reason": pl.Series([], dtype=pl.String)}
        | {c: pl.Series([], dtype=pl.String) for c in names}
    )


def safe_values(q: pl.DataFrame, names: list[str], limits: ParseLimits) -> pl.DataFrame:
    """Quarantined values in a form any store accepts: C0 controls (other than tab/CR/LF) escaped as
    ``\\xNN`` and fields over the limit cut to it with a ``…[cut: N characters]`` marker."""
    if q.height == 0:
        return q
    ctrl, long = _unsafe_columns(q.select(names), limits)
    exprs = []
    for c in {*ctrl, *long}:
        e = pl.col(c)
        if c in long:
            n = e.str.len_chars()
            e = (
                pl.when(n > limits.max_field_chars)
                .then(
                    pl.concat_str(
                        [
                            e.str.slice(0, limits.max_field_chars),
                            pl.lit("…[cut: "),
                            n.cast(pl.String),
                            pl.lit(" characters]"),
                        ]
                    )
                )
                .otherwise(e)
            )
        if c in ctrl:
            for ch in _CONTROLS:
                e = e.str.replace_all(ch, f"\\x{ord(ch):02x}", literal=True)
        exprs.append(e.alias(c))
    return q.with_columns(exprs) if exprs else q


def build_quarantine(
    raw: pl.DataFrame,
    reasons: pl.Series,
    *,
    names: list[str],
    lines: list[int] | None,
    has_quotes: bool,
    bad_lines: list[int],
    bad_rows: list[list[str]],
    sep: str,
    limits: ParseLimits,
    line_offset: int = 0,
) -> pl.DataFrame:
    """The quarantined rows with their original values (made storable by :func:`safe_values`).  ``line_offset``
    is added to line numbers derived from the row index (``lines`` and ``bad_lines`` already include it)."""
    bad_mask = reasons.is_not_null()
    n_bad = int(bad_mask.sum())
    if not n_bad and not bad_rows:
        return empty_quarantine(names)
    n = raw.height
    if lines is not None:
        line_col = pl.Series("_line", lines, dtype=pl.Int64)
    else:
        line_col = pl.int_range(2 + line_offset, n + 2 + line_offset, dtype=pl.Int64, eager=True).alias("_line")
        if n_bad and has_quotes:
            line_col = line_col + embedded_newline_offsets(raw)
    q = raw.filter(bad_mask).with_columns(
        line_col.filter(bad_mask).alias("_line"), reasons.filter(bad_mask).alias("_reason")
    )
    # a row whose every field is empty is reported as blank_row rather than missing_key
    q = q.with_columns(
        pl.when(pl.all_horizontal([pl.col(c).str.strip_chars().replace("", None).is_null() for c in names]))
        .then(pl.lit("blank_row"))
        .otherwise(pl.col("_reason"))
        .alias("_reason")
    ).select(["_line", "_reason", *names])
    if bad_rows:
        width = len(names)
        malformed = pl.DataFrame(
            {
                "_line": pl.Series(bad_lines, dtype=pl.Int64),
                "_reason": pl.Series(["malformed_row"] * len(bad_rows), dtype=pl.String),
                **{
                    c: pl.Series(
                        [(sep.join(r[i:]) if i == width - 1 else r[i]) if i < len(r) else None for r in bad_rows],
                        dtype=pl.String,
                    )
                    for i, c in enumerate(names)
                },
            }
        )
        q = pl.concat([q, malformed]).sort("_line")
    # an empty field is null whichever parser read it (polars gives null, the csv module ""): the quarantine of
    # a file does not depend on which parser, or which chunk of the streamed load, read the row
    q = q.with_columns([pl.col(c).replace("", None) for c in names])
    return safe_values(q, names, limits)
