import threading
import time

import pytest

from orgsync_dagster.resources.http import (
    ApiError,
    BudgetExceeded,
    DailyBudget,
    HttpClient,
    TokenBucket,
    endpoint_template,
    parse_retry_after,
)
from orgsync_dagster_tests.scripted_server import ScriptedServer


class Meter:
    def __init__(self):
        self.rows = []

    def record(self, *row):
        self.rows.append(row)


def client(url, **kw):
    sleeps = []
    kw.setdefault("sleep", sleeps.append)
    c = HttpClient(url, system="van", instance="MI", auth=("app", "secret-key|1"), **kw)
    return c, sleeps


def test_retries_429_honouring_retry_after_and_meters_every_attempt():
    meter = Meter()
    with ScriptedServer() as srv:
        srv.answer(429, {"errors": [{"code": "TOO_MANY", "text": "slow down"}]}, {"Retry-After": "7"})
        srv.answer(201, 42)
        c, sleeps = client(srv.url, meter=meter)
        assert c.request("POST", "events", json={"a": 1}).json() == 42
    assert sleeps and sleeps[0] >= 7  # honoured Retry-After
    assert [r[-1] for r in meter.rows] == [429, 201]
    assert meter.rows[0][:4] == ("van", "MI", "POST", "/v4/events")
    assert c.requests_sent == 2


def test_post_is_not_retried_on_500_and_is_flagged_uncertain():
    with ScriptedServer() as srv:
        srv.answer(500, {"errors": [{"code": "INTERNAL_SERVER_ERROR", "text": "An unknown error occurred"}]})
        srv.answer(201, 1)
        c, _ = client(srv.url)
        with pytest.raises(ApiError) as ei:
            c.request("POST", "events", json={})
        assert len(srv.seen) == 1
    err = ei.value
    assert err.uncertain and err.retryable and err.status == 500
    assert "INTERNAL_SERVER_ERROR" in str(err)


def test_upsert_post_declared_safe_is_retried_on_500_and_get_retried_on_502():
    with ScriptedServer() as srv:
        srv.answer(500).answer(201, 7).answer(502).answer(200, {"ok": 1})
        c, sleeps = client(srv.url)
        assert c.request("POST", "signups", json={}, retry_unsafe=True).json() == 7
        assert c.get_json("events/1") == {"ok": 1}
    assert len(sleeps) == 2


def test_gives_up_after_max_retries():
    with ScriptedServer() as srv:
        srv.answer(503, times=10)
        c, sleeps = client(srv.url, max_retries=3)
        with pytest.raises(ApiError) as ei:
            c.get_json("events")
    assert ei.value.status == 503 and len(sleeps) == 3 and not ei.value.uncertain


def test_4xx_error_body_is_readable_and_carries_no_secret():
    with ScriptedServer() as srv:
        srv.answer(
            400, {"errors": [{"code": "INVALID_PARAMETER", "text": "'name' is required.", "properties": ["name"]}]}
        )
        c, _ = client(srv.url)
        with pytest.raises(ApiError) as ei:
            c.request("POST", "events", json={"name": ""})
        assert srv.seen[0]["auth"].startswith("Basic ")
    msg = str(ei.value)
    assert "INVALID_PARAMETER" in msg and "'name' is required" in msg and "['name']" in msg
    assert "secret-key" not in msg and not ei.value.retryable


def test_connection_refused_on_get_is_retried_then_reported():
    c, sleeps = client("http://127.0.0.1:9/v4/", max_retries=2, timeout=1)
    with pytest.raises(ApiError) as ei:
        c.get_json("events")
    assert ei.value.status == 0 and len(sleeps) == 2 and "connection" in str(ei.value)


def test_paging_follows_next_page_link_verbatim():
    with ScriptedServer() as srv:
        base = srv.url
        srv.answer(200, {"items": [1, 2], "count": 5, "nextPageLink": base + "events?$top=2&$skip=2"})
        srv.answer(200, {"items": [3, 4], "count": 5, "nextPageLink": base + "events?$top=2&$skip=4"})
        srv.answer(200, {"items": [5], "count": 5, "nextPageLink": None})
        c, _ = client(srv.url)
        assert list(c.paginate_next_link("events", {"$top": 2, "eventTypeIds": "1"})) == [1, 2, 3, 4, 5]
    assert len(srv.seen) == 3
    assert srv.seen[1]["args"] == {"$top": "2", "$skip": "2"}  # params not re-sent


def test_refuses_to_follow_links_to_other_hosts():
    with ScriptedServer() as srv:
        srv.answer(200, {"items": [1], "nextPageLink": "http://evil.example/v4/events?$skip=1"})
        c, _ = client(srv.url)
        with pytest.raises(ApiError, match="another host"):
            list(c.paginate_next_link("events"))


def test_page_number_paging_stops_on_short_page():
    with ScriptedServer() as srv:
        srv.answer(200, {"_embedded": {"osdi:people": list(range(25))}})
        srv.answer(200, {"_embedded": {"osdi:people": [1, 2]}})
        c, _ = client(srv.url)
        assert len(list(c.paginate_pages("people", "osdi:people"))) == 27
    assert len(srv.seen) == 2


def test_budget_stops_before_sending():
    spent = {"n": 0}
    with ScriptedServer() as srv:
        c, _ = client(srv.url, budget=DailyBudget(2, lambda: spent["n"]))
        c.get_json("events")
        spent["n"] = 2
        with pytest.raises(BudgetExceeded):
            c.get_json("events")
    assert len(srv.seen) == 1


def test_token_bucket_paces_threads():
    bucket = TokenBucket(rate=50, capacity=1)
    stamps = []
    lock = threading.Lock()

    def work():
        for _ in range(10):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert len(stamps) == 40
    assert elapsed >= 39 / 50 * 0.95  # never faster than the rate


def test_endpoint_template_and_retry_after_parsing():
    assert endpoint_template("http://h/v4/people/123/canvassResponses?x=1") == "/v4/people/{id}/canvassResponses"
    assert endpoint_template("/api/v2/people/0c5d2b0e-8f1a-4c3e-9d2b-1a2b3c4d5e6f") == "/api/v2/people/{id}"
    assert parse_retry_after("3", 1.0) == 3.0
    assert parse_retry_after(None, 1.5) == 1.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 2.0) == 0.0
