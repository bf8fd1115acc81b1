"""``VanEmulator``: a local, faithful emulator of NGP VAN API v4 as a werkzeug WSGI app.

Serves ``/v4/...`` with VAN's auth (HTTP Basic, password ``<apiKey>|0`` MyVoters /
``<apiKey>|1`` MyCampaign), status codes, error bodies and paging. One in-memory database per
(apiKey, mode), seeded on first use from ``van_seed``. Latency / faults / rate limits are not
here (``sandbox/server.py`` wraps the emulators).

Behaviour notes (documented choices where VAN's exact behaviour is unknown):

* Paths are matched case-insensitively, a trailing ``/`` is ignored, query parameter names are
  case-insensitive (Parsons sends ``vanID``).
* ``$orderby`` supports top-level properties with ``asc``/``desc``; unknown properties are ignored.
  Default order is by id (creation order).
* ``GET /events`` ``startingAfter`` / ``startingBefore`` compare the event's *local start date*
  (from its own offset) exclusively: ``after < startDate < before``.
* ``PATCH /events/{id}`` ``isActive:false`` hides the event (404 / not listed) until restored;
  ``DELETE`` removes the event and its signups.
* ``POST /people/find`` and ``POST /people/{vanId}`` answer a match like findOrCreate does:
  302 Found + ``Location`` + ``{"vanId", "status": "Matched"}``.
* ``reset()`` also clears revoked keys.
"""

from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from orgsync_dagster.sandbox import van_bulk as bk
from orgsync_dagster.sandbox import van_bulk_worker as bk_files
from orgsync_dagster.sandbox import van_canvass as cv
from orgsync_dagster.sandbox import van_events as ev
from orgsync_dagster.sandbox import van_locations as loc
from orgsync_dagster.sandbox import van_people as pp
from orgsync_dagster.sandbox import van_seed
from orgsync_dagster.sandbox import van_signups as su
from orgsync_dagster.sandbox.van_core import (
    Call,
    VanError,
    bad_param,
    json_response,
    norm,
    not_found,
)
from orgsync_dagster.sandbox.van_db import VanDatabase

log = logging.getLogger(__name__)

MODES = {0: "MyVoters", 1: "MyCampaign"}
REF_DEFAULT_TOP, REF_MAX_TOP = 50, 200


# ---------------------------------------------------------------------------------------------
# Reference-data handlers (small enough to live here)
# ---------------------------------------------------------------------------------------------
def _arg_list(call: Call, name: str) -> list[str] | None:
    values = [v for k, v in call.request.args.items(multi=True) if k.lower() == name.lower()]
    parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
    return parts or None


def result_codes(call: Call) -> Response:
    db = call.db
    contact_type_id, input_type_id = call.int_arg("contactTypeId"), call.int_arg("inputTypeId")
    if contact_type_id is not None and contact_type_id not in db.contact_types:
        raise bad_param("'contactTypeId' must be a valid contact type.", "contactTypeId")
    if input_type_id is not None and input_type_id not in db.input_types:
        raise bad_param("'inputTypeId' must be a valid input type.", "inputTypeId")
    return json_response(
        [
            {k: v for k, v in rc.items() if k != "contactTypeIds"}
            for rc in db.result_codes.values()
            if contact_type_id is None or contact_type_id in rc["contactTypeIds"]
        ]
    )


def contact_types(call: Call) -> Response:
    input_type_id = call.int_arg("inputTypeId")
    if input_type_id is not None and input_type_id not in call.db.input_types:
        raise bad_param("'inputTypeId' must be a valid input type.", "inputTypeId")
    return json_response(copy.deepcopy(list(call.db.contact_types.values())))


def input_types(call: Call) -> Response:
    return json_response(copy.deepcopy(list(call.db.input_types.values())))


def _filter_coded(call: Call, items: Iterable[dict[str, Any]], text_prop: str) -> list[dict[str, Any]]:
    statuses = {norm(s) for s in _arg_list(call, "statuses") or []}
    name, kind = norm(call.arg("name")), norm(call.arg("type"))
    text = norm(call.arg(text_prop))
    return [
        i
        for i in items
        if (not statuses or norm(i["status"]) in statuses)
        and (not name or name in norm(i["name"]))
        and (not kind or kind == norm(i["type"]))
        and (not text or text in norm(i.get("scriptQuestion")))
    ]


def survey_questions(call: Call) -> Response:
    items = _filter_coded(call, call.db.survey_questions.values(), "question")
    cycle = call.int_arg("cycle")
    items = [q for q in items if cycle is None or q["cycle"] == cycle]
    return call.page(items, REF_DEFAULT_TOP, REF_MAX_TOP, view=copy.deepcopy)


