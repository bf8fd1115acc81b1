"""read_export: containers, encodings, header drift, validation/quarantine."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

import polars as pl
import pytest

from orgsync_dagster.membership.exports import (
    CANONICAL_COLUMNS,
    ExportError,
    ParsedExport,
    normalize_header,
    read_export,
    read_export_file,
    resolve_column,
)

DATA = Path(__file__).parent / "data"
HEADER = "ak_id,email,first_name,last_name,zip\n"


def _check_invariants(p: ParsedExport) -> None:
    assert p.rows_in == p.rows_ok + p.rows_quarantined
    assert all(dt == pl.String for dt in p.rows.schema.values())
    assert p.quarantine.columns[:2] == ["_line", "_reason"]
    if p.rows.height:
        assert p.rows[p.key_column].null_count() == 0
        assert p.rows[p.key_column].n_unique() == p.rows.height


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return buf.getvalue()


def _email(attachments: list[tuple[str, str, bytes]]) -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Weekly membership export"
    msg["From"] = "DSA <actionkit@example.com>"
    msg["To"] = "sync@example.org"
    msg.set_content("See attached.")
    for name, ctype, payload in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


# ---------------------------------------------------------------- real samples


def test_sample_email_with_zipped_csv():
    p = read_export_file(DATA / "sample.eml")
    _check_invariants(p)
    assert p.container == "email"
    assert p.member == "actionkit_export.zip/actionkit_export.csv"
    assert p.source["subject"] == "test"
    assert p.source["from"] == "DSA <actionkit@example.com>"
    assert p.rows_in == 1 and p.rows_quarantined == 0
    row = p.rows.row(0, named=True)
    assert row["email"] == "kmarx@example.com"
    assert row["ak_id"] == "1111"
    assert row["first_name"] == "Karl" and row["last_name"] == "Marx"
    assert row["mailing_zip"] == "02111"  # "2111": Excel-dropped leading zero restored
    assert row["mobile_phone"] == "6176354505"
    assert "billing_zip" in p.extra_columns and p.rows["billing_zip"][0] == "2111"  # extras untouched


def test_sample_email_detected_by_content_without_extension():
    data = (DATA / "sample.eml").read_bytes()
    p = read_export(data, "0f1e2d3c4b5a")  # SES object keys have no extension
    assert p.container == "email" and p.rows_ok == 1


def test_sample_zip_and_csv_agree():
    z = read_export_file(DATA / "actionkit_export.zip")
    c = read_export_file(DATA / "actionkit_export.csv")
    assert z.container == "zip" and z.member == "actionkit_export.csv"
    assert c.container == "csv"
    assert z.rows.equals(c.rows)
    assert z.header == c.header


def test_old_format_header_drift_is_mapped():
    p = read_export_file(DATA / "actionkit_export.csv")
    m = dict(p.column_mapping)
    assert m["AK_ID"] == "ak_id"
    assert m["Email"] == "email"
    assert m["Mailing_Address1"] == "mailing_address1"
    assert m["Mailing_Zip"] == "mailing_zip"
    assert m["Mail_preference"] == "mailing_preference"
    assert m["Join_Date"] == "join_date"
    assert m["Xdate"] == "xdate"
    assert m["YDSA Chapter"] == "ydsa_chapter"
    assert m["Billing_Zip"] == "billing_zip"  # unknown -> kept as extra
    canon = [c for c in p.rows.columns if c in CANONICAL_COLUMNS]
    assert canon == [c for c in CANONICAL_COLUMNS if c in canon]  # canonical order, extras after


def test_2020_format_with_bom_and_crlf():
    p = read_export_file(DATA / "01current.csv")
    _check_invariants(p)
    assert p.encoding == "utf-8-sig"
    assert p.header[0] == "ak_id"  # BOM removed
    m = dict(p.column_mapping)
    assert m["address_line_1"] == "mailing_address1"
    assert m["zip"] == "mailing_zip"
    assert m["memb_status"] == "memb_status_letter"
    assert m["monthly_status"] == "monthly_dues_status"
    assert p.rows["email"].to_list() == ["jane.doe@example.com", "jack.doe@example.com"]
    assert p.rows["mailing_city"].to_list() == ["Boston", None]  # empty -> null
    assert "family_first_name" in p.extra_columns


def test_sample_blank_email_is_quarantined():
    p = read_export_file(DATA / "02current.csv")
    _check_invariants(p)
    assert p.rows_in == 2 and p.rows_ok == 1
    q = p.quarantine.row(0, named=True)
    assert q["_reason"] == "missing_key" and q["_line"] == 3 and q["ak_id"] == "100002"


# ---------------------------------------------------------------- bad input


def test_empty_file():
    with pytest.raises(ExportError, match="empty"):
        read_export(b"", "export.csv")


def test_whitespace_only_file():
    with pytest.raises(ExportError, match="empty"):
        read_export(b"\r\n\r\n", "export.csv")


def test_header_only_is_valid():
    p = read_export(HEADER.encode(), "export.csv")
    _check_invariants(p)
    assert p.rows_in == 0 and p.rows.height == 0
    assert p.rows.columns == ["ak_id", "email", "first_name", "last_name", "mailing_zip"]


def test_header_only_without_newline_is_valid():
    p = read_export(HEADER.strip().encode(), "export.csv")
    assert p.rows_in == 0


def test_missing_key_column_names_columns_found():
    with pytest.raises(ExportError) as e:
        read_export(b"id,name\n1,x\n", "export.csv")
    assert "'email' not found" in str(e.value) and "id, name" in str(e.value)


def test_duplicate_keys_keep_first():
    data = (HEADER + "1,a@x.org,A,One,02111\n2,B@X.org ,B,Two,02111\n3,a@x.org,C,Three,02111\n").encode()
    p = read_export(data, "export.csv")
    _check_invariants(p)
    assert p.rows["ak_id"].to_list() == ["1", "2"]
    assert p.quarantine_counts == {"duplicate_key": 1}
    q = p.quarantine.row(0, named=True)
    assert q["_line"] == 4 and q["ak_id"] == "3" and q["email"] == "a@x.org"


def test_duplicate_keys_differing_only_in_case_and_spaces():
    data = (HEADER + "1,Jane@Example.COM,A,One,\n2,  jane@example.com ,B,Two,\n").encode()
    p = read_export(data, "export.csv")
    assert p.rows_ok == 1 and p.quarantine_counts == {"duplicate_key": 1}
    assert p.quarantine["email"][0] == "  jane@example.com "  # original value kept


def test_invalid_and_missing_emails():
    data = (
        HEADER
        + "1,not-an-email,A,,\n"
        + "2,a@b,B,,\n"
        + "3,,C,,\n"
        + "4,   ,D,,\n"
        + "5,ok@example.org,E,,\n"
        + "6,two@@example.org,F,,\n"
        + ",,,,\n"
    ).encode()
    p = read_export(data, "export.csv")
    _check_invariants(p)
    assert p.rows["ak_id"].to_list() == ["5"]
    reasons = dict(zip(p.quarantine["_line"].to_list(), p.quarantine["_reason"].to_list()))
    assert reasons == {
        2: "invalid_email",
        3: "invalid_email",
        4: "missing_key",
        5: "missing_key",
        7: "invalid_email",
        8: "blank_row",
    }
    assert p.quarantine_counts == {"blank_row": 1, "invalid_email": 3, "missing_key": 2}


def test_latin1_bytes_fall_back():
    data = (HEADER + "1,jose@example.org,José,Muñoz,02111\n").encode("latin-1")
    p = read_export(data, "export.csv")
    assert p.encoding == "cp1252"
    assert p.rows["first_name"][0] == "José" and p.rows["last_name"][0] == "Muñoz"


def test_cp1252_smart_quotes():
    data = (HEADER + "1,o@example.org,\u201cRed\u201d,O\u2019Brien,\n").encode("cp1252")
    p = read_export(data, "export.csv")
    assert p.encoding == "cp1252"
    assert p.rows["last_name"][0] == "O\u2019Brien"


def test_mixed_utf8_with_stray_latin1_byte():
    data = (HEADER + "1,a@example.org,José,,\n").encode() + "2,b@example.org,Zoë,,\n".encode("latin-1")
    p = read_export(data, "export.csv")
    assert p.encoding == "utf-8+cp1252"
    assert p.rows["first_name"].to_list() == ["José", "Zoë"]


def test_utf16_with_bom():
    data = (HEADER + "1,a@example.org,Zoë,,\n").encode("utf-16")
    p = read_export(data, "export.csv")
    assert p.encoding == "utf-16" and p.rows["first_name"][0] == "Zoë"


def test_email_without_attachment():
    with pytest.raises(ExportError, match="no attachment"):
        read_export(_email([]), "msg.eml")


def test_email_with_only_non_csv_attachment():
    with pytest.raises(ExportError, match="no CSV or ZIP attachment"):
        read_export(_email([("logo.png", "image/png", b"\x89PNG....")]), "msg.eml")


def test_email_with_two_attachments():
    csv = (HEADER + "1,a@example.org,A,,\n").encode()
    with pytest.raises(ExportError, match="2 CSV/ZIP attachments"):
        read_export(_email([("a.csv", "text/csv", csv), ("b.zip", "application/zip", _zip({"b.csv": csv}))]), "m.eml")


def test_email_with_plain_csv_attachment():
    csv = (HEADER + "1,a@example.org,A,,\n").encode()
    p = read_export(_email([("export.csv", "text/csv", csv), ("logo.png", "image/png", b"x")]), "m.eml")
    assert p.container == "email" and p.member == "export.csv" and p.rows_ok == 1


def test_corrupt_zip():
    good = _zip({"export.csv": (HEADER + "1,a@example.org,A,,\n").encode()})
    with pytest.raises(ExportError, match="corrupt ZIP"):
        read_export(good[: len(good) // 2], "export.zip")
    with pytest.raises(ExportError, match="corrupt ZIP"):
        read_export(b"this is not a zip", "export.zip")


def test_zip_with_crc_error():
    payload = (HEADER + "1,a@example.org,A,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("export.csv", payload)
    data = bytearray(buf.getvalue())
    i = data.index(b"a@example.org")
    data[i] = ord("b")  # flip a stored byte: CRC mismatch
    with pytest.raises(ExportError, match="corrupt ZIP"):
        read_export(bytes(data), "export.zip")


def test_zip_member_count():
    csv = (HEADER + "1,a@example.org,A,,\n").encode()
    with pytest.raises(ExportError, match="no CSV member"):
        read_export(_zip({"readme.md": b"hi"}), "x.zip")
    with pytest.raises(ExportError, match="2 CSV members"):
        read_export(_zip({"a.csv": csv, "b.csv": csv}), "x.zip")
    p = read_export(_zip({"__MACOSX/._a.csv": b"junk", "a.csv": csv}), "x.zip")
    assert p.rows_ok == 1


def test_quoted_fields_embedded_newlines_and_commas():
    data = (
        HEADER
        + '1,a@example.org,"Smith, Jr.","line1\nline2",\n'
        + '2,"b@example.org","He said ""hi""",X,\n'
        + "3,,no key,,\n"
    ).encode()
    p = read_export(data, "export.csv")
    _check_invariants(p)
    assert p.parser == "polars"
    assert p.rows["first_name"].to_list() == ["Smith, Jr.", 'He said "hi"']
    assert p.rows["last_name"][0] == "line1\nline2"
    assert p.quarantine["_line"].to_list() == [5]  # physical line, counting the embedded newline


