"""The streaming load (exports.stream_export + store.store_snapshot_stream) gives read_export's result in chunks."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from orgsync_dagster.membership import store
from orgsync_dagster.membership.exports import ExportError, ParseLimits, read_export, stream_export, stream_export_file
from orgsync_dagster.membership.exports.stream import SeenKeys, iter_chunks

DATA = Path(__file__).parent / "data"
LIMITS = ParseLimits(max_field_chars=200)
HEADER = "ak_id,email,first_name,last_name,mailing_address1,mailing_zip,memb_status_letter\n"


def _both(data: bytes, name: str, key: str = "email", **kw):
    whole = read_export(data, name, key_column=key, limits=LIMITS)
    with stream_export(data, name, key_column=key, limits=LIMITS, **kw) as s:
        streamed = s.collect()
        n_chunks = s._chunks if hasattr(s, "_chunks") else None
    return whole, streamed, n_chunks


def _assert_same(whole, streamed, *, parser: bool = True):
    assert_frame_equal(whole.rows, streamed.rows)
    assert_frame_equal(whole.quarantine, streamed.quarantine)
    a, b = whole.summary(), streamed.summary()
    if not parser:
        a.pop("parser"), b.pop("parser")
        a.pop("warnings"), b.pop("warnings")
    assert a == b


@pytest.mark.parametrize("path", sorted(DATA.iterdir()), ids=lambda p: p.name)
@pytest.mark.parametrize("key", ["email", "ak_id"])
@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_sample_files_stream_like_read_export(path: Path, key: str, chunk: int):
    whole = read_export(path.read_bytes(), path.name, key_column=key, limits=LIMITS)
    with stream_export_file(path, key_column=key, limits=LIMITS, chunk_bytes=chunk, max_cells=20) as s:
        streamed = s.collect()
    _assert_same(whole, streamed)


def _crafted() -> bytes:
    rows = []
    for i in range(60):
        addr = f'"{i} Main St\nApt {i}\n""quoted"", more"' if i % 7 == 0 else f"{i} Main St"
        email = f"m{i}@example.org" if i % 11 else f"M{i - 11 if i >= 11 else i}@Example.org "  # dups across chunks
        rows.append(f"{1000 + i},{email},Jane,Doe,{addr},{212 + i},M\n")
    rows[13] = "1013,ctl\x00@example.org,Jane,Doe,x,02111,M\n"  # control byte
    rows[21] = "1021,,Jane,Doe,x,02111,M\n"  # missing key
    rows[22] = "1022,not-an-email,Jane,Doe,x,02111,M\n"
    rows[23] = ",,,,,,\n"  # blank row
    rows[24] = "\n"  # blank line
    rows[30] = "1030,long@example.org,Jane,Doe," + "y" * 300 + ",02111,M\n"
    rows[40] = "1040,m3@example.org,Jane,Doe,x,02111,M\n"  # duplicate of an earlier chunk's key
    return (HEADER + "".join(rows)).encode()


@pytest.mark.parametrize("chunk", [40, 97, 256, 1000, 1 << 20])
def test_crafted_file_any_chunk_size(chunk: int):
    data = _crafted()
    whole, streamed, _ = _both(data, "x.csv", chunk_bytes=chunk, max_cells=50)
    _assert_same(whole, streamed)
    counts = streamed.quarantine_counts
    assert counts["duplicate_key"] >= 2 and counts["control_characters"] == 1 and counts["field_too_long"] == 1
    assert counts["blank_row"] == 2 and counts["missing_key"] == 1 and counts["invalid_email"] == 1


def test_chunk_boundaries_fall_inside_quoted_fields():
    data = _crafted()
    # every chunk ends at a record boundary: each starts a record that the csv module reads whole
    with open(_tmp(data), "rb") as fh:
        chunks = list(iter_chunks(fh, 0, 30, 1000))
    assert b"".join(chunks) == data
    assert len(chunks) > 20
    for c in chunks:
        assert c.count(b'"') % 2 == 0
        assert c.endswith(b"\n")
    # and a boundary that a plain newline split would have put inside a quoted field exists in this file
    assert any(b'"' in c and c.count(b"\n") > 1 for c in chunks)


def _tmp(data: bytes) -> Path:
    import tempfile

    fd, p = tempfile.mkstemp(suffix=".csv")
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(p)


def test_duplicates_across_chunks_first_occurrence_wins():
    body = "".join(f"{i},k{i % 50}@x.org,A,B,c,02111,M\n" for i in range(200))
    data = (HEADER + body).encode()
    whole, streamed, _ = _both(data, "d.csv", chunk_bytes=120, max_cells=30)
    _assert_same(whole, streamed)
    assert streamed.rows_ok == 50 and streamed.quarantine_counts == {"duplicate_key": 150}
    assert streamed.rows["ak_id"].to_list() == [str(i) for i in range(50)]


def test_malformed_rows_line_numbers_across_chunks():
    body = []
    for i in range(80):
        body.append(f"{i},u{i}@x.org,A,B,c,02111,M,extra{i}\n" if i % 9 == 4 else f"{i},u{i}@x.org,A,B,c,02111,M\n")
    data = (HEADER + "".join(body)).encode()
    whole, streamed, _ = _both(data, "m.csv", chunk_bytes=200, max_cells=60)
    _assert_same(whole, streamed, parser=False)
    assert whole.parser == streamed.parser == "python-csv"
    lines = streamed.quarantine.filter(pl.col("_reason") == "malformed_row")["_line"].to_list()
    assert lines == [i + 2 for i in range(80) if i % 9 == 4]


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_encodings(encoding: str):
    body = "".join(f"{i},z{i}@x.org,Zoë,Müller,c,02111,M\n" for i in range(40))
    data = (HEADER + body).encode(encoding)
    whole, streamed, _ = _both(data, "e.csv", chunk_bytes=100, max_cells=40)
    _assert_same(whole, streamed)
    assert streamed.rows["first_name"].unique().to_list() == ["Zoë"]


def test_mixed_utf8_and_cp1252_label():
    body = "".join(f"{i},z{i}@x.org,Zoë,B,c,02111,M\n" for i in range(40)).encode()
    body += "99,w@x.org,Müller,B,c,02111,M\n".encode("cp1252")
    data = HEADER.encode() + body
    whole, streamed, _ = _both(data, "e.csv", chunk_bytes=100, max_cells=40)
    _assert_same(whole, streamed)
    assert streamed.encoding == "utf-8+cp1252"


def test_zip_and_email_and_limits():
    data = _crafted()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("export.csv", data)
    z = buf.getvalue()
    whole, streamed, _ = _both(z, "x.zip", chunk_bytes=128, max_cells=40)
    _assert_same(whole, streamed)
    assert streamed.container == "zip" and streamed.member == "export.csv"
    with pytest.raises(ExportError, match="ZIP bomb"):
        stream_export(z, "x.zip", limits=ParseLimits(max_uncompressed_bytes=100))
    eml = (DATA / "sample.eml").read_bytes()
    whole, streamed, _ = _both(eml, "sample.eml", chunk_bytes=64, max_cells=20)
    _assert_same(whole, streamed)
    assert streamed.container == "email"


def test_errors_are_export_errors():
    with pytest.raises(ExportError, match="key column"):
        stream_export(b"name,city\na,b\n", "x.csv")
    with pytest.raises(ExportError, match="0 bytes"):
        stream_export(b"", "x.csv")
    with pytest.raises(ExportError, match="no such file"):
        stream_export_file("/nonexistent/x.csv")


def test_empty_rows_are_not_refused_but_bounded():
    """read_export refuses a file of empty rows (its memory); the stream parses it in small chunks."""
    data = HEADER.encode() + b",,,,,,\n" * 5000
    with stream_export(data, "e.csv", limits=LIMITS, chunk_bytes=1 << 20, max_cells=7 * 500) as s:
        sizes = []
        for _rows, q in s:
            sizes.append(q.height)
    assert max(sizes) <= 500 and sum(sizes) == 5000 and s.quarantine_counts == {"blank_row": 5000}


def test_a_file_of_millions_of_blank_lines_is_refused_like_the_whole_file_read():
    """10 MB of blank lines: the streamed load refuses it up front as read_export does (no 10M quarantine rows)."""
    data = HEADER.encode() + b"\n" * 10_000_000
    with pytest.raises(ExportError, match="mostly blank lines"):
        stream_export(data, "blank.csv", limits=LIMITS)
    with pytest.raises(ExportError, match="mostly blank lines"):
        read_export(data, "blank.csv", key_column="email")


def test_seen_keys_exact_on_first_hash_collision():
    import numpy as np

    seen = SeenKeys()
    seen.add(pl.Series(["a@x.org", "b@x.org"]))
    assert seen.contains(pl.Series(["b@x.org", "d@x.org", "a@x.org"])).to_list() == [True, False, True]
    # two stored keys sharing the first hash (a 64-bit collision): the second hash decides, both are looked at
    fa, fb = SeenKeys._fp(pl.Series(["b@x.org"]))
    seen.a = np.array([fa[0], fa[0]], dtype=np.uint64)
    seen.b = np.array([fb[0] ^ 1, fb[0]], dtype=np.uint64)
    assert seen.contains(pl.Series(["b@x.org"])).to_list() == [True]
    seen.b = np.array([fb[0] ^ 1, fb[0] ^ 2], dtype=np.uint64)
    assert seen.contains(pl.Series(["b@x.org"])).to_list() == [False]


def test_store_snapshot_stream_equals_store_snapshot(engine):
    data = _crafted()
    whole = read_export(data, "x.csv", limits=LIMITS)
    store.record_export(engine, "p1", s3_key="a", bucket="b", etag="e", status="received")
    store.record_export(engine, "p2", s3_key="b", bucket="b", etag="e", status="received")
    store.store_snapshot(engine, "p1", whole)
    with stream_export(data, "x.csv", limits=LIMITS, chunk_bytes=100, max_cells=30) as s:
        out = store.store_snapshot_stream(engine, "p2", s)
    assert out.rows_ok == whole.rows_ok and out.quarantine_counts == whole.quarantine_counts
    with engine.connect() as conn:
        for t in ("snapshot_rows", "quarantine_rows"):
            cols = "member_key, extra" if t == "snapshot_rows" else "line, reason, data::text"
            got = [
                sorted(
                    map(
                        tuple,
                        conn.execute(sa.text(f"SELECT {cols} FROM membership.{t} WHERE partition_key=:p"), {"p": p}),
                    )
                )
                for p in ("p1", "p2")
            ]
            assert got[0] == got[1] and got[0]


def test_store_snapshot_stream_all_or_nothing(engine):
    store.record_export(engine, "p", s3_key="a", bucket="b", etag="e", status="received")
    with stream_export(_crafted(), "x.csv", limits=LIMITS) as s:
        store.store_snapshot_stream(engine, "p", s)
    before = store.load_snapshot(engine, "p", ["member_key"]).height
    assert before > 0
    # a stream that fails half way (unterminated quote -> malformed CSV) and a rejecting accept: nothing changes
    bad = (HEADER + "".join(f"{i},n{i}@x.org,A,B,c,02111,M\n" for i in range(50)) + '9,"x@x.org,A\n').encode()
    with pytest.raises(ExportError), stream_export(bad, "bad.csv", limits=LIMITS, chunk_bytes=100) as s:
        store.store_snapshot_stream(engine, "p", s)
    assert store.load_snapshot(engine, "p", ["member_key"]).height == before

    def refuse(st):
        raise RuntimeError(f"only {st.rows_ok}")

    with pytest.raises(RuntimeError), stream_export(bad[: bad.rindex(b"9,")], "ok.csv", limits=LIMITS) as s:
        store.store_snapshot_stream(engine, "p", s, accept=refuse)
    assert store.load_snapshot(engine, "p", ["member_key"]).height == before


def test_pipeline_snapshot_is_streamed_in_chunks(env, monkeypatch):
    """The snapshot asset loads through the stream: with tiny chunks, its metadata and stored rows equal
    read_export's on a file whose chunk boundaries fall inside quoted fields, with duplicates across chunks."""
    from orgsync_dagster.membership.assets import SNAPSHOT_KEY, membership_snapshot
    from orgsync_dagster.membership.exports import stream as stream_mod

    from .pipeline_env import mat_meta

    monkeypatch.setattr(stream_mod, "DEFAULT_CHUNK_BYTES", 90)
    monkeypatch.setattr(stream_mod, "DEFAULT_MAX_CELLS", 30)
    chunks = []
    real = stream_mod.ExportStream._parse_chunk

    def spy(self, chunk, lines_before):
        chunks.append(len(chunk))
        return real(self, chunk, lines_before)

    monkeypatch.setattr(stream_mod.ExportStream, "_parse_chunk", spy)
    data = _crafted().replace(b"\x00", b"")  # the pipeline's own NUL handling is tested elsewhere
    whole = read_export(data, "export.csv", limits=ParseLimits())
    pk, result = env.ingest("2026-11-14/export.csv", data, assets=[membership_snapshot])
    assert result.success, result
    assert len(chunks) > 10
    meta = mat_meta(result, SNAPSHOT_KEY)
    assert meta["members"] == whole.rows_ok and meta["rows_in"] == whole.rows_in
    assert meta["quarantine_reasons"] == whole.quarantine_counts and meta["columns"] == whole.columns
    assert meta["encoding"] == whole.encoding and meta["export_format"] == whole.format_name
    stored = store.load_snapshot(env.engine, pk, ["member_key"])["member_key"].sort().to_list()
    assert stored == whole.rows["email"].sort().to_list()
    with env.engine.connect() as conn:
        lines = sorted(
            conn.execute(
                sa.text("SELECT line, reason FROM membership.quarantine_rows WHERE partition_key = :p"), {"p": pk}
            ).all()
        )
    assert lines == sorted(whole.quarantine.select("_line", "_reason").iter_rows())
    row = store.get_export(env.engine, pk)
    assert row["status"] == "loaded" and row["rows_ok"] == whole.rows_ok


