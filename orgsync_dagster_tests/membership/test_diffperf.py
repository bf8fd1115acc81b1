"""The fast counts-only path of `orgsync membership diff` (no --out) gives exactly the full diff's answers, and the
`orgsync` entry imports only the named domain's commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orgsync_dagster.membership import cli, samples
from orgsync_dagster.membership.diff import diff_files
from orgsync_dagster.membership.diff_counts import diff_counts_files

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


def _pairs(tmp_path: Path) -> list[tuple[Path, Path, dict]]:
    wp = samples.week_pair(60, new=4, updated=5, lapsed=3)
    (tmp_path / "wo.csv").write_bytes(samples.to_csv(wp.older))
    (tmp_path / "wn.zip").write_bytes(samples.to_zip(samples.to_csv(wp.newer)))
    # the newer export has a column the older lacks, and spells the headers differently
    (tmp_path / "a.csv").write_text("email,first_name\na@x.org,A\nb@x.org,B\nc@x.org,C\n")
    (tmp_path / "b.csv").write_text("Email,First Name,Zip\nB@x.org,B,02111\nc@x.org,Cee,\nd@x.org,D,\n")
    (tmp_path / "c.csv").write_text("email,first_name,notes\na@x.org,A,x\n")
    (tmp_path / "d.csv").write_text("email,first_name,notes\na@x.org,A,y\n")
    return [
        (DATA / "01previous.csv", DATA / "01current.csv", {}),
        (DATA / "02previous.csv", DATA / "02current.csv", {}),
        (DATA / "02previous.csv", DATA / "02current.csv", {"key": "AK_ID"}),
        (DATA / "actionkit_export.zip", DATA / "sample.eml", {}),
        (DATA / "actionkit_export.csv", DATA / "01current.csv", {}),
        (tmp_path / "wo.csv", tmp_path / "wn.zip", {}),
        (tmp_path / "wo.csv", tmp_path / "wn.zip", {"key": "ak_id"}),
        (tmp_path / "a.csv", tmp_path / "b.csv", {}),
        (tmp_path / "b.csv", tmp_path / "a.csv", {}),
        (tmp_path / "a.csv", tmp_path / "b.csv", {"compare_columns": ["Zip"]}),
        (tmp_path / "c.csv", tmp_path / "d.csv", {"compare_columns": ["notes"]}),
        (tmp_path / "c.csv", tmp_path / "d.csv", {}),
    ]


@pytest.mark.parametrize("parallel", [True, False])
def test_counts_path_equals_the_full_diff(tmp_path, parallel):
    for older, newer, kw in _pairs(tmp_path):
        full = diff_files(older, newer, **kw)
        light = diff_counts_files(older, newer, parallel=parallel, **kw)
        assert light.to_dict() == full.to_dict(), (older.name, newer.name, kw)
        assert light.compare_columns == full.compare_columns
        assert (light.older_rows, light.newer_rows) == (full.older_rows, full.newer_rows)
        assert light.older_info == full.older_info and light.newer_info == full.newer_info
    wp = diff_counts_files(tmp_path / "wo.csv", tmp_path / "wn.zip", parallel=parallel)
    assert wp.to_dict() == {"new": 4, "updated": 5, "lapsed": 3, "unchanged": 52}


def test_counts_path_errors_are_the_same(tmp_path, capsys):
    good = DATA / "01current.csv"
    with pytest.raises(ValueError, match="neither snapshot"):
        diff_counts_files(good, good, compare_columns=["shoe_size"])
    with pytest.raises(ValueError, match="neither snapshot"):
        diff_counts_files(good, good, compare_columns=["shoe_size"], parallel=False)
    assert cli.main(["diff", str(tmp_path / "nope.csv"), str(good), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_orgsync_entry_imports_only_the_membership_commands():
    code = (
        "import sys, json; from orgsync_dagster.cli import main; "
        f"rc = main(['membership', 'diff', {str(DATA / '01previous.csv')!r}, {str(DATA / '01current.csv')!r}, "
        "'--json']); "
        "print(json.dumps({'rc': rc, 'calls': 'orgsync_dagster.calls.cli' in sys.modules, "
        "'dagster': 'dagster' in sys.modules, 'numpy': 'numpy' in sys.modules}))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    counts, flags = (json.loads(line) for line in proc.stdout.strip().splitlines())
    assert counts == {"new": 1, "updated": 0, "lapsed": 1, "unchanged": 1}
    assert flags == {"rc": 0, "calls": False, "dagster": False, "numpy": False}
