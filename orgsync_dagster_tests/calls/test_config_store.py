"""The calls configuration store (the web admin page's API): versions, conflicts, history, validation with field
paths, YAML import (all or nothing) and export (exact round trip)."""

import copy
import threading

import pytest
import sqlalchemy as sa
import yaml

from orgsync_dagster.calls.config import CallsConfigError
from orgsync_dagster.calls.config_store import ConfigConflict, ConfigInvalid, ConfigStore
from orgsync_dagster.calls.tables import config_documents, config_history, van_reference_data
from orgsync_dagster.sandbox import van_seed
from orgsync_dagster_tests.calls.helpers import DEPLOYMENT, SEED, seed_data


@pytest.fixture
def store(engine):
    s = ConfigStore(engine, DEPLOYMENT)
    s.import_yaml(SEED.read_text(), by="seed")
    return s


def rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_export_of_the_imported_seed_is_the_seed_byte_for_byte_and_reimport_changes_nothing(store, engine):
    assert store.export_yaml() == SEED.read_text()
    before = rows(engine, config_history)
    report = store.import_yaml(store.export_yaml(), by="again")
    assert report.created == report.updated == report.removed == [] and len(report.unchanged) == 5
    assert rows(engine, config_history) == before  # no new versions, no history
    assert [d.version for d in store.list_candidates()] == [1, 1]


def test_save_bumps_the_version_and_keeps_who_when_and_old_to_new(store):
    doc = store.get_candidate("mo01")
    body = copy.deepcopy(doc.body)
    body["sync_hour"] = 7
    body["results"]["busy"]["include_in_csv"] = False
    assert store.save_candidate("mo01", body, by="ana@example.org", expected_version=1) == 2
    assert store.save_candidate("mo01", body, by="ana@example.org", expected_version=2) == 2  # no change: no version
    (created, updated) = store.history("mo01")
    assert (created.action, created.changed_by, updated.action, updated.changed_by) == (
        "create",
        "seed",
        "update",
        "ana@example.org",
    )
    assert updated.changes == [
        {"field": "sync_hour", "old": 6, "new": 7},
        {"field": "results['busy'].include_in_csv", "old": True, "new": False},
    ]
    assert updated.old_body["sync_hour"] == 6 and updated.new_body["sync_hour"] == 7 and updated.changed_at


def test_a_stale_version_is_refused_with_who_changed_it(store):
    doc = store.get_candidate("mo05")
    store.save_candidate("mo05", {**doc.body, "sync_hour": 8}, by="ana", expected_version=1)
    with pytest.raises(
        ConfigConflict, match=r"candidate 'mo05' is at version 2 \(saved by ana .*\), not version 1"
    ) as err:
        store.save_candidate("mo05", {**doc.body, "sync_hour": 9}, by="ben", expected_version=1)
    assert (err.value.current, err.value.updated_by) == (2, "ana")
    assert store.get_candidate("mo05").body["sync_hour"] == 8
    with pytest.raises(ConfigConflict, match="does not exist"):
        store.save_candidate("ny14", {**doc.body, "district": "ny14"}, by="ben", expected_version=3)


def test_two_first_saves_of_a_new_candidate_one_wins(store):
    body = {**store.get_candidate("mo05").body, "district": "ny14", "display_name": "NY-14"}
    outcomes = []

    def save(who):
        try:
            outcomes.append(store.save_candidate("ny14", body, by=who, expected_version=0))
        except ConfigConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=save, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o in outcomes if isinstance(o, int)) == [1]
    assert sum(isinstance(o, ConfigConflict) for o in outcomes) == 3
    assert len(store.history("ny14")) == 1


def test_validate_returns_every_problem_with_its_field(store):
    body = copy.deepcopy(store.get_candidate("mo01").body)
    body.update(strategy="sometimes", sync_hour=25, colour="red", district="mo05")
    body["report_webhook_env"] = "https://hooks.slack.com/services/T0/B0/very-secret"
    body["results"]["busy"]["value"] = "high"
    errors = {e.field: e.message for e in store.validate_candidate(body, "mo01")}
    assert set(errors) == {"colour", "strategy", "sync_hour", "report_webhook_env", "results['busy'].value"}
    assert "very-secret" not in str(errors) and "environment variable" in errors["report_webhook_env"]
    body = {**store.get_candidate("mo01").body, "district": "mo05"}
    assert [(e.field, e.message) for e in store.validate_candidate(body, "mo01")] == [
        ("district", "'mo05' is already the district of 'mo05'")
    ]
    with pytest.raises(ConfigInvalid) as err:
        store.save_candidate("mo01", body, by="x", expected_version=1)
    assert [e.field for e in err.value.errors] == ["district"] and store.get_candidate("mo01").version == 1