def test_pipeline_too_few_rows_rolls_back_the_stream(env, monkeypatch):
    """An export with no usable row fails with the usual message and leaves no rows (the COPY is rolled back)."""
    from orgsync_dagster.membership.assets import membership_snapshot

    from .pipeline_env import failure_message

    data = (HEADER + ",not-an-email,A,B,c,02111,M\n" * 3).encode()
    pk, result = env.ingest("2026-11-14/export.csv", data, assets=[membership_snapshot])
    assert not result.success
    assert "only 0 usable" in failure_message(result)
    assert store.load_snapshot(env.engine, pk, ["member_key"]).height == 0
    with env.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM membership.quarantine_rows WHERE partition_key = :p"), {"p": pk})
        assert n.scalar() == 0
    assert store.get_export(env.engine, pk)["status"] == "failed"


@pytest.mark.parametrize(("chunk", "cells"), [(4 << 20, 1 << 18), (5000, 300), (797, 70)])
def test_random_mixed_file_equals_read_export(chunk: int, cells: int):
    """Multi-line quoted fields, duplicates, blank and malformed rows (the robust parser for some chunks only),
    control bytes, zips to pad: the same result at any chunk size."""
    import random

    rnd = random.Random(5)
    out = [HEADER]
    for i in range(3000):
        r = rnd.random()
        email = f"u{rnd.randrange(2500)}@x.org"
        addr = f'"{i} St\n""Apt"" {i}\nx"' if r < 0.2 else f"{i} Main"
        if r > 0.99:
            out.append(",,,,,,\n")
        elif r > 0.98:
            out.append(f"{i},{email},A,B,c,02111,M,extra\n")
        else:
            email = "bad\x01@x.org" if r > 0.97 else email
            out.append(f"{i},{email},A,,{addr},{rnd.choice(['212', '02111', ' 2139 '])},M\n")
    whole, streamed, _ = _both("".join(out).encode(), "r.csv", chunk_bytes=chunk, max_cells=cells)
    _assert_same(whole, streamed, parser=False)
    assert {"blank_row", "malformed_row", "duplicate_key", "control_characters"} <= set(streamed.quarantine_counts)


def test_failed_copy_stops_the_parsing_thread(engine, monkeypatch):
    """A COPY that fails half way rolls back, raises, and leaves no parsing thread behind."""
    import threading

    store.record_export(engine, "p", s3_key="a", bucket="b", etag="e", status="received")
    calls = []

    def failing(cursor, table, columns, buf):
        calls.append(table.name)
        if len(calls) > 3:
            raise RuntimeError("COPY failed")

    monkeypatch.setattr(store, "_copy_csv", failing)
    with pytest.raises(RuntimeError, match="COPY failed"), stream_export(_crafted(), "x.csv", chunk_bytes=60) as s:
        store.store_snapshot_stream(engine, "p", s)
    assert not [t for t in threading.enumerate() if t.name == "snapshot-parse"]
    assert store.load_snapshot(engine, "p", ["member_key"]).height == 0
