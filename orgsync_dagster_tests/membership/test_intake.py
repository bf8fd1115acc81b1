"""Intake allow-list: e-mailed exports accepted only from allowed senders, authenticated by SES's verdicts."""

from pathlib import Path

import pytest
import yaml

from orgsync_dagster.lib import config as cfg
from orgsync_dagster.membership import intake, samples, store
from orgsync_dagster.membership.assets import SNAPSHOT_KEY
from orgsync_dagster.membership.intake import IntakeSettings, decide
from orgsync_dagster.membership.settings import settings

from .pipeline_env import failure_message, mat_meta

SAMPLE_EML = Path("/work/shared/samples/actionkit/sample.eml")
ALLOWED = IntakeSettings(allowed_senders=("actionkit@example.com",), subject_pattern=r"(?i)membership export")


def ses_headers(
    *,
    spf: str = "pass",
    envelope: str = "bounce@example.com",
    dkim: str = "pass",
    dkim_domain: str = "example.com",
    dmarc: str = "pass",
    dmarc_from: str = "example.com",
    spam: str = "PASS",
    virus: str = "PASS",
) -> bytes:
    """The headers SES prepends to a received message (as in its receipt notifications)."""
    lines = [
        f"Return-Path: <{envelope}>",
        "Received: from mail.example.com (mail.example.com [192.0.2.10]) by inbound-smtp.us-east-1.amazonaws.com "
        "with SMTP id abc123 for membership-sync@example.org; Sat, 21 Nov 2026 18:45:24 +0000 (UTC)",
        f"X-SES-Spam-Verdict: {spam}",
        f"X-SES-Virus-Verdict: {virus}",
        f"Received-SPF: {spf} (spfCheck: domain of example.com designates 192.0.2.10 as permitted sender) "
        f"client-ip=192.0.2.10; envelope-from={envelope}; helo=mail.example.com;",
        f"Authentication-Results: amazonses.com;\r\n spf={spf} (spfCheck: domain of example.com designates 192.0.2.10 "
        f"as permitted sender) client-ip=192.0.2.10; envelope-from={envelope}; helo=mail.example.com;\r\n"
        f" dkim={dkim} header.i=@{dkim_domain};\r\n dmarc={dmarc} header.from={dmarc_from};",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def export_eml(subject: str = "Weekly membership export", n: int = 5, **headers) -> bytes:
    rows = [{"email": f"m{i}@example.org", "first_name": f"M{i}"} for i in range(n)]
    body = samples.to_eml([("membership.csv", samples.to_csv(rows))], subject=subject)
    return ses_headers(**headers) + body


# ---- pure decision -------------------------------------------------------------------------------------------


def test_allowed_sender_with_dmarc_pass_is_accepted():
    v = decide(export_eml(), ALLOWED)
    assert v.accepted and v.kind == "email" and v.detail == "dmarc=pass"
    assert v.sender == "ac***@e***.com"


def test_spoofed_from_with_dmarc_fail_is_rejected():
    v = decide(export_eml(envelope="x@evil.test", dkim="none", dkim_domain="evil.test", dmarc="fail"), ALLOWED)
    assert not v.accepted and v.reason == "unauthenticated"
    assert "dmarc=fail" in v.detail and "@example.com" not in v.detail and "actionkit" not in v.detail


def test_forged_authentication_results_below_ses_is_ignored():
    forged = b"Authentication-Results: amazonses.com; dmarc=pass header.from=example.com;\r\n"
    real = ses_headers(envelope="x@evil.test", dkim="fail", dmarc="fail")
    body = samples.to_eml([("m.csv", b"email\na@example.org\n")], subject="Weekly membership export")
    assert not decide(real + forged + body, ALLOWED).accepted
    # and one written by another server above nothing from SES is not trusted either
    other = b"Authentication-Results: mx.evil.test; dmarc=pass header.from=example.com;\r\n"
    v = decide(other + body, ALLOWED)
    assert not v.accepted and v.reason == "unauthenticated" and "mx.evil.test" in v.detail


def test_spf_and_dkim_aligned_pass_without_dmarc_is_accepted_unaligned_is_not():
    assert decide(export_eml(dmarc="none", envelope="bounce@mail.example.com"), ALLOWED).accepted
    v = decide(export_eml(dmarc="none", envelope="bounce@relay.other.test"), ALLOWED)
    assert not v.accepted and v.reason == "unauthenticated"
    v = decide(export_eml(dmarc="none", dkim_domain="other.test"), ALLOWED)
    assert not v.accepted and v.reason == "unauthenticated"


def test_alignment_is_relaxed_but_never_to_a_bare_top_level_domain():
    assert intake.aligned("mail.example.com", "example.com") and intake.aligned("example.com", "EXAMPLE.com.")
    assert not intake.aligned("com", "example.com") and not intake.aligned("example.com", "badexample.com")
    assert not intake.aligned("", "example.com")


def test_sender_subject_and_verdict_rules():
    other_sender = IntakeSettings(allowed_senders=("someone@example.com",))
    v = decide(export_eml(), other_sender)
    assert (v.accepted, v.reason) == (False, "sender_not_allowed") and "actionkit@" not in v.detail
    assert decide(export_eml(), IntakeSettings(allowed_senders=("@example.com",))).accepted
    assert decide(export_eml(), IntakeSettings(allowed_senders=("@example.org",))).reason == "sender_not_allowed"
    assert decide(export_eml(subject="Re: hello"), ALLOWED).reason == "subject_mismatch"
    assert decide(export_eml(virus="FAIL"), ALLOWED).reason == "virus"
    assert decide(export_eml(spam="FAIL"), ALLOWED).reason == "spam"


def test_two_from_addresses_or_none_are_refused():
    body = export_eml()
    two = body.replace(b"From: DSA National <actionkit@example.com>", b"From: actionkit@example.com, x@evil.test")
    assert two != body
    v = decide(two, ALLOWED)
    assert (v.accepted, v.reason) == (False, "sender_missing") and "evil" not in v.detail
    none = body.replace(b"From: DSA National <actionkit@example.com>\n", b"")
    assert none != body and decide(none, ALLOWED).reason == "sender_missing"


def test_real_looking_sample_without_ses_headers_is_rejected_when_the_list_is_on():
    data = SAMPLE_EML.read_bytes()
    assert intake.header_block(data) is not None
    v = decide(data, IntakeSettings(allowed_senders=("actionkit@example.com",), subject_pattern="test"))
    assert (v.accepted, v.reason) == (False, "unauthenticated") and "no Authentication-Results" in v.detail
    v = decide(data, IntakeSettings(), local=True)  # allow-list not configured (local profile): accepted, warned
    assert v.accepted and v.warnings


def test_plain_files_follow_the_setting():
    csv = b"email,first_name\na@example.org,A\n"
    zipped = samples.to_zip(csv)
    for data in (csv, zipped):
        assert intake.header_block(data) is None
        assert decide(data, ALLOWED).accepted
        v = decide(data, IntakeSettings(allow_plain_files=False))
        assert (v.accepted, v.reason) == (False, "plain_file_refused")


def test_intake_settings_are_validated():
    with pytest.raises(cfg.ConfigError, match="subject_pattern"):
        IntakeSettings.from_config({"subject_pattern": "([unclosed"})
    with pytest.raises(cfg.ConfigError, match="allowed_senders"):
        IntakeSettings.from_config({"allowed_senders": ["not-an-address"]})
    s = IntakeSettings.from_config({"allowed_senders": "ActionKit@Example.com", "allow_plain_files": False})
    assert s.allowed_senders == ("actionkit@example.com",) and s.allow_plain_files is False


def test_scrub_message_keeps_partition_keys_readable():
    pk = "2026-11-21/export.csv@1a2b3c4d"
    msg = intake.scrub_message(f"Export {pk}: From jane.doe@example.org refused", pk)
    assert pk in msg and "jane.doe@" not in msg
    assert intake.safe_partition_key("jane@example.org.csv@1a2b3c4d").endswith("@1a2b3c4d")
    assert "jane@" not in intake.safe_partition_key("jane@example.org.csv@1a2b3c4d")


# ---- through the pipeline ------------------------------------------------------------------------------------


@pytest.fixture
def allow_list(tmp_path, monkeypatch):
    """orgsync.yaml with membership.intake set (the allow-list on, plain files refused)."""
    conf = yaml.safe_load(cfg.DEFAULT_CONFIG.read_text())
    conf["membership"]["intake"] = {
        "allowed_senders": ["actionkit@example.com"],
        "subject_pattern": "(?i)membership export",
        "allow_plain_files": False,
    }
    path = tmp_path / "orgsync.yaml"
    path.write_text(yaml.safe_dump(conf))
    monkeypatch.setenv("ORGSYNC_CONFIG", str(path))
    assert settings().intake.allowed_senders == ("actionkit@example.com",)
    return path


def _kept(env, pk):
    row = store.get_export(env.engine, pk)
    return env.client.get_object(Bucket=env.bucket, Key=row["archive_key"])["Body"].read()


def test_pipeline_rejects_a_spoofed_export_and_loads_an_allowed_one(env, allow_list):
    spoofed = export_eml(n=7, envelope="bounce@evil.test", dkim="none", dkim_domain="evil.test", dmarc="fail")
    pk, result = env.ingest("ses-spoof-message-id", spoofed)
    assert not result.success
    msg = failure_message(result)
    assert "rejected by the intake allow-list (unauthenticated)" in msg and "dmarc=fail" in msg
    assert "actionkit@example.com" not in msg and "m0@example.org" not in msg
    assert not mat_meta(result, SNAPSHOT_KEY)  # never parsed into a snapshot
    row = store.get_export(env.engine, pk)
    assert row["status"] == "rejected" and row["rows_in"] is None and row["error"].startswith("unauthenticated")
    assert _kept(env, pk) == spoofed  # raw kept
    (rej,) = intake.rejections(env.engine, pk)
    assert rej["reason"] == "unauthenticated" and rej["s3_key"].endswith("ses-spoof-message-id")
    assert rej["kept_copy"] == f"s3://{env.bucket}/{row['archive_key']}" and "@example.com" not in rej["detail"]
    from sqlalchemy import text

    with env.engine.connect() as conn:
        assert conn.execute(text("select count(*) from membership.snapshot_rows")).scalar() == 0
    # a plain CSV is refused by the setting, recorded and kept as well
    pk2, r2 = env.ingest("dropped.csv", b"email\na@example.org\n")
    assert not r2.success and "plain_file_refused" in failure_message(r2)
    assert [r["reason"] for r in intake.rejections(env.engine, pk2)] == ["plain_file_refused"]
    assert _kept(env, pk2) == b"email\na@example.org\n"
    # the allowed, authenticated one loads
    pk3, r3 = env.ingest("ses-good-message-id", export_eml(n=6))
    assert r3.success, failure_message(r3)
    meta = mat_meta(r3, SNAPSHOT_KEY)
    assert meta["members"] == 6 and meta["intake"] == "dmarc=pass" and meta["sender"] == "ac***@e***.com"
    assert "actionkit@example.com" not in str(meta)
    assert store.get_export(env.engine, pk3)["status"] == "loaded" and not intake.rejections(env.engine, pk3)


def test_an_export_gone_before_its_copy_is_recorded_as_unreadable(env):
    key = env.put("ses-vanished-message-id", export_eml())
    (req,) = env.sensor_tick(None).run_requests
    env.client.delete_object(Bucket=env.bucket, Key=key)
    result = env.run(req.partition_key, tags=req.tags)
    assert not result.success and "gone or was replaced" in failure_message(result)
    (rej,) = intake.rejections(env.engine, req.partition_key)
    assert rej["reason"] == "unreadable" and rej["kept_copy"] is None and rej["s3_key"] == key
    assert store.get_export(env.engine, req.partition_key)["status"] == "failed"


def test_everything_the_parser_opens_as_an_e_mail_is_judged_as_one():
    from orgsync_dagster.membership.exports.containers import looks_like_email

    body = b"\r\n\r\nemail\r\na@example.org\r\n"
    good = export_eml()
    cases = [
        SAMPLE_EML.read_bytes(),
        good,
        b"Content-Type: text/csv\r\nX-Other: 1" + body,
        b"DKIM-Signature: v=1\r\nX-Other: 1" + body,
        b"Delivered-To: x@example.org\r\nX-Other: 1" + body,
        b"X-SES-RECEIPT: abc\r\nX-Other: 1" + body,
        b"Subject:no-space\r\nFrom:a@example.com" + body,
    ]
    for data in cases:
        assert looks_like_email(data)
        assert intake.header_block(data) is not None
        assert decide(data, ALLOWED).accepted is (data is good)


def test_without_an_allow_list_production_refuses_e_mails_and_local_accepts_them_with_a_warning():
    no_list = IntakeSettings()
    refused = decide(export_eml(), no_list)
    assert not refused.accepted and refused.reason == "allow_list_missing"
    assert "allowed_senders" in refused.detail and "@" not in refused.detail
    local = decide(export_eml(), no_list, local=True)
    assert local.accepted and any("allowed_senders" in w for w in local.warnings)
    assert decide(b"email,first_name\na@example.org,A\n", no_list).accepted  # plain files follow their own setting
