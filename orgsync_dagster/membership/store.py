"""Membership snapshots, diffs, approvals and pushes in the warehouse (no Dagster import).

Rows move in and out with PostgreSQL COPY (psycopg2 ``copy_expert``) and polars CSV, so a 1M-member export
loads in seconds instead of the minutes row-wise INSERTs would take.
"""

from __future__ import annotations

import io
import json
import queue
import threading

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine

from orgsync_dagster.membership.exports import CANONICAL_COLUMNS, ExportStream, ParsedExport
from orgsync_dagster.membership.exports import quarantined_values as _quarantined_values
from orgsync_dagster.membership.tables import (
    approvals,
    diff_rows,
    diffs,
    exports,
    pushes,
    quarantine_rows,
    snapshot_rows,
)

APPROVE, REJECT = "approve", "reject"


# -- COPY helpers ---------------------------------------------------------------------------------------------
def _copy_in(cursor, table: sa.Table, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    buf = io.BytesIO()
    frame.write_csv(buf, include_header=False, null_value="", quote_style="non_numeric")
    buf.seek(0)
    cols = ", ".join(f'"{c}"' for c in frame.columns)
    cursor.copy_expert(f'COPY "{table.schema}"."{table.name}" ({cols}) FROM STDIN WITH (FORMAT csv)', buf)


def _copy_out(engine: Engine, select_sql: str, params: dict) -> pl.DataFrame:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        query = cur.mogrify(select_sql, params).decode()
        buf = io.BytesIO()
        cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true)", buf)
        raw.rollback()
    finally:
        raw.close()
    buf.seek(0)
    if not buf.getbuffer().nbytes:
        return pl.DataFrame()
    return pl.read_csv(buf, infer_schema=False)


def _pg_text(frame: pl.DataFrame) -> pl.DataFrame:
    """PostgreSQL text and jsonb cannot hold NUL (``\\x00``, ``\\u0000``): the export parser quarantines such
    rows, this is the last line of defence for any frame on its way to COPY (NUL written as ``\\x00``)."""
    strings = [c for c, t in frame.schema.items() if t == pl.String]
    if not strings or frame.height == 0:
        return frame
    found = frame.select([pl.col(c).str.contains("\x00", literal=True).any() for c in strings]).row(0)
    bad = [c for c, f in zip(strings, found) if f]
    if not bad:
        return frame
    return frame.with_columns([pl.col(c).str.replace_all("\x00", "\\x00", literal=True) for c in bad])


def _json_column(frame: pl.DataFrame, columns: list[str], name: str) -> pl.Expr:
    if not columns:
        return pl.lit(None, dtype=pl.String).alias(name)
    return pl.struct([pl.col(c) for c in columns]).struct.json_encode().alias(name)


# -- exports --------------------------------------------------------------------------------------------------
def record_export(engine: Engine, partition_key: str, **values) -> None:
    """Update the export's bookkeeping row with ``values``, inserting it the first time."""
    with engine.begin() as conn:
        updated = conn.execute(exports.update().where(exports.c.partition_key == partition_key).values(**values))
        if updated.rowcount == 0:
            conn.execute(exports.insert().values(partition_key=partition_key, **values))


def get_export(engine: Engine, partition_key: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(exports).where(exports.c.partition_key == partition_key)).first()
    return dict(row._mapping) if row else None


