"""The original's rules: is_member from the configured rule, and the full field set of the mapper."""

import datetime as dt
import json

import pytest

from orgsync_dagster.lib.config import ConfigError
from orgsync_dagster.membership import push_cli, samples
from orgsync_dagster.membership.keys import DIFF_KEY, SYNC_KEY
from orgsync_dagster.membership.mapping import MAPPED_COLUMNS, mapped_columns, person_from_row
from orgsync_dagster.membership.rules import DEFAULT_RULE, rule_from_config
from orgsync_dagster.membership.settings import MembershipSettings

from .pipeline_env import mat_meta

TODAY = dt.date(2026, 11, 27)


def test_default_rule_is_the_status_letter_m():
    assert DEFAULT_RULE.flag({"memb_status_letter": "M"}) == "True"
    assert DEFAULT_RULE.flag({"memb_status_letter": " m "}) == "True"
    for letter in ("L", "X", "R"):
        assert DEFAULT_RULE.flag({"memb_status_letter": letter}) == "False"
    # no column in the export, or a blank cell: present in the export = member (never a lapse by omission)
    assert DEFAULT_RULE.flag({"email": "a@b.org"}) == "True"
    assert DEFAULT_RULE.flag({"memb_status_letter": ""}) == "True"
    assert "memb_status_letter" in MAPPED_COLUMNS  # a change of letter is a change


def test_configured_rules():
    letters = rule_from_config({"column": "memb_status_letter", "member_values": ["M", "S"]})
    assert letters.flag({"memb_status_letter": "S"}) == "True" and letters.flag({"memb_status_letter": "L"}) == "False"
    xdate = rule_from_config({"rule": "date_after", "column": "Xdate", "horizon_days": 60})
    assert xdate.columns == ("xdate",)  # any header spelling of a known column
    assert xdate.flag({"xdate": "2026-10-01"}, TODAY) == "True"
    assert xdate.flag({"xdate": "09/01/2026"}, TODAY) == "False"
    assert xdate.flag({"xdate": "not a date"}, TODAY) == "True"
    older = rule_from_config(
        {
            "rule": "all_of",
            "rules": [
                {"rule": "date_after", "column": "xdate", "horizon_days": 60},
                {"column": "membership_status", "non_member_values": ["expired", "lapsed"]},
            ],
        }
    )
    assert older.columns == ("xdate", "membership_status")
    assert older.flag({"xdate": "2026-11-01", "membership_status": "active"}, TODAY) == "True"
    assert older.flag({"xdate": "2026-11-01", "membership_status": "Expired"}, TODAY) == "False"
    assert rule_from_config({"rule": "present"}).flag({}) == "True"
    assert set(mapped_columns(older)) >= {"xdate", "membership_status", "memb_status_letter"}
    assert (
        person_from_row({"email": "a@b.org", "xdate": "2020-01-01"}, rule=xdate, today=TODAY)["custom_fields"][
            "is_member"
        ]
        == "False"
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rule": "sometimes"}, "membership.is_member.rule must be one of"),
        ({"rule": "date_after", "column": "xdate"}, "horizon_days must be a whole number"),
        ({"rule": "date_after", "column": "xdate", "horizon_days": -1}, "horizon_days"),
        ({"column": "membership_status"}, "exactly one of member_values or non_member_values"),
        ({"column": "x", "member_values": ["a"], "non_member_values": ["b"]}, "exactly one of"),
        ({"column": "memb_status_letter", "member_values": "M", "colum": "x"}, r"unknown key\(s\) \['colum'\]"),
        ({"member_values": [""]}, "member_values must be a list of non-empty values"),
        ({"rule": "all_of", "rules": []}, "rules must be a non-empty list"),
        ({"rule": "all_of", "rules": [{"rule": "nope"}]}, r"rules\[0\]\.rule must be one of"),
        (["M"], "must be a mapping"),
    ],
)
def test_bad_rule_configuration_is_a_clear_error(section, message):
    with pytest.raises(ConfigError, match=message):
        MembershipSettings.from_config({"is_member": section})


def test_full_field_set_of_the_original_mapper():
    row = {
        "email": "ann@example.org",
        "first_name": " Ann ",
        "middle_name": "Q",
        "last_name": "Lee",
        "mailing_address1": "1 Main St",
        "mailing_address2": "Apt 2",
        "mailing_city": "Brookline",
        "mailing_state": "MA",
        "mailing_zip": "2467",
        "best_phone": "",
        "mobile_phone": "617-555-0101, 617-555-0199",
        "home_phone": "6175550102",
        "work_phone": "6175550103",
        "mailing_preference": "Yes",
        "do_not_call": "yes",
        "p2ptext_optout": "0",
        "monthly_dues_status": "active",
        "annual_recurring_dues_status": "never",
        "union_member": "No",
        "union_name": "SEIU",
        "union_local": "509",
        "student_yes_no": "n",
        "student_school_name": "BU",
        "ydsa_chapter": "BU YDSA",
        "memb_status_letter": "M",
    }
    p = person_from_row(row)
    assert p["email_addresses"] == [{"address": "ann@example.org"}]
    assert (p["given_name"], p["family_name"]) == ("Ann", "Lee")
    assert p["postal_addresses"] == [
        {
            "primary": True,
            "address_lines": ["1 Main St"],
            "locality": "Brookline",
            "region": "MA",
            "postal_code": "02467",
            "country": "US",
        }
    ]
    assert p["custom_fields"] == {
        "Middle Name": "Q",
        "Address Line 2": "Apt 2",
        "Mail Preference": "Yes",  # not a flag column: kept as it is
        "Do Not Call": "True",
        "Do Not Text": "False",
        "monthly_dues_status": "active",
        "annual_recurring_dues_status": "never",
        "union_member": "False",
        "union_name": "SEIU",
        "union_local": "509",
        "student_yes_no": "False",
        "student_school_name": "BU",
        "YDSA Chapter": "BU YDSA",
        "Phone": "6175550101",  # best is empty -> mobile, first of the list, no dashes
        "is_member": "True",
    }
    assert person_from_row(dict(row, mobile_phone="", home_phone=""))["custom_fields"]["Phone"] == "6175550103"
    assert person_from_row(dict(row, best_phone="617 555 0100"))["custom_fields"]["Phone"] == "6175550100"
    assert person_from_row(dict(row, mailing_zip="02467-1234"))["postal_addresses"][0]["postal_code"] == "02467-1234"
    assert person_from_row(dict(row, memb_status_letter="L"))["custom_fields"]["is_member"] == "False"


