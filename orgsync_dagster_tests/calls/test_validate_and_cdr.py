import pytest

from orgsync_dagster.calls import cdr, validate
from orgsync_dagster.sandbox import van_seed
from orgsync_dagster_tests.calls.helpers import repo_settings, settings


def reference():
    ref = van_seed.build_reference_data()
    return {
        **ref,
        "result_codes": [r for r in ref["result_codes"] if 1 in r["contactTypeIds"]],
        "instance": "MI",
        "mode": 1,
    }


def test_repo_candidates_are_valid_against_the_sandbox():
    s = repo_settings()
    for c in s.candidates.values():
        assert validate.validate_candidate(c, reference()) == []
    assert "good to go" in validate.validation_report(c, [])


def test_config_naming_ids_van_does_not_have_is_reported_clearly():
    results = {
        "a": {"success": True, "responses": [[999999, 1]], "sync_to_van": True},
        "b": {"success": True, "responses": [[109149, 465473]], "sync_to_van": True},  # response of another question
        "c": {"success": False, "result_code": 19, "sync_to_van": True},  # Not Home: walk only, not phone
        "d": {"success": True, "activist_codes": [18921, 5], "sync_to_van": True},  # archived + missing
        "e": {"success": False, "sync_to_van": True},
        "f": {"success": True, "result_code": 14, "responses": [[109149, 465468]], "sync_to_van": True},
        "g": {"success": "maybe", "result_code": 14, "sync_to_van": True},
        "h": {"success": True, "responses": [[109152, 465480]], "sync_to_van": True},  # archived question
        "csv only": {"include_in_csv": True},  # never goes to VAN: nothing to check
    }
    c = settings("full", results=results, contact_type_id=77).candidate("c1")
    problems = validate.validate_candidate(c, reference())
    text = "\n".join(problems)
    assert "contact_type_id 77 does not exist" in text
    assert "survey question 999999 does not exist" in text
    assert "465473 is not a response of survey question 109149" in text
    assert "result_code 19 is not a VAN result code" in text
    assert "activist code 18921 (Old Petition) is Archived" in text and "activist code 5 does not exist" in text
    assert "success is false but no result_code" in text
    assert "not both" in text
    assert "success must be true or false" in text
    assert "109152 (2024 Support) is Archived" in text
    assert "csv only" not in text
    report = validate.validation_report(c, problems)
    assert report.count("\n- ") == len(problems) and "THIS SYNC HAS ERRORS" in report


def test_configure_text_lists_copyable_ids():
    text = validate.configure_text(repo_settings().candidate("mo01"), reference())
    assert "[109149, 465468]  Strong Support" in text and "18917: Volunteer" in text and "17: Left Message" in text


HEADER = (
    "id,account_number,first_name,last_name,phone_dialed,call_connect_time,call_start_time,call_finish_time,"
    "caller_login,result,campaign_id\n"
)


def parse(text: str, **candidate):
    s = settings(**{"cdr_date_order": "month_first", **candidate})
    lines = text.splitlines(keepends=True)
    order = cdr.resolve_date_order(lines, s)
    return list(cdr.parse_cdr(lines, s, "test.csv", order))


ROW = "{i},mo01-van-100001,Pat,Doe,3145550100,,{start},,caller1,Busy,7\n"


def test_day_month_order_comes_from_the_candidate_or_the_file_and_ambiguity_is_refused():
    # configured: 03/05 is March 5th for a month_first candidate, May 3rd for a day_first one
    (march,) = parse(HEADER + ROW.format(i=1, start="03/05/2026 10:00:00"))
    (may,) = parse(HEADER + ROW.format(i=1, start="03/05/2026 10:00:00"), cdr_date_order="day_first")
    assert (march.set_fields["timestamp"].month, may.set_fields["timestamp"].month) == (3, 5)
    # not configured: one unambiguous date (25/03) decides for the whole export
    rows = parse(
        HEADER + ROW.format(i=1, start="03/05/2026 10:00") + ROW.format(i=2, start="25/03/2026 09:15 PM"),
        cdr_date_order=None,
    )
    assert [r.set_fields["timestamp"].date().isoformat() for r in rows] == ["2026-05-03", "2026-03-26"]
    # not configured and every date fits both orders: the file is refused, saying what to set
    with pytest.raises(cdr.CdrFormatError, match="ambiguous.*03/05/2026.*cdr_date_order.*c1") as err:
        parse(HEADER + ROW.format(i=1, start="03/05/2026 10:00:00"), cdr_date_order=None)
    assert "Pat" not in str(err.value)
    with pytest.raises(cdr.CdrFormatError, match="contradict"):
        parse(HEADER + ROW.format(i=1, start="03/25/2026") + ROW.format(i=2, start="25/03/2026"), cdr_date_order=None)
    # ISO dates are never ambiguous
    (iso,) = parse(HEADER + ROW.format(i=1, start="2026-03-05 10:00:00"), cdr_date_order=None)
    assert iso.set_fields["timestamp"].isoformat() == "2026-03-05T15:00:00+00:00"


def test_cdr_rows_become_call_documents():
    rows = parse(
        HEADER + "1,MO01-van-100001,Pat,Doe,3145550100,03/05/2026 10:00:05,03/05/2026 10:00:00,"
        '03/05/2026 10:02:00,caller1,"Agent - Strong Support (3)",7\n'
        "2,mo01-van-,Al,Bo,3145550101,,11/01/2026 01:30:00,,c,Mystery,7\n"
    )
    good, no_voter = rows
    f = good.set_fields
    assert (f["district"], f["voter_id"], f["full_on_screen_result"]) == ("mo01", "100001", "strong support")
    assert f["timestamp"].isoformat() == "2026-03-05T15:00:00+00:00"  # EST, not a fixed -04:00
    assert good.warning is None and f["client"] == "c1"
    assert no_voter.set_fields["voter_id"] is None
    assert "missing voter id" in no_voter.warning and "unknown term code" in no_voter.warning
    assert no_voter.set_fields["timestamp"].isoformat() == "2026-11-01T05:30:00+00:00"  # first 01:30 (EDT)


def test_cdr_bad_rows_are_rejected_or_flagged_never_dropped():
    rows = parse(
        HEADER + "1,TEST123-van-5,T,T,1,,03/05/2026 10:00:00,,c,Busy,7\n"
        "2,nodashes,A,B,1,,03/05/2026 10:00:00,,c,Busy,7\n"
        ",mo01-van-1,A,B,1,,03/05/2026 10:00:00,,c,Busy,7\n"
        "4,mo01-van-1,A,B\n"
        "5,mo01-van-100005,A,B,1,,yesterday-ish,,c,Busy,7\n"
    )
    test, bad_account, no_id, short, bad_time = rows
    assert test.skipped_test
    assert "district>-<system>-<voterId>" in bad_account.error
    assert no_id.error == "missing call id"
    assert "has 4 fields" in short.error and short.line == 5
    assert bad_time.set_fields is None and bad_time.on_insert["sync_status"] == "unattempted_error"
    assert "malformed call_start_time" in bad_time.on_insert["error"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("name,email\nPat,p@example.org\n", "missing column(s) id, account_number, call_start_time, result"),
        ("77,mo01-van-100001,Pat,Doe,3145550100,,03/05/2026 10:00:00,,c,Busy,7\n", "looks like data"),
    ],
)
def test_a_file_that_is_not_a_cdr_export_is_refused_before_loading(text, message):
    with pytest.raises(cdr.CdrFormatError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        parse(text)
    assert "Pat" not in str(err.value) and "3145550100" not in str(err.value)  # no personal data in the error
