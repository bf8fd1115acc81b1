"""Decoding export bytes that may not be UTF-8, and sniffing the header row (pure logic)."""

from __future__ import annotations

import codecs
import csv
import io
import threading

from .model import ExportError

_UTF8_BOM = codecs.BOM_UTF8
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


class _FallbackCounter:
    """``codecs`` error handler: decode each byte that is not valid UTF-8 as cp1252 (latin-1 for the
    five bytes cp1252 leaves undefined), counting what it did."""

    def __init__(self) -> None:
        self.bytes = 0
        self.undefined = 0

    def __call__(self, exc: UnicodeError):
        if not isinstance(exc, UnicodeDecodeError):
            raise exc
        bad = exc.object[exc.start : exc.end]
        out = []
        for b in bad:
            self.bytes += 1
            if b in _CP1252_UNDEFINED:
                self.undefined += 1
                out.append(chr(b))
            else:
                out.append(bytes([b]).decode("cp1252"))
        return "".join(out), exc.end


_FALLBACK_STATE = threading.local()


def _fallback_handler(exc: UnicodeError):
    return _FALLBACK_STATE.counter(exc)


codecs.register_error("orgsync_cp1252_fallback", _fallback_handler)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes that may not be UTF-8.  Returns (text without BOM, encoding label)."""
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ExportError(f"invalid UTF-16 data: {exc}") from None
    bom = data.startswith(_UTF8_BOM)
    body = data[3:] if bom else data
    try:
        return body.decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError:
        pass
    counter = _FallbackCounter()
    _FALLBACK_STATE.counter = counter
    try:
        text = body.decode("utf-8", errors="orgsync_cp1252_fallback")
    finally:
        _FALLBACK_STATE.counter = None
    non_ascii = len(body.translate(None, bytes(range(128))))
    if counter.bytes < non_ascii:
        label = "utf-8+cp1252"  # mostly UTF-8 with some stray single-byte characters
    elif counter.undefined:
        label = "latin-1"
    else:
        label = "cp1252"
    return text, label


def sniff_separator(header_line: str) -> str:
    best, count = ",", header_line.count(",")
    for sep in ("\t", ";", "|"):
        c = header_line.count(sep)
        if c > count:
            best, count = sep, c
    return best


def first_record(text_prefix: str, sep: str) -> list[str]:
    reader = csv.reader(io.StringIO(text_prefix, newline=""), delimiter=sep)
    try:
        return next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ExportError(f"cannot parse the header row: {exc}") from None