def test_validation_uses_the_stored_van_reference_data_like_the_check(store, engine):
    ref = van_seed.build_reference_data()
    ref["result_codes"] = [r for r in ref["result_codes"] if 1 in r["contactTypeIds"]]
    with engine.begin() as conn:
        conn.execute(
            van_reference_data.insert().values(instance="MI", mode=1, data={**ref, "result_codes_contact_type": 1})
        )
    body = copy.deepcopy(store.get_candidate("mo01").body)
    body["results"]["refused"]["result_code"] = 19  # Not Home: walk only
    body["results"]["volunteer yes"]["activist_codes"] = [18921]  # archived
    errors = {e.field: e.message for e in store.validate_candidate(body, "mo01")}
    assert set(errors) == {"results['refused'].result_code", "results['volunteer yes'].activist_codes[0]"}
    assert "18921 (Old Petition) is Archived" in errors["results['volunteer yes'].activist_codes[0]"]
    assert store.validate_candidate(store.get_candidate("mo05").body, "mo05") == []  # WI: no reference data yet


def test_import_validates_everything_first_and_writes_nothing_when_anything_is_wrong(store, engine):
    data = seed_data()
    data["candidates"]["mo01"]["display_name"] = "changed"  # a valid change ...
    data["candidates"]["mo05"]["van_instance"] = "ZZ"  # ... and two invalid ones
    data["van_instances"]["WI"]["daily_paid_budget_usd"] = -5
    before = (rows(engine, config_documents), rows(engine, config_history))
    with pytest.raises(ConfigInvalid) as err:
        store.import_yaml(yaml.safe_dump(data), by="x")
    assert {e.field for e in err.value.errors} == {
        "candidates.mo05.van_instance",
        "van_instances.WI.daily_paid_budget_usd",
    }
    assert (rows(engine, config_documents), rows(engine, config_history)) == before
    assert store.get_candidate("mo01").body["display_name"] == "MO-01 (demo, full sync)"
    with pytest.raises(CallsConfigError, match=r"not valid YAML \(line 3"):
        store.import_yaml("candidates:\n  mo01: [unclosed\n", by="x")


def test_removed_candidates_keep_their_history_and_can_come_back(store):
    assert store.remove_candidate("mo05", by="ana", expected_version=1) == 2
    assert store.candidate_slugs() == ["mo01"] and "mo05" not in store.load_settings().candidates
    assert store.get_candidate("mo05").removed
    assert "mo05" not in yaml.safe_load(store.export_yaml())["candidates"]
    report = store.import_yaml(SEED.read_text(), by="ben")  # the seed brings it back, history continued
    assert report.created == ["candidate mo05"]
    assert [h.action for h in store.history("mo05")] == ["create", "remove", "restore"]
    assert store.get_candidate("mo05").version == 3 and not store.get_candidate("mo05").removed


def test_prune_removes_what_the_file_lacks_and_instances_in_use_are_kept(store):
    data = seed_data()
    del data["candidates"]["mo05"]
    report = store.import_data(data, by="ana", prune=True)
    assert report.removed == ["candidate mo05"] and store.candidate_slugs() == ["mo01"]
    with pytest.raises(ConfigInvalid, match="candidates mo01 still send their calls to it"):
        store.remove_instance("MI", by="ana", expected_version=1)
    assert store.remove_instance("WI", by="ana", expected_version=1) == 2
    assert [i.name for i in store.list_instances()] == ["MI"]


def test_budgets_and_term_codes_are_documents_too(store):
    inst = store.get_instance("MI")
    store.save_instance("MI", {**inst.body, "daily_paid_budget_usd": 5.0}, by="ana", expected_version=1)
    settings = store.load_settings()
    assert settings.budget_for("MI") == 1500 and settings.instance("MI").cost_usd(1600) == 6.0
    assert settings.instance("MI").describe() == "1,500 requests a day (1,000 free + $5.00 paid (500))"
    terms = store.get_term_codes()
    store.save_term_codes(
        {**terms.body, "Agent - Callback": {"full_on_screen_result": "busy"}}, by="ana", expected_version=1
    )
    assert store.load_settings().term_codes["agent - callback"].full_on_screen_result == "busy"
    (_, change) = store.history("default", kind="term_codes")
    assert change.changes == [{"field": "['agent - callback']", "old": None, "new": {"full_on_screen_result": "busy"}}]
    with pytest.raises(ConfigInvalid, match="contact: must be true or false"):
        store.save_term_codes({"x": {"contact": "yes"}}, by="ana", expected_version=2)
