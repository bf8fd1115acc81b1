"""CSV bytes or file -> raw string frame (polars fast path, Python ``csv`` fallback) -> validated frames.

The fast path hands the bytes (or the file, so that no copy of it sits on the heap) to polars'
multi-threaded CSV reader and validates with vectorised expressions; the Python ``csv`` module is only
used when polars rejects the file (rows with more fields than the header, stray quotes), where it
quarantines the offending rows instead of failing the whole file.  Row checks live in :mod:`.validate`.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .columns import CANONICAL_COLUMNS, map_header, resolve_column
from .decoding import _UTF8_BOM, decode_text, first_record, sniff_separator
from .formats import describe_missing, detect_format
from .model import ExportError, ParseLimits
from .validate import build_quarantine, columns_needing_normalising, normalise_expr, row_reasons, scan_bytes


def _is_utf8_error(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "utf-8" in msg or "utf8" in msg


def _polars_parse(data: bytes | str, names: list[str], sep: str) -> pl.DataFrame:
    return pl.read_csv(
        data,
        has_header=True,
        new_columns=names,
        separator=sep,
        infer_schema=False,
        quote_char='"',
        raise_if_empty=False,
        truncate_ragged_lines=False,
        encoding="utf8",
        glob=False,
    )


def _python_parse(
    text: str, names: list[str], sep: str, line_offset: int = 0
) -> tuple[pl.DataFrame, list[int], list[int], list[list[str]]]:
    """Robust path.  Returns (frame, line numbers of kept rows, line numbers of malformed rows, their raw
    fields).  Rows with fewer fields are padded with nulls (like ``csv.DictReader``); rows with more
    non-empty fields than the header are returned separately as malformed.  ``line_offset`` is added to every
    line number (a chunk of a bigger file, see :mod:`.stream`)."""
    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    width = len(names)
    cols: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    bad_lines: list[int] = []
    bad_rows: list[list[str]] = []
    start = 1
    try:
        next(reader)  # header
        start = reader.line_num + 1
        for rec in reader:
            line = start + line_offset
            start = reader.line_num + 1
            n = len(rec)
            if n > width:
                if any(v.strip() for v in rec[width:]):
                    bad_lines.append(line)
                    bad_rows.append(rec)
                    continue
                rec = rec[:width]
                n = width
            for i in range(n):
                cols[i].append(rec[i])
            for i in range(n, width):
                cols[i].append(None)
            lines.append(line)
    except csv.Error as exc:
        raise ExportError(f"malformed CSV near line {start + line_offset}: {exc}") from None
    frame = pl.DataFrame({name: pl.Series(name, col, dtype=pl.String) for name, col in zip(names, cols)})
    return frame, lines, bad_lines, bad_rows


@dataclass
class CsvHeader:
    """What the header row tells: the separator, the output column names and the key column."""

    header: list[str]  # as in the file (BOM removed)
    names: list[str]  # output column per header column
    extras: list[str]
    warnings: list[str]
    key: str
    sep: str
    format_name: str

    @property
    def canon(self) -> list[str]:
        return [c for c in CANONICAL_COLUMNS if c in self.names]

    @property
    def columns(self) -> list[str]:
        """The columns of the canonical rows, in order."""
        return [*self.canon, *self.extras]


def read_header(head: bytes, size: int, *, name: str, key_column: str) -> CsvHeader:
    """The header from the first bytes (``head``, up to 1 MiB) of a UTF-8 (or single-byte) CSV of ``size`` bytes."""
    prefix = head
    if len(prefix) < size and b"\n" in prefix:
        prefix = prefix[: prefix.rindex(b"\n") + 1]  # do not cut a multi-byte character in two
    prefix_text, _ = decode_text(prefix)
    del prefix
    if not prefix_text.strip():
        raise ExportError(f"empty export: {name!r} has no header row")
    sep = sniff_separator(prefix_text.split("\n", 1)[0])
    header = [h.replace("\ufeff", "") for h in first_record(prefix_text, sep)]
    del prefix_text
    if not header or all(not h.strip() for h in header):
        raise ExportError(f"empty export: {name!r} has no header row")
    names, extras, warnings = map_header(header)

    key = resolve_column(key_column)
    if key not in names:
        raise ExportError(
            f"key column {key_column!r} not found in {name!r}; {describe_missing(header)}; columns found: "
            f"{', '.join(header)}"
        )
    return CsvHeader(header, names, extras, warnings, key, sep, detect_format(header, name))


def parse_raw(
    data: bytes | None, path: Path | None, hdr: CsvHeader, *, line_offset: int = 0
) -> tuple[pl.DataFrame, list[int] | None, list[int], list[list[str]], str, str | None, str | None]:
    """Parse CSV bytes (or the file at ``path``) into the raw string frame.  Returns (frame, line numbers of its
    rows or None when they follow from the row index, malformed rows' lines, malformed rows, parser, warning or
    None, encoding found by decoding or None when the data was valid UTF-8)."""
    parser, warning, encoding = "polars", None, None
    names, sep = hdr.names, hdr.sep
    text: str | None = None
    try:
        try:
            return _polars_parse(data if data is not None else str(path), names, sep), None, [], [], parser, None, None
        except pl.exceptions.PolarsError as exc:
            if not _is_utf8_error(exc):
                raise
            if data is None:
                data = path.read_bytes()  # type: ignore[union-attr]
            text, encoding = decode_text(data)
            data = text.encode("utf-8")
            return _polars_parse(data, names, sep), None, [], [], parser, None, encoding
    except pl.exceptions.PolarsError as exc:
        parser = "python-csv"
        warning = f"fast CSV parser rejected the file ({str(exc).splitlines()[0]}); used the robust parser"
        if text is None:
            if data is None:
                data = path.read_bytes()  # type: ignore[union-attr]
            text, enc = decode_text(data)
            encoding = encoding or (enc if enc not in ("utf-8", "utf-8-sig") else None)
        del data
        if text.startswith("\ufeff"):
            text = text[1:]
        raw, lines, bad_lines, bad_rows = _python_parse(text, names, sep, line_offset)
        return raw, lines, bad_lines, bad_rows, parser, warning, encoding


def validate(
    raw: pl.DataFrame,
    hdr: CsvHeader,
    limits: ParseLimits,
    *,
    lines: list[int] | None,
    bad_lines: list[int],
    bad_rows: list[list[str]],
    has_quotes: bool,
    controls: bool,
    line_offset: int = 0,
    seen=None,
    plain: bool = False,
    tabs: bool = True,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(canonical rows, quarantine) of a raw frame.  ``raw`` is consumed (its columns are moved out).
    ``line_offset``: added to the line numbers derived from the row index; ``seen``: the keys of earlier
    chunks (:class:`.stream.SeenKeys`), for duplicates across chunks."""
    names, key, extras, canon = hdr.names, hdr.key, hdr.extras, hdr.canon
    dirty = columns_needing_normalising(raw, [*canon, *extras], plain=plain, tabs=tabs)
    k = raw[key]
    if key in dirty:
        k = raw.select(normalise_expr(key))[key]
    reasons = row_reasons(raw, k, key, limits, controls=controls, seen=seen)
    bad_mask = reasons.is_not_null()
    n_bad = int(bad_mask.sum())
    q = build_quarantine(
        raw,
        reasons,
        names=names,
        lines=lines,
        has_quotes=has_quotes,
        bad_lines=bad_lines,
        bad_rows=bad_rows,
        sep=hdr.sep,
        limits=limits,
        line_offset=line_offset,
    )

    # --- canonical rows: one column at a time, so the transient memory is one column -------------
    keep = ~bad_mask if n_bad else None
    out: dict[str, pl.Series] = {}
    for c in [*canon, *extras]:
        s = raw.drop_in_place(c)
        if c == key:
            s = k
        elif c in dirty:
            s = s.to_frame().select(normalise_expr(c))[c]
        if keep is not None:
            s = s.filter(keep)
        out[c] = s
    del raw, k
    rows = pl.DataFrame(out) if out else pl.DataFrame()
    return rows, q.select(["_line", "_reason", *canon, *extras])


