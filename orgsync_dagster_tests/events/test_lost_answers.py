"""A create whose answer was really lost (the connection dropped after VAN processed it), whose lookup failed too:
the next run's export finds the event in VAN and the ledger entry is reconciled, never left in_flight/uncertain
forever; an entry nothing can resolve is reported by the unresolved-ledger check."""

import socket

import sqlalchemy as sa

from orgsync_dagster.events.seed import seed_actionkit_events
from orgsync_dagster.lib.ledger import Ledger
from orgsync_dagster.lib.tables import sync_attempts
from orgsync_dagster.sandbox.server import SandboxServer
from orgsync_dagster_tests.events.conftest import EventsRunner, make_resources
from orgsync_dagster_tests.events.test_assets import checks, eligible_events, meta


class LossyVan(SandboxServer):
    """The sandbox, with scripted losses: the first POST /v4/events is processed and its answer dropped, the second
    is dropped before it is processed; from the first loss on, GET /v4/events answers 503 until ``heal()``."""

    def __init__(self):
        super().__init__(with_s3=False)
        self.posts = ["processed_then_dropped", "dropped_unprocessed"]
        self.lookups_fail = False

    def heal(self):
        self.posts, self.lookups_fail = [], False

    @staticmethod
    def _drop(environ, start_response):
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        start_response("500 Internal Server Error", [("Content-Length", "0")])
        return [b""]

    def __call__(self, environ, start_response):
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "").rstrip("/")
        if path == "/v4/events" and method == "POST" and self.posts:
            what = self.posts.pop(0)
            self.lookups_fail = True
            if what == "processed_then_dropped":
                b"".join(self.van(environ, lambda *a, **k: None))
            return self._drop(environ, start_response)
        if path == "/v4/events" and method == "GET" and self.lookups_fail:
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"errors": [{"code": "SERVICE_UNAVAILABLE", "text": "down"}]}']
        return super().__call__(environ, start_response)


def test_lost_create_is_reconciled_from_the_export_and_an_unresolvable_one_is_reported(
    engine, pg_url, dagster_instance, api_key, config_path
):
    rows = eligible_events(2)
    seed_actionkit_events(engine, rows)
    with LossyVan() as srv:
        res = make_resources(pg_url, srv.urls.van_url, {"MI": api_key}, config_path, max_retries=0)
        runner = EventsRunner(dagster_instance, res)
        first = runner.tick("MI")
        m1 = meta(first, "van__event_sync")
        assert m1["uncertain"] == 2 and m1["creates_done"] == 0  # both answers lost, the lookup failed too
        in_van = srv.van.dump(api_key)["events"]
        assert len(in_van) == 1  # one create did reach VAN
        reached, lost = in_van[0]["shortName"], ({str(r["id"]) for r in rows} - {in_van[0]["shortName"]}).pop()
        ledger = Ledger(engine, "van.events", "MI", "test")
        assert {k: e.status for k, e in ledger.load().items()} == {reached: "uncertain", lost: "uncertain"}
        c1 = checks(first)
        assert not c1["all_eligible_events_synced"].passed
        assert c1["no_unresolved_ledger_entries"].passed  # this run's own unknowns get one more run

        # meanwhile the event that never reached VAN lost its host in ActionKit: it is not planned any more
        lost_row = next(r for r in rows if str(r["id"]) == lost)
        seed_actionkit_events(engine, [{**lost_row, "host_is_confirmed": 0}])
        srv.heal()
        second = runner.tick("MI")
        m2 = meta(second, "van__event_sync")
        assert m2["reconciled_found_in_van"] == 1 and m2["planned_creates"] == 0 and m2["requests_spent"] == 0
        assert [e["shortName"] for e in srv.van.dump(api_key)["events"]] == [reached]  # never created twice

    entries = ledger.load()
    assert entries[reached].status == "succeeded"
    assert entries[reached].receipt == str(in_van[0]["eventId"]) and entries[reached].run_id == second.run_id
    with engine.connect() as conn:
        outcomes = conn.execute(
            sa.select(sync_attempts.c.outcome).where(sync_attempts.c.record_key == reached).order_by(sync_attempts.c.id)
        ).scalars()
        assert list(outcomes) == ["uncertain", "reconciled"]
    c2 = checks(second)
    assert c2["all_eligible_events_synced"].passed
    unresolved = c2["no_unresolved_ledger_entries"]
    assert not unresolved.passed and unresolved.metadata["unresolved_from_earlier_runs"].value == 1
    assert unresolved.metadata["uncertain"].value == 1 and lost not in (unresolved.description or "")