def test_rows_with_too_many_fields_are_quarantined():
    data = (HEADER + "1,a@example.org,A,B,02111\n2,b@example.org,A,B,02111,EXTRA\n3,c@example.org,C,D,\n").encode()
    p = read_export(data, "export.csv")
    _check_invariants(p)
    assert p.parser == "python-csv"
    assert p.rows["ak_id"].to_list() == ["1", "3"]
    q = p.quarantine.row(0, named=True)
    assert q["_reason"] == "malformed_row" and q["_line"] == 3 and q["mailing_zip"] == "02111,EXTRA"


def test_trailing_empty_fields_are_not_malformed():
    data = (HEADER + "1,a@example.org,A,B,02111,,\n").encode()
    p = read_export(data, "export.csv")
    assert p.rows_ok == 1 and p.rows_quarantined == 0


def test_short_rows_are_padded_like_dictreader():
    data = (HEADER + "1,a@example.org,A\n").encode()
    p = read_export(data, "export.csv")
    assert p.rows_ok == 1 and p.rows["last_name"][0] is None


def test_unterminated_quote_is_an_error():
    data = (HEADER + '1,a@example.org,"A,B,02111\n2,b@example.org,A,B,02111\n').encode()
    with pytest.raises(ExportError, match="malformed CSV"):
        read_export(data, "export.csv")