def survey_question(call: Call, question_id: int) -> Response:
    question = call.db.survey_questions.get(question_id)
    if question is None:
        raise not_found(f"Survey question {question_id} not found.")
    return json_response(copy.deepcopy(question))


def activist_codes(call: Call) -> Response:
    items = _filter_coded(call, call.db.activist_codes.values(), "question")
    return call.page(items, REF_DEFAULT_TOP, REF_MAX_TOP, view=copy.deepcopy)


def activist_code(call: Call, code_id: int) -> Response:
    code = call.db.activist_codes.get(code_id)
    if code is None:
        raise not_found(f"Activist code {code_id} not found.")
    return json_response(copy.deepcopy(code))


def codes(call: Call) -> Response:
    kind, name = norm(call.arg("codeType")), norm(call.arg("name"))
    items = [
        c
        for c in call.db.codes.values()
        if (not kind or norm(c["codeType"]) == kind) and (not name or name in norm(c["name"]))
    ]
    return call.page(items, REF_DEFAULT_TOP, REF_MAX_TOP, view=copy.deepcopy)


def code(call: Call, code_id: int) -> Response:
    found = call.db.codes.get(code_id)
    if found is None:
        raise not_found(f"Code {code_id} not found.")
    return json_response(copy.deepcopy(found))


def api_key_profiles(call: Call) -> Response:
    db = call.db
    profile = {
        "databaseName": f"Sandbox {MODES[db.mode]}",
        "hasMyVoters": True,
        "hasMyCampaign": True,
        "committeeName": "OrgSync Sandbox Committee",
        "apiKeyTypeName": "Custom Integration",
        "keyReference": db.key[-4:],
        "userFirstName": "API",
        "userLastName": "User",
        "username": "api.user",
    }
    return call.page([profile], REF_DEFAULT_TOP, REF_MAX_TOP)


def echoes(call: Call) -> Response:
    return json_response(call.body())


_ROUTES: list[tuple[str, list[str], Callable[..., Response]]] = [
    ("/v4/events", ["GET"], ev.list_events),
    ("/v4/events", ["POST"], ev.create_event),
    ("/v4/events/types", ["GET"], ev.list_event_types),
    ("/v4/events/types/<int:type_id>", ["GET"], ev.get_event_type),
    ("/v4/events/<int:event_id>", ["GET"], ev.get_event),
    ("/v4/events/<int:event_id>", ["PUT"], ev.put_event),
    ("/v4/events/<int:event_id>", ["PATCH"], ev.patch_event),
    ("/v4/events/<int:event_id>", ["DELETE"], ev.delete_event),
    ("/v4/events/<int:event_id>/shifts", ["POST"], ev.add_shift),
    ("/v4/locations", ["GET"], loc.list_locations),
    ("/v4/locations", ["POST"], loc.create_location),
    ("/v4/locations/findOrCreate", ["POST"], loc.find_or_create_location),
    ("/v4/locations/<int:location_id>", ["GET"], loc.get_location),
    ("/v4/locations/<int:location_id>", ["DELETE"], loc.delete_location),
    ("/v4/signups", ["GET"], su.list_signups),
    ("/v4/signups", ["POST"], su.upsert_signup),
    ("/v4/signups/statuses", ["GET"], su.list_statuses),
    ("/v4/signups/<int:signup_id>", ["GET"], su.get_signup),
    ("/v4/signups/<int:signup_id>", ["PUT"], su.put_signup),
    ("/v4/signups/<int:signup_id>", ["DELETE"], su.delete_signup),
    ("/v4/people", ["GET"], pp.search_people),
    ("/v4/people/find", ["POST"], pp.find_person),
    ("/v4/people/findOrCreate", ["POST"], pp.find_or_create_person),
    ("/v4/people/<ref>", ["GET"], pp.get_person),
    ("/v4/people/<ref>", ["POST"], pp.update_person),
    ("/v4/people/<ref>/canvassResponses", ["POST"], cv.post_canvass_responses),
    ("/v4/canvassResponses/resultCodes", ["GET"], result_codes),
    ("/v4/canvassResponses/contactTypes", ["GET"], contact_types),
    ("/v4/canvassResponses/inputTypes", ["GET"], input_types),
    ("/v4/surveyQuestions", ["GET"], survey_questions),
    ("/v4/surveyQuestions/<int:question_id>", ["GET"], survey_question),
    ("/v4/activistCodes", ["GET"], activist_codes),
    ("/v4/activistCodes/<int:code_id>", ["GET"], activist_code),
    ("/v4/codes", ["GET"], codes),
    ("/v4/codes/<int:code_id>", ["GET"], code),
    ("/v4/apiKeyProfiles", ["GET"], api_key_profiles),
    ("/v4/echoes", ["POST"], echoes),
    *bk.ROUTES,  # bulk import jobs (van_bulk.py)
]


