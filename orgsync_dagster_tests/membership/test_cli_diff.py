"""`orgsync membership diff` via membership.cli.main / register."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import polars as pl

from orgsync_dagster.membership import cli

DATA = Path(__file__).parent / "data"


def _run(capsys, *argv):
    code = cli.main(["diff", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_output_is_exactly_four_counts(capsys):
    code, out, err = _run(capsys, DATA / "01previous.csv", DATA / "01current.csv", "--json")
    assert code == 0
    assert out.count("\n") == 1
    assert json.loads(out) == {"new": 1, "updated": 0, "lapsed": 1, "unchanged": 1}
    assert list(json.loads(out)) == ["new", "updated", "lapsed", "unchanged"]
    assert "older:" in err and "newer:" in err


def test_quarantine_counts_go_to_stderr_not_json(capsys):
    code, out, err = _run(capsys, DATA / "02previous.csv", DATA / "02current.csv", "--json")
    assert code == 0
    assert json.loads(out) == {"new": 0, "updated": 0, "lapsed": 0, "unchanged": 1}
    assert "missing_key=1" in err


def test_containers_mixed(capsys):
    code, out, _ = _run(capsys, DATA / "actionkit_export.zip", DATA / "sample.eml", "--json")
    assert code == 0 and json.loads(out)["unchanged"] == 1


def test_text_output(capsys):
    code, out, _ = _run(capsys, DATA / "01previous.csv", DATA / "01current.csv")
    assert code == 0
    assert out.splitlines() == ["new: 1", "updated: 0", "lapsed: 1", "unchanged: 1"]


def test_out_dir_files(capsys, tmp_path):
    out_dir = tmp_path / "out" / "nested"
    older = tmp_path / "old.csv"
    newer = tmp_path / "new.csv"
    older.write_text("email,first_name,last_name\na@x.org,A,One\nb@x.org,B,Two\n")
    newer.write_text("Email,First Name,Last Name\nb@x.org,B,Deux\nc@x.org,C,Three\n")
    code, out, _ = _run(capsys, older, newer, "--out", out_dir, "--json")
    assert code == 0
    assert json.loads(out) == {"new": 1, "updated": 1, "lapsed": 1, "unchanged": 0}
    assert sorted(p.name for p in out_dir.iterdir()) == ["lapsed.csv", "new.csv", "updated.csv"]
    assert pl.read_csv(out_dir / "new.csv")["email"].to_list() == ["c@x.org"]
    assert pl.read_csv(out_dir / "lapsed.csv")["email"].to_list() == ["a@x.org"]
    upd = pl.read_csv(out_dir / "updated.csv")
    assert upd["email"].to_list() == ["b@x.org"] and upd["last_name"].to_list() == ["Deux"]
    assert upd["_changed_columns"].to_list() == ["last_name"]


def test_header_only_older_means_all_new(capsys, tmp_path):
    older = tmp_path / "old.csv"
    older.write_text("email,first_name\n")
    code, out, _ = _run(capsys, older, DATA / "01current.csv", "--json")
    assert code == 0
    assert json.loads(out) == {"new": 2, "updated": 0, "lapsed": 0, "unchanged": 0}


def test_key_option(capsys):
    code, out, _ = _run(capsys, DATA / "02previous.csv", DATA / "02current.csv", "--key", "AK_ID", "--json")
    assert code == 0 and json.loads(out) == {"new": 1, "updated": 0, "lapsed": 1, "unchanged": 1}


def test_compare_option(capsys, tmp_path):
    older = tmp_path / "old.csv"
    newer = tmp_path / "new.csv"
    older.write_text("email,first_name,notes\na@x.org,A,x\n")
    newer.write_text("email,first_name,notes\na@x.org,A,y\n")
    assert json.loads(_run(capsys, older, newer, "--json")[1])["unchanged"] == 1
    assert json.loads(_run(capsys, older, newer, "--json", "--compare", "notes")[1])["updated"] == 1


def _assert_bad(code, out, err, fragment):
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0]
    assert "Traceback" not in err


def test_bad_inputs_exit_2(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    nokey = tmp_path / "nokey.csv"
    nokey.write_text("id,name\n1,x\n")
    corrupt = tmp_path / "export.zip"
    corrupt.write_bytes(b"PK\x03\x04garbage")
    noattach = tmp_path / "msg.eml"
    noattach.write_bytes(b"From: a@b.org\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    good = DATA / "01current.csv"
    _assert_bad(*_run(capsys, empty, good, "--json"), "empty")
    _assert_bad(*_run(capsys, good, nokey, "--json"), "not found")
    _assert_bad(*_run(capsys, corrupt, good, "--json"), "corrupt ZIP")
    _assert_bad(*_run(capsys, good, noattach), "no attachment")
    _assert_bad(*_run(capsys, tmp_path / "missing.csv", good), "no such file")
    _assert_bad(*_run(capsys, good, good, "--compare", "shoe_size"), "neither snapshot")


def test_out_dir_not_writable_is_a_clean_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = _run(capsys, DATA / "01previous.csv", DATA / "01current.csv", "--out", blocker / "sub", "--json")
    assert code == 2 and out == "" and err.strip().splitlines()[-1].startswith("error: ")


def test_usage_error_exit_2(capsys):
    code = cli.main(["diff", "only-one-arg"])
    assert code == 2
    assert "usage" in capsys.readouterr().err


def test_register_into_parent_parser(capsys, tmp_path):
    # the lead's `orgsync` parser: orgsync membership diff ...
    root = argparse.ArgumentParser(prog="orgsync")
    domains = root.add_subparsers(dest="domain")
    membership = domains.add_parser("membership").add_subparsers(dest="command")
    cli.register(membership)
    older = tmp_path / "a.csv"
    shutil.copy(DATA / "01previous.csv", older)
    args = root.parse_args(["membership", "diff", str(older), str(DATA / "01current.csv"), "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["lapsed"] == 1