def test_whitespace_and_empty_strings_normalised():
    data = (HEADER + '1 , A@Example.org ,"  Jane ","",  \n').encode()
    p = read_export(data, "export.csv")
    r = p.rows.row(0, named=True)
    assert r == {"ak_id": "1", "email": "a@example.org", "first_name": "Jane", "last_name": None, "mailing_zip": None}


def test_header_aliases_and_key_spelling():
    data = b"E-mail Address,First Name,Last Name,Postal Code,Favourite Colour\nA@x.org,A,B,2139,red\n"
    p = read_export(data, "export.csv", key_column="Email")
    assert p.rows.columns == ["email", "first_name", "last_name", "mailing_zip", "favourite_colour"]
    assert p.rows.row(0) == ("a@x.org", "A", "B", "02139", "red")
    assert normalize_header("\ufeffYDSA Chapter ") == "ydsa_chapter"
    assert resolve_column("Zip") == "mailing_zip"


def test_duplicate_header_mapping_keeps_second_as_extra():
    data = b"email,city,mailing_city\na@x.org,Old,New\n"
    p = read_export(data, "export.csv")
    assert p.rows["mailing_city"][0] == "New"  # exact canonical spelling wins over the alias
    assert p.rows["city"][0] == "Old" and "city" in p.extra_columns
    assert any("also maps to" in w for w in p.warnings)


