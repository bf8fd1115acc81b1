"""Streaming read of an export: the same result as :func:`read_export`, in bounded memory (pure logic).

:func:`stream_export_file` / :func:`stream_export` open an :class:`ExportStream`: the header is read at once
(errors such as a missing key column are raised there), then iterating the stream yields ``(rows, quarantine)``
frames, one pair per chunk of the CSV, with exactly the columns, normalisation, quarantine reasons and line
numbers :func:`read_export` gives for the whole file.  After the iteration the stream holds the totals
(``rows_in``, ``rows_ok``, ``quarantine_counts``, ``encoding``, ``parser``, ``warnings``, the first quarantined
lines).  The consumer writes each batch away (``store.store_snapshot_stream``): the whole CSV is never on the heap.

How:

* the CSV is read from a file (a ZIP member is inflated, counted and limited, into a temporary file by
  :func:`.containers.inflate_zip`; bytes are spooled to a temporary file; UTF-16 is transcoded to a UTF-8
  temporary file with an incremental decoder);
* it is cut into chunks of at most ``chunk_bytes`` bytes and ``max_cells`` values (rows x columns: polars holds
  16 bytes per value, so a file of empty rows is cut finer than one of long rows) at record boundaries: a
  newline ends a record only if the number of ``"`` before it is even (counted with ``bytes.count``);
* each chunk, with the header prepended, goes through the same parser and row checks as a whole file
  (:func:`.csvparse.parse_raw`, :func:`.csvparse.validate`), line numbers offset by the newlines of the earlier
  chunks; bytes that are not UTF-8 are decoded per chunk (newline bytes are the same in UTF-8 and cp1252);
* duplicate keys across chunks: :class:`SeenKeys` keeps, per usable key, a 128-bit fingerprint (two 64-bit
  polars hashes with different seeds, 16 bytes a key, sorted numpy arrays) instead of the key strings (which cost
  16 bytes + their length in polars, ~40 bytes for an e-mail, and are unbounded for long keys).  Within a chunk
  duplicates are settled exactly (string equality); across chunks a key is a duplicate when both hashes match: a
  false match needs a 128-bit collision (about n^2 / 2^129: ~1e-26 for 10M keys).  The cost is 16 bytes per
  member (16 MB per million), plus a transient copy while merging each chunk's keys in.

Differences from :func:`read_export` (documented, tested): the ``parser`` is "python-csv" when any chunk needed
the robust parser (the whole-file read then parses every row with it; the rows and quarantine are the same);
a file of blank lines / empty rows is not refused (its memory is bounded here); a quote that opens a field and
never closes makes the rest of the file one chunk (the whole-file read refuses such a file as malformed CSV, so
does this one, but only after reading that chunk).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from .containers import inflate_zip, is_zip, looks_like_email, read_email
from .csvparse import CsvHeader, parse_raw, read_header, refuse_mostly_blank, validate
from .decoding import _FALLBACK_STATE, _UTF8_BOM, _FallbackCounter
from .model import ExportError, ParsedExport, ParseLimits, export_summary
from .validate import empty_quarantine, scan_bytes

__all__ = ["ExportStream", "SeenKeys", "stream_export", "stream_export_file"]

DEFAULT_CHUNK_BYTES = 2 << 20
#: values (rows x columns) per chunk: 128K values are 2 MB of polars string views (the raw frame; the
#: quarantine, normalised columns and COPY buffer of a chunk add a few times that)
DEFAULT_MAX_CELLS = 1 << 17
_SEED_A, _SEED_B = 0x5EED_0001, 0x0BAD_CAFE


class SeenKeys:
    """The usable keys of earlier chunks as 128-bit fingerprints (see the module docstring)."""

    def __init__(self) -> None:
        import numpy as np  # not at import time: the CLI's diff path does without numpy

        self.a = np.empty(0, dtype=np.uint64)  # sorted
        self.b = np.empty(0, dtype=np.uint64)  # aligned with a

    def __len__(self) -> int:
        return int(self.a.size)

    @staticmethod
    def _fp(keys: pl.Series):
        return keys.hash(seed=_SEED_A).to_numpy(), keys.hash(seed=_SEED_B).to_numpy()

    def contains(self, keys: pl.Series) -> pl.Series:
        """Boolean per key: whether it was added before."""
        import numpy as np

        if keys.len() == 0 or self.a.size == 0:
            return pl.Series(np.zeros(keys.len(), dtype=bool))
        a, b = self._fp(keys)
        pos = np.searchsorted(self.a, a)
        inside = pos < self.a.size
        pos_c = np.where(inside, pos, 0)
        same_a = inside & (self.a[pos_c] == a)
        hit = same_a & (self.b[pos_c] == b)
        # several stored keys sharing the first hash (a 64-bit collision): look at all of them
        for i in np.flatnonzero(same_a & ~hit):
            j = int(pos_c[i])
            while j < self.a.size and self.a[j] == a[i]:
                if self.b[j] == b[i]:
                    hit[i] = True
                    break
                j += 1
        return pl.Series(hit)

    def add(self, keys: pl.Series) -> None:
        """Add keys (distinct, not yet added)."""
        import numpy as np

        if keys.len() == 0:
            return
        a, b = self._fp(keys)
        order = np.argsort(a, kind="stable")
        a, b = a[order], b[order]
        at = np.searchsorted(self.a, a)
        self.a = np.insert(self.a, at, a)
        self.b = np.insert(self.b, at, b)


def _record_end(buf: bytes, start: int, stop: int, quotes: int) -> tuple[int, int]:
    """Scanning forward from ``start`` (``quotes`` = number of ``"`` in ``buf[:start]``): the index just past the
    first newline before ``stop`` with an even number of quotes before it, or -1; and the quotes up to there."""
    pos = start
    while True:
        nl = buf.find(b"\n", pos, stop)
        if nl < 0:
            return -1, quotes
        quotes += buf.count(b'"', pos, nl)
        pos = nl + 1
        if not quotes & 1:
            return pos, quotes


def _last_record_end(buf: bytes, limit: int) -> int:
    """The index just past the last newline before ``limit`` with an even number of ``"`` before it, or -1.
    One ``bytes.count`` over the prefix, then a step back per newline inside a quoted field (C-speed scans)."""
    nl = buf.rfind(b"\n", 0, limit)
    if nl < 0:
        return -1
    quotes = buf.count(b'"', 0, nl)
    while quotes & 1:
        prev = buf.rfind(b"\n", 0, nl)
        if prev < 0:
            return -1
        quotes -= buf.count(b'"', prev, nl)
        nl = prev
    return nl + 1


def iter_chunks(fh, start: int, chunk_bytes: int, max_rows: int) -> Iterator[bytes]:
    """Chunks of the file from byte ``start`` (a record boundary), each ending at a record boundary (or EOF),
    at most ``chunk_bytes`` bytes and ``max_rows`` newlines unless a single record is longer."""
    import numpy as np

    fh.seek(start)
    buf = b""
    eof = False
    while True:
        while not eof and len(buf) < chunk_bytes:
            more = fh.read(chunk_bytes)
            if not more:
                eof = True
            else:
                buf = buf + more if buf else more
        if not buf:
            return
        limit = min(len(buf), chunk_bytes)
        if buf.count(b"\n", 0, limit) > max_rows:
            nl = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8, count=limit) == 10)
            limit = int(nl[max_rows - 1]) + 1
            del nl
        cut = _last_record_end(buf, limit)
        if cut < 0:
            # a record longer than the limit: extend to its end, reading more if needed
            pos, quotes = 0, 0
            while True:
                end, quotes = _record_end(buf, pos, len(buf), quotes)
                if end >= 0:
                    cut = end
                    break
                if eof:
                    cut = len(buf)
                    break
                pos = buf.rfind(b"\n") + 1 if b"\n" in buf else 0
                quotes = buf.count(b'"', 0, pos)
                more = fh.read(chunk_bytes)
                if not more:
                    eof = True
                else:
                    buf += more
        if cut >= len(buf):
            yield buf
            buf = b""
        else:
            yield buf[:cut]
            buf = buf[cut:]


class ExportStream:
    """An export being read chunk by chunk; iterate it once for ``(rows, quarantine)`` frames."""

    def __init__(
        self,
        csv_path: Path,
        *,
        name: str,
        key_column: str,
        limits: ParseLimits,
        container: str,
        filename: str,
        member: str | None,
        source: dict[str, str],
        temporary: list[Path],
        chunk_bytes: int,
        max_cells: int,
    ) -> None:
        self.path = csv_path
        self.limits = limits
        self.container, self.filename, self.member, self.source = container, filename, member, source
        self._temporary = temporary
        self.chunk_bytes = chunk_bytes
        self.encoding = "utf-8"
        size = csv_path.stat().st_size
        if size == 0:
            raise ExportError(f"empty export: {name!r} is 0 bytes")
        with open(csv_path, "rb") as fh:
            head = fh.read(1 << 20)
        if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            self.path = self._transcode_utf16(csv_path)
            self.encoding = "utf-16"
            size = self.path.stat().st_size
            with open(self.path, "rb") as fh:
                head = fh.read(1 << 20)
        elif head.startswith(_UTF8_BOM):
            self.encoding = "utf-8-sig"
        with open(self.path, "rb") as fh:
            fh.seek(max(size - 1, 0))
            last = fh.read(1)
        self.hdr: CsvHeader = read_header(head, size, name=name, key_column=key_column)
        refuse_mostly_blank(name, scan_bytes(self.path).lines, len(self.hdr.names), size)  # as the whole-file read
        self.warnings = list(self.hdr.warnings)
        if last not in (b"\n", b"\r") and b"\n" in head:
            self.warnings.append("file does not end with a newline (was it truncated?)")
        end, _ = _record_end(head, 0, len(head), 0)
        self.header_bytes = head[: end if end >= 0 else len(head)]
        if self.header_bytes.startswith(_UTF8_BOM):
            self.header_bytes = self.header_bytes[3:]
        self._data_start = end if end >= 0 else len(head)
        self.max_rows = max(1, max_cells // max(len(self.hdr.names), 1))
        self.parser = "polars"
        self.rows_in = self.rows_ok = 0
        self.quarantine_counts: dict[str, int] = {}
        self.first_quarantined: list[dict] = []  # first 50 (line, reason)
        self.seen = SeenKeys()
        self._fallback_bytes = self._undefined = self._non_ascii = 0
        self._used = False
        self.header_bytes = self._decode(self.header_bytes)

    # -- bookkeeping like ParsedExport ------------------------------------------------------------------------
    key_column = property(lambda self: self.hdr.key)
    header = property(lambda self: self.hdr.header)
    column_mapping = property(lambda self: list(zip(self.hdr.header, self.hdr.names)))
    extra_columns = property(lambda self: self.hdr.extras)
    format_name = property(lambda self: self.hdr.format_name)
    columns = property(lambda self: self.hdr.columns)

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantine_counts.values())

    # -- temporary files ----------------------------------------------------------------------------------------
    def _transcode_utf16(self, src: Path) -> Path:
        fd, tmp = tempfile.mkstemp(prefix="orgsync-export-", suffix=".csv")
        out_path = Path(tmp)
        self._temporary.append(out_path)
        dec = codecs.getincrementaldecoder("utf-16")()
        try:
            with open(src, "rb") as fh, os.fdopen(fd, "wb") as out:
                while block := fh.read(1 << 20):
                    out.write(dec.decode(block).encode("utf-8"))
                out.write(dec.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ExportError(f"invalid UTF-16 data: {exc}") from None
        return out_path

    def close(self) -> None:
        for p in self._temporary:
            with contextlib.suppress(OSError):
                p.unlink()
        self._temporary = []

    def __enter__(self) -> ExportStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- chunks -------------------------------------------------------------------------------------------------
    def _decode(self, chunk: bytes) -> bytes:
        """The chunk as UTF-8 (bytes that are not UTF-8 decoded like :func:`.decoding.decode_text` does)."""
        if chunk.isascii():
            return chunk
        non_ascii = len(chunk.translate(None, bytes(range(128))))
        self._non_ascii += non_ascii
        try:
            chunk.decode("utf-8")
            return chunk
        except UnicodeDecodeError:
            pass
        counter = _FallbackCounter()
        _FALLBACK_STATE.counter = counter
        try:
            text = chunk.decode("utf-8", errors="orgsync_cp1252_fallback")
        finally:
            _FALLBACK_STATE.counter = None
        self._fallback_bytes += counter.bytes
        self._undefined += counter.undefined
        return text.encode("utf-8")

    def _final_encoding(self) -> str:
        if self.encoding == "utf-16" or not self._fallback_bytes:
            return self.encoding
        if self._fallback_bytes < self._non_ascii:
            return "utf-8+cp1252"
        return "latin-1" if self._undefined else "cp1252"

    def _parse_chunk(self, chunk: bytes, lines_before: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        hdr = self.hdr
        body = self._decode(chunk)
        del chunk
        data = self.header_bytes + body
        head_lines = self.header_bytes.count(b"\n")
        offset = lines_before - head_lines
        controls = scan_bytes(body).controls
        has_quotes = b'"' in body
        del body
        raw, lines, bad_lines, bad_rows, parser, warning, _enc = parse_raw(data, None, hdr, line_offset=offset)
        del data
        if parser != "polars":
            self.parser = parser
            warning = (warning or "").replace("rejected the file", f"rejected the lines from {lines_before + 1}")
            if len(self.warnings) < 20:
                self.warnings.append(warning)
        self.rows_in += raw.height + len(bad_rows)
        rows, q = validate(
            raw,
            hdr,
            self.limits,
            lines=lines,
            bad_lines=bad_lines,
            bad_rows=bad_rows,
            has_quotes=has_quotes,
            controls=controls,
            line_offset=offset,
            seen=self.seen,
        )
        self.rows_ok += rows.height
        if q.height:
            for r, n in q.group_by("_reason").len().iter_rows():
                self.quarantine_counts[r] = self.quarantine_counts.get(r, 0) + int(n)
            if len(self.first_quarantined) < 50:
                self.first_quarantined += q.select("_line", "_reason").head(50 - len(self.first_quarantined)).to_dicts()
        return rows, q

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        if self._used:
            raise RuntimeError("an ExportStream can be iterated once")
        self._used = True
        lines_before = self.header_bytes.count(b"\n")
        with open(self.path, "rb") as fh:
            for chunk in iter_chunks(fh, self._data_start, self.chunk_bytes, self.max_rows):
                newlines = chunk.count(b"\n")
                batch = self._parse_chunk(chunk, lines_before)
                del chunk
                lines_before += newlines
                yield batch
        self.encoding = self._final_encoding()
        self.quarantine_counts = dict(sorted(self.quarantine_counts.items()))

    def summary(self) -> dict:
        """Like :meth:`ParsedExport.summary` (after the iteration)."""
        return export_summary(self)

    def collect(self) -> ParsedExport:
        """Every batch in one :class:`ParsedExport` (tests and small files; the memory of the whole file)."""
        parts = list(self)
        cols = self.columns
        rows = [r for r, _ in parts if r.height]
        qs = [q for _, q in parts if q.height]
        empty_rows = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in cols})
        return ParsedExport(
            rows=pl.concat(rows) if rows else empty_rows,
            quarantine=pl.concat(qs) if qs else empty_quarantine(self.hdr.names).select(["_line", "_reason", *cols]),
            key_column=self.key_column,
            encoding=self.encoding,
            container=self.container,
            header=self.header,
            column_mapping=self.column_mapping,
            extra_columns=self.extra_columns,
            rows_in=self.rows_in,
            filename=self.filename,
            member=self.member,
            source=self.source,
            parser=self.parser,
            warnings=self.warnings,
            format_name=self.format_name,
        )


def _spool(data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix="orgsync-export-", suffix=".csv")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return Path(tmp)


def _open(
    path: Path | None,
    data: bytes | None,
    filename: str,
    key_column: str,
    limits: ParseLimits,
    chunk_bytes: int,
    max_cells: int,
) -> ExportStream:
    temporary: list[Path] = []
    name = filename or "(unnamed)"
    lower = name.lower()
    kw = dict(key_column=key_column, limits=limits, chunk_bytes=chunk_bytes, max_cells=max_cells, temporary=temporary)
    try:
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    head = fh.read(16384)
            except FileNotFoundError:
                raise ExportError(f"no such file: {str(path)!r}") from None
            except IsADirectoryError:
                raise ExportError(f"{str(path)!r} is a directory, not an export file") from None
            except OSError as exc:
                raise ExportError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        else:
            head = data[:16384]  # type: ignore[index]
        if not head:
            raise ExportError(f"empty export: {name!r} is 0 bytes")
        if is_zip(head) or lower.endswith(".zip"):
            tmp, inner = inflate_zip(path if path is not None else data, name, limits)  # type: ignore[arg-type]
            temporary.append(tmp)
            return ExportStream(tmp, name=inner, container="zip", filename=filename, member=inner, source={}, **kw)
        if lower.endswith((".eml", ".mime")) or (
            not lower.endswith((".csv", ".txt", ".tsv")) and looks_like_email(head)
        ):
            # an e-mail is parsed whole (SES limits received mail to 40 MB); its attachment is streamed
            raw = data if data is not None else path.read_bytes()  # type: ignore[union-attr]
            payload, attachment, source = read_email(raw, name)
            del raw, data
            if is_zip(payload) or attachment.lower().endswith(".zip"):
                tmp, inner = inflate_zip(payload, attachment, limits)
                member = f"{attachment}/{inner}"
            else:
                tmp, inner, member = _spool(payload), attachment, attachment
            del payload
            temporary.append(tmp)
            return ExportStream(
                tmp, name=inner, container="email", filename=filename, member=member, source=source, **kw
            )
        if path is None:
            path = _spool(data)  # type: ignore[arg-type]
            temporary.append(path)
        return ExportStream(path, name=name, container="csv", filename=filename, member=None, source={}, **kw)
    except BaseException:
        for p in temporary:
            with contextlib.suppress(OSError):
                p.unlink()
        raise


def stream_export_file(
    path: str | Path,
    *,
    key_column: str = "email",
    limits: ParseLimits | None = None,
    filename: str | None = None,
    chunk_bytes: int | None = None,
    max_cells: int | None = None,
) -> ExportStream:
    """Open an export file (CSV, ZIP or raw e-mail) for a streaming read; use it as a context manager (it
    deletes its temporary files).  ``filename`` (default: the file's name) decides the container like
    :func:`read_export`'s."""
    p = Path(path)
    chunk_bytes, max_cells = chunk_bytes or DEFAULT_CHUNK_BYTES, max_cells or DEFAULT_MAX_CELLS
    return _open(p, None, filename or p.name, key_column, limits or ParseLimits.from_settings(), chunk_bytes, max_cells)


def stream_export(
    data: bytes,
    filename: str,
    *,
    key_column: str = "email",
    limits: ParseLimits | None = None,
    chunk_bytes: int | None = None,
    max_cells: int | None = None,
) -> ExportStream:
    """:func:`stream_export_file` on bytes (spooled to a temporary file; the caller can drop its copy)."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"stream_export() needs bytes, got {type(data).__name__}")
    chunk_bytes, max_cells = chunk_bytes or DEFAULT_CHUNK_BYTES, max_cells or DEFAULT_MAX_CELLS
    return _open(None, data, filename, key_column, limits or ParseLimits.from_settings(), chunk_bytes, max_cells)