def refuse_mostly_blank(name: str, line_feeds: int, columns: int, size: int) -> None:
    """A file of (nearly) nothing but blank lines / empty rows is refused before it is parsed: whole, it would
    cost far more memory than its bytes (16 bytes per value); streamed, millions of blank quarantine rows."""
    estimate = (line_feeds + 1) * columns * 16
    if estimate > max(20 * size, 1 << 30):
        raise ExportError(
            f"{name!r} has {line_feeds:,} lines in {size:,} bytes (mostly blank lines or empty rows); reading it"
            f" would take about {estimate / (1 << 30):.1f} GiB of memory; refused"
        )


def parse_csv(
    box: list[bytes], *, name: str, key_column: str, limits: ParseLimits, path: Path | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """``box`` is a one-element list holding the CSV bytes; it is emptied as soon as the bytes are
    parsed so that, when the caller keeps no other reference, the memory is freed early.  With
    ``path`` (a plain CSV file, ``box`` empty) polars reads the file itself and the bytes are only
    loaded if the fast path fails (non-UTF-8 data, malformed rows): no full copy of the file on the
    heap, which is what keeps two 5M-row snapshots + their diff under 3 GB."""
    data: bytes | None
    if path is not None:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
            fh.seek(max(size - 1, 0))
            last = fh.read(1)
        data = None
    else:
        data = box.pop()
        size = len(data)
        head, last = data[: 1 << 20], data[-1:]
    if size == 0:
        raise ExportError(f"empty export: {name!r} is 0 bytes")

    # --- encoding --------------------------------------------------------------------------------
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if data is None:
            data = path.read_bytes()  # type: ignore[union-attr]
        text, encoding = decode_text(data)
        data = text.encode("utf-8")
        del text
        head, last = data[: 1 << 20], data[-1:]
    elif data is not None and data.isascii():
        encoding = "utf-8"
    else:
        encoding = "utf-8-sig" if head.startswith(_UTF8_BOM) else "utf-8"

    # --- header ----------------------------------------------------------------------------------
    hdr = read_header(head, size, name=name, key_column=key_column)
    warnings = hdr.warnings
    has_quotes = (b'"' in data) if data is not None else True
    if last not in (b"\n", b"\r") and b"\n" in head:
        warnings.append("file does not end with a newline (was it truncated?)")
    del head

    # --- parse -----------------------------------------------------------------------------------
    scan = scan_bytes(data if data is not None else path)  # type: ignore[arg-type]
    controls, line_feeds = scan.controls, scan.lines
    # polars holds 16 bytes per value: rows of (nearly) nothing cost far more than their bytes.  Ordinary rows
    # cost 2-3x the file; only a file of blank lines / empty rows reaches 20x: refuse it rather than run out.
    # (The streaming load, :mod:`.stream`, parses in bounded chunks and needs no such refusal.)
    refuse_mostly_blank(name, line_feeds, len(hdr.names), size)
    box2 = data
    del data
    raw, lines, bad_lines, bad_rows, parser, warning, decoded = parse_raw(box2, path, hdr)
    del box2
    if warning:
        warnings.append(warning)
    if decoded:
        encoding = decoded
    n = raw.height
    rows, q = validate(
        raw,
        hdr,
        limits,
        lines=lines,
        bad_lines=bad_lines,
        bad_rows=bad_rows,
        has_quotes=has_quotes,
        controls=controls,
        # no field can start or end with whitespace other than a space or a tab (see columns_needing_normalising)
        plain=scan.ascii and not controls and scan.crs == scan.crlfs and line_feeds <= n + 1,
        tabs=scan.tabs > 0,
    )
    info = {
        "encoding": encoding,
        "header": hdr.header,
        "column_mapping": list(zip(hdr.header, hdr.names)),
        "extra_columns": hdr.extras,
        "rows_in": n + len(bad_rows),
        "parser": parser,
        "warnings": warnings,
        "key_column": hdr.key,
        "format_name": hdr.format_name,
    }
    return rows, q, info