def test_cli_a_change_of_letter_lapses_a_member_still_in_the_export(
    sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys
):
    rows = [samples.member(i) for i in range(20)]
    newer = [dict(r, memb_status_letter="L") if i == 3 else r for i, r in enumerate(rows)]
    (tmp_path / "old.csv").write_bytes(samples.to_csv(rows))
    (tmp_path / "new.csv").write_bytes(samples.to_csv(newer))
    (tmp_path / "empty.csv").write_bytes(samples.to_csv([]))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    base = ["--apply", "--json", "--max-rps", "100"]
    assert push_cli.main(["push", str(tmp_path / "empty.csv"), str(tmp_path / "old.csv"), *base]) == 0
    capsys.readouterr()
    assert push_cli.main(["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), *base]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["updated"], out["lapsed"], out["unchanged"], out["upserted"]) == (1, 0, 19, 1)
    assert out["requests_sent"] == 1
    flags = {
        p["email_addresses"][0]["address"]: p["custom_fields"]["is_member"]
        for p in sandbox.action_network.dump(api_key)["people"]
    }
    assert flags.pop(rows[3]["email"]) == "False" and set(flags.values()) == {"True"} and len(flags) == 19


def test_cli_configured_xdate_rule(sandbox, fast_pg_url, api_key, tmp_path, monkeypatch, capsys):
    """The older Xdate rule from orgsync.yaml: a member whose expiry moved past the horizon gets "False"."""
    config = tmp_path / "orgsync.yaml"
    config.write_text("membership:\n  is_member: {rule: date_after, column: Xdate, horizon_days: 60}\n")
    monkeypatch.setenv("ORGSYNC_CONFIG", str(config))
    cols = [*samples.COLUMNS, "xdate"]
    recent = (dt.date.today() + dt.timedelta(days=300)).isoformat()
    rows = [dict(samples.member(i), xdate=recent, memb_status_letter="X") for i in range(10)]
    newer = [dict(r, xdate="2001-01-01") if i == 4 else r for i, r in enumerate(rows)]
    (tmp_path / "empty.csv").write_bytes(samples.to_csv([], cols))
    (tmp_path / "old.csv").write_bytes(samples.to_csv(rows, cols))
    (tmp_path / "new.csv").write_bytes(samples.to_csv(newer, cols))
    monkeypatch.setenv("ORGSYNC_WAREHOUSE_URL", fast_pg_url)
    monkeypatch.setenv("ACTION_NETWORK_API_KEY", api_key)
    monkeypatch.setenv("ACTION_NETWORK_URL", sandbox.urls.action_network_url)
    base = ["--apply", "--json", "--max-rps", "100"]
    assert push_cli.main(["push", str(tmp_path / "empty.csv"), str(tmp_path / "old.csv"), *base]) == 0
    capsys.readouterr()
    assert push_cli.main(["push", str(tmp_path / "old.csv"), str(tmp_path / "new.csv"), *base]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["updated"], out["unchanged"], out["requests_sent"]) == (1, 9, 1)
    flags = {
        p["email_addresses"][0]["address"]: p["custom_fields"]["is_member"]
        for p in sandbox.action_network.dump(api_key)["people"]
    }
    # letter "X" is no longer the rule: everyone within the horizon is a member
    assert flags.pop(rows[4]["email"]) == "False" and set(flags.values()) == {"True"}


def test_pipeline_a_change_of_letter_is_a_change(env):
    rows = [samples.member(i) for i in range(20)]
    _, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(rows))
    assert r1.success
    newer = [dict(r, memb_status_letter="L") if i in (2, 11) else r for i, r in enumerate(rows)]
    _, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(newer))
    assert r2.success
    diff = mat_meta(r2, DIFF_KEY)
    assert (diff["new"], diff["updated"], diff["lapsed"], diff["unchanged"]) == (0, 2, 0, 18)
    sync = mat_meta(r2, SYNC_KEY)
    assert sync["requests_spent"] == 2 and sync["upserted"] == 2
    flags = {p["email_addresses"][0]["address"]: p["custom_fields"]["is_member"] for p in env.dump()["people"]}
    assert {e for e, v in flags.items() if v == "False"} == {rows[2]["email"], rows[11]["email"]}
    assert len(flags) == 20
