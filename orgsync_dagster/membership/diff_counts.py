"""Counts only (``orgsync membership diff --json`` without ``--out``): each export reduced to key and row hashes as
soon as it is parsed, both parsed at once when small enough (see ``benchmarks/membership_diff_e2e.py``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .diff import _COLLISION_WARNING, STATUSES, _classify, _compare_columns, _reduce
from .exports import ParsedExport, read_export_file
from .holds import _values_of
from .readers import PARALLEL_PARSE_MAX_BYTES, _file_bytes

__all__ = ["DiffCounts", "diff_counts_files"]


@dataclass
class DiffCounts:
    """Outcome of :func:`diff_counts_files`: the counts of :func:`diff_snapshots` without the row sets."""

    key: str
    compare_columns: list[str]
    counts: dict[str, int]
    #: keys held (not lapsed): present in a quarantined row of the newer export
    held_keys: pl.Series
    older_rows: int
    newer_rows: int
    older_info: dict
    newer_info: dict
    #: quarantined rows of the newer export
    newer_quarantined: int
    elapsed_s: float = 0.0
    join: str = "hash-join"
    warnings: list[str] = field(default_factory=list)

    @property
    def held_count(self) -> int:
        return self.held_keys.len()

    def to_dict(self) -> dict[str, int]:
        """Exactly ``{"new", "updated", "lapsed", "unchanged"}`` counts."""
        return {s: int(self.counts[s]) for s in STATUSES}


@dataclass
class _Side:
    columns: list[str]
    info: dict
    warnings: list[str]
    quarantine: pl.DataFrame
    values: pl.Series | None
    rows: int


def _side(parsed: ParsedExport, want_values: bool) -> _Side:
    return _Side(
        columns=list(parsed.rows.columns),
        info=parsed.summary(),
        warnings=list(parsed.warnings),
        quarantine=parsed.quarantine,
        values=_values_of(parsed, parsed.quarantine) if want_values else None,
        rows=parsed.rows.height,
    )


def _parse_reduce(
    path: str | Path, key: str, compare_columns: Sequence[str] | None, side: str
) -> tuple[ParsedExport, list[str] | None, pl.DataFrame]:
    """Parse one file and reduce it on the compare columns as far as this file alone tells (checked by the
    caller against the other file)."""
    parsed = read_export_file(path, key_column=key)
    cols = parsed.rows.columns
    try:
        guess: list[str] | None = _compare_columns(cols, cols, parsed.key_column, compare_columns)[0]
    except ValueError:
        guess = None
    return parsed, guess, _reduce(parsed.rows, parsed.key_column, guess or [], True, side)


def diff_counts_files(
    older_path: str | Path,
    newer_path: str | Path,
    *,
    key: str = "email",
    compare_columns: Sequence[str] | None = None,
    parallel: bool | None = None,
) -> DiffCounts:
    """The counts of ``diff_files(older_path, newer_path, ...)`` (same parse, same classification, same held
    rule), without materialising the new / updated / lapsed rows.

    Each parsed export is reduced to its keys and (key hash, row index, row hash) as soon as it is parsed
    and its rows are dropped.  ``parallel`` (default: when the files together are at most
    :data:`PARALLEL_PARSE_MAX_BYTES`): parse both files at the same time, one thread each."""
    t0 = time.perf_counter()
    if parallel is None:
        parallel = _file_bytes(older_path) + _file_bytes(newer_path) <= PARALLEL_PARSE_MAX_BYTES
    if parallel:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:  # parse + reduce each file in its own thread
            fo = pool.submit(_parse_reduce, older_path, key, compare_columns, "o")
            fn = pool.submit(_parse_reduce, newer_path, key, compare_columns, "n")
            (older, guess_o, o), (newer, guess_n, n) = fo.result(), fn.result()
        key = newer.key_column
        cols, warnings = _compare_columns(older.rows.columns, newer.rows.columns, key, compare_columns)
        if cols != guess_o:  # the two exports have different columns: hash again on the final set
            o = _reduce(older.rows, key, cols, True, "o")
        if cols != guess_n:
            n = _reduce(newer.rows, key, cols, True, "n")
        ko = older.rows[key].rechunk()
        so = _side(older, False)
        del older
    else:  # one parsed export resident at a time
        older, guess, o = _parse_reduce(older_path, key, compare_columns, "o")
        key = older.key_column
        ko = older.rows[key].rechunk()
        so = _side(older, False)
        del older
        newer = read_export_file(newer_path, key_column=key)
        cols, warnings = _compare_columns(so.columns, newer.rows.columns, key, compare_columns)
        if cols != guess:  # the newer export has other columns: hash the older one again on the final set
            del o
            older = read_export_file(older_path, key_column=key)
            o = _reduce(older.rows, key, cols, True, "o")
            del older
        n = _reduce(newer.rows, key, cols, True, "n")
    kn = newer.rows[key].rechunk()
    sn = _side(newer, True)
    del newer

    pairs, counts, join = _classify(o, n, ko, kn)
    del o, n
    if join != "hash-join":
        warnings.append(_COLLISION_WARNING)
    held_keys = pl.Series(key, [], dtype=pl.String)
    if counts["lapsed"] and sn.values is not None and sn.values.len():
        lapsed_keys = ko.gather(pairs.filter(pl.col("status") == "lapsed")["_io"].sort())
        held_keys = lapsed_keys.filter(lapsed_keys.cast(pl.String).is_in(sn.values)).alias(key)
        counts["lapsed"] -= held_keys.len()
    return DiffCounts(
        key=key,
        compare_columns=cols,
        counts=counts,
        held_keys=held_keys,
        older_rows=so.rows,
        newer_rows=sn.rows,
        older_info=so.info,
        newer_info=sn.info,
        newer_quarantined=sn.quarantine.height,
        elapsed_s=time.perf_counter() - t0,
        join=join,
        warnings=[*so.warnings, *sn.warnings, *warnings],
    )
