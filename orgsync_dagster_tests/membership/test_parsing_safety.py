"""Parsing safety (issue 8, items 4, 5, 9 and the versioned formats): ZIP bombs, control bytes, overlong
fields, formula cells in --out files, national's header formats, quarantined key values."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest

from orgsync_dagster.membership import cli, push_cli, samples, store
from orgsync_dagster.membership.assets import QUARANTINE_CHECK, SNAPSHOT_KEY, membership_snapshot
from orgsync_dagster.membership.exports import KNOWN_FORMATS, ExportError, ParseLimits, read_export, read_export_file

from .pipeline_env import check_result, mat_meta

DATA = Path(__file__).parent / "data"
ROWS = [samples.member(i) for i in range(12)]


def _zip(name: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, payload)
    return buf.getvalue()


def _with_cell(rows: list[dict], i: int, column: str, value: str) -> bytes:
    return samples.to_csv([dict(r, **{column: value}) if j == i else r for j, r in enumerate(rows)])


# -- ZIP bombs ------------------------------------------------------------------------------------------------
def test_zip_bomb_is_refused_by_compression_ratio_naming_the_setting():
    bomb = _zip("export.csv", b"email\n" + b"a" * (40 << 20))  # 40 MiB of one byte: about 1000:1
    assert len(bomb) < 100_000
    with pytest.raises(ExportError) as exc:
        read_export(bomb, "bomb.zip", limits=ParseLimits())
    msg = str(exc.value)
    assert "'bomb.zip'" in msg and "'export.csv'" in msg and "100 times" in msg
    assert "membership.max_compression_ratio" in msg
    # raising the ratio lets it through (the file is then read: one header, one 40 MiB field)
    p = read_export(bomb, "bomb.zip", limits=ParseLimits(max_compression_ratio=10_000, max_field_chars=10))
    assert p.quarantine_counts == {"field_too_long": 1}


def test_zip_over_the_size_limit_is_refused_and_a_genuine_one_is_read():
    data = samples.to_csv([samples.member(i) for i in range(2000)])
    z = _zip("export.csv", data)
    with pytest.raises(ExportError, match=r"over the limit of 100.0 KiB.*membership.max_uncompressed_bytes"):
        read_export(z, "big.zip", limits=ParseLimits(max_uncompressed_bytes=100 << 10))
    # the limit is counted on the inflated stream too: a tiny ratio floor + ratio trips while inflating
    with pytest.raises(ExportError, match="inflates more than 2 times"):
        read_export(z, "big.zip", limits=ParseLimits(max_compression_ratio=2, ratio_floor_bytes=1))
    p = read_export(z, "big.zip", limits=ParseLimits())
    assert p.rows_ok == 2000 and p.container == "zip"


def test_zip_bomb_in_an_email_through_the_cli(tmp_path, capsys):
    (tmp_path / "old.csv").write_bytes(samples.to_csv(ROWS))
    bomb = _zip("export.csv", b"email\n" + b"a" * (40 << 20))
    (tmp_path / "new.eml").write_bytes(samples.to_eml([("export.zip", bomb)]))
    code = cli.main(["diff", str(tmp_path / "old.csv"), str(tmp_path / "new.eml")])
    err = capsys.readouterr().err
    assert code == 2 and "possible ZIP bomb" in err and "Traceback" not in err


def test_a_file_of_blank_lines_is_refused_before_it_is_parsed():
    data = samples.to_csv(ROWS) + b"\n" * (8 << 20)  # 8 MB that polars would hold as 100M null values (~1.6 GB)
    with pytest.raises(ExportError, match=r"mostly blank lines or empty rows.*GiB of memory; refused"):
        read_export(data, "blank.csv", limits=ParseLimits())
    # a few blank lines are ordinary: quarantined as blank_row
    p = read_export(samples.to_csv(ROWS) + b"\n\n", "blank.csv", limits=ParseLimits())
    assert p.rows_ok == len(ROWS) and p.quarantine_counts == {"blank_row": 2}


# -- control characters and overlong fields -------------------------------------------------------------------
def test_nul_and_control_bytes_are_quarantined_escaped_tabs_and_newlines_kept():
    data = _with_cell(ROWS, 3, "first_name", "Ja\x00ne") + b'"x@example.org",Tab\tName,"Line\nTwo"\n'
    data = data.replace(ROWS[5]["last_name"].encode() + b",", b"Bell\x07,", 1)
    p = read_export(data, "ctrl.csv", limits=ParseLimits())
    q = p.quarantine.filter(pl.col("_reason") == "control_characters")
    assert q.height == 2
    assert "Ja\\x00ne" in q["first_name"].to_list()
    assert "member3@example.org" in p.quarantined_values().to_list()
    assert "member3@example.org" not in p.rows["email"].to_list()
    assert p.rows_in == p.rows_ok + p.rows_quarantined


def test_tab_and_newline_inside_quoted_fields_are_data():
    data = samples.to_csv([dict(ROWS[0], first_name="A\tB", mailing_address1="1 Main St\nApt 2")] + ROWS[1:])
    p = read_export(data, "ok.csv", limits=ParseLimits())
    assert p.rows_quarantined == 0 and p.rows["first_name"][0] == "A\tB"


def test_overlong_field_is_quarantined_without_a_traceback_in_both_parsers():
    huge = "y" * (10 << 20)
    data = _with_cell(ROWS, 2, "mailing_address1", huge)
    p = read_export(data, "long.csv", limits=ParseLimits())
    assert p.quarantine_counts == {"field_too_long": 1} and p.parser == "polars"
    stored = p.quarantine["mailing_address1"][0]
    assert len(stored) < 1100 and stored.endswith(f"[cut: {len(huge)} characters]")
    # a malformed row elsewhere sends the file to the Python csv fallback: same outcome
    bad = data + b"z@example.org,a,b,c,d,e,f,g,h,i,j,k,l,m,n\n"
    p2 = read_export(bad, "long.csv", limits=ParseLimits())
    assert p2.parser == "python-csv"
    assert p2.quarantine_counts == {"field_too_long": 1, "malformed_row": 1}
    assert "z@example.org" in p2.quarantined_values().to_list()  # every field of a malformed row is kept
    limit = read_export(data, "long.csv", limits=ParseLimits(max_field_chars=20 << 20))
    assert limit.rows_quarantined == 0


def _push_env(sandbox, fast_pg_url, api_key, monkeypatch):
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)


def test_cli_diff_and_push_quarantine_a_nul_row(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    (tmp_path / "old.csv").write_bytes(samples.to_csv(ROWS))
    newer = _with_cell(ROWS, 4, "mailing_city", "Bos\x00ton")
    newer = newer.replace(b"member7@example.org,", b"member7@example.org," + b"x" * 5000, 1)
    (tmp_path / "new.csv").write_bytes(newer)
    code = cli.main(["diff", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "control_characters=1" in err and "field_too_long=1" in err and "Traceback" not in err
    assert sum(json.loads(out).values()) >= 10
    _push_env(sandbox, fast_pg_url, api_key, monkeypatch)
    code = push_cli.main(["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "2 quarantined" in err and "control_characters" in err and "Traceback" not in err + out
    assert sandbox.action_network.stats(api_key)["requests"] == 0


def test_pipeline_loads_the_week_and_stores_the_control_row(env):
    data = _with_cell(ROWS, 2, "first_name", "Nu\x00ll")
    pk, result = env.ingest("2026-11-21/ctrl.csv", data, assets=[membership_snapshot])
    assert result.success
    meta = mat_meta(result, SNAPSHOT_KEY)
    assert meta["members"] == len(ROWS) - 1 and meta["quarantine_reasons"] == {"control_characters": 1}
    assert not check_result(result, QUARANTINE_CHECK).passed
    with env.engine.connect() as conn:
        (row,) = conn.execute(store.quarantine_rows.select().where(store.quarantine_rows.c.partition_key == pk))
    data_json = row.data if isinstance(row.data, dict) else json.loads(row.data)
    assert row.reason == "control_characters" and data_json["first_name"] == "Nu\\x00ll"
    assert "member2@example.org" in store.quarantined_values(env.engine, pk).to_list()


def test_store_never_sends_nul_to_postgres(engine):
    from orgsync_dagster.membership.tables import metadata

    metadata.create_all(engine)
    p = read_export(samples.to_csv(ROWS), "ok.csv", limits=ParseLimits())
    p.rows = p.rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("a\x00b")).otherwise("first_name").alias("first_name")
    )
    store.store_snapshot(engine, "pk", p)
    names = store.load_snapshot(engine, "pk", ["member_key", "first_name"])["first_name"].to_list()
    assert "a\\x00b" in names


# -- formula cells in --out files -----------------------------------------------------------------------------
def test_out_csvs_neutralize_formula_cells_but_the_data_is_unchanged(tmp_path, capsys):
    older = [dict(r) for r in ROWS]
    newer = [dict(r) for r in ROWS] + [dict(samples.member(50), first_name='=HYPERLINK("http://x","y")')]
    newer[1]["last_name"] = "+1+2"
    newer[2]["mailing_address1"] = "@SUM(A1)"
    newer[3]["last_name"] = "-Smith"
    (tmp_path / "old.csv").write_bytes(samples.to_csv(older))
    (tmp_path / "new.csv").write_bytes(samples.to_csv(newer))
    code = cli.main(["diff", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "o")])
    assert code == 0, capsys.readouterr().err
    new = pl.read_csv(tmp_path / "o" / "new.csv", infer_schema=False)
    assert new["first_name"].to_list() == ['\'=HYPERLINK("http://x","y")']
    upd = pl.read_csv(tmp_path / "o" / "updated.csv", infer_schema=False)
    assert {"'+1+2", "'-Smith"} <= set(upd["last_name"].to_list()) and "'@SUM(A1)" in upd["mailing_address1"]
    assert all(not v.startswith("'") for v in upd["email"].to_list())
    # the parsed data (what is pushed) keeps the value as is
    p = read_export_file(tmp_path / "new.csv", limits=ParseLimits())
    assert '=HYPERLINK("http://x","y")' in p.rows["first_name"].to_list()


# -- national's header formats --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (DATA / "01current.csv", "national-2019"),
        (DATA / "actionkit_export.csv", "national-2021"),
        (DATA / "actionkit_export.zip", "national-2021"),
        (DATA / "sample.eml", "national-2021"),
    ],
)
def test_known_formats_are_recognised(path, expected):
    p = read_export_file(path, limits=ParseLimits())
    assert p.format_name == expected and p.summary()["format"] == expected


def test_current_format_and_generic_headers():
    p = read_export(samples.to_csv(ROWS), "x.csv", limits=ParseLimits())
    assert p.format_name == "national-2023"
    # a column renamed to one of its aliases still satisfies the format
    g = read_export((DATA / "01current.csv").read_bytes().replace(b"xdate", b"expiry_date"), "x.csv")
    assert g.format_name == "national-2019" and "xdate" in g.columns
    plain = read_export(b"ak_id,email\n1,a@b.org\n", "p.csv", limits=ParseLimits())
    assert plain.format_name == "generic" and plain.rows_ok == 1


def test_damaged_known_header_names_the_format_and_missing_columns():
    (fmt,) = [f for f in KNOWN_FORMATS if f.name == "national-2023"]
    cols = [c for c in fmt.columns if c != "memb_status_letter"]
    data = (",".join(cols) + "\n" + ",".join("x" for _ in cols) + "\n").encode()
    with pytest.raises(ExportError, match=r"national-2023 .* lacks its required column\(s\) memb_status_letter"):
        read_export(data, "d.csv", limits=ParseLimits())
    with pytest.raises(ExportError, match=r"key column 'email' not found .* nearest known format: national-20"):
        read_export(b"first,second\n1,2\n", "u.csv", limits=ParseLimits())


# -- limits from orgsync.yaml and the pipeline ----------------------------------------------------------------
def test_limits_come_from_the_membership_settings(tmp_path, monkeypatch, capsys):
    import yaml

    from orgsync_dagster.lib.config import DEFAULT_CONFIG

    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["membership"] = dict(config.get("membership") or {}, max_field_chars=5, max_compression_ratio=2)
    (tmp_path / "orgsync.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("ORGSYNC_CONFIG", str(tmp_path / "orgsync.yaml"))
    assert ParseLimits.from_settings() == ParseLimits(max_field_chars=5, max_compression_ratio=2)
    p = read_export(samples.to_csv(ROWS), "x.csv")  # every e-mail is longer than 5 characters
    assert p.quarantine_counts == {"field_too_long": len(ROWS)}
    config["membership"]["max_field_chars"] = 0
    (tmp_path / "orgsync.yaml").write_text(yaml.safe_dump(config))
    from orgsync_dagster.lib import config as cfg

    cfg._load.cache_clear()  # same path, new content
    with pytest.raises(cfg.ConfigError, match="max_field_chars"):
        ParseLimits.from_settings()
    cfg._load.cache_clear()


def test_pipeline_refuses_a_zip_bomb_and_keeps_it(env):
    from .pipeline_env import failure_message

    bomb = _zip("export.csv", b"email\n" + b"a" * (40 << 20))
    pk, result = env.ingest("2026-11-21/bomb.zip", bomb, assets=[membership_snapshot])
    assert not result.success
    message = failure_message(result)
    assert "possible ZIP bomb" in message and "max_compression_ratio" in message and "Traceback" not in message
    row = store.get_export(env.engine, pk)
    assert row["status"] == "failed" and "ZIP bomb" in row["error"]
    assert env.client.get_object(Bucket=env.bucket, Key=row["archive_key"])["Body"].read() == bomb