def test_other_key_column_does_not_validate_email():
    data = (HEADER + "1,,A,,\n2,bad,B,,\n2,c@x.org,C,,\n").encode()
    p = read_export(data, "export.csv", key_column="AK_ID")
    assert p.key_column == "ak_id"
    assert p.rows["ak_id"].to_list() == ["1", "2"]
    assert p.quarantine_counts == {"duplicate_key": 1}


def test_semicolon_separated():
    p = read_export(b"email;first_name\na@x.org;A\n", "export.csv")
    assert p.rows.row(0) == ("a@x.org", "A")


def test_file_helpers(tmp_path):
    with pytest.raises(ExportError, match="no such file"):
        read_export_file(tmp_path / "missing.csv")
    with pytest.raises(ExportError, match="directory"):
        read_export_file(tmp_path)
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(ExportError, match="empty"):
        read_export_file(tmp_path / "e.csv")
    # the path fast path and the bytes path agree, including a non-UTF-8 file
    for payload in [(HEADER + "1,a@x.org,Zoë,,\n").encode(), (HEADER + "1,a@x.org,Zoë,,\n").encode("latin-1")]:
        f = tmp_path / "x.csv"
        f.write_bytes(payload)
        a, b = read_export_file(f), read_export(payload, "x.csv")
        assert a.rows.equals(b.rows) and a.encoding == b.encoding


def test_larger_file_uses_fast_path_and_counts_add_up():
    lines = [HEADER]
    for i in range(20_000):
        email = f"m{i % 19_990}@example.org" if i % 1000 else ""
        lines.append(f"{i},{email},F{i},L{i},{i % 100000:05d}\n")
    p = read_export("".join(lines).encode(), "big.csv")
    _check_invariants(p)
    assert p.parser == "polars"
    # blank e-mail every 1000th row (20); m1..m9 appear again at the end (9; m0's first row is blank)
    assert p.quarantine_counts == {"duplicate_key": 9, "missing_key": 20}
    assert p.rows_ok == 20_000 - 29


def test_non_ascii_upper_case_email_is_lowered():
    p = read_export("email,x\njosÉ@x.org,1\nb@x.org,2\n".encode(), "a.csv")
    assert p.rows["email"].to_list() == ["josé@x.org", "b@x.org"]


def test_clean_columns_are_not_copied():
    # a clean export keeps its parsed columns as they are (the memory-saving path)
    p = read_export((HEADER + "1,a@x.org,Ann,Lee,02111\n2,b@x.org,Bob,Ng,02139\n").encode(), "x.csv")
    assert p.rows.row(1) == ("2", "b@x.org", "Bob", "Ng", "02139")
