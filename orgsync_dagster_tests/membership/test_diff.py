"""diff_snapshots / diff_files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import orgsync_dagster.membership.diff as diff_mod
from orgsync_dagster.membership.diff import CHANGED_COLUMNS, diff_files, diff_snapshots
from orgsync_dagster.membership.exports import ExportError, read_export

DATA = Path(__file__).parent / "data"
HEADER = "ak_id,email,first_name,last_name,mailing_zip,favourite_colour\n"


def _exp(body: str, header: str = HEADER):
    return read_export((header + body).encode(), "x.csv")


OLDER = _exp(
    "1,a@x.org,Ann,Lee,02111,red\n2,b@x.org,Bob,Ng,02139,blue\n3,c@x.org,Cy,Oh,,green\n4,d@x.org,Di,Po,02143,\n"
)
NEWER = _exp(
    "2,B@X.org,Bob,Ng,02139,purple\n"  # only an unmapped extra column changed -> unchanged
    "3,c@x.org,Cy,Oh-Smith,,green\n"  # updated (last_name)
    "4,d@x.org,Di,Po,2143,\n"  # "2143" normalises to "02143" -> unchanged
    "5,e@x.org,Ed,Qi,02111,\n"  # new
)  # a@x.org lapsed


def test_basic_classification():
    r = diff_snapshots(OLDER, NEWER)
    assert r.to_dict() == {"new": 1, "updated": 1, "lapsed": 1, "unchanged": 2}
    assert list(r.to_dict()) == ["new", "updated", "lapsed", "unchanged"]
    assert r.new["email"].to_list() == ["e@x.org"]
    assert r.lapsed["email"].to_list() == ["a@x.org"]
    assert r.updated["email"].to_list() == ["c@x.org"]
    assert r.updated[CHANGED_COLUMNS].to_list() == [["last_name"]]
    assert r.updated_before["last_name"].to_list() == ["Oh"]
    assert sorted(r.unchanged_keys.to_list()) == ["b@x.org", "d@x.org"]
    assert "favourite_colour" not in r.compare_columns and "email" not in r.compare_columns
    assert r.join == "hash-join"
    assert r.lapsed_fraction == 0.25
    sf = r.status_frame()
    assert dict(zip(sf["email"].to_list(), sf["status"].cast(pl.String).to_list())) == {
        "a@x.org": "lapsed",
        "b@x.org": "unchanged",
        "c@x.org": "updated",
        "d@x.org": "unchanged",
        "e@x.org": "new",
    }
    assert r.sample["new"][0]["email"] == "e@x.org"
    assert r.older_info["rows_ok"] == 4


def test_extra_column_counts_when_listed():
    r = diff_snapshots(OLDER, NEWER, compare_columns=["Favourite Colour", "Last Name"])
    assert r.compare_columns == ["favourite_colour", "last_name"]
    assert r.to_dict() == {"new": 1, "updated": 2, "lapsed": 1, "unchanged": 1}
    got = dict(zip(r.updated["email"].to_list(), r.updated[CHANGED_COLUMNS].to_list()))
    assert got == {"b@x.org": ["favourite_colour"], "c@x.org": ["last_name"]}


def test_compare_column_missing_everywhere_is_an_error():
    with pytest.raises(ValueError, match="neither snapshot"):
        diff_snapshots(OLDER, NEWER, compare_columns=["shoe_size"])


def test_column_missing_on_one_side_compares_as_null():
    newer = _exp("1,a@x.org,Ann,Lee\n2,b@x.org,Bob,Ng\n", header="ak_id,email,first_name,last_name\n")
    older = _exp("1,a@x.org,Ann,Lee,,\n2,b@x.org,Bob,Ng,02139,\n")
    r = diff_snapshots(older, newer)
    assert r.to_dict() == {"new": 0, "updated": 1, "lapsed": 0, "unchanged": 1}
    assert r.updated[CHANGED_COLUMNS].to_list() == [["mailing_zip"]]
    assert any("mailing_zip" in w for w in r.warnings)


def test_null_and_empty_string_are_equal_for_raw_frames():
    a = pl.DataFrame({"email": ["a@x.org", "b@x.org"], "first_name": ["", None], "last_name": ["X", "Y"]})
    b = pl.DataFrame({"email": ["A@x.org ", "b@x.org"], "first_name": [None, ""], "last_name": ["X", "Z"]})
    r = diff_snapshots(a, b)
    assert r.to_dict() == {"new": 0, "updated": 1, "lapsed": 0, "unchanged": 1}
    assert r.updated["email"].to_list() == ["b@x.org"]
    assert r.updated[CHANGED_COLUMNS].to_list() == [["last_name"]]


def test_accepts_lazy_and_arrow_inputs():
    a = OLDER.rows.lazy()
    b = NEWER.rows.to_arrow()
    assert isinstance(b, pa.Table)
    assert diff_snapshots(a, b).to_dict() == {"new": 1, "updated": 1, "lapsed": 1, "unchanged": 2}


def test_raw_frame_duplicates_and_nulls_rejected():
    good = pl.DataFrame({"email": ["a@x.org"]})
    with pytest.raises(ValueError, match="duplicate"):
        diff_snapshots(pl.DataFrame({"email": ["a@x.org", "A@X.org"]}), good)
    with pytest.raises(ValueError, match="empty key"):
        diff_snapshots(good, pl.DataFrame({"email": ["a@x.org", " "]}))
    with pytest.raises(ValueError, match="key column"):
        diff_snapshots(good, pl.DataFrame({"mail": ["a@x.org"]}))
    with pytest.raises(TypeError):
        diff_snapshots(good, [{"email": "a@x.org"}])


def test_header_only_older_means_everything_new():
    empty = _exp("")
    r = diff_snapshots(empty, NEWER)
    assert r.to_dict() == {"new": 4, "updated": 0, "lapsed": 0, "unchanged": 0}
    r = diff_snapshots(NEWER, empty)
    assert r.to_dict() == {"new": 0, "updated": 0, "lapsed": 4, "unchanged": 0}
    r = diff_snapshots(empty, empty)
    assert r.to_dict() == {"new": 0, "updated": 0, "lapsed": 0, "unchanged": 0}


def test_parsed_export_read_with_other_key_is_revalidated():
    older = read_export(b"ak_id,email\n1,a@x.org\n1,b@x.org\n", "x.csv")  # ak_id not unique
    with pytest.raises(ValueError, match="duplicate"):
        diff_snapshots(older, older, key="ak_id")


def test_key_hash_collisions_fall_back_to_exact_join(monkeypatch):
    orig = diff_mod._reduce
    monkeypatch.setattr(diff_mod, "_reduce", lambda *a, **k: orig(*a, **k).with_columns(pl.col("_k") % 3))
    r = diff_snapshots(OLDER, NEWER)
    assert r.join == "string-join"
    assert r.to_dict() == {"new": 1, "updated": 1, "lapsed": 1, "unchanged": 2}
    assert r.new["email"].to_list() == ["e@x.org"] and r.updated["email"].to_list() == ["c@x.org"]


def test_outputs_keep_file_order_and_align():
    n = 3000
    older = pl.DataFrame({"email": [f"m{i}@x.org" for i in range(n)], "last_name": [f"L{i}" for i in range(n)]})
    newer = older.reverse().with_columns(
        pl.when(pl.col("email").str.contains("7@")).then(pl.col("last_name") + "!").otherwise(pl.col("last_name"))
    )
    r = diff_snapshots(older, newer)
    assert r.counts["updated"] == 300
    assert r.updated["email"].to_list() == r.updated_before["email"].to_list()
    assert (r.updated["last_name"] == r.updated_before["last_name"] + "!").all()


# ---------------------------------------------------------------- real sample pairs


def test_sample_pair_01():
    # previous: john, jane; current: jane, jack  (BOM, CRLF)
    r = diff_files(DATA / "01previous.csv", DATA / "01current.csv")
    assert r.to_dict() == {"new": 1, "updated": 0, "lapsed": 1, "unchanged": 1}
    assert r.new["email"].to_list() == ["jack.doe@example.com"]
    assert r.lapsed["email"].to_list() == ["john.doe@example.com"]


def test_sample_pair_02_blank_emails_quarantined_not_lapsed_or_new():
    # previous: john (no email), jane; current: jane, jack (no email)
    r = diff_files(DATA / "02previous.csv", DATA / "02current.csv")
    assert r.to_dict() == {"new": 0, "updated": 0, "lapsed": 0, "unchanged": 1}
    assert r.older_info["quarantine_counts"] == {"missing_key": 1}
    assert r.newer_info["quarantine_counts"] == {"missing_key": 1}


def test_sample_pair_02_by_ak_id():
    r = diff_files(DATA / "02previous.csv", DATA / "02current.csv", key="AK_ID")
    assert r.key == "ak_id"
    assert r.to_dict() == {"new": 1, "updated": 0, "lapsed": 1, "unchanged": 1}
    assert r.new["ak_id"].to_list() == ["100002"] and r.lapsed["ak_id"].to_list() == ["100000"]


def test_sample_email_vs_zip_vs_csv_all_unchanged():
    a = diff_files(DATA / "actionkit_export.csv", DATA / "sample.eml")
    b = diff_files(DATA / "sample.eml", DATA / "actionkit_export.zip")
    assert a.to_dict() == b.to_dict() == {"new": 0, "updated": 0, "lapsed": 0, "unchanged": 1}


def test_old_format_vs_2020_format_header_drift():
    # different national formats map to the same canonical names; only columns both have matter
    r = diff_files(DATA / "actionkit_export.csv", DATA / "01current.csv")
    assert r.to_dict() == {"new": 2, "updated": 0, "lapsed": 1, "unchanged": 0}


def test_diff_files_bad_input():
    with pytest.raises(ExportError):
        diff_files(DATA / "nope.csv", DATA / "01current.csv")
