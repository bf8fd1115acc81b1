"""The cheap normalisation check for plain files gives the same answer as the regex check, and the byte scan that
decides when a file is plain."""

import itertools
import random

import polars as pl

from orgsync_dagster.membership.exports import read_export
from orgsync_dagster.membership.exports.validate import columns_needing_normalising, scan_bytes

PLAIN_VALUES = [
    "x",
    "ab c",
    " x",
    "x ",
    "\tx",
    "x\t",
    "",
    None,
    " ",
    "a\tb",
    "12",
    "123",
    "1234",
    "12345",
    "12a",
    "aB@c.d",
    "A",
]


def test_plain_check_agrees_with_the_regex_check_on_every_plain_value_mix():
    rng = random.Random(7)
    names = ["email", "mailing_zip", "c2", "c3", "c4", "c5"]
    for _ in range(300):
        frame = pl.DataFrame(
            {
                c: pl.Series(c, [rng.choice(PLAIN_VALUES) for _ in range(rng.randint(1, 4))], dtype=pl.String)
                for c in names[:1]
            }
        )
        for c in names[1:]:
            frame = frame.with_columns(
                pl.Series(c, [rng.choice(PLAIN_VALUES) for _ in range(frame.height)], dtype=pl.String)
            )
        expected = columns_needing_normalising(frame, names, plain=False)
        assert columns_needing_normalising(frame, names, plain=True) == expected
        if not any("\t" in (v or "") for c in names for v in frame[c].to_list()):  # a file without a tab byte
            assert columns_needing_normalising(frame, names, plain=True, tabs=False) == expected


def test_scan_bytes_reports_what_makes_a_file_plain_in_both_scanners(monkeypatch):
    from orgsync_dagster.membership.exports import validate

    cases = [
        b"a,b\r\nx,\ty\r\n",
        b"a,b\nx,\ty\n",
        b"a,b\r\nx,y\r\n",
        b'a,b\nx,"y\rz"\n',
        "a,b\nJos\u00e9,y\n".encode(),
        b"a\x00,b\n",
        b"a,b\r",
        b"\r\n",
    ]
    for data, threshold in itertools.product(cases, (0, 1 << 40)):
        monkeypatch.setattr(validate, "NUMPY_SCAN_MIN_BYTES", threshold)
        scan = scan_bytes(data)
        assert scan.lines == data.count(b"\n") and scan.crs == data.count(b"\r")
        assert scan.crlfs == data.count(b"\r\n") and scan.ascii == data.isascii()
        assert scan.tabs == data.count(b"\t")
        assert scan.controls == (b"\x00" in data)


def test_a_carriage_return_inside_a_field_is_still_stripped():
    """Not plain (a lone CR): the regex check runs and the CR at the field's edge is normalised away."""
    data = b'email,first_name\r\na@example.org,"Ann\r"\r\nb@example.org,Bob\r\n'
    rows = read_export(data, "cr.csv").rows
    assert rows["first_name"].to_list() == ["Ann", "Bob"]


def test_plain_file_edges_are_normalised():
    data = b'email,first_name,last_name\na@example.org, Ann,"Lee\t"\nb@example.org,"",Bo\n'
    rows = read_export(data, "plain.csv").rows
    assert rows["first_name"].to_list() == ["Ann", None] and rows["last_name"].to_list() == ["Lee", "Bo"]