def _unauthorized(text: str) -> VanError:
    return VanError(401, "INVALID_CREDENTIALS", text, headers={"WWW-Authenticate": 'Basic realm="api.securevan.com"'})


# ---------------------------------------------------------------------------------------------
class VanEmulator:
    """WSGI app emulating NGP VAN API v4 (see module docstring)."""

    def __init__(
        self,
        *,
        seed_people: int = van_seed.DEFAULT_SEED_PEOPLE,
        clock: Callable[[], datetime] | None = None,
        accepted_keys: Iterable[str] | None = None,
    ):
        """``accepted_keys``: only these API keys are valid (others answer 401, as real VAN does for an unknown
        key); default: any key gets its own database."""
        self.seed_people = seed_people
        self.accepted_keys = set(accepted_keys) if accepted_keys is not None else None
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._databases: dict[tuple[str, int], VanDatabase] = {}
        self._revoked: set[str] = set()
        self._handlers: dict[str, Callable[..., Response]] = {}
        rules = []
        for i, (path, methods, handler) in enumerate(_ROUTES):
            name = f"{i}:{handler.__name__}"
            self._handlers[name] = handler
            rules.append(Rule(path.lower(), methods=methods, endpoint=name))
        self._map = Map(rules, merge_slashes=False, strict_slashes=False)

    # -- admin API -----------------------------------------------------------------------------
    def database(self, key: str, mode: int = 1) -> VanDatabase:
        """The live database of ``key`` in ``mode`` (created and seeded on first use)."""
        if mode not in MODES:
            raise ValueError("mode must be 0 (MyVoters) or 1 (MyCampaign)")
        with self._lock:
            db = self._databases.get((key, mode))
            if db is None:
                db = VanDatabase(key, mode, seed_people=self.seed_people)
                self._databases[(key, mode)] = db
            return db

    def dump(self, key: str, mode: int = 1) -> dict[str, Any]:
        """JSON-able snapshot of one database (events, locations, signups, people, ...)."""
        with self._lock:
            return self.database(key, mode).dump()

    def revoke_key(self, key: str) -> None:
        """From now on ``key`` (both modes) answers 401."""
        with self._lock:
            self._revoked.add(key)

    def reset(self) -> None:
        """Drop all databases (and revocations)."""
        with self._lock:
            self._databases.clear()
            self._revoked.clear()

    # -- WSGI ----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except VanError as err:
            response = err.response()
        except Exception:  # pragma: no cover - emulator bug; answer like VAN does
            log.exception("VAN emulator error on %s %s", request.method, request.path)
            ref = uuid.uuid4().hex[:11].upper()
            ref = f"{ref[:6]}-{ref[6:]}"
            response = VanError(
                500, "INTERNAL_SERVER_ERROR", "An unknown error occurred", reference_code=ref
            ).response()
        return response(environ, start_response)

    def _authenticate(self, request: Request) -> tuple[str, int]:
        auth = request.authorization
        if auth is None or auth.type != "basic" or not auth.username:
            raise _unauthorized(
                "Authorization has been denied for this request. "
                "Use HTTP Basic auth: application name and '<apiKey>|<dbMode>'."
            )
        key, sep, mode = (auth.password or "").partition("|")
        if not sep or mode not in ("0", "1") or not key:
            raise _unauthorized(
                "Authorization has been denied for this request. The API key must "
                "end with '|0' (MyVoters) or '|1' (MyCampaign)."
            )
        with self._lock:
            if key in self._revoked or (self.accepted_keys is not None and key not in self.accepted_keys):
                raise _unauthorized(
                    "Authorization has been denied for this request. The API key is invalid or has been revoked."
                )
        return key, int(mode)

    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/").lower() or "/"
        if path != "/v4" and not path.startswith("/v4/"):
            raise not_found("The requested resource could not be found.")
        if bk_files.is_result_file(path):  # a signed file link: no API key, like VAN's file host
            return bk_files.result_file(path)
        key, mode = self._authenticate(request)
        adapter = self._map.bind("van.emulator")
        try:
            endpoint, args = adapter.match(path, method=request.method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(m for m in exc.valid_methods or [] if m != "HEAD"))
            raise VanError(
                405,
                "METHOD_NOT_ALLOWED",
                f"The requested resource does not support http method '{request.method}'.",
                headers={"Allow": allowed},
            ) from None
        except NotFound:
            raise not_found(f"No resource matches '{request.path}'.") from None
        except HTTPException:  # pragma: no cover - redirects are disabled
            raise not_found(f"No resource matches '{request.path}'.") from None
        with self._lock:
            call = Call(request, self.database(key, mode), self.clock)
            call.emulator_lock = self._lock  # bulk import jobs apply their rows from a worker thread
            return self._handlers[endpoint](call, **args)


__all__ = ["VanEmulator", "VanDatabase", "VanError"]