def _snapshot_frames(
    partition_key: str, key: str, rows: pl.DataFrame, quarantine: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(snapshot_rows frame, quarantine_rows frame) of canonical rows and quarantined rows."""
    canon = [c for c in rows.columns if c in CANONICAL_COLUMNS]
    extras = [c for c in rows.columns if c not in CANONICAL_COLUMNS]
    out = _pg_text(rows).select(
        pl.lit(partition_key).alias("partition_key"),
        pl.col(key).alias("member_key"),
        *canon,
        _json_column(rows, extras, "extra"),
    )
    q = _pg_text(quarantine)
    data_cols = [c for c in q.columns if not c.startswith("_")]
    q = q.select(
        pl.lit(partition_key).alias("partition_key"),
        pl.col("_line").alias("line"),
        pl.col("_reason").alias("reason"),
        _json_column(q, data_cols, "data"),
    )
    return out, q


def store_snapshot(engine: Engine, partition_key: str, parsed: ParsedExport) -> None:
    """Replace the partition's snapshot and quarantine with the parsed export, in one transaction."""
    rows, quarantine = _snapshot_frames(partition_key, parsed.key_column, parsed.rows, parsed.quarantine)
    _replace_partition(engine, partition_key, [(snapshot_rows, rows), (quarantine_rows, quarantine)])


def _csv_batch(partition_key: str, key: str, rows: pl.DataFrame, quarantine: pl.DataFrame):
    """((columns, COPY CSV bytes) of the snapshot rows, (columns, CSV bytes) of the quarantine rows)."""
    out = []
    for frame in _snapshot_frames(partition_key, key, rows, quarantine):
        buf = io.BytesIO()
        if frame.height:
            frame.write_csv(buf, include_header=False, null_value="", quote_style="non_numeric")
        out.append((frame.columns, buf))
    return out[0], out[1]


def _copy_csv(cursor, table: sa.Table, columns: list[str], buf: io.BytesIO) -> None:
    if not buf.getbuffer().nbytes:
        return
    buf.seek(0)
    cols = ", ".join(f'"{c}"' for c in columns)
    cursor.copy_expert(f'COPY "{table.schema}"."{table.name}" ({cols}) FROM STDIN WITH (FORMAT csv)', buf)


def _prefetch(items, depth: int = 1):
    """Iterate ``items`` in a thread, at most ``depth`` items ahead; its exceptions are raised here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((None, item)):
                    return
            put((None, end))
        except BaseException as exc:  # handed to the consumer
            put((exc, None))

    worker = threading.Thread(target=run, name="snapshot-parse", daemon=True)
    worker.start()
    try:
        while True:
            exc, item = q.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
            del item
    finally:
        stop.set()
        worker.join()


def store_snapshot_stream(engine: Engine, partition_key: str, stream: ExportStream, accept=None) -> ExportStream:
    """Replace the partition's snapshot and quarantine with a streamed export (``exports.stream_export``): the
    partition's rows are deleted, then each batch is COPYed as it is parsed, in one transaction (all or nothing:
    an ``ExportError`` half way leaves the previous rows).  ``accept(stream)``, called with the totals before the
    commit, may raise to roll back (e.g. too few usable rows).  Returns the stream (its totals filled in)."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table in (snapshot_rows, quarantine_rows):
            cur.execute(f'DELETE FROM "{table.schema}"."{table.name}" WHERE partition_key = %s', (partition_key,))
        # the next chunk is parsed (and made into COPY CSV) in a thread while this one is COPYed: polars and
        # libpq release the GIL, so parse and COPY overlap; one chunk waits at most (bounded memory)
        batches = _prefetch(
            _csv_batch(partition_key, stream.key_column, rows, quarantine) for rows, quarantine in stream
        )
        try:
            for rows_csv, quarantine_csv in batches:
                _copy_csv(cur, snapshot_rows, *rows_csv)
                _copy_csv(cur, quarantine_rows, *quarantine_csv)
                del rows_csv, quarantine_csv
        finally:
            batches.close()  # a failed COPY stops the parsing thread now, not when the traceback is collected
        if accept is not None:
            accept(stream)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return stream


