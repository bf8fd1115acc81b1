"""Reading the two exports of a diff: both at once (one thread each) when they are small enough."""

from __future__ import annotations

from pathlib import Path

from .exports import ParsedExport, read_export_file

#: parse both files at once (one thread each: the parse is largely single-threaded) when the two files
#: together are at most this many bytes; above it they are parsed one after the other, so that only one
#: parsed export is resident at a time (the peak-memory figure at 5M rows)
PARALLEL_PARSE_MAX_BYTES = 400 << 20


def _file_bytes(path: str | Path) -> int:
    try:
        p = Path(path)
        with open(p, "rb") as fh:
            magic = fh.read(4)
        size = p.stat().st_size
        return size * 20 if magic.startswith(b"PK") else size  # a ZIP inflates: count it large
    except OSError:
        return 0  # read_export_file reports the problem


def read_both(
    older_path: str | Path, newer_path: str | Path, *, key_column: str = "email", parallel: bool | None = None
) -> tuple[ParsedExport, ParsedExport]:
    """``read_export_file`` of both files; at the same time (one thread each) when they are small enough
    (:data:`PARALLEL_PARSE_MAX_BYTES` together, the default) - the parse is largely single-threaded.  The older
    file's error is raised first, as when reading one after the other."""
    if parallel is None:
        parallel = _file_bytes(older_path) + _file_bytes(newer_path) <= PARALLEL_PARSE_MAX_BYTES
    if not parallel:
        return read_export_file(older_path, key_column=key_column), read_export_file(newer_path, key_column=key_column)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        fo = pool.submit(read_export_file, older_path, key_column=key_column)
        fn = pool.submit(read_export_file, newer_path, key_column=key_column)
        return fo.result(), fn.result()
