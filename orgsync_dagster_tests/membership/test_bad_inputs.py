"""Bad exports through the real pipeline (S3 -> sensor -> snapshot): a clear message, the raw input kept."""

import pytest

from orgsync_dagster.membership import samples, store
from orgsync_dagster.membership.assets import (
    GUARD_CHECK,
    QUARANTINE_CHECK,
    SNAPSHOT_KEY,
    SYNC_KEY,
    membership_snapshot,
)

from .pipeline_env import check_result, failure_message, mat_meta

ROWS = [samples.member(i) for i in range(12)]
CSV = samples.to_csv(ROWS)


def _no_email_column() -> bytes:
    return samples.to_csv(ROWS, [c for c in samples.COLUMNS if c != "email"])


REJECTED = {
    "empty export": ("empty.csv", b"", "is 0 bytes"),
    "header only": ("header.csv", samples.to_csv([]), "has a header but no member rows"),
    "missing key column": ("nokey.csv", _no_email_column(), "key column 'email' not found"),
    "email without attachment": ("bare.eml", samples.to_eml([]), "has no attachment"),
    "email with two attachments": (
        "two.eml",
        samples.to_eml([("a.csv", CSV), ("b.zip", samples.to_zip(CSV))]),
        "2 CSV/ZIP attachments",
    ),
    "corrupt zip": ("broken.zip", samples.to_zip(CSV)[:-40], "corrupt ZIP"),
}


def _kept(env, pk: str) -> bytes:
    row = store.get_export(env.engine, pk)
    return env.client.get_object(Bucket=env.bucket, Key=row["archive_key"])["Body"].read()


@pytest.mark.parametrize("case", list(REJECTED))
def test_unusable_export_fails_clearly_and_keeps_the_raw_input(env, case):
    name, data, expected = REJECTED[case]
    pk, result = env.ingest(f"2026-11-21/{name}", data, assets=[membership_snapshot])
    assert not result.success
    message = failure_message(result)
    assert expected in message and "raw export is kept at s3://" in message, message
    assert "Traceback" not in message
    row = store.get_export(env.engine, pk)
    assert row["status"] == "failed" and expected in row["error"]
    assert _kept(env, pk) == data


QUARANTINED = {
    "duplicate keys": (ROWS + [dict(ROWS[3], first_name="Dupe")], {"duplicate_key": 1}),
    "bad emails": (
        [dict(r, email="not-an-email") if i in (1, 5) else r for i, r in enumerate(ROWS)],
        {"invalid_email": 2},
    ),
}


@pytest.mark.parametrize("case", list(QUARANTINED))
def test_unusable_rows_are_quarantined_and_counted(env, case):
    rows, counts = QUARANTINED[case]
    data = samples.to_csv(rows)
    pk, result = env.ingest("2026-11-21/export.csv", data, assets=[membership_snapshot])
    assert result.success
    meta = mat_meta(result, SNAPSHOT_KEY)
    assert meta["quarantine_reasons"] == counts and meta["members"] == len(rows) - sum(counts.values())
    check = check_result(result, QUARANTINE_CHECK)
    assert not check.passed and str(sum(counts.values())) in check.description
    stored = store.get_export(env.engine, pk)
    assert stored["rows_quarantined"] == sum(counts.values()) and _kept(env, pk) == data
    with env.engine.connect() as conn:
        reasons = [
            r.reason
            for r in conn.execute(store.quarantine_rows.select().where(store.quarantine_rows.c.partition_key == pk))
        ]
    assert sorted(reasons) == sorted(r for r, n in counts.items() for _ in range(n))


def test_latin1_export_is_decoded(env):
    rows = [dict(r, first_name="José", mailing_city="Señora Falls") for r in ROWS]
    data = samples.to_csv(rows, encoding="latin-1")
    pk, result = env.ingest("2026-11-21/latin1.csv", data, assets=[membership_snapshot])
    assert result.success
    assert mat_meta(result, SNAPSHOT_KEY)["encoding"] in ("latin-1", "cp1252")
    names = store.load_snapshot(env.engine, pk, ["email", "first_name"])["first_name"].unique().to_list()
    assert names == ["José"] and _kept(env, pk) == data


def test_ten_times_smaller_export_is_blocked_until_approved(env):
    big = [samples.member(i) for i in range(50)]
    pk1, r1 = env.ingest("2026-11-14/export.csv", samples.to_csv(big))
    assert r1.success
    pk2, r2 = env.ingest("2026-11-21/export.csv", samples.to_csv(big[:5]))
    assert not r2.success
    guard = check_result(r2, GUARD_CHECK)
    assert not guard.passed and "45 of 50 members lapsed" in guard.description
    assert not r2.asset_materializations_for_node("__".join(SYNC_KEY))  # nothing pushed
    assert sum(p["custom_fields"]["is_member"] == "False" for p in env.dump()["people"]) == 0
    assert any("waiting for approval" in m for m in env.slack.messages)
    assert _kept(env, pk2) == samples.to_csv(big[:5])
    # a decision through run config follows the same rules as the CLI: no note, no decision (and nothing pushed)
    no_note = env.run(
        pk2, run_config={"ops": {"membership__diff": {"config": {"decision": "approve", "decided_by": "Rosa"}}}}
    )
    assert not no_note.success
    failure = next(e for e in no_note.all_events if e.is_step_failure).step_failure_data.error.message
    assert "was not recorded" in failure and "note" in failure
    assert sum(p["custom_fields"]["is_member"] == "False" for p in env.dump()["people"]) == 0
    # a person approves: the push runs
    r3 = env.run(
        pk2,
        run_config={
            "ops": {
                "membership__diff": {
                    "config": {"decision": "approve", "decided_by": "Rosa", "note": "national confirmed the purge"}
                }
            }
        },
    )
    assert r3.success and "approved by Rosa" in check_result(r3, GUARD_CHECK).description
    assert mat_meta(r3, SYNC_KEY)["lapsed_in_action_network"] == 45