def _replace_partition(engine: Engine, partition_key: str, tables: list[tuple[sa.Table, pl.DataFrame]]) -> None:
    """Delete the partition's rows of each table and COPY the new ones in: one transaction, all or nothing."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, frame in tables:
            cur.execute(f'DELETE FROM "{table.schema}"."{table.name}" WHERE partition_key = %s', (partition_key,))
            _copy_in(cur, table, frame)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def quarantined_values(engine: Engine, partition_key: str) -> pl.Series:
    """The candidate key values of the partition's quarantined rows, as stored (every field value, stripped,
    e-mails lower-cased; see ``ParsedExport.quarantined_values``): a key found here is in the raw export."""
    values: list[str] = []
    with engine.connect() as conn:
        for data in conn.execute(
            sa.select(quarantine_rows.c.data).where(quarantine_rows.c.partition_key == partition_key)
        ).scalars():
            d = data if isinstance(data, dict) else json.loads(data or "{}")
            values.extend(str(v) for v in d.values() if v is not None)
    return _quarantined_values(pl.DataFrame({"value": pl.Series(values, dtype=pl.String)}))


def load_snapshot(engine: Engine, partition_key: str, columns: list[str]) -> pl.DataFrame:
    """The stored rows of one export (only ``columns``, all strings)."""
    cols = ", ".join(f'"{c}"' for c in columns)
    frame = _copy_out(
        engine, f"SELECT {cols} FROM membership.snapshot_rows WHERE partition_key = %(pk)s", {"pk": partition_key}
    )
    if frame.width == 0:
        frame = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in columns})
    return frame


def snapshot_rows_for(engine: Engine, partition_key: str, keys: list[str]) -> dict[str, dict]:
    cols = [snapshot_rows.c[c] for c in CANONICAL_COLUMNS]
    out: dict[str, dict] = {}
    with engine.connect() as conn:
        for i in range(0, len(keys), 5000):
            q = sa.select(snapshot_rows.c.member_key, *cols).where(
                snapshot_rows.c.partition_key == partition_key, snapshot_rows.c.member_key.in_(keys[i : i + 5000])
            )
            for row in conn.execute(q):
                m = dict(row._mapping)
                out[m.pop("member_key")] = m
    return out


def loaded_exports_before(engine: Engine, partition_key: str) -> list[dict]:
    """Loaded, not rejected exports that came before this one (export order = last_modified, then key),
    latest first."""
    me = get_export(engine, partition_key)
    if me is None:
        return []
    rejected = sa.select(approvals.c.partition_key).where(approvals.c.decision == REJECT)
    order = sa.tuple_(exports.c.last_modified, exports.c.s3_key, exports.c.partition_key)
    mine = sa.tuple_(sa.literal(me["last_modified"]), sa.literal(me["s3_key"]), sa.literal(partition_key))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(exports)
            .where(exports.c.status == "loaded", order < mine, exports.c.partition_key.not_in(rejected))
            .order_by(exports.c.last_modified.desc(), exports.c.s3_key.desc(), exports.c.partition_key.desc())
        ).all()
    return [dict(r._mapping) for r in rows]


def exports_after(engine: Engine, partition_key: str) -> list[str]:
    me = get_export(engine, partition_key)
    if me is None:
        return []
    order = sa.tuple_(exports.c.last_modified, exports.c.s3_key, exports.c.partition_key)
    mine = sa.tuple_(sa.literal(me["last_modified"]), sa.literal(me["s3_key"]), sa.literal(partition_key))
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(exports.c.partition_key).where(order > mine))]


# -- diffs ----------------------------------------------------------------------------------------------------
def store_diff(engine: Engine, partition_key: str, base: str | None, result, changed_field: str) -> None:
    """The diff's counts and its changed members (new/updated: newer row; lapsed: older row)."""
    key = result.key
    parts = []
    for status, frame in (("new", result.new), ("updated", result.updated), ("lapsed", result.lapsed)):
        data_cols = [c for c in frame.columns if c != changed_field]
        changed = (
            pl.col(changed_field).list.join(",") if changed_field in frame.columns else pl.lit(None, dtype=pl.String)
        )
        parts.append(
            _pg_text(frame).select(
                pl.lit(partition_key).alias("partition_key"),
                pl.col(key).alias("member_key"),
                pl.lit(status).alias("status"),
                changed.alias("changed_columns"),
                _json_column(frame, data_cols, "data"),
            )
        )
    rows = pl.concat(parts) if parts else pl.DataFrame()
    _replace_partition(engine, partition_key, [(diff_rows, rows)])
    values = dict(
        base_partition=base,
        key_column=key,
        compare_columns=list(result.compare_columns),
        older_rows=result.older_rows,
        newer_rows=result.newer_rows,
        **{s: int(result.counts[s]) for s in result.counts},
        held=int(getattr(result, "held_count", 0) or 0),
        computed_at=sa.func.now(),
    )
    stmt = pg_insert(diffs).values(partition_key=partition_key, **values)
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["partition_key"], set_={k: stmt.excluded[k] for k in values})
        )


def get_diff(engine: Engine, partition_key: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(diffs).where(diffs.c.partition_key == partition_key)).first()
    return dict(row._mapping) if row else None


def load_diff_rows(engine: Engine, partition_key: str) -> dict[str, list[dict]]:
    """status -> rows (the stored data plus ``member_key`` and ``_changed_columns``)."""
    out: dict[str, list[dict]] = {"new": [], "updated": [], "lapsed": []}
    with engine.connect() as conn:
        for r in conn.execute(
            sa.select(diff_rows).where(diff_rows.c.partition_key == partition_key).order_by(diff_rows.c.member_key)
        ):
            data = r.data if isinstance(r.data, dict) else json.loads(r.data or "{}")
            data["_changed_columns"] = [c for c in (r.changed_columns or "").split(",") if c]
            data["member_key"] = r.member_key
            out[r.status].append(data)
    return out


# -- approvals and pushes -------------------------------------------------------------------------------------
def record_decision(engine: Engine, partition_key: str, decision: str, decided_by: str, note: str = "") -> None:
    if decision not in (APPROVE, REJECT):
        raise ValueError("decision must be 'approve' or 'reject'")
    if not decided_by.strip():
        raise ValueError("an approval needs the name of the person deciding")
    with engine.begin() as conn:
        conn.execute(
            approvals.insert().values(
                partition_key=partition_key, decision=decision, decided_by=decided_by.strip(), note=note or None
            )
        )


def latest_decision(engine: Engine, partition_key: str) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(approvals)
            .where(approvals.c.partition_key == partition_key)
            .order_by(approvals.c.id.desc())
            .limit(1)
        ).first()
    return dict(row._mapping) if row else None


def record_push(engine: Engine, partition_key: str, **values) -> None:
    values["finished_at"] = sa.func.now()
    stmt = pg_insert(pushes).values(partition_key=partition_key, **values)
    with engine.begin() as conn:
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["partition_key"], set_={k: stmt.excluded[k] for k in values})
        )


def pushed_partitions(engine: Engine, keys: list[str]) -> set[str]:
    if not keys:
        return set()
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.select(pushes.c.partition_key).where(pushes.c.partition_key.in_(keys)))}
