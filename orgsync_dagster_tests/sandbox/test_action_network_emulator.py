"""Tests for the Action Network API v2 emulator (real HTTP over loopback + in-process)."""

from __future__ import annotations

import json
import threading
import warnings
from datetime import UTC, datetime, timedelta

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.test import Client

from orgsync_dagster.sandbox.action_network import ActionNetworkEmulator, ApiError, parse_filter

KEY = "group-key-1"


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def _live():
    emulator = ActionNetworkEmulator()
    server = make_server("127.0.0.1", 0, emulator, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield emulator, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture()
def emulator(_live):
    emu, _ = _live
    emu.reset()
    return emu


@pytest.fixture()
def base(_live, emulator):
    return _live[1] + "/api/v2/"


@pytest.fixture()
def http():
    with requests.Session() as session:
        session.headers.update({"OSDI-API-Token": KEY, "Content-Type": "application/json"})
        yield session


def signup(http, base, person, key=None, **extra):
    headers = {"OSDI-API-Token": key} if key else None
    return http.post(base + "people/", json={"person": person, **extra}, headers=headers, timeout=10)


def email(address, **kw):
    return {"email_addresses": [{"address": address, **kw}]}


class FakeClock:
    def __init__(self, start=datetime(2026, 3, 1, 9, 0, 0, tzinfo=UTC)):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


def local_client(**kw) -> tuple[ActionNetworkEmulator, Client]:
    emu = ActionNetworkEmulator(**kw)
    return emu, Client(emu)


H = {"OSDI-API-Token": KEY}


# --------------------------------------------------------------------------------------------------
# entry point, auth, isolation
# --------------------------------------------------------------------------------------------------
def test_entry_point_is_hal_json_with_absolute_links(http, base):
    r = http.get(base, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/hal+json")
    body = r.json()
    assert "motd" in body
    assert body["_links"]["osdi:people"]["href"] == base + "people"
    assert body["_links"]["osdi:person_signup_helper"]["href"] == base + "people/"
    assert http.get(base.rstrip("/"), timeout=10).status_code == 200


def test_missing_or_revoked_key_is_401(emulator, http, base):
    r = requests.get(base + "people", timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": "API Key invalid or not present"}
    assert r.headers["Content-Type"].startswith("application/hal+json")

    assert http.get(base + "people", timeout=10).status_code == 200
    emulator.revoke_key(KEY)
    r = http.get(base + "people", timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "API Key invalid or not present"
    assert signup(http, base, email("a@x.org")).status_code == 401
    # other keys unaffected
    assert http.get(base + "people", headers={"OSDI-API-Token": "other"}, timeout=10).status_code == 200
    emulator.reset()
    assert http.get(base + "people", timeout=10).status_code == 200


def test_accepted_keys_restricts_valid_keys():
    _, c = local_client(accepted_keys=["good"])
    assert c.get("/api/v2/people", headers={"OSDI-API-Token": "good"}).status_code == 200
    assert c.get("/api/v2/people", headers={"OSDI-API-Token": "bad"}).status_code == 401


def test_each_key_has_its_own_database(emulator, http, base):
    assert signup(http, base, email("a@x.org"), key="group-a").status_code == 200
    assert signup(http, base, email("b@x.org"), key="group-b").status_code == 200
    assert signup(http, base, email("b2@x.org"), key="group-b").status_code == 200
    a = http.get(base + "people", headers={"OSDI-API-Token": "group-a"}, timeout=10).json()
    assert [p["email_addresses"][0]["address"] for p in a["_embedded"]["osdi:people"]] == ["a@x.org"]
    assert len(emulator.dump("group-b")["people"]) == 2
    assert emulator.dump("group-c")["people"] == []
    assert emulator.stats("group-a")["signup_helper_posts"] == 1


def test_unknown_route_and_wrong_method(http, base):
    r = http.get(base + "nope", timeout=10)
    assert r.status_code == 404 and "error" in r.json()
    r = http.delete(base + "people", timeout=10)
    assert r.status_code == 405 and "error" in r.json()
    _, c = local_client()
    assert c.get("/v4/events", headers=H).status_code == 404


# --------------------------------------------------------------------------------------------------
# person signup helper
# --------------------------------------------------------------------------------------------------
def test_signup_creates_person_with_defaults(emulator, http, base):
    r = signup(
        http,
        base,
        {
            "given_name": "Jane",
            "family_name": "Doe",
            "email_addresses": [{"address": "jane@x.org", "primary": True}],
            "phone_numbers": [{"number": "(202) 555-0100"}],
            "postal_addresses": [
                {
                    "address_lines": ["1 Main St"],
                    "locality": "Boston",
                    "region": "MA",
                    "postal_code": "02130",
                    "country": "US",
                }
            ],
            "custom_fields": {"is_member": "True"},
        },
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/hal+json")
    p = r.json()
    assert len(p["identifiers"]) == 1 and p["identifiers"][0].startswith("action_network:")
    pid = p["identifiers"][0].split(":", 1)[1]
    assert p["_links"]["self"]["href"] == f"{base}people/{pid}"
    assert p["created_date"] == p["modified_date"]
    assert p["email_addresses"] == [{"primary": True, "address": "jane@x.org", "status": "subscribed"}]
    assert p["phone_numbers"][0]["number"] == "12025550100"
    assert p["phone_numbers"][0]["status"] == "unsubscribed"  # mobile defaults to unsubscribed
    assert p["postal_addresses"][0]["region"] == "MA"
    assert p["custom_fields"] == {"is_member": "True"}
    # the trailing-slash-less path works too (Parsons posts there)
    assert http.post(base + "people", json={"person": email("j2@x.org")}, timeout=10).status_code == 200
    assert len(emulator.dump(KEY)["people"]) == 2


def test_signup_updates_existing_person_matched_by_email_case_insensitively(emulator, http, base):
    first = signup(
        http,
        base,
        {"given_name": "Jane", **email("Jane.Doe@Example.org"), "custom_fields": {"is_member": "True", "union": "yes"}},
    ).json()
    second = signup(http, base, {**email("jane.doe@example.ORG"), "custom_fields": {"is_member": "False"}}).json()
    assert second["identifiers"] == first["identifiers"]
    assert second["created_date"] == first["created_date"]
    assert second["modified_date"] != second["created_date"]  # clients infer "updated" from this
    assert second["given_name"] == "Jane"  # not provided -> unchanged
    assert second["custom_fields"] == {"is_member": "False", "union": "yes"}  # merged
    dump = emulator.dump(KEY)
    assert len(dump["people"]) == 1
    assert dump["people"][0]["email_addresses"][0]["address"] == "Jane.Doe@Example.org"
    assert dump["stats"]["people_created"] == 1 and dump["stats"]["people_updated"] == 1


def test_email_status_rules(http, base):
    p = signup(http, base, email("u@x.org", status="unsubscribed")).json()
    assert p["email_addresses"][0]["status"] == "unsubscribed"
    # re-posting without a status leaves it alone; read-only statuses are ignored
    assert signup(http, base, email("u@x.org")).json()["email_addresses"][0]["status"] == "unsubscribed"
    assert (
        signup(http, base, email("u@x.org", status="bouncing")).json()["email_addresses"][0]["status"] == "unsubscribed"
    )
    assert (
        signup(http, base, email("u@x.org", status="subscribed")).json()["email_addresses"][0]["status"] == "subscribed"
    )
    # a "bouncing" status on a new person is ignored -> subscribed
    assert (
        signup(http, base, email("n@x.org", status="bouncing")).json()["email_addresses"][0]["status"] == "subscribed"
    )


def test_mobile_status_rules(http, base):
    p = signup(
        http, base, {**email("m@x.org"), "phone_numbers": [{"number": "12025550101", "status": "subscribed"}]}
    ).json()
    assert p["phone_numbers"][0]["status"] == "subscribed"
    p = signup(http, base, {**email("m@x.org"), "phone_numbers": [{"number": "2025550101"}]}).json()
    assert p["phone_numbers"][0]["status"] == "subscribed"  # same number, no status -> unchanged


def test_signup_matches_by_phone_when_no_email(emulator, http, base):
    first = signup(http, base, {"phone_numbers": [{"number": "617-555-0123"}], "given_name": "Pat"}).json()
    assert first["email_addresses"] == []
    second = signup(http, base, {"phone_numbers": [{"number": "16175550123"}], "family_name": "Lee"}).json()
    assert second["identifiers"] == first["identifiers"]
    assert (second["given_name"], second["family_name"]) == ("Pat", "Lee")
    # an e-mail posted with that phone lands on the phone-only record
    third = signup(http, base, {**email("pat@x.org"), "phone_numbers": [{"number": "6175550123"}]}).json()
    assert third["identifiers"] == first["identifiers"]
    assert len(emulator.dump(KEY)["people"]) == 1


def test_phone_moves_to_new_person_or_merges_phone_only_record():
    emu, c = local_client(seed_tags=["volunteer"])
    a = c.post(
        "/api/v2/people/", headers=H, json={"person": {**email("a@x.org"), "phone_numbers": [{"number": "2025550111"}]}}
    ).json
    b = c.post(
        "/api/v2/people/", headers=H, json={"person": {**email("b@x.org"), "phone_numbers": [{"number": "2025550111"}]}}
    ).json
    assert a["identifiers"] != b["identifiers"]
    people = {p["email_addresses"][0]["address"]: p for p in emu.dump(KEY)["people"]}
    assert people["a@x.org"]["phone_numbers"] == []
    assert people["b@x.org"]["phone_numbers"][0]["number"] == "12025550111"

    # phone-only record + existing e-mail person posting that phone -> one merged record
    c.post(
        "/api/v2/people/",
        headers=H,
        json={
            "person": {
                "phone_numbers": [{"number": "2025550199", "status": "subscribed"}],
                "custom_fields": {"shift": "am"},
            },
            "add_tags": ["volunteer"],
        },
    )
    assert len(emu.dump(KEY)["people"]) == 3
    merged = c.post(
        "/api/v2/people/", headers=H, json={"person": {**email("a@x.org"), "phone_numbers": [{"number": "2025550199"}]}}
    ).json
    assert merged["identifiers"] == a["identifiers"]
    assert merged["custom_fields"] == {"shift": "am"}
    assert merged["phone_numbers"][0]["status"] == "subscribed"
    dump = emu.dump(KEY)
    assert len(dump["people"]) == 2
    assert [p["tags"] for p in dump["people"] if p["identifiers"] == a["identifiers"]] == [["volunteer"]]


@pytest.mark.parametrize(
    "payload, fragment",
    [
        ({}, "person"),
        ({"person": "jane@x.org"}, "person"),
        ({"person": {"given_name": "No Contact"}}, "email address or phone"),
        ({"person": {"email_addresses": []}}, "email address or phone"),
        ({"person": email("not-an-email")}, "invalid"),
        ({"person": email("a b@x.org")}, "invalid"),
        ({"person": email("a@x")}, "invalid"),
        ({"person": {**email("a@x.org"), "custom_fields": {"is_member": True}}}, "strings"),
        ({"person": {**email("a@x.org"), "custom_fields": {"dues": 12}}}, "strings"),
        ({"person": {**email("a@x.org"), "custom_fields": ["is_member"]}}, "custom_fields"),
        ({"person": {**email("a@x.org"), "given_name": 5}}, "given_name"),
        ({"person": {"phone_numbers": [{"number": "123"}]}}, "Phone"),
        ({"person": email("a@x.org"), "add_tags": "member"}, "add_tags"),
    ],
)
def test_signup_400s(emulator, http, base, payload, fragment):
    r = http.post(base + "people/", json=payload, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"error"} and fragment.lower() in body["error"].lower()
    assert emulator.dump(KEY)["people"] == []


def test_invalid_json_body_is_400(emulator, http, base):
    r = http.post(base + "people/", data="{not json", timeout=10)
    assert r.status_code == 400 and "error" in r.json()
    r = http.post(base + "people/", data="[1, 2]", timeout=10)
    assert r.status_code == 400


def test_background_request_returns_empty_body_and_applies(emulator, http, base):
    r = http.post(
        base + "people/?background_request=true",
        json={"person": {**email("bg@x.org"), "custom_fields": {"is_member": "True"}}},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json() == {}
    people = emulator.dump(KEY)["people"]
    assert len(people) == 1 and people[0]["custom_fields"] == {"is_member": "True"}
    pid = people[0]["id"]
    r = http.put(
        f"{base}people/{pid}?background_request=true", json={"custom_fields": {"is_member": "False"}}, timeout=10
    )
    assert r.status_code == 200 and r.json() == {}
    assert emulator.dump(KEY)["people"][0]["custom_fields"] == {"is_member": "False"}
    assert emulator.stats(KEY)["background_requests"] == 2


def test_tags_created_and_only_existing_names_applied(emulator, http, base):
    r = http.post(base + "tags", json={"name": "member"}, timeout=10)
    assert r.status_code == 200
    tag = r.json()
    assert tag["name"] == "member" and tag["identifiers"][0].startswith("action_network:")
    # creating again returns the same tag
    assert http.post(base + "tags", json={"name": "member"}, timeout=10).json()["identifiers"] == tag["identifiers"]
    assert http.post(base + "tags", json={}, timeout=10).status_code == 400

    signup(http, base, email("t@x.org"), add_tags=["member", "does-not-exist"])
    people = emulator.dump(KEY)["people"]
    assert people[0]["tags"] == ["member"]
    tags = http.get(base + "tags", timeout=10).json()
    assert [t["name"] for t in tags["_embedded"]["osdi:tags"]] == ["member"]
    tag_id = tag["identifiers"][0].split(":", 1)[1]
    taggings = http.get(f"{base}tags/{tag_id}/taggings", timeout=10).json()["_embedded"]["osdi:taggings"]
    assert taggings[0]["_links"]["osdi:person"]["href"] == f"{base}people/{people[0]['id']}"
    assert http.get(f"{base}tags/missing", timeout=10).status_code == 404
    signup(http, base, email("t@x.org"), remove_tags=["member"])
    assert emulator.dump(KEY)["people"][0]["tags"] == []


# --------------------------------------------------------------------------------------------------
# GET / PUT person, custom fields metadata
# --------------------------------------------------------------------------------------------------
def test_get_person_and_404(http, base):
    p = signup(http, base, email("g@x.org")).json()
    pid = p["identifiers"][0].split(":", 1)[1]
    got = http.get(f"{base}people/{pid}", timeout=10)
    assert got.status_code == 200 and got.json()["identifiers"] == p["identifiers"]
    missing = http.get(f"{base}people/abc-123", timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"error": "Couldn't find person with id = abc-123"}
    assert http.put(f"{base}people/abc-123", json={"given_name": "x"}, timeout=10).status_code == 404


def test_put_is_an_upsert_with_custom_field_merge(emulator, http, base):
    p = signup(
        http,
        base,
        {
            "given_name": "Lapsed",
            "family_name": "Member",
            **email("l@x.org"),
            "custom_fields": {"is_member": "True", "branch": "north"},
        },
    ).json()
    pid = p["identifiers"][0].split(":", 1)[1]
    r = http.put(
        f"{base}people/{pid}",
        json={"email_addresses": [{"address": "l@x.org"}], "custom_fields": {"is_member": "False"}},
        timeout=10,
    )
    assert r.status_code == 200
    body = r.json()
    assert body["custom_fields"] == {"is_member": "False", "branch": "north"}
    assert body["given_name"] == "Lapsed" and body["family_name"] == "Member"
    # explicit null removes
    body = http.put(
        f"{base}people/{pid}", json={"family_name": None, "custom_fields": {"branch": None}}, timeout=10
    ).json()
    assert "family_name" not in body and body["custom_fields"] == {"is_member": "False"}
    assert http.put(f"{base}people/{pid}", json={"custom_fields": {"x": 1}}, timeout=10).status_code == 400
    s = emulator.stats(KEY)
    assert (s["person_puts"], s["puts"], s["signup_helper_posts"]) == (3, 3, 1)


def test_put_can_change_email_but_not_steal_one(emulator, http, base):
    a = signup(http, base, email("a@x.org")).json()
    signup(http, base, email("b@x.org"))
    aid = a["identifiers"][0].split(":", 1)[1]
    r = http.put(f"{base}people/{aid}", json={"email_addresses": [{"address": "b@x.org"}]}, timeout=10)
    assert r.status_code == 400
    r = http.put(f"{base}people/{aid}", json={"email_addresses": [{"address": "a2@x.org"}]}, timeout=10)
    assert r.status_code == 200 and r.json()["email_addresses"][0]["address"] == "a2@x.org"
    assert signup(http, base, email("A2@x.org")).json()["identifiers"] == a["identifiers"]
    assert len(emulator.dump(KEY)["people"]) == 2


def test_put_requires_email_quirk_is_optional():
    emu, c = local_client(put_requires_email=True)
    p = c.post("/api/v2/people/", headers=H, json={"person": email("q@x.org")}).json
    pid = p["identifiers"][0].split(":", 1)[1]
    r = c.put(f"/api/v2/people/{pid}", headers=H, json={"custom_fields": {"is_member": "False"}})
    assert r.status_code == 500 and "error" in r.json
    assert emu.dump(KEY)["people"][0]["custom_fields"] == {}
    r = c.put(
        f"/api/v2/people/{pid}",
        headers=H,
        json={"email_addresses": [{"address": "q@x.org"}], "custom_fields": {"is_member": "False"}},
    )
    assert r.status_code == 200 and r.json["custom_fields"] == {"is_member": "False"}


def test_custom_fields_metadata_lists_names_seen(http, base):
    signup(http, base, {**email("c1@x.org"), "custom_fields": {"is_member": "True"}})
    signup(http, base, {**email("c2@x.org"), "custom_fields": {"employer": "ACME", "is_member": "False"}})
    body = http.get(base + "metadata/custom_fields", timeout=10).json()
    assert [f["name"] for f in body["action_network:custom_fields"]] == ["employer", "is_member"]


# --------------------------------------------------------------------------------------------------
# collection paging and filters
# --------------------------------------------------------------------------------------------------
def test_people_paging_25_per_page_next_always_present(emulator, http, base):
    emulator.database(KEY).seed(60)
    sizes, page = [], 1
    seen: list[str] = []
    while True:
        r = http.get(base + "people", params={"page": page, "per_page": 100}, timeout=10)  # clamped
        body = r.json()
        assert body["per_page"] == 25 and body["page"] == page
        assert "total_pages" not in body and "total_records" not in body
        assert f"page={page + 1}" in body["_links"]["next"]["href"]  # even on the last page
        assert body["_links"]["next"]["href"].startswith(base + "people?")
        batch = body["_embedded"]["osdi:people"]
        assert [link["href"] for link in body["_links"]["osdi:people"]] == [p["_links"]["self"]["href"] for p in batch]
        sizes.append(len(batch))
        seen += [p["identifiers"][0] for p in batch]
        if not batch:
            break
        page += 1
    assert sizes == [25, 25, 10, 0]
    assert len(set(seen)) == 60
    # following next links keeps the other query params
    body = http.get(base + "people", params={"per_page": 10, "filter": "family_name eq 'Baker'"}, timeout=10).json()
    nxt = body["_links"]["next"]["href"]
    assert "per_page=10" in nxt and "filter=" in nxt
    assert http.get(nxt, timeout=10).status_code == 200
    assert emulator.stats(KEY)["gets"] == 6


def test_filters_over_http(http, base):
    signup(
        http,
        base,
        {
            "given_name": "Ann",
            "family_name": "Ox",
            **email("Ann@x.org"),
            "phone_numbers": [{"number": "2025550177"}],
            "postal_addresses": [{"region": "NY", "postal_code": "10001"}],
        },
    )
    b = signup(http, base, {"given_name": "Bo", "family_name": "Ox", **email("bo@x.org")}).json()

    def names(flt):
        r = http.get(base + "people", params={"filter": flt}, timeout=10)
        assert r.status_code == 200, r.text
        return sorted(p["given_name"] for p in r.json()["_embedded"]["osdi:people"])

    assert names("email_address eq 'ann@X.org'") == ["Ann"]
    assert names("given_name eq 'Bo'") == ["Bo"]
    assert names("family_name eq 'Ox'") == ["Ann", "Bo"]
    assert names("family_name eq 'Ox' and given_name eq 'Ann'") == ["Ann"]
    assert names(f"identifier eq '{b['identifiers'][0]}'") == ["Bo"]
    assert names("phone_number eq '12025550177'") == ["Ann"]
    assert names("region eq 'NY'") == ["Ann"]
    assert names("postal_code eq '10001'") == ["Ann"]
    assert names("email_address eq 'nobody@x.org'") == []
    assert names("modified_date gt '2000-01-01'") == ["Ann", "Bo"]
    assert names("created_date lt '2000-01-01'") == []


def test_date_filters_with_controlled_clock():
    clock = FakeClock()
    emu, c = local_client(clock=clock)
    c.post("/api/v2/people/", headers=H, json={"person": email("old@x.org")})
    clock.advance(days=2)
    c.post("/api/v2/people/", headers=H, json={"person": email("new@x.org")})
    clock.advance(days=2)
    c.post("/api/v2/people/", headers=H, json={"person": email("old@x.org")})  # touch old one

    def emails(flt):
        r = c.get("/api/v2/people", headers=H, query_string={"filter": flt})
        assert r.status_code == 200, r.json
        return sorted(p["email_addresses"][0]["address"] for p in r.json["_embedded"]["osdi:people"])

    assert emails("created_date gt '2026-03-02'") == ["new@x.org"]
    assert emails("created_date lt '2026-03-02'") == ["old@x.org"]
    assert emails("modified_date gt '2026-03-04T00:00:00Z'") == ["old@x.org"]
    assert emails("modified_date lt '2026-03-04T00:00:00Z'") == ["new@x.org"]
    assert emails("created_date eq '2026-03-03'") == ["new@x.org"]
    assert emails("modified_date gt '2026-03-01T08:00:00' and created_date lt '2026-03-02'") == ["old@x.org"]
    assert emu.dump(KEY)["people"][0]["modified_date"] == "2026-03-05T09:00:00Z"


@pytest.mark.parametrize(
    "flt",
    [
        "",
        "email_address eq a@x.org",
        "email_address eq 'a@x.org",
        "email_address = 'a@x.org'",
        "email_address ne 'a@x.org'",
        "email eq 'a@x.org'",
        "given_name gt 'A'",
        "modified_date gt 'yesterday'",
        "given_name eq 'A' or given_name eq 'B'",
        "given_name eq 'A' and",
    ],
)
def test_malformed_filter_is_400(http, base, flt):
    r = http.get(base + "people", params={"filter": flt}, timeout=10)
    assert r.status_code == 400
    assert set(r.json()) == {"error"}


def test_parse_filter_unit():
    assert parse_filter("email_address eq 'o''brien@x.org'") == [("email_address", "eq", "o'brien@x.org")]
    assert parse_filter("modified_date GT '2026-01-01' AND given_name eq 'A'") == [
        ("modified_date", "gt", "2026-01-01"),
        ("given_name", "eq", "A"),
    ]
    with pytest.raises(ApiError) as err:
        parse_filter("nope")
    assert err.value.status == 400


# --------------------------------------------------------------------------------------------------
# counters, seed, reset, concurrency
# --------------------------------------------------------------------------------------------------
def test_stats_count_one_request_per_write(emulator, http, base):
    for i in range(5):
        signup(http, base, {**email(f"s{i}@x.org"), "custom_fields": {"is_member": "True"}})
    http.get(base + "people", timeout=10)
    stats = emulator.dump(KEY)["stats"]
    assert stats["posts"] == 5 and stats["signup_helper_posts"] == 5
    assert stats["gets"] == 1 and stats["puts"] == 0 and stats["requests"] == 6
    assert emulator.database(KEY).log[-1]["path"] == "/api/v2/people"


def test_seed_people_is_deterministic_and_dump_is_json():
    a = ActionNetworkEmulator(seed_people=30, seed_tags=["member"])
    b = ActionNetworkEmulator(seed_people=30, seed_tags=["member"])
    da, db_ = a.dump("k"), b.dump("k")
    assert len(da["people"]) == 30
    assert da["people"] == db_["people"]
    assert a.dump("other")["people"][0]["id"] != da["people"][0]["id"]  # per key
    assert len({p["email_addresses"][0]["address"] for p in da["people"]}) == 30
    assert [t["name"] for t in da["tags"]] == ["member"]
    json.dumps(da)  # JSON-able
    assert set(da) == {"people", "tags", "custom_fields", "stats"}
    assert set(da["people"][0]) >= {
        "id",
        "identifiers",
        "email_addresses",
        "phone_numbers",
        "custom_fields",
        "created_date",
        "modified_date",
        "tags",
    }
    assert ActionNetworkEmulator().dump("k")["people"] == []


def test_reset_drops_databases(emulator, http, base):
    signup(http, base, email("r@x.org"))
    assert emulator.keys() == [KEY]
    emulator.reset()
    assert emulator.keys() == []
    assert emulator.dump(KEY)["people"] == []


def test_concurrent_signups_are_safe(emulator, base):
    errors: list[str] = []

    def worker(n: int) -> None:
        with requests.Session() as s:
            s.headers["OSDI-API-Token"] = KEY
            for i in range(25):
                r = s.post(
                    base + "people/",
                    json={"person": {**email(f"w{n}-{i}@x.org"), "custom_fields": {"is_member": "True"}}},
                    timeout=10,
                )
                if r.status_code != 200:
                    errors.append(r.text)
                # and everyone hammers one shared address
                r = s.post(base + "people/", json={"person": email("shared@x.org")}, timeout=10)
                if r.status_code != 200:
                    errors.append(r.text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    dump = emulator.dump(KEY)
    assert len(dump["people"]) == 201
    assert dump["stats"]["signup_helper_posts"] == 400
    assert dump["stats"]["people_created"] == 201


# --------------------------------------------------------------------------------------------------
# Parsons works against the emulator unchanged (only the base URL is pointed at it)
# --------------------------------------------------------------------------------------------------
def test_parsons_action_network_against_emulator(emulator, base):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("parsons")
        from parsons import ActionNetwork

    an = ActionNetwork(api_token=KEY)
    an.api_url = base.rstrip("/")
    an.api.uri = base

    created = an.upsert_person(
        email_address="Member@X.org",
        given_name="Mem",
        family_name="Ber",
        mobile_number="617-555-0142",
        is_member="True",
    )
    assert created["created_date"] == created["modified_date"]
    updated = an.upsert_person(email_address="member@x.org", is_member="False")
    assert updated["identifiers"] == created["identifiers"]
    assert updated["created_date"] != updated["modified_date"]
    assert updated["custom_fields"] == {"is_member": "False"}

    for i in range(30):
        an.upsert_person(email_address=f"p{i}@x.org", given_name=f"P{i}")
    people = an.get_people()
    assert people.num_rows == 31
    filtered = an.get_people(filter="email_address eq 'member@x.org'")
    assert filtered.num_rows == 1
    pid = created["identifiers"][0].split(":", 1)[1]
    assert an.get_person(pid)["given_name"] == "Mem"
    an.update_person(pid, custom_fields={"is_member": "True"})
    assert an.get_person(pid)["custom_fields"] == {"is_member": "True"}
    assert [f["name"] for f in an.get_custom_fields()["action_network:custom_fields"]] == ["is_member"]
    an.add_tag("member")
    assert an.get_tags().num_rows == 1

    stats = emulator.stats(KEY)
    assert stats["signup_helper_posts"] == 32
    assert stats["person_puts"] == 1
    # 31 people -> pages of 25, 6 and one empty page; then the filtered listing (1 + empty page)
    assert stats["gets"] >= 3 + 2
